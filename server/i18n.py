"""Languages: which one a request wants, the Babel catalogues, and formatting for templates.

Vietnamese is the default. Public pages carry the locale in the path (/vi/…, /en/…) so that
cached copies keep their language; other pages follow the `lang` cookie, then Accept-Language.
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import ROOT

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
LOCALE_DIR = ROOT / "locales"
JS_CATALOGUE_DIR = ROOT / "pwa" / "i18n"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
COOKIE = "lang"

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> NullTranslations:
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def gettext(message: str, **variables: Any) -> str:
    text = translations(current_locale.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(current_locale.get()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def lazy(message: str) -> str:
    """Mark a module-level string for extraction; translate it with gettext() when shown."""
    return message


def negotiate(accept_language: str) -> str:
    prefs = []
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag and tag != "*" and len(tag) < 20:
            prefs.append(tag)
    try:
        found = Locale.negotiate(prefs, list(LOCALES), sep="_")
    except (UnknownLocaleError, ValueError):
        return DEFAULT_LOCALE
    return str(found) if found else DEFAULT_LOCALE


def path_locale(path: str) -> str | None:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in LOCALES else None


def pick_locale(scope: Scope) -> str:
    """Path prefix, then the `lang` cookie, then Accept-Language, then Vietnamese."""
    if lang := path_locale(scope.get("path", "")):
        return lang
    headers = Headers(scope=scope)
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value in LOCALES:
            return value
    return negotiate(headers.get("accept-language", ""))


def switch_path(path: str, lang: str) -> str:
    """The same page in another language: public paths change their prefix."""
    if path_locale(path):
        rest = path.lstrip("/").split("/", 1)
        return f"/{lang}/" + (rest[1] if len(rest) > 1 else "")
    return path


class LocaleMiddleware:
    """Set the request's locale for gettext and formatting; say which one answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        locale = pick_locale(scope)
        token = current_locale.set(locale)
        # Static files are the same in every language: a Vary header would only make caches
        # (the service worker's included) miss them.
        static = scope.get("path", "").startswith("/static/")

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start" and not static:
                headers = list(message.get("headers", []))
                headers.append((b"content-language", locale.encode()))
                headers.append((b"vary", b"Accept-Language, Cookie"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            current_locale.reset(token)


# --- Formatting (Babel, CLDR data for the current locale, shown in Vietnam's time) ---------


def local(value: datetime) -> datetime:
    return value.astimezone(TZ)


def fmt_date(value: date | datetime | None, style: str = "short") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value)
    if style == "short":  # 9/3/2026: the day, month and full year people write by hand
        return format_date(value, "d/M/yyyy", locale=current_locale.get())
    return format_date(value, style, locale=current_locale.get())


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    lv = local(value)
    return f"{format_datetime(lv, 'HH:mm', locale=current_locale.get())} {fmt_date(lv)}"


def fmt_number(value: float | int) -> str:
    return format_decimal(value, locale=current_locale.get())


def fmt_relative(value: datetime, now: datetime) -> str:
    return format_timedelta(
        value - now, add_direction=True, threshold=1.1, locale=current_locale.get()
    )


# --- Catalogues for the browser --------------------------------------------------------------


def browser_message_ids() -> set[str]:
    """The messages the browser uses: those in pwa/js and the app shell's templates."""
    from babel.messages.extract import extract_from_dir

    method_map = [("pwa/js/**.js", "javascript"), ("server/templates/app/**.html", "jinja2")]
    options = {
        "pwa/js/**.js": {"parse_template_string": "true"},
        "server/templates/app/**.html": {"extensions": "jinja2.ext.i18n"},
    }
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    return {
        message if isinstance(message, str) else message[0]
        for _f, _l, message, _c, _x in extract_from_dir(str(ROOT), method_map, options, keywords)
    }


def js_catalogue(po_path: Path, locale: str, only: set[str] | None = None) -> dict[str, Any]:
    """{locale, plural, nplurals, messages} from a .po file; fuzzy entries are left out.
    With `only`, just those messages: the phone downloads what its screens show."""
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    messages: dict[str, Any] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if only is not None and (m.id[0] if isinstance(m.id, tuple) else m.id) not in only:
            continue
        if isinstance(m.id, tuple):
            forms = list(m.string)
            if all(forms):
                messages[m.id[0]] = forms
        elif m.string:
            messages[m.id] = m.string
    plural = catalog.plural_expr
    return {
        "locale": locale,
        "nplurals": catalog.num_plurals,
        "plural": plural,
        "messages": messages,
    }


def write_js_catalogues() -> None:
    JS_CATALOGUE_DIR.mkdir(parents=True, exist_ok=True)
    wanted = browser_message_ids()
    for locale in LOCALES:
        po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
        data = js_catalogue(po, locale, wanted)
        out = JS_CATALOGUE_DIR / f"{locale}.json"
        out.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["js"]:
        write_js_catalogues()
    else:
        sys.exit("usage: python -m server.i18n js")
