"""What every handler shares: the `view` wrapper that signs the member in, checks the role,
parses the body, and runs the handler (plain, synchronous code) in the thread pool."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ..accounts import member_for_token, token_hash
from ..config import Settings
from ..db import Database
from ..errors import BadRequest, Forbidden, Unauthorized
from ..i18n import gettext
from ..models import AuthSession, Member, Role
from ..security import unreadable_message
from ..text import decodes, unreadable

SESSION_COOKIE = "langso_session"
MAX_JSON_BYTES = 256 * 1024


@dataclass
class Ctx:
    request: Request
    db: Database
    settings: Settings
    member: Member | None = None
    form: FormData | None = None
    data: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def reading(self) -> bool:
        """GET or HEAD: show the page (HEAD is GET without the body, for link checkers)."""
        return self.request.method in ("GET", "HEAD")

    @property
    def me(self) -> Member:
        assert self.member is not None
        return self.member

    def field(self, name: str, max_length: int = 2000) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value[:max_length] if isinstance(value, str) else ""

    def session_marker(self) -> str | None:
        """When this device's session began: lets the app tell an old session from a new one."""
        token = self.request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        with self.db.read() as session:
            row = session.get(AuthSession, token_hash(token))
        return row.created_at.isoformat() if row else None

    def render(
        self, name: str, context: dict[str, Any] | None = None, status: int = 200
    ) -> Response:
        templates = self.request.app.state.templates
        return templates.TemplateResponse(self.request, name, context or {}, status_code=status)


def etag_matches(request: Request, etag: str) -> bool:
    """Whether the client already has `etag` (If-None-Match, compared weakly as RFC 9110 asks
    for a GET)."""
    wanted = request.headers.get("if-none-match", "")
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


Handler = Callable[[Ctx], Response]


def view(*roles: Role, public: bool = False) -> Callable[[Handler], Callable[[Request], Any]]:
    """Wrap a synchronous handler. With no roles and not public, any signed-in member may use it."""

    def decorate(fn: Handler) -> Callable[[Request], Any]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            ctx = Ctx(request, request.app.state.db, request.app.state.settings)
            content_type = request.headers.get("content-type", "")
            if request.method == "POST" and content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                urlencoded = content_type.startswith("application/x-www-form-urlencoded")
                if urlencoded and not decodes(await request.body(), form=True):
                    raise BadRequest(unreadable_message())
                async with request.form() as form:
                    texts = [
                        (v.filename or "") if isinstance(v, UploadFile) else v
                        for _, v in form.multi_items()
                    ]
                    if unreadable(texts) is not None:
                        raise BadRequest(unreadable_message())
                    ctx.form = form
                    return await run_in_threadpool(_run, fn, ctx, roles, public)
            if request.method == "POST" and content_type.startswith("application/json"):
                body = await request.body()
                try:
                    ctx.data = json.loads(body)
                except (ValueError, UnicodeDecodeError, RecursionError) as e:
                    raise BadRequest(gettext("The data sent is not valid JSON.")) from e
                if unreadable(ctx.data) is not None:
                    raise BadRequest(unreadable_message())
            return await run_in_threadpool(_run, fn, ctx, roles, public)

        endpoint.roles = roles  # type: ignore[attr-defined]
        endpoint.public = public  # type: ignore[attr-defined]
        return endpoint

    return decorate


def _run(fn: Handler, ctx: Ctx, roles: tuple[Role, ...], public: bool) -> Response:
    with ctx.db.read() as session:
        ctx.member = member_for_token(session, ctx.request.cookies.get(SESSION_COOKIE))
    ctx.request.state.member = ctx.member
    if not public:
        if ctx.member is None:
            raise Unauthorized()
        if roles and ctx.member.role not in roles:
            raise Forbidden()
    return fn(ctx)
