"""The guide catalogue: files → versions (idempotent), errors with file and line, the shipped
guides, and search that ignores marks and case and ranks title over summary over steps."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import select

from server import glossary
from server.db import Database
from server.guides import (
    CONTENT_DIR,
    SKILLS,
    GuideError,
    load_guides,
    parse_directory,
    parse_guide,
    sanitise,
    search_guides,
)
from server.models import Guide, GuideVersion
from server.templating import ICONS
from server.text import fold


def guide_text(slug: str = "thu-nghiem", **fields: str) -> str:
    """A small valid guide file; `fields` replace front matter lines or the body."""
    meta = {
        "slug": slug,
        "skill": "safety",
        "title": "Hướng dẫn thử nghiệm",
        "title_en": "A test guide",
        "summary": "Tóm tắt ngắn.",
        "summary_en": "A short summary.",
        "sources": "[https://example.gov.vn/nguon]",
        "reviewed_on": "2026-11-01",
    }
    body = fields.pop(
        "body",
        "## Cần chuẩn bị\n\n- Điện thoại.\n\n## Các bước\n\n1. Mở ứng dụng.\n2. Bấm **Tiếp**.\n\n"
        "## Khi gặp vướng mắc\n\n- **Không mở được.** Khởi động lại máy.\n",
    )
    meta.update(fields)
    front = "\n".join(f"{k}: {v}" for k, v in meta.items() if v is not None)
    return f"---\n{front}\n---\n\n{body}"


def write(directory: Path, text: str, slug: str = "thu-nghiem") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


def versions(db: Database, slug: str) -> list[tuple[int, str, str]]:
    with db.read() as s:
        guide = s.exec(select(Guide).where(Guide.slug == slug)).one()
        rows = s.exec(select(GuideVersion).where(GuideVersion.guide_id == guide.id)).all()
    return sorted((v.version, v.locale, v.title) for v in rows)


@pytest.fixture
def catalogue(db: Database) -> Database:
    """The shipped guides, loaded into this test's database."""
    with db.write() as s:
        load_guides(s)
    return db


# --- Loading ------------------------------------------------------------------------------


def test_second_load_changes_nothing(db: Database) -> None:
    with db.write() as s:
        first = load_guides(s)
    with db.write() as s:
        second = load_guides(s)
    assert len(first.added) >= 15 and first.updated == [] and first.unchanged == []
    assert second.added == [] and second.updated == []
    assert sorted(second.unchanged) == sorted(first.added)
    with db.read() as s:
        assert {g.version for g in s.exec(select(Guide)).all()} == {1}
        assert len(s.exec(select(GuideVersion)).all()) == 2 * len(first.added)  # vi and en


