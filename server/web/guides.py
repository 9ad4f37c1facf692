"""Public guide pages: one guide, its A4 poster, its QR code, and "did this help?" answers."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime
from typing import Any

import segno
from cachetools import LRUCache
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from .. import accounts, guides, i18n
from ..errors import BadRequest, NotFound
from ..guides import GuideView
from ..i18n import TZ, gettext
from . import Ctx, view
from .page_cache import cached

FEEDBACK_COOKIE = "langso_helpful"
QR_MAX_AGE = 7 * 86400


def _lang(ctx: Ctx) -> str:
    lang = ctx.request.path_params.get("lang", i18n.DEFAULT_LOCALE)
    if lang not in i18n.LOCALES:
        raise NotFound()
    return lang


# The guide each (slug, language) shows, for readers the page cache does not serve (a session
# that has ended, or a query): kept like a page (page_cache.py), until a guide changes in this
# process or the page cache's TTL passes, for changes made by another one.
_FOUND: LRUCache[tuple[str, str], tuple[int, float, GuideView]] = LRUCache(maxsize=500)
_FOUND_LOCK = threading.Lock()


def _guide(ctx: Ctx, lang: str) -> GuideView:
    slug = ctx.request.path_params["slug"]
    with _FOUND_LOCK:
        kept = _FOUND.get((slug, lang))
    ttl = ctx.request.app.state.pages.ttl
    if kept and kept[0] == guides.changes() and time.monotonic() - kept[1] <= ttl:
        return kept[2]
    changes = guides.changes()  # before reading: a change meanwhile makes it stale at once
    with ctx.db.read() as session:
        found = guides.get_guide(session, slug, lang)
    if found is None:
        raise NotFound(gettext("There is no guide at this address. It may have been removed."))
    with _FOUND_LOCK:
        _FOUND[(slug, lang)] = (changes, time.monotonic(), found)
    return found


def guide_url(ctx: Ctx, lang: str, slug: str) -> str:
    return f"{ctx.settings.base_url}/{lang}/guides/{slug}"


def _page_context(ctx: Ctx, lang: str, found: GuideView) -> dict[str, object]:
    return {
        "guide": found,
        "skill_label": gettext(guides.SKILLS.get(found.skill, found.skill)),
        "url": guide_url(ctx, lang, found.slug),
        "alternates": [(code, guide_url(ctx, code, found.slug)) for code in i18n.LOCALES],
    }


# The rendered article of each (guide, version, language, address): the most read page of the
# site spends most of its time there otherwise. Versions never change, so nothing goes stale.
_ARTICLES: LRUCache[tuple[Any, ...], Markup] = LRUCache(maxsize=500)
_ARTICLES_LOCK = threading.Lock()  # LRUCache itself is not thread-safe


def _article(ctx: Ctx, lang: str, context: dict[str, Any]) -> Markup:
    found: GuideView = context["guide"]
    glossary = ctx.request.app.state.glossary.current()
    # The version fixes the text; the guide's own columns and the glossary can change beside it.
    key = (found.guide_id, found.version, found.locale, lang, context["url"], glossary.digest)
    key += (found.commune_code, found.reviewed_on, found.source_url, context["skill_label"])
    with _ARTICLES_LOCK:
        article = _ARTICLES.get(key)
    if article is None:
        template = ctx.request.app.state.templates.env.get_template("public/_guide_article.html")
        explained = glossary.in_guide(found.body)
        article = Markup(template.render({**context, "locale": lang, "explained": explained}))
        with _ARTICLES_LOCK:
            _ARTICLES[key] = article
    return article


@cached(queries=("", "feedback=thanks"))
@view(public=True)
def guide(ctx: Ctx) -> Response:
    """Show one guide: what to bring, the steps to tick, problems, source and feedback."""
    lang = _lang(ctx)
    found = _guide(ctx, lang)
    context = _page_context(ctx, lang, found)
    context["article"] = _article(ctx, lang, context)
    context["thanks"] = ctx.request.query_params.get("feedback") == "thanks"
    return ctx.render("public/guide.html", context)


@cached()
@view(public=True)
def poster(ctx: Ctx) -> Response:
    """Show an A4 poster for the commune office wall: title, summary and a big QR code."""
    lang = _lang(ctx)
    found = _guide(ctx, lang)
    context = _page_context(ctx, lang, found)
    # A viewBox and no fixed size, so that print CSS can make the code as big as the paper allows.
    svg = segno.make(str(context["url"]), error="m").svg_inline(
        omitsize=True, dark="#000", light="#fff"
    )
    label = escape(gettext("QR code with the address of this guide"))
    context["qr"] = Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))
    return ctx.render("public/poster.html", context)


@cached()
@view(public=True)
def glossary(ctx: Ctx) -> Response:
    """Explain, in plain words, the terms the guides use (OTP, NFC, mức 2…)."""
    lang = _lang(ctx)
    terms = ctx.request.app.state.glossary.current().sorted(lang)
    return ctx.render("public/glossary.html", {"terms": terms})


@view(public=True)
def qr(ctx: Ctx) -> Response:
    """Serve the QR code of a guide's address as SVG (?lang= picks the page's language)."""
    lang = ctx.request.query_params.get("lang", i18n.DEFAULT_LOCALE)
    if lang not in i18n.LOCALES:
        raise NotFound()
    found = _guide(ctx, lang)
    buffer = io.BytesIO()
    segno.make(guide_url(ctx, lang, found.slug), error="m").save(
        buffer, kind="svg", scale=8, border=4, dark="#000", light="#fff", title=found.title
    )
    return Response(
        buffer.getvalue(),
        media_type="image/svg+xml",
        headers={"Cache-Control": f"public, max-age={QR_MAX_AGE}"},
    )


@view(public=True)
def feedback(ctx: Ctx) -> Response:
    """Count one yes or no for a guide, at most once a day per browser and a few dozen times per
    address (so a script cannot stuff the count), then go back to the guide."""
    slug = ctx.request.path_params["slug"]
    if not guides.SLUG.match(slug):
        raise NotFound()
    answer = ctx.field("helpful", 3)
    if answer not in ("yes", "no"):
        raise BadRequest(gettext("Please choose yes or no."))
    lang = ctx.field("lang", 5)
    if lang not in i18n.LOCALES:
        lang = i18n.current_locale.get()
    today = datetime.now(TZ).date().isoformat()
    already = ctx.request.cookies.get(FEEDBACK_COOKIE) == today
    if not already:
        address = ctx.request.client.host if ctx.request.client else "unknown"
        keys = [f"vote:{address}"[:80]]
        with ctx.db.write() as session:
            if accounts.retry_after(session, keys):
                counted = guides.exists(session, slug)  # thanked, not counted
            else:
                counted = guides.record_feedback(session, slug, answer == "yes")
                accounts.record_attempt(session, keys)  # one more vote from this address
        if not counted:
            raise NotFound()
    response = RedirectResponse(f"/{lang}/guides/{slug}?feedback=thanks#feedback", 303)
    # No personal data: one cookie, sent back only to this guide's feedback address.
    response.set_cookie(
        FEEDBACK_COOKIE,
        today,
        max_age=2 * 86400,
        path=f"/guides/{slug}/",
        samesite="lax",
        secure=ctx.settings.https_only,
        httponly=True,
    )
    return response
