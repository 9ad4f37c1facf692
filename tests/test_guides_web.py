"""Guide pages over HTTP: catalogue and search, one guide, 404, feedback, poster, QR code."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

import cairosvg
import pytest
import zxingcpp
from PIL import Image
from sqlmodel import select
from starlette.testclient import TestClient

from server import accounts
from server.db import Database
from server.guides import CONTENT_DIR, load_guides, parse_directory
from server.i18n import TZ
from server.models import Guide, GuideVersion

from .conftest import COMMUNE_A, post
from .test_guides import XSS_BODY, dangerous, guide_text, write

SLUG = "lien-thong-khai-sinh-thuong-tru-bhyt"
SHIPPED = {g.slug: g for g in parse_directory(CONTENT_DIR)}


@pytest.fixture
def catalogue(db: Database) -> Database:
    with db.write() as s:
        load_guides(s)
    return db


def counts(db: Database, slug: str) -> tuple[int, int]:
    with db.read() as s:
        guide = s.exec(select(Guide).where(Guide.slug == slug)).one()
    return guide.helpful_yes, guide.helpful_no


def links(html: str) -> list[str]:
    return re.findall(r'<a href="/vi/guides/([a-z0-9-]+)"', html)


def decode_qr(svg: bytes, width: int = 600) -> list[str]:
    """Rasterise an SVG as a browser would, then read it with a real barcode decoder."""
    png = cairosvg.svg2png(bytestring=svg, output_width=width, background_color="white")
    image = Image.open(io.BytesIO(png)).convert("L")
    return [r.text for r in zxingcpp.read_barcodes(image)]


# --- Catalogue ----------------------------------------------------------------------------


def test_catalogue_groups_guides_by_skill(client: TestClient, catalogue: Database) -> None:
    page = client.get("/vi/")
    assert page.status_code == 200
    headings = re.findall(r'<h2 id="skill-([a-z_]+)">', page.text)
    assert headings == [
        "vneid",
        "public_services",
        "social_insurance",
        "payment",
        "shopping",
        "safety",
        "local_platforms",
    ]
    assert sorted(links(page.text)) == sorted(SHIPPED)
    vneid = page.text.split('id="skill-vneid"')[1].split("</section>")[0]
    assert set(links(vneid)) == {s for s, g in SHIPPED.items() if g.skill == "vneid"}
    assert client.get("/en/").text.count("Template for communes") == 1
    assert 'hreflang="en" href="http://testserver/en/"' in page.text


def test_empty_catalogue_says_so(client: TestClient) -> None:
    page = client.get("/en/")
    assert page.status_code == 200 and "No guides have been published yet." in page.text


def test_english_catalogue_shows_english_titles(client: TestClient, catalogue: Database) -> None:
    page = client.get("/en/")
    assert '<html lang="en">' in page.text
    assert "Pay with a VietQR code" in page.text and "Trả tiền bằng mã VietQR" not in page.text
    assert 'href="/en/guides/thanh-toan-bang-vietqr"' in page.text


def test_search_ranks_results(client: TestClient, catalogue: Database) -> None:
    page = client.get("/vi/", params={"q": "dang ky khai sinh"})
    assert page.status_code == 200
    assert links(page.text)[0] == SLUG
    assert 'value="dang ky khai sinh"' in page.text
    assert 'id="skill-vneid"' not in page.text  # results replace the groups
    assert links(client.get("/vi/?q=VNEID").text)[0] == "vneid-cai-dat-dang-ky-muc-1"


def test_search_without_result_offers_the_whole_catalogue(
    client: TestClient, catalogue: Database
) -> None:
    page = client.get("/en/", params={"q": "xyzzy"})
    assert page.status_code == 200 and links(page.text) == []
    assert "No guide matches your search" in page.text
    assert 'href="/en/"' in page.text


def test_search_text_is_escaped(client: TestClient, catalogue: Database) -> None:
    page = client.get("/vi/", params={"q": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert dangerous(page.text) == []
    assert "&lt;script&gt;" in page.text


# --- One guide ----------------------------------------------------------------------------


def test_guide_page_shows_every_part(client: TestClient, catalogue: Database) -> None:
    page = client.get(f"/vi/guides/{SLUG}")
    shipped = SHIPPED[SLUG]
    assert page.status_code == 200
    html = page.text
    assert f"<h1>{shipped.title['vi']}</h1>" in html
    assert shipped.summary["vi"] in html
    steps = html.split('<ol class="steps">')[1].split("</ol>")[0]
    assert steps.count('<input type="checkbox"') == len(shipped.steps) == 10
    assert steps.count("<li ") == len(shipped.steps)
    for document in shipped.documents:
        assert document in html
    assert html.count("<li><strong>") == len(shipped.problems)
    assert '<a href="https://dichvucong.gov.vn" rel="noopener noreferrer" class="source">' in html
    checked = shipped.reviewed_on
    assert f"Cập nhật ngày {checked.day}/{checked.month}/{checked.year}" in html
    assert 'action="/guides/lien-thong-khai-sinh-thuong-tru-bhyt/feedback"' in html
    # Anonymous feedback carries no form token (server/security.py): nothing per visitor.
    assert 'name="csrf_token"' not in html and "set-cookie" not in page.headers
    assert f'hreflang="en" href="http://testserver/en/guides/{SLUG}"' in html
    assert f'<link rel="canonical" href="http://testserver/vi/guides/{SLUG}">' in html
    assert f'href="/vi/guides/{SLUG}/poster"' in html


def test_guide_page_is_plain_html_with_deferred_modules(
    client: TestClient, catalogue: Database
) -> None:
    html = client.get(f"/vi/guides/{SLUG}").text
    assert re.findall(r"<script[^>]*>", html) == [
        '<script type="module" src="/static/js/guide.js">',
        '<script type="module" src="/static/js/reader.js">',  # reading offline (sw.js)
    ]
    assert " style=" not in html and "<style" not in html
    tools = html.split('<div class="guide-tools">')[1].split("</div>")[0]
    assert tools.count(" hidden>") == 3  # read aloud, share, print: shown by the script only
    assert client.get("/static/js/guide.js").status_code == 200
    assert client.get("/static/js/reader.js").status_code == 200


def test_english_page_marks_the_vietnamese_steps(client: TestClient, catalogue: Database) -> None:
    html = client.get(f"/en/guides/{SLUG}").text
    assert '<html lang="en">' in html
    assert SHIPPED[SLUG].title["en"] in html
    assert '<ol class="steps">' in html and '<div class="step-text" lang="vi">' in html
    assert "The steps of this guide are written in Vietnamese." in html
    vi = client.get(f"/vi/guides/{SLUG}").text
    assert 'class="step-text">' in vi and 'lang="vi">' not in vi.split("<main")[1]


def test_template_and_commune_guides_are_marked(client: TestClient, catalogue: Database) -> None:
    template = client.get("/en/guides/nen-tang-so-cua-xa").text
    assert "This is a template: each commune fills in its own details." in template
    plain = client.get("/en/guides/dung-zalo-an-toan").text
    assert "template" not in plain.split("<main")[1].lower()
    assert "A commune's own guide" not in plain
    with catalogue.write() as s:
        guide = s.exec(select(Guide).where(Guide.slug == "dung-zalo-an-toan")).one()
        guide.commune_code = COMMUNE_A
        s.add(guide)
    assert "A commune's own guide" in client.get("/en/guides/dung-zalo-an-toan").text


@pytest.mark.parametrize(
    "path",
    [
        "/vi/guides/khong-co-huong-dan-nay",
        "/en/guides/khong-co-huong-dan-nay",
        "/fr/guides/dung-zalo-an-toan",
        "/vi/guides/khong-co/poster",
        "/guides/khong-co/qr.svg",
        "/guides/dung-zalo-an-toan/qr.svg?lang=fr",
    ],
)
def test_unknown_guide_is_not_found(client: TestClient, catalogue: Database, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_unknown_guide_page_is_a_friendly_page(client: TestClient, catalogue: Database) -> None:
    response = client.get("/vi/guides/khong-co-huong-dan-nay")
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in response.text and "<h1>" in response.text


def test_draft_guide_is_not_shown(client: TestClient, db: Database, tmp_path: Path) -> None:
    write(tmp_path, guide_text(draft="true"))
    with db.write() as s:
        load_guides(s, tmp_path)
    assert client.get("/vi/guides/thu-nghiem").status_code == 404
    assert "thu-nghiem" not in client.get("/vi/").text


def test_new_version_is_what_readers_see(client: TestClient, db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, guide_text())
    with db.write() as s:
        load_guides(s, tmp_path)
    assert "Mở ứng dụng." in client.get("/vi/guides/thu-nghiem").text
    path.write_text(guide_text().replace("Mở ứng dụng.", "Mở ứng dụng mới."), "utf-8")
    with db.write() as s:
        load_guides(s, tmp_path)
    html = client.get("/vi/guides/thu-nghiem").text
    assert "Mở ứng dụng mới." in html and 'data-version="2"' in html


def test_hostile_guide_file_renders_inert(client: TestClient, db: Database, tmp_path: Path) -> None:
    hostile = guide_text(
        title="'<script>alert(1)</script>'",
        title_en="'\"><img src=x onerror=alert(1)>'",
        summary="'<svg onload=alert(1)>'",
        sources="['https://example.gov.vn/\"><script>alert(2)</script>']",
        body=XSS_BODY,
    )
    write(tmp_path, hostile)
    with db.write() as s:
        load_guides(s, tmp_path)
    for path in ("/vi/guides/thu-nghiem", "/en/guides/thu-nghiem", "/vi/", "/vi/?q=script"):
        html = client.get(path).text
        assert dangerous(html) == [], path
        assert "thu-nghiem" in html
    poster = client.get("/en/guides/thu-nghiem/poster").text
    assert [d for d in dangerous(poster) if d != "<svg>"] == []  # the QR code is our own SVG
    assert poster.count("<svg") == 1 and "&lt;img src=x onerror" in poster


# --- Feedback -----------------------------------------------------------------------------


def test_feedback_is_counted_once_per_browser(client: TestClient, catalogue: Database) -> None:
    url = f"/guides/{SLUG}/feedback"
    first = post(client, url, {"helpful": "yes", "lang": "en"})
    assert first.status_code == 303
    assert first.headers["location"] == f"/en/guides/{SLUG}?feedback=thanks#feedback"
    assert f"Path=/guides/{SLUG}/" in first.headers["set-cookie"]
    assert counts(catalogue, SLUG) == (1, 0)
    again = post(client, url, {"helpful": "no", "lang": "en"})
    assert again.status_code == 303 and counts(catalogue, SLUG) == (1, 0)
    thanks = client.get(first.headers["location"]).text
    assert '<div class="answers" hidden>' in thanks and '<p class="thanks">' in thanks


def test_feedback_counts_again_the_next_day(client: TestClient, catalogue: Database) -> None:
    url = f"/guides/{SLUG}/feedback"
    client.cookies.set("langso_helpful", "2026-01-01", path=f"/guides/{SLUG}/")
    assert post(client, url, {"helpful": "yes"}).status_code == 303
    assert counts(catalogue, SLUG) == (1, 0)
    assert post(client, url, {"helpful": "yes"}).status_code == 303
    assert counts(catalogue, SLUG) == (1, 0)


def test_a_script_dropping_its_cookie_cannot_stuff_the_count(app, catalogue: Database) -> None:
    limit = accounts.THROTTLE_LIMITS["vote"]
    with TestClient(app, follow_redirects=False, client=("100.64.1.1", 4000)) as script:
        for _ in range(limit + 20):
            script.cookies.clear()
            assert post(script, f"/guides/{SLUG}/feedback", {"helpful": "no"}).status_code == 303
    assert counts(catalogue, SLUG) == (0, limit)
    with TestClient(app, follow_redirects=False, client=("100.64.1.2", 4000)) as neighbour:
        assert post(neighbour, f"/guides/{SLUG}/feedback", {"helpful": "yes"}).status_code == 303
    assert counts(catalogue, SLUG) == (1, limit)  # another address still counts


def test_feedback_from_other_browsers_adds_up(app, catalogue: Database) -> None:
    for answer in ("yes", "no", "no"):
        with TestClient(app, follow_redirects=False) as browser:
            assert post(browser, f"/guides/{SLUG}/feedback", {"helpful": answer}).status_code == 303
    assert counts(catalogue, SLUG) == (1, 2)
    assert counts(catalogue, "dung-zalo-an-toan") == (0, 0)


def test_feedback_keeps_no_personal_data(client: TestClient, catalogue: Database) -> None:
    response = post(client, f"/guides/{SLUG}/feedback", {"helpful": "yes"})
    cookie = response.headers["set-cookie"]
    today = datetime.now(TZ).date().isoformat()  # the day only: a new vote tomorrow
    assert cookie.startswith(f"langso_helpful={today};") and "HttpOnly" in cookie
    assert response.headers["location"].startswith("/vi/")  # the page's language by default


@pytest.mark.parametrize(
    ("slug", "data", "status"),
    [
        (SLUG, {"helpful": "maybe"}, 400),
        (SLUG, {}, 400),
        ("khong-co", {"helpful": "yes"}, 404),
        ("Khong;Path=x", {"helpful": "yes"}, 404),
    ],
)
def test_feedback_refuses_what_it_cannot_count(
    client: TestClient, catalogue: Database, slug: str, data: dict, status: int
) -> None:
    assert post(client, f"/guides/{slug}/feedback", data).status_code == status
    assert counts(catalogue, SLUG) == (0, 0)


SAME = "http://testserver"  # the TestClient's origin


@pytest.mark.parametrize(
    ("headers", "counted"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site", "Origin": SAME}, False),  # a sub-domain is not us
        ({"Origin": "https://lua-dao.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "same-origin", "Origin": SAME}, True),
        ({"Origin": SAME}, True),  # a browser without Fetch Metadata
        ({"Origin": SAME, "Host": "127.0.0.1:8000"}, True),  # a proxy that drops Host: BASE_URL
        ({"Origin": "http://127.0.0.1:9", "Host": "127.0.0.1:8000"}, False),
        ({}, True),  # no browser at all: no other site's page behind it
    ],
)
def test_feedback_needs_no_token_but_refuses_another_site(
    client: TestClient, catalogue: Database, headers: dict[str, str], counted: bool
) -> None:
    response = client.post(f"/guides/{SLUG}/feedback", data={"helpful": "no"}, headers=headers)
    assert response.status_code == (303 if counted else 403)
    assert counts(catalogue, SLUG) == ((0, 1) if counted else (0, 0))


# --- QR code and poster -------------------------------------------------------------------


@pytest.mark.parametrize(("query", "lang"), [("", "vi"), ("?lang=en", "en"), ("?lang=vi", "vi")])
def test_qr_code_decodes_to_the_guide_address(
    client: TestClient, catalogue: Database, query: str, lang: str
) -> None:
    response = client.get(f"/guides/{SLUG}/qr.svg{query}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert "public" in response.headers["cache-control"]
    assert "max-age=" in response.headers["cache-control"]
    assert decode_qr(response.content) == [f"http://testserver/{lang}/guides/{SLUG}"]


def test_poster_is_one_page_of_title_summary_and_qr(
    client: TestClient, catalogue: Database
) -> None:
    page = client.get(f"/vi/guides/{SLUG}/poster")
    assert page.status_code == 200
    shipped = SHIPPED[SLUG]
    assert f"<h1>{shipped.title['vi']}</h1>" in page.text
    assert shipped.summary["vi"] in page.text
    assert '<ol class="steps">' not in page.text  # a poster points to the guide, nothing more
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg and 'role="img" aria-label="' in svg.group(0)
    standalone = svg.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    assert decode_qr(standalone.encode()) == [f"http://testserver/vi/guides/{SLUG}"]
    assert f"http://testserver/vi/guides/{SLUG}" in page.text  # for those who type it


def test_guide_without_english_text_falls_back_to_vietnamese(
    client: TestClient, catalogue: Database
) -> None:
    with catalogue.write() as s:
        guide = s.exec(select(Guide).where(Guide.slug == "dung-zalo-an-toan")).one()
        english = s.exec(
            select(GuideVersion).where(
                GuideVersion.guide_id == guide.id, GuideVersion.locale == "en"
            )
        ).one()
        s.delete(english)
    page = client.get("/en/guides/dung-zalo-an-toan").text
    assert '<h1 lang="vi">Dùng Zalo an toàn</h1>' in page
    catalogue_page = client.get("/en/").text
    assert (
        '<a href="/en/guides/dung-zalo-an-toan" lang="vi">Dùng Zalo an toàn</a>' in catalogue_page
    )
    assert "<h1>Use Zalo safely</h1>" not in page
    assert "<h1>Pay with a VietQR code</h1>" in client.get("/en/guides/thanh-toan-bang-vietqr").text


def test_a_guide_says_when_it_was_checked_and_links_every_source(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    sources = (
        "[{name: Cổng Dịch vụ công quốc gia, url: 'https://dichvucong.gov.vn/p/home'},"
        " 'https://vbpl.vn/bocongan/Pages/vbpq-toanvan.aspx?ItemID=1']"
    )
    write(tmp_path, guide_text(sources=sources, applies_from="2025-07-01"))
    with db.write() as s:
        load_guides(s, tmp_path)
    html = client.get("/vi/guides/thu-nghiem").text
    footer = html[html.index('class="guide-meta"') :]
    assert "Cập nhật ngày 1/11/2026" in footer
    assert "Các quy định trong bài áp dụng từ ngày 1/7/2025." in footer
    assert "Nguồn chính thức:" in footer
    assert re.findall(
        r'<a href="([^"]+)" rel="noopener noreferrer" class="source">([^<]+)</a>', footer
    ) == [
        ("https://dichvucong.gov.vn/p/home", "Cổng Dịch vụ công quốc gia"),
        ("https://vbpl.vn/bocongan/Pages/vbpq-toanvan.aspx?ItemID=1", "vbpl.vn"),
    ]
    english = client.get("/en/guides/thu-nghiem").text
    assert "Updated on 1/11/2026" in english
    assert "Official sources:" in english and "The rules described here apply from" in english
