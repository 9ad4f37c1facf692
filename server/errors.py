"""One family of errors and one place that turns them into a page or the API's JSON shape."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .i18n import gettext

log = logging.getLogger("langso")


class AppError(HTTPException):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(self.status, detail=message or "", headers=headers)
        self.fields = fields or {}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class TooLarge(AppError):
    status, code = 413, "too_large"


class TooManyRequests(AppError):
    status, code = 429, "too_many_requests"


CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
}


def default_message(status: int) -> str:
    messages = {
        400: gettext("Something in the request is not right. Please check and try again."),
        401: gettext("Please sign in to continue."),
        403: gettext("You do not have access to this page."),
        404: gettext("We could not find this page."),
        405: gettext("This action is not allowed here."),
        409: gettext("Someone else changed this at the same time. Please reload."),
        413: gettext("What you sent is too large."),
        429: gettext("Too many tries. Please wait a little and try again."),
    }
    return messages.get(
        status, gettext("Something went wrong on our side. Please try again later.")
    )


def wants_json(path: str) -> bool:
    return path.startswith("/api/")


def error_body(
    status: int, message: str, fields: dict[str, str] | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code or CODES.get(status, "error"),
            "message": message,
            "fields": fields or {},
        }
    }


def render_error(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json(request.url.path):
        return JSONResponse(error_body(status, message, fields, code), status, headers=headers)
    templates = request.app.state.templates
    response = templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )
    if headers:
        response.headers.update(headers)
    return response


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 401 and not wants_json(request.url.path):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", 303)
    message = exc.detail if isinstance(exc, AppError) and exc.detail else default_message(status)
    fields = exc.fields if isinstance(exc, AppError) else None
    code = exc.code if isinstance(exc, AppError) else None
    return render_error(
        request, status, message, code=code, fields=fields, headers=dict(exc.headers or {})
    )


async def server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        # The database connection died under the request (a failover, an operator's
        # pg_terminate_backend): the transaction rolled back, the pool makes a new connection
        # for the next request, and a phone sends its batch again after Retry-After.
        log.warning("database connection lost on %s %s", request.method, request.url.path)
        message = gettext("The database cannot be reached for a moment. Please try again.")
        return render_error(request, 503, message, code="unavailable", headers={"Retry-After": "5"})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render_error(request, 500, default_message(500))