def test_changed_file_makes_a_new_version_per_locale(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "guides"
    path = write(folder, guide_text())
    write(folder, guide_text("khac", title="Một hướng dẫn khác"), "khac")
    with db.write() as s:
        load_guides(s, folder)
    path.write_text(guide_text(title="Hướng dẫn thử nghiệm, bản sửa"), encoding="utf-8")
    with db.write() as s:
        summary = load_guides(s, folder)
    assert (summary.added, summary.updated, summary.unchanged) == ([], ["thu-nghiem"], ["khac"])
    assert versions(db, "thu-nghiem") == [
        (1, "en", "A test guide"),
        (1, "vi", "Hướng dẫn thử nghiệm"),
        (2, "en", "A test guide"),
        (2, "vi", "Hướng dẫn thử nghiệm, bản sửa"),
    ]
    assert versions(db, "khac")[-1][0] == 1
    with db.read() as s:
        guide = s.exec(select(Guide).where(Guide.slug == "thu-nghiem")).one()
        latest = s.exec(
            select(GuideVersion).where(
                GuideVersion.guide_id == guide.id,
                GuideVersion.version == 2,
                GuideVersion.locale == "vi",
            )
        ).one()
    assert guide.version == 2
    assert latest.title_key == "huong dan thu nghiem, ban sua"


def test_a_change_in_a_step_alone_also_makes_a_new_version(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "guides"
    path = write(folder, guide_text())
    with db.write() as s:
        load_guides(s, folder)
    path.write_text(path.read_text().replace("Mở ứng dụng.", "Mở ứng dụng VNeID."), "utf-8")
    with db.write() as s:
        assert load_guides(s, folder).updated == ["thu-nghiem"]
    with db.write() as s:
        assert load_guides(s, folder).unchanged == ["thu-nghiem"]


def test_decomposed_text_and_windows_line_ends_are_the_same_guide(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "guides"
    path = write(folder, guide_text())
    with db.write() as s:
        load_guides(s, folder)
    nfd = unicodedata.normalize("NFD", guide_text()).replace("\n", "\r\n")
    path.write_bytes(nfd.encode("utf-8"))
    with db.write() as s:
        assert load_guides(s, folder).unchanged == ["thu-nghiem"]


BROKEN = [
    # (file text, line, words in the message)
    ("slug: thu-nghiem\n", 1, "front matter"),
    (guide_text().replace("---\n\n## Cần", "\n## Cần"), 1, "no closing '---'"),
    (guide_text(title="[chưa đóng"), 5, "not valid YAML"),  # found where the list should end
    (guide_text(title="Lừa đảo: giả công an"), 4, "not valid YAML"),  # quote a title with ': '
    (guide_text(title_en="\t"), 5, "not valid YAML"),
    (guide_text(titel="Sai tên"), 10, "unknown field 'titel'"),
    (guide_text(skill="nau_an"), 3, "'skill' must be one of"),
    (guide_text(slug="ten-khac"), 2, "must equal the file name"),
    (guide_text(slug="Có Dấu"), 2, "only a-z"),
    (guide_text(reviewed_on="hôm qua"), 9, "'reviewed_on' must be a date"),
    (guide_text(sources="[javascript:alert(1)]"), 8, "https://"),
    (guide_text(sources="https://example.gov.vn"), 8, "list of official pages"),
    (guide_text(sources="[{url: https://a.gov.vn, tên: A}]"), 8, "'name'"),
    (guide_text(applies_from="2027-01-01"), 10, "after 'reviewed_on'"),
    (guide_text(applies_from="1/7/2025"), 10, "'applies_from' must be a date"),
    (guide_text(title_en=None), 1, "no 'title_en'"),
    (guide_text(summary="''"), 6, "non-empty"),
    (guide_text(template="có"), 10, "true or false"),
    (guide_text().replace("skill: safety\n", "skill: safety\nskill: payment\n"), 4, "twice"),
    (guide_text(body="## Cần chuẩn bị\n\n- Điện thoại.\n"), 11, "no '## Các bước'"),
    (guide_text(body="Mở đầu.\n\n## Lưu ý thêm\n\n- Một.\n"), 14, "unknown section"),
    (guide_text(body="# Các bước\n\n1. Một.\n"), 12, "'## '"),
    (guide_text(body="## Các bước\n\n- Một.\n- Hai.\n"), 14, "numbered list"),
    (guide_text(body="## Các bước\n\n1. Một.\n\nThêm một đoạn.\n"), 16, "one list"),
    (guide_text(body="## Các bước\n\n1. Một.\n2. Xem [khác](khong-co).\n"), 15, "unknown guide"),
]


@pytest.mark.parametrize(("text", "line", "words"), BROKEN)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GuideError) as caught:
        parse_directory(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


def test_any_wrong_file_stops_the_whole_load(db: Database, tmp_path: Path) -> None:
    write(tmp_path, guide_text())
    write(tmp_path, guide_text("hong", skill="nau_an"), "hong")
    write(tmp_path, guide_text("hong-nua", title_en=None), "hong-nua")
    with pytest.raises(GuideError) as caught, db.write() as s:
        load_guides(s, tmp_path)
    assert len(caught.value.problems) == 2  # every wrong file is reported, not just the first
    with db.read() as s:
        assert s.exec(select(Guide)).all() == []


def test_missing_folder_fails_at_once(db: Database, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"), db.write() as s:
        load_guides(s, tmp_path / "khong-co")


def test_draft_is_stored_but_not_published(db: Database, tmp_path: Path) -> None:
    write(tmp_path, guide_text(draft="true"))
    with db.write() as s:
        load_guides(s, tmp_path)
    with db.read() as s:
        assert s.exec(select(Guide)).one().published is False
        assert search_guides(s, "thu nghiem", "vi") == []


def run_cli(args: list[str], database_url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "LANGSO_VAR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        text=True,
        capture_output=True,
        env={**env, "SECRET_KEY": "cli-test"},
        timeout=120,
    )


def test_cli_loads_the_catalogue_and_reports_errors(database_url: str, tmp_path: Path) -> None:
    first = run_cli(["load-guides"], database_url, tmp_path)
    assert first.returncode == 0, first.stderr
    count = len([p for p in CONTENT_DIR.glob("*.md") if p.name != "README.md"])
    words = len(glossary.parse().terms)
    assert first.stdout.splitlines() == [
        f"{count} guides added, 0 updated, 0 unchanged",
        f"glossary: {words} words",
    ]
    again = run_cli(["load-guides"], database_url, tmp_path)
    assert again.stdout.splitlines()[0] == f"0 guides added, 0 updated, {count} unchanged"
    bad = write(tmp_path / "bad", guide_text(skill="nau_an"))
    failed = run_cli(["load-guides", "--directory", str(bad.parent)], database_url, tmp_path)
    assert failed.returncode == 1
    assert f"{bad}:3: 'skill' must be one of" in failed.stderr
    assert "Traceback" not in failed.stderr


# --- The shipped guides -------------------------------------------------------------------

SHIPPED = parse_directory(CONTENT_DIR)
LOANWORDS = {"click", "download", "upload", "login", "logout", "online", "update", "share", "ok"}


def test_the_catalogue_covers_what_teams_are_asked_about() -> None:
    slugs = {g.slug for g in SHIPPED}
    assert len(slugs) >= 15
    assert {
        "vneid-cai-dat-dang-ky-muc-1",
        "vneid-chuan-bi-muc-2",
        "dang-nhap-dich-vu-cong-bang-vneid",
        "lien-thong-khai-sinh-thuong-tru-bhyt",
        "tra-cuu-ho-so-bang-ma",
        "tra-tien-dien-khong-dung-tien-mat",
        "vssid-the-bhyt-dien-tu",
        "doi-giay-phep-lai-xe-truc-tuyen",
        "ly-lich-tu-phap-qua-vneid",
        "thanh-toan-bang-vietqr",
        "mo-gian-hang-ban-nong-san",
        "nhan-biet-cuoc-goi-lua-dao",
        "mat-khau-manh-khong-dua-otp",
        "dung-zalo-an-toan",
        "nen-tang-so-cua-xa",
    } <= slugs
    assert {g.skill for g in SHIPPED} >= {
        "public_services",
        "shopping",
        "payment",
        "safety",
        "local_platforms",
    }
    assert [g.slug for g in SHIPPED if g.template] == ["nen-tang-so-cua-xa"]


@pytest.mark.parametrize("guide", SHIPPED, ids=lambda g: g.slug)
def test_every_shipped_guide_is_complete_and_plain(guide) -> None:
    assert guide.skill in SKILLS
    assert guide.title["vi"] and guide.title["en"] and guide.title["vi"] != guide.title["en"]
    assert guide.summary["vi"] and guide.summary["en"]
    assert guide.source_url.startswith("https://") and guide.source_name
    assert date(2025, 7, 1) <= guide.reviewed_on <= date.today()
    assert len(guide.documents) >= 1 and len(guide.problems) >= 2
    assert 3 <= len(guide.steps) <= 12
    for step in guide.steps:
        assert 10 <= len(step["text"]) <= 260, step["text"]  # one action, short sentences
    words = set(fold(" ".join([s["text"] for s in guide.steps] + guide.documents)).split())
    assert words & LOANWORDS == set()
    assert guide.published


def test_every_shipped_guide_loads_with_both_languages(catalogue: Database) -> None:
    with catalogue.read() as s:
        guides = s.exec(select(Guide)).all()
        rows = s.exec(select(GuideVersion)).all()
    assert {g.slug for g in guides} == {g.slug for g in SHIPPED}
    assert all(g.published and g.reviewed_on and g.source_url for g in guides)
    by_locale: dict[str, set] = {"vi": set(), "en": set()}
    for v in rows:
        by_locale[v.locale].add(v.guide_id)
        assert v.title and v.title_key == fold(v.title) and v.summary
        assert v.body["steps"] and v.body["search"]["text"]
    assert by_locale["vi"] == by_locale["en"] == {g.id for g in guides}


# --- Search -------------------------------------------------------------------------------

SEARCHES = [
    ("Đăng ký khai sinh", "lien-thong-khai-sinh-thuong-tru-bhyt"),
    ("dang ky khai sinh", "lien-thong-khai-sinh-thuong-tru-bhyt"),
    ("ĐĂNG KÝ KHAI SINH", "lien-thong-khai-sinh-thuong-tru-bhyt"),
    ("đăng kí khai sinh", "lien-thong-khai-sinh-thuong-tru-bhyt"),
    (unicodedata.normalize("NFD", "khai sinh cho bé"), "lien-thong-khai-sinh-thuong-tru-bhyt"),
    ("cài VNeID", "vneid-cai-dat-dang-ky-muc-1"),
    ("cai vneid", "vneid-cai-dat-dang-ky-muc-1"),
    ("vne", "vneid-cai-dat-dang-ky-muc-1"),
    ("định danh mức 2", "vneid-chuan-bi-muc-2"),
    ("muc 2", "vneid-chuan-bi-muc-2"),
    ("đăng nhập dịch vụ công", "dang-nhap-dich-vu-cong-bang-vneid"),
    ("dichvucong", "dang-nhap-dich-vu-cong-bang-vneid"),
    ("tra cứu hồ sơ", "tra-cuu-ho-so-bang-ma"),
    ("ma ho so", "tra-cuu-ho-so-bang-ma"),
    ("tiền điện", "tra-tien-dien-khong-dung-tien-mat"),
    ("tien dien", "tra-tien-dien-khong-dung-tien-mat"),
    ("VssID", "vssid-the-bhyt-dien-tu"),
    ("the bao hiem y te", "vssid-the-bhyt-dien-tu"),
    ("giấy phép lái xe", "doi-giay-phep-lai-xe-truc-tuyen"),
    ("bang lai", "doi-giay-phep-lai-xe-truc-tuyen"),
    ("lý lịch tư pháp", "ly-lich-tu-phap-qua-vneid"),
    ("li lich tu phap", "ly-lich-tu-phap-qua-vneid"),
    ("VietQR", "thanh-toan-bang-vietqr"),
    ("qr", "thanh-toan-bang-vietqr"),
    ("gian hàng nông sản", "mo-gian-hang-ban-nong-san"),
    ("lừa đảo", "nhan-biet-cuoc-goi-lua-dao"),
    ("gia cong an", "nhan-biet-cuoc-goi-lua-dao"),
    ("mật khẩu", "mat-khau-manh-khong-dua-otp"),
    ("otp", "mat-khau-manh-khong-dua-otp"),
    ("zalo", "dung-zalo-an-toan"),
    ("nền tảng số của xã", "nen-tang-so-cua-xa"),
    ("mua hang", "mua-hang-tren-mang-an-toan"),
    ("ví giấy tờ", "vneid-tich-hop-giay-to"),
]


@pytest.mark.parametrize(("query", "first"), SEARCHES)
def test_search_finds_the_right_guide_first(catalogue: Database, query: str, first: str) -> None:
    with catalogue.read() as s:
        results = search_guides(s, query, "vi")
    assert results and results[0].slug == first, [r.slug for r in results[:3]]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("driving licence", "doi-giay-phep-lai-xe-truc-tuyen"),
        ("scam calls", "nhan-biet-cuoc-goi-lua-dao"),
        ("birth", "lien-thong-khai-sinh-thuong-tru-bhyt"),
        ("khai sinh", "lien-thong-khai-sinh-thuong-tru-bhyt"),  # Vietnamese words on /en/
    ],
)
def test_english_search_uses_english_titles(catalogue: Database, query: str, first: str) -> None:
    with catalogue.read() as s:
        results = search_guides(s, query, "en")
    assert results[0].slug == first
    assert results[0].locale == "en"


@pytest.mark.parametrize("query", ["", "   ", "?!", "xyzzy plugh"])
def test_search_without_a_match_is_empty(catalogue: Database, query: str) -> None:
    with catalogue.read() as s:
        assert search_guides(s, query, "vi") == []


def test_an_unknown_word_does_not_hide_a_good_match(catalogue: Database) -> None:
    with catalogue.read() as s:
        both = search_guides(s, "khai sinh", "vi")
        partial = search_guides(s, "khai sinh xyzzy", "vi")
    assert both[0].slug == "lien-thong-khai-sinh-thuong-tru-bhyt"
    assert partial and partial[0].slug == "lien-thong-khai-sinh-thuong-tru-bhyt"


def test_title_ranks_over_summary_over_steps(db: Database, tmp_path: Path) -> None:
    step_body = "## Các bước\n\n1. Nhìn con chuồn chuồn.\n2. Bấm tiếp.\n"
    write(tmp_path, guide_text("o-buoc", title="Một", body=step_body), "o-buoc")
    write(tmp_path, guide_text("o-tom-tat", title="Hai", summary="Về chuồn chuồn."), "o-tom-tat")
    write(tmp_path, guide_text("o-tieu-de", title="Chuồn chuồn bay"), "o-tieu-de")
    write(tmp_path, guide_text("khong-lien-quan", title="Ba"), "khong-lien-quan")
    with db.write() as s:
        load_guides(s, tmp_path)
    with db.read() as s:
        results = [g.slug for g in search_guides(s, "chuon chuon", "vi")]
    assert results == ["o-tieu-de", "o-tom-tat", "o-buoc"]


# --- What a file may not smuggle in -------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


ICON = {"class": "icon", "aria-hidden": "true", "focusable": "false"}


OUR_SCRIPTS = [{"type": "module", "src": f"/static/js/{name}.js"} for name in ("guide", "reader")]


def dangerous(html: str) -> list[str]:
    """Every element or attribute that could run script, as the browser would parse it."""
    parser = _Tags()
    parser.feed(html)
    bad = []
    for tag, attrs in parser.found:
        ours = (tag == "script" and attrs in OUR_SCRIPTS) or (
            tag == "svg" and attrs == ICON  # templating.icon(): an icon beside a button's word
        )
        if tag == "use" and not attrs.get("href", "").startswith(f"{ICONS}#"):
            bad.append(f"<use href={attrs.get('href')}>")
        if (
            tag in ("script", "iframe", "object", "embed", "style", "svg", "math", "base")
            and not ours
        ):
            bad.append(f"<{tag}>")
        for name, value in attrs.items():
            url = "".join(value.split()).lower()
            if name.startswith("on") or name == "style":
                bad.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "formaction") and url.startswith(
                ("javascript:", "vbscript:", "data:")
            ):
                bad.append(f"<{tag} {name}={value}>")
    return bad


XSS_BODY = (
    "<script>alert(1)</script> Mở đầu <b onclick=alert(1)>x</b>\n\n"
    "## Các bước\n\n"
    "1. Bấm [vào đây](javascript:alert(1)).\n"
    "2. Ảnh <img src=x onerror=alert(1)>.\n"
    '3. <svg onload="alert(1)"><a href="javascript:alert(2)">y</a></svg>\n'
    "4. [Liên kết](JaVaScRiPt:alert(3)) và ![ảnh](javascript:alert(4)).\n"
    "5. <javascript:alert(5)> và [dữ liệu](data:text/html;base64,PHNjcmlwdD4=).\n"
    "6. <iframe src=https://evil.example></iframe><style>*{}</style>\n"
    "7. [Trang thật](https://dichvucong.gov.vn) và [gọi](tel:113).\n"
    "8. [Tab](java&#x09;script:alert(6)) và [xuống dòng](vbscript:msgbox(7)).\n"
)


def test_rendered_markdown_keeps_no_script(tmp_path: Path) -> None:
    guide = parse_guide(write(tmp_path, guide_text(body=XSS_BODY)))
    html = guide.intro + "".join(s["html"] for s in guide.steps)
    assert dangerous(html) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in guide.intro  # shown as text, inert
    assert '<a href="https://dichvucong.gov.vn" rel="noopener noreferrer">' in html
    assert '<a href="tel:113" rel="noopener noreferrer">' in html


def test_the_checker_itself_sees_script() -> None:
    # If the sanitiser were skipped, these are what `dangerous` must catch.
    raw = '<img src=x onerror=alert(1)><a href=" JaVa\tScript:x">a</a><svg></svg><script>x</script>'
    assert dangerous(raw) == [
        "<img onerror>",
        "<a href= JaVa\tScript:x>",
        "<svg>",
        "<script>",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" jAvAsCrIpT:alert(1)">x</a>',
        '<svg onload="alert(1)"></svg>',
        "<script>alert(1)</script>",
        '<p style="background:url(javascript:alert(1))" onmouseover="alert(1)">x</p>',
        '<iframe src="https://evil.example"></iframe>',
        '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>',
    ],
)
def test_sanitiser_is_a_second_wall_for_raw_html(raw: str) -> None:
    assert dangerous(raw) != []  # the payload is live as written…
    assert dangerous(sanitise(raw)) == []  # …and inert once cleaned
