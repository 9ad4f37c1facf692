"""Pages anyone may open: the language redirect, the guide catalogue, health."""

from __future__ import annotations

from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from .. import accounts, guides, i18n
from ..errors import NotFound
from ..i18n import pick_locale
from ..text import nfc
from . import Ctx, view
from .auth import safe_next
from .field import PWA
from .page_cache import cached


@view(public=True)
def root(ctx: Ctx) -> Response:
    """Send the visitor to the catalogue in their language (cookie, then Accept-Language);
    on a new install with no account yet, to the first setup."""
    with ctx.db.read() as session:
        if not accounts.any_member(session):
            return RedirectResponse("/setup", 302)
    response = RedirectResponse(f"/{pick_locale(ctx.request.scope)}/", 302)
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


@cached()
@view(public=True)
def catalogue(ctx: Ctx) -> Response:
    """Show the guides grouped by skill, or the guides matching ?q=, best first."""
    lang = ctx.request.path_params["lang"]
    if lang not in i18n.LOCALES:
        raise NotFound()
    q = nfc(ctx.request.query_params.get("q", ""))[:100]
    with ctx.db.read() as session:
        if q:
            context = {"q": q, "results": guides.search_guides(session, q, lang), "groups": []}
        else:
            context = {"q": q, "results": [], "groups": guides.catalogue(session, lang)}
    context["base_url"] = ctx.settings.base_url
    return ctx.render("public/home.html", context)


@view(public=True)
def language(ctx: Ctx) -> Response:
    """Remember the chosen language and go back to the same page in it."""
    code = ctx.request.path_params["code"]
    if code not in i18n.LOCALES:
        raise NotFound()
    target = safe_next(ctx.request.query_params.get("next"), f"/{code}/")
    response = RedirectResponse(target, 303)
    response.set_cookie(
        i18n.COOKIE,
        code,
        max_age=365 * 86400,
        samesite="lax",
        secure=ctx.settings.https_only,
        httponly=True,
    )
    return response


@view(public=True)
def healthz(ctx: Ctx) -> Response:
    """Say whether the database answers."""
    ok = ctx.db.ping()
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "database": ok}, 200 if ok else 503
    )


ICON = PWA / "icons" / "icon-192.png"


@view(public=True)
def favicon(ctx: Ctx) -> Response:
    """Give browsers that ask for /favicon.ico the app's icon."""
    return FileResponse(ICON, media_type="image/png", headers={"Cache-Control": "max-age=86400"})
