"""The Jinja2 environment: newstyle gettext, formatting filters, and what every page knows."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from . import i18n
from .accounts import display_phone
from .security import csrf_token

TEMPLATES = Path(__file__).parent / "templates"


def qr_svg(data: str, scale: int = 6) -> str:
    """An SVG QR code (no inline styles, so the strict CSP allows it inline)."""
    return segno.make(data, error="m").svg_inline(scale=scale, dark="#111", light="#fff")


class FormToken:
    """The page's CSRF token, made when a form puts it in the page: a page without a form
    hands out no token, so it sets no cookie and the same page can go to everyone."""

    __slots__ = ("request",)

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)

    __html__ = __str__  # a token is URL-safe base64: nothing to escape


def _context(request: Request) -> dict[str, Any]:
    path = request.url.path
    query = f"?{request.url.query}" if request.url.query else ""
    locale = i18n.current_locale.get()
    return {
        "member": getattr(request.state, "member", None),
        "csrf_token": FormToken(request),
        "locale": locale,
        "languages": [
            (
                code,
                i18n.LOCALE_NAMES[code],
                f"/language/{code}?next={quote(i18n.switch_path(path, code) + query)}",
            )
            for code in i18n.LOCALES
        ],
        "path": path,
    }


ICONS = "/static/vendor/lucide/icons.svg"  # pwa/vendor/lucide: the names it holds


def icon(name: str) -> Markup:
    """An icon of the vendored Lucide sprite, to stand beside a word (screen readers skip it)."""
    return Markup(
        '<svg class="icon" aria-hidden="true" focusable="false"><use href="{}#{}"></use></svg>'
    ).format(ICONS, name)


def _day(value: object) -> str:
    """A day kept as text ("2026-12-01", as the audit log keeps periods) as people write it."""
    try:
        return i18n.fmt_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        date=i18n.fmt_date,
        day=_day,
        datetime=i18n.fmt_datetime,
        number=i18n.fmt_number,
        phone=display_phone,
    )
    env.globals["qr_svg"] = lambda data, scale=6: Markup(qr_svg(data, scale))
    env.globals["icon"] = icon
    return Jinja2Templates(env=env, context_processors=[_context])
