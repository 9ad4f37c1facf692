"""The JSON API under /api/v1 (described at /api/v1/openapi.json)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from ..i18n import current_locale
from ..security import csrf_token
from . import Ctx, view

schemas = SchemaGenerator({"openapi": "3.0.0", "info": {"title": "Làng Số API", "version": "1"}})


@view()
def me(ctx: Ctx) -> Response:
    """Who is signed in.
    ---
    responses:
      "200":
        description: The signed-in member, and the CSRF token to send with writes.
      "401":
        description: Not signed in.
    """
    m = ctx.me
    return JSONResponse(
        {
            "id": str(m.id),
            "name": m.name,
            "role": m.role,
            "commune": m.commune_code,
            "province": m.province_code,
            "locale": current_locale.get(),
            "csrf_token": csrf_token(ctx.request, masked=False),
            "session": ctx.session_marker(),
        }
    )


@view(public=True)
def openapi(ctx: Ctx) -> Response:
    """Describe the API."""
    api_routes = [
        r for r in ctx.request.app.routes if isinstance(r, Route) and r.path.startswith("/api/")
    ]
    return JSONResponse(schemas.get_schema(routes=api_routes))
