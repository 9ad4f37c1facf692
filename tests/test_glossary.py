"""Words a villager may not know: the glossary page in both languages, and the explanation under
the first use of each word in a guide, without JavaScript (server/glossary.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server import glossary
from server.db import Database
from server.glossary import GlossaryFile
from server.guides import GuideError, load_guides

from .test_guides import guide_text, write

SHIPPED = glossary.parse()
BODY = (
    "## Cần chuẩn bị\n\n- Điện thoại có **NFC**.\n\n## Các bước\n\n"
    "1. Nhập [mã OTP](https://example.gov.vn/otp) gửi về máy.\n"
    "2. Nhập mã OTP lần nữa, rồi đặt passcode.\n"
    "3. Quét VietQR của cửa hàng.\n\n"
    "## Khi gặp vướng mắc\n\n- **Không có mã OTP.** Chờ một phút.\n"
)
GUIDE = "/vi/guides/thu-nghiem"


@pytest.fixture
def words_guide(db: Database, tmp_path: Path) -> Database:
    write(tmp_path / "guides", guide_text(body=BODY))
    with db.write() as s:
        load_guides(s, tmp_path / "guides")
    return db


def notes(html: str) -> list[tuple[str, str]]:
    """(the word asked about, the glossary address it links to) of every explanation."""
    return re.findall(
        r'<details class="gloss"[^>]*>\s*<summary>(.*?)</summary>.*?<a href="([^"]+)"', html, re.S
    )


def test_the_glossary_page_explains_every_word_in_both_languages(client: TestClient) -> None:
    vi = client.get("/vi/glossary")
    assert vi.status_code == 200
    for term in SHIPPED.terms:
        assert f'<div id="{term.id}">' in vi.text
        assert term.name["vi"] in vi.text and term.explanation["vi"] in vi.text
    en = client.get("/en/glossary").text
    assert '<html lang="en">' in en and "Words used in the guides" in en
    otp = next(t for t in SHIPPED.terms if t.id == "otp")
    assert otp.explanation["en"] in en and otp.explanation["vi"] not in en
    # An English reader also sees the Vietnamese word the steps use.
    assert '<dfn>Passcode</dfn> <span lang="vi">(Mã khóa)</span>' in en
    assert "<script" not in vi.text.split("</head>")[1]  # nothing to run to read it
    assert client.get("/fr/glossary").status_code == 404


def test_the_words_residents_asked_about_are_explained() -> None:
    words = {glossary._fold(a) for t in SHIPPED.terms for a in (t.name["vi"], *t.aliases)}
    for word in ("OTP", "passcode", "mã khóa", "NFC", "apk", "tích hợp", "liên thông", "mã QR"):
        assert glossary._fold(word) in words, word
    assert "vneid mức 2" in words
    assert 20 <= len(SHIPPED.terms) <= 40
    for term in SHIPPED.terms:  # short sentences
        for text in term.explanation.values():
            assert max(len(s) for s in re.split(r"(?<=[.;])\s", text)) <= 150, term.id


def test_a_word_is_explained_once_at_its_first_use(
    client: TestClient, words_guide: Database
) -> None:
    html = client.get(GUIDE).text
    assert notes(html) == [
        ("“NFC” là gì?", "/vi/glossary#nfc"),
        ("“Mã OTP” là gì?", "/vi/glossary#otp"),
        ("“Mã khóa” là gì?", "/vi/glossary#ma-khoa"),
        ("“VietQR” là gì?", "/vi/glossary#vietqr"),  # and not "QR" inside "VietQR"
    ]
    step1 = html.split('<li id="step-1">')[1].split('<li id="step-2">')[0]
    assert "gửi qua tin nhắn" in step1  # the explanation is there, folded, without JavaScript
    step2 = html.split('<li id="step-2">')[1].split('<li id="step-3">')[0]
    assert "#otp" not in step2 and "#ma-khoa" in step2
    assert "#otp" not in html.split('<ul class="problems"')[1]


def test_words_in_links_and_bold_keep_their_markup(
    client: TestClient, words_guide: Database
) -> None:
    html = client.get(GUIDE).text
    assert "<li>Điện thoại có <strong>NFC</strong>.<details" in html
    link = '<a href="https://example.gov.vn/otp" rel="noopener noreferrer">mã OTP</a> gửi về máy.'
    assert f'<div class="step-text">Nhập {link}</div><details class="gloss">' in html


def test_an_english_page_explains_the_vietnamese_words_in_english(
    client: TestClient, words_guide: Database
) -> None:
    html = client.get("/en/guides/thu-nghiem").text
    assert ("What is “Mã OTP”?", "/en/glossary#otp") in notes(html)
    assert '<details class="gloss" lang="en">' in html  # inside steps marked lang="vi"
    assert "<dfn>OTP code</dfn>: A one-time number" in html


def test_the_catalogue_and_every_guide_link_to_the_glossary(
    client: TestClient, words_guide: Database
) -> None:
    for path in ("/vi/", GUIDE):
        assert (
            '<a href="/vi/glossary">Giải thích từ ngữ trong hướng dẫn</a>' in client.get(path).text
        )
    assert '<a href="/en/glossary">' in client.get("/en/").text


def test_a_changed_glossary_shows_on_pages_kept_before(
    app: Starlette, words_guide: Database, tmp_path: Path
) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_bytes(glossary.GLOSSARY_FILE.read_bytes())
    app.state.glossary = GlossaryFile(path)
    with TestClient(app) as client:
        before = client.get(GUIDE).text
        assert "Bộ phận trong điện thoại đọc thẻ" in before
        text = path.read_text("utf-8").replace("Bộ phận trong điện thoại đọc thẻ", "Cái đọc thẻ")
        path.write_text(text, "utf-8")
        assert client.get(GUIDE).text == before  # kept: the file is not looked at for a hit
        # A page being made reads the changed file; pages kept with the old words go too.
        assert "Cái đọc thẻ" in client.get("/vi/glossary").text
        assert "Cái đọc thẻ" in client.get(GUIDE).text
        path.write_text("- id: [oops\n", "utf-8")  # broken while the server runs
        app.state.pages.ttl = 0
        assert "Cái đọc thẻ" in client.get(GUIDE).text  # the last good glossary stays


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- id: otp\n  term: OTP\n", ":1: 'term_en' must be a non-empty text"),
        (
            "- id: a\n  term: A\n  term_en: A\n  vi: a\n  en: a\n  colour: red\n",
            ":1: unknown field",
        ),
        ("- id: a\n  term: A\n  term_en: A\n  vi: a\n  en: a\n  aliases: x\n", "'aliases' must be"),
        (
            "- id: a\n  term: A\n  term_en: A\n  vi: a\n  en: a\n"
            "- id: b\n  term: B\n  term_en: B\n  vi: b\n  en: b\n  aliases: [a]\n",
            ":6: 'a' is already a word of 'a'",
        ),
        ("- id: A B\n  term: A\n  term_en: A\n  vi: a\n  en: a\n", "'id' may hold only"),
        ("id: otp\n", ":1: the file must be a list"),
        ("- id: [otp\n", ":2: not valid YAML"),
    ],
)
def test_a_wrong_glossary_file_names_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(GuideError) as failed:
        glossary.parse(path)
    assert f"{path}{problem}" in str(failed.value) or problem in str(failed.value)
