"""Vietnamese first, English second: choice of language, switching, formats, full catalogue."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from server import i18n

from .conftest import World, login

ROOT = Path(__file__).resolve().parent.parent


def test_root_redirects_to_vietnamese_by_default(client: TestClient, world: World) -> None:
    assert client.get("/").headers["location"] == "/vi/"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("en-US,en;q=0.9", "/en/"),
        ("vi-VN,vi;q=0.9,en;q=0.5", "/vi/"),
        ("fr-FR", "/vi/"),
        ("*", "/vi/"),
        (";;;,,q=abc", "/vi/"),
    ],
)
def test_root_follows_accept_language(
    client: TestClient, world: World, accept: str, expected: str
) -> None:
    assert client.get("/", headers={"accept-language": accept}).headers["location"] == expected


def test_cookie_wins_over_accept_language(client: TestClient, world: World) -> None:
    client.cookies.set("lang", "vi")
    response = client.get("/", headers={"accept-language": "en"})
    assert response.headers["location"] == "/vi/"


def test_public_pages_keep_their_language_in_the_path(client: TestClient) -> None:
    client.cookies.set("lang", "vi")
    page = client.get("/en/")
    assert '<html lang="en">' in page.text and "Step-by-step guides" in page.text
    assert page.headers["content-language"] == "en"
    vi = client.get("/vi/")
    assert '<html lang="vi">' in vi.text and "Hướng dẫn từng bước" in vi.text


def test_switch_keeps_you_on_the_same_page(client: TestClient, world: World) -> None:
    page = client.get("/vi/?q=vneid")
    assert 'href="/language/en?next=/en/%3Fq%3Dvneid"' in page.text
    response = client.get("/language/en?next=/en/%3Fq%3Dvneid")
    assert response.headers["location"] == "/en/?q=vneid"
    assert "lang=en" in response.headers["set-cookie"]
    login(client, "0900000002")
    villages = client.get("/console/villages")
    assert "Villages" in villages.text and '<html lang="en">' in villages.text
    assert 'href="/language/vi?next=/console/villages"' in villages.text
    client.get("/language/vi?next=/console/villages")
    assert "Thôn, tổ dân phố" in client.get("/console/villages").text


def test_switch_refuses_unknown_language_and_foreign_targets(client: TestClient) -> None:
    assert client.get("/language/fr?next=/vi/").status_code == 404
    assert client.get("/language/en?next=https://evil.example/").headers["location"] == "/en/"


def test_unknown_locale_page_is_404_in_current_language(client: TestClient) -> None:
    response = client.get("/de/", headers={"accept-language": "en"})
    assert response.status_code == 404 and "We could not find this page." in response.text


def test_vietnamese_formats() -> None:
    token = i18n.current_locale.set("vi")
    try:
        assert i18n.fmt_date(date(2026, 3, 9)) == "9/3/2026"
        assert i18n.fmt_number(1234567) == "1.234.567"
        assert i18n.fmt_number(1234.5) == "1.234,5"
        # 23:30 UTC is already the next morning in Vietnam (UTC+7).
        assert i18n.fmt_datetime(datetime(2026, 3, 9, 23, 30, tzinfo=UTC)) == "06:30 10/3/2026"
        now = datetime(2026, 3, 9, tzinfo=UTC)
        assert i18n.fmt_relative(now - timedelta(days=3), now) == "3 ngày trước"
    finally:
        i18n.current_locale.reset(token)


def test_english_formats() -> None:
    token = i18n.current_locale.set("en")
    try:
        assert i18n.fmt_number(1234567) == "1,234,567"
    finally:
        i18n.current_locale.reset(token)


def test_vietnamese_catalogue_is_complete() -> None:
    """Every string in the templates, Python and JavaScript has a Vietnamese translation."""
    with (ROOT / "locales" / "messages.pot").open("rb") as f:
        template = read_po(f)
    with (ROOT / "locales" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        vi = read_po(f, locale="vi")
    ids = {m.id for m in template if m.id}
    assert len(ids) > 100
    missing = []
    for msg_id in ids:
        m = vi.get(msg_id)
        if m is None or m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string):
            missing.append(msg_id)
    assert missing == []


def test_catalogue_is_up_to_date_with_the_code() -> None:
    """`make translations` was run: every gettext call in the code is in messages.pot."""
    from babel.messages.extract import extract_from_dir

    method_map = [
        ("server/**.py", "python"),
        ("server/templates/**.html", "jinja2"),
        ("pwa/js/**.js", "javascript"),
    ]
    options = {
        "server/templates/**.html": {"extensions": "jinja2.ext.i18n"},
        "pwa/js/**.js": {"parse_template_string": "true"},
    }
    with (ROOT / "locales" / "messages.pot").open("rb") as f:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT),
        method_map,
        options,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None},
    ):
        found.add(message if isinstance(message, str) else message[0])
    assert found - known == set(), "run `make translations` and translate the new strings"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees (attributes such as the app's data-t message ids left out)."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_pages_show_no_untranslated_text(client: TestClient, world: World) -> None:
    """Rendered in Vietnamese, a page carries none of the English source strings."""
    with (ROOT / "locales" / "messages.pot").open("rb") as f:
        english = {
            m.id
            for m in read_po(f)
            if isinstance(m.id, str) and len(m.id) > 12 and "%(" not in m.id
        }
    login(client, "0900000002")
    for path in (
        "/console/",
        "/console/members",
        "/console/villages",
        "/console/import",
        "/app",
        "/vi/",
        "/offline",
    ):
        text = visible_text(client.get(path).text)
        leaked = [s for s in english if s in text]
        assert leaked == [], path


def test_js_catalogue_carries_the_po_plural_rule() -> None:
    vi = json.loads((ROOT / "pwa" / "i18n" / "vi.json").read_text(encoding="utf-8"))
    en = json.loads((ROOT / "pwa" / "i18n" / "en.json").read_text(encoding="utf-8"))
    assert (vi["locale"], vi["nplurals"], vi["plural"]) == ("vi", 1, "0")
    assert (en["nplurals"], en["plural"]) == (2, "(n != 1)")
    assert vi["messages"]["Log a session"] == "Ghi lượt hỗ trợ"
    assert vi["messages"]["Today"] == "Hôm nay"  # the shell's own words, re-translated by JS
    assert "Invite a member" not in vi["messages"]  # console words stay on the server


def test_the_vietnamese_interface_uses_plain_words() -> None:
    """Words a villager knows: "mục" (an item on the phone), not the clerk's "bản ghi"; a
    coordinator settles "hai bản khác nhau", not "phiên bản"."""
    from babel.messages.pofile import read_po

    path = Path(__file__).resolve().parent.parent / "locales" / "vi" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalogue = read_po(f)
    texts = [
        " ".join(m.string) if isinstance(m.string, tuple) else m.string for m in catalogue if m.id
    ]
    assert [t for t in texts if "bản ghi" in t] == []
    assert "Chọn phiên bản" not in texts
