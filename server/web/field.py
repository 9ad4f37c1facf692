"""The volunteer's app at /app."""

from __future__ import annotations

from starlette.responses import Response

from ..models import Commune, Province
from . import Ctx, view


@view()
def app_home(ctx: Ctx) -> Response:
    """Show the volunteer's start page."""
    with ctx.db.read() as session:
        commune = session.get(Commune, ctx.me.commune_code) if ctx.me.commune_code else None
        province = session.get(Province, commune.province_code) if commune else None
    return ctx.render("app/home.html", {"commune": commune, "province": province})
