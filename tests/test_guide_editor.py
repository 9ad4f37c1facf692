"""The console's guide editor: versions on every save, preview without saving, restore, who may
edit what, notifications on publishing, and nothing a writer types can run in a reader's browser."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from markupsafe import escape
from sqlmodel import func, select
from starlette.testclient import TestClient

from server import accounts, guides, i18n
from server.db import Database
from server.guide_drafts import draft_of, markdown_from_html, to_source
from server.guides import load_guides
from server.models import Guide, GuideVersion, Member, Notification, Role
from server.templating import ICONS

from .conftest import COMMUNE_A, COMMUNE_B, World, login, post
from .test_guides import ICON


def vi(message: str, **variables: Any) -> str:
    """A message as a Vietnamese page shows it (escaped like the template does)."""
    token = i18n.current_locale.set("vi")
    try:
        return str(escape(i18n.gettext(message, **variables)))
    finally:
        i18n.current_locale.reset(token)


def form(**changes: str) -> dict[str, str]:
    data = {
        "title": "Đăng ký lịch tiếp công dân của xã",
        "summary": "Đặt lịch gặp cán bộ xã qua Zalo của Ủy ban, không phải chờ.",
        "skill": "local_platforms",
        "documents": "Căn cước\n- Điện thoại có Zalo",
        "step-1": "Mở **Zalo**, tìm *UBND xã Đại Sơn*.",
        "step-2": "Bấm **Đặt lịch** và chọn ngày.",
        "step-3": "",
        "problems": "Không tìm thấy tài khoản xã: gọi [bộ phận một cửa](tel:02223123456).",
        "source_url": "https://daison.bacninh.gov.vn/lich-tiep-dan",
        "reviewed_on": "2026-01-15",
        "status": "draft",
        "op": "save",
    }
    data.update(changes)
    return data


def create(client: TestClient, **changes: str) -> str:
    response = post(client, "/console/guides/new", form(**changes))
    assert response.status_code == 303, response.text
    match = re.fullmatch(
        r"/console/guides/([a-z0-9-]+)/edit\?saved=1", response.headers["location"]
    )
    assert match, response.headers["location"]
    return match.group(1)


def edit(client: TestClient, slug: str, base: int, **changes: str):
    return post(client, f"/console/guides/{slug}/edit", form(base_version=str(base), **changes))


def versions(db: Database, slug: str, locale: str = "vi") -> list[GuideVersion]:
    with db.read() as s:
        guide = s.exec(select(Guide).where(Guide.slug == slug)).one()
        return list(
            s.exec(
                select(GuideVersion)
                .where(GuideVersion.guide_id == guide.id, GuideVersion.locale == locale)
                .order_by(GuideVersion.version)
            ).all()
        )


def guide_row(db: Database, slug: str) -> Guide:
    with db.read() as s:
        return s.exec(select(Guide).where(Guide.slug == slug)).one()


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def catalogue(db: Database) -> None:
    with db.write() as s:
        load_guides(s)


# --- Writing ----------------------------------------------------------------------------------


def test_create_saves_version_1_as_the_communes_own(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    slug = create(client)
    assert slug == "dang-ky-lich-tiep-cong-dan-cua-xa"
    guide = guide_row(db, slug)
    assert (guide.commune_code, guide.version, guide.published) == (COMMUNE_A, 1, False)
    assert guide.source_url == "https://daison.bacninh.gov.vn/lich-tiep-dan"
    [v1] = versions(db, slug)
    assert v1.author_id == world.coord_a.id and v1.title == "Đăng ký lịch tiếp công dân của xã"
    assert [s["html"] for s in v1.body["steps"]] == [
        "Mở <strong>Zalo</strong>, tìm <em>UBND xã Đại Sơn</em>.",
        "Bấm <strong>Đặt lịch</strong> và chọn ngày.",
    ]
    assert v1.body["documents"] == ["Căn cước", "Điện thoại có Zalo"]
    assert v1.body["source_name"] == "daison.bacninh.gov.vn"
    assert "dat lich" in v1.body["search"]["text"]
    assert versions(db, slug, "en") == []  # no English given: the page falls back to Vietnamese

    page = client.get(f"/console/guides/{slug}/edit?saved=1")
    assert page.status_code == 200
    assert vi("Saved as version %(n)s.", n="1") in page.text
    assert "Mở **Zalo**, tìm *UBND xã Đại Sơn*.</textarea>" in page.text  # back as typed
    listing = client.get("/console/guides")
    assert f'href="/console/guides/{slug}/edit"' in listing.text
    assert client.get(f"/vi/guides/{slug}").status_code == 404  # a draft is not public


def test_edit_makes_a_new_version_and_keeps_the_old(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    slug = create(client)
    response = edit(
        client,
        slug,
        1,
        title="Đặt lịch tiếp công dân",
        title_en="Book a meeting at the commune office",
        summary_en="Book a time with a commune officer on Zalo.",
        status="published",
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/guides/{slug}/edit?saved=2"
    v1, v2 = versions(db, slug)
    assert (v1.version, v1.title) == (1, "Đăng ký lịch tiếp công dân của xã")
    assert (v2.version, v2.title, v2.author_id) == (2, "Đặt lịch tiếp công dân", world.coord_a.id)
    [en] = versions(db, slug, "en")
    assert (en.version, en.title) == (2, "Book a meeting at the commune office")
    guide = guide_row(db, slug)
    assert (guide.version, guide.published, guide.slug) == (2, True, slug)
    public = client.get(f"/vi/guides/{slug}")
    assert public.status_code == 200 and "Đặt lịch tiếp công dân" in public.text
    assert "Book a meeting" in client.get(f"/en/guides/{slug}").text
    assert vi("A commune's own guide") in public.text


def test_a_stale_form_does_not_overwrite_a_newer_version(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    slug = create(client)
    assert edit(client, slug, 1, title="Lần sửa thứ nhất").status_code == 303
    late = edit(client, slug, 1, title="Lần sửa từ trang cũ")
    assert late.status_code == 409
    assert "Lần sửa từ trang cũ" in late.text  # what was typed is still in the form
    assert [v.title for v in versions(db, slug)] == [
        "Đăng ký lịch tiếp công dân của xã",
        "Lần sửa thứ nhất",
    ]


def test_preview_renders_and_saves_nothing(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    response = post(client, "/console/guides/new", form(op="preview"))
    assert response.status_code == 200
    assert 'id="h-preview"' in response.text
    assert "Mở <strong>Zalo</strong>, tìm <em>UBND xã Đại Sơn</em>." in response.text
    assert count(db, Guide) == 0 and count(db, GuideVersion) == 0

    slug = create(client)
    response = edit(client, slug, 1, op="preview", **{"step-1": "Bước **mới** xem thử"})
    assert response.status_code == 200
    assert "Bước <strong>mới</strong> xem thử" in response.text
    assert [v.version for v in versions(db, slug)] == [1]
    assert count(db, Notification) == 0


def test_step_buttons_add_move_and_remove_without_saving(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    steps = {"step-1": "Một", "step-2": "Hai", "step-3": "Ba"}
    added = post(client, "/console/guides/new", form(op="add", **steps))
    assert added.status_code == 200 and 'name="step-4"' in added.text
    moved = post(client, "/console/guides/new", form(op="up-3", **steps))
    order = re.findall(r'name="step-(\d)"[^>]*>([^<]*)</textarea>', moved.text)
    assert order == [("1", "Một"), ("2", "Ba"), ("3", "Hai")]
    down = post(client, "/console/guides/new", form(op="down-1", **steps))
    order = re.findall(r'name="step-(\d)"[^>]*>([^<]*)</textarea>', down.text)
    assert [text for _n, text in order] == ["Hai", "Một", "Ba"]
    removed = post(client, "/console/guides/new", form(op="remove-2", **steps))
    order = re.findall(r'name="step-(\d)"[^>]*>([^<]*)</textarea>', removed.text)
    assert order == [("1", "Một"), ("2", "Ba")]
    assert count(db, Guide) == 0


def test_restore_makes_a_new_version_equal_to_the_old(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    slug = create(client)
    changed = {"title": "Tiêu đề mới", "step-1": "Bước khác hẳn", "skill": "safety"}
    changed["source_url"] = "https://example.gov.vn/khac"
    assert edit(client, slug, 1, **changed).status_code == 303
    history = client.get(f"/console/guides/{slug}/history")
    assert history.status_code == 200
    assert vi("Restore version %(n)s", n=1) in history.text
    assert vi("Restore version %(n)s", n=2) not in history.text  # the current one

    response = post(client, f"/console/guides/{slug}/restore", {"version": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/guides/{slug}/history?restored=3"
    v1, v2, v3 = versions(db, slug)
    assert (v3.version, v3.author_id) == (3, world.coord_a.id)
    assert (v3.title, v3.title_key, v3.summary, v3.body) == (
        v1.title,
        v1.title_key,
        v1.summary,
        v1.body,
    )
    assert v3.body != v2.body
    guide = guide_row(db, slug)
    assert (guide.version, guide.skill, guide.source_url) == (
        3,
        "local_platforms",
        "https://daison.bacninh.gov.vn/lich-tiep-dan",
    )
    again = post(client, f"/console/guides/{slug}/restore", {"version": "3"})
    assert again.status_code == 400
    assert vi("This is already the current version.") in again.text
    assert post(client, f"/console/guides/{slug}/restore", {"version": "9"}).status_code == 404
    assert len(versions(db, slug)) == 3


def test_catalogue_guides_come_back_into_the_form_unchanged(db: Database, catalogue: None) -> None:
    """Guides loaded from files carry no Markdown: the form gets it back from their HTML, and
    saving it unchanged gives the same HTML."""
    with db.read() as s:
        pairs = s.exec(
            select(Guide, GuideVersion)
            .join(GuideVersion, GuideVersion.guide_id == Guide.id)
            .where(GuideVersion.version == Guide.version, GuideVersion.locale == "vi")
        ).all()
    assert len(pairs) >= 10
    for guide, row in pairs:
        draft = draft_of(guide, {"vi": row})
        source = to_source(draft, guide.slug)
        assert [s["html"] for s in source.steps] == [s["html"] for s in row.body["steps"]]
        assert source.documents == row.body["documents"]
        assert source.problems == row.body["problems"]
        assert source.intro == row.body["intro"]
        assert source.source_name == row.body["source_name"]
    assert (
        markdown_from_html("Gõ <code>*#100#</code> rồi bấm *gọi*")
        == "Gõ `*#100#` rồi bấm \\*gọi\\*"
    )


# --- Notifications ----------------------------------------------------------------------------


def add_volunteer(db: Database, phone: str, commune: str, active: bool = True) -> Member:
    with db.write() as s:
        m = accounts.create_member(
            s, name="Tổ viên", phone=phone, role=Role.volunteer, commune_code=commune, password=None
        )
        m.active = active
        s.add(m)
    return m


def notifications(db: Database) -> list[Notification]:
    with db.read() as s:
        return list(s.exec(select(Notification)).all())


def test_publishing_queues_one_notification_per_volunteer(
    client: TestClient, world: World, db: Database
) -> None:
    second = add_volunteer(db, "0900000011", COMMUNE_A)
    add_volunteer(db, "0900000012", COMMUNE_A, active=False)
    login(client, world.phone("coord_a"))
    slug = create(client)  # a draft: nobody is told
    assert notifications(db) == []
    assert edit(client, slug, 1, status="published").status_code == 303
    queued = notifications(db)
    assert sorted(str(n.member_id) for n in queued) == sorted([str(world.vol_a.id), str(second.id)])
    assert {n.kind for n in queued} == {"guide_published"}
    assert [n.payload for n in queued] == [
        {"slug": slug, "title": "Đăng ký lịch tiếp công dân của xã", "version": 2}
    ] * 2
    assert all(n.sent_at is None for n in queued)
    assert edit(client, slug, 2, status="draft").status_code == 303  # unpublishing: nothing
    assert len(notifications(db)) == 2


def test_a_shared_guide_tells_the_volunteers_of_every_commune_in_use(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("admin"))
    slug = create(client, status="published")
    assert guide_row(db, slug).commune_code is None
    queued = notifications(db)
    assert sorted(str(n.member_id) for n in queued) == sorted(
        [str(world.vol_a.id), str(world.vol_b.id)]
    )
    assert {n.payload["version"] for n in queued} == {1}


# --- Who may edit what ------------------------------------------------------------------------


def test_coordinator_cannot_touch_another_communes_guide(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_b"))
    slug = create(client)
    assert guide_row(db, slug).commune_code == COMMUNE_B
    client.cookies.clear()
    login(client, world.phone("coord_a"))
    assert client.get(f"/console/guides/{slug}/edit").status_code == 404
    assert edit(client, slug, 1, title="Chiếm quyền").status_code == 404
    assert client.get(f"/console/guides/{slug}/history").status_code == 404
    assert post(client, f"/console/guides/{slug}/restore", {"version": "1"}).status_code == 404
    assert slug not in client.get("/console/guides").text
    assert [v.title for v in versions(db, slug)] == ["Đăng ký lịch tiếp công dân của xã"]


def test_shared_guides_are_for_the_admin_only(
    client: TestClient, world: World, db: Database, catalogue: None
) -> None:
    slug = "dung-zalo-an-toan"
    login(client, world.phone("coord_a"))
    listing = client.get("/console/guides")
    assert f'href="/vi/guides/{slug}"' in listing.text  # readable…
    assert f'href="/console/guides/{slug}/edit"' not in listing.text  # …not editable
    assert client.get(f"/console/guides/{slug}/edit").status_code == 403
    assert edit(client, slug, 1, title="Sửa trộm").status_code == 403
    assert client.get(f"/console/guides/{slug}/history").status_code == 403
    assert post(client, f"/console/guides/{slug}/restore", {"version": "1"}).status_code == 403
    assert guide_row(db, slug).version == 1

    client.cookies.clear()
    login(client, world.phone("vol_a"))
    for path in ("/console/guides", "/console/guides/new", f"/console/guides/{slug}/edit"):
        assert client.get(path).status_code == 403, path
    assert post(client, "/console/guides/new", form()).status_code == 403
    assert count(db, Guide) == len(guides.parse_directory(guides.CONTENT_DIR))

    client.cookies.clear()
    login(client, world.phone("admin"))
    assert client.get(f"/console/guides/{slug}/edit").status_code == 200
    assert edit(client, slug, 1, title="Dùng Zalo an toàn hơn").status_code == 303
    [*_, latest] = versions(db, slug)
    assert (latest.version, latest.author_id) == (2, world.admin.id)
    assert guide_row(db, slug).commune_code is None
    # Loading the unchanged catalogue files again keeps the admin's edit.
    with db.write() as s:
        assert slug in load_guides(s).unchanged
    assert guide_row(db, slug).version == 2


def test_admin_edits_guides_of_communes_in_their_province_only(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    in_province = create(client)
    client.cookies.clear()
    login(client, world.phone("coord_b"))
    elsewhere = create(client, title="Lịch tiếp dân phường Ba Đình")
    client.cookies.clear()
    login(client, world.phone("admin"))
    listing = client.get("/console/guides").text
    assert f"/console/guides/{in_province}/edit" in listing and elsewhere not in listing
    assert client.get(f"/console/guides/{in_province}/edit").status_code == 200
    assert edit(client, in_province, 1, title="Sửa bởi tỉnh").status_code == 303
    assert guide_row(db, in_province).commune_code == COMMUNE_A  # still the commune's own
    assert client.get(f"/console/guides/{elsewhere}/edit").status_code == 404
    assert edit(client, elsewhere, 1, title="Không được").status_code == 404


# --- Bad input ----------------------------------------------------------------------------------

XSS = {
    "title": "<script>alert('tiêu đề')</script>",
    "summary": '"><svg onload=alert(1)>',
    "step-1": "<img src=x onerror=alert(1)> Bấm [vào đây](javascript:alert(document.cookie))",
    "step-2": '[Mở](JaVaScRiPt:alert(2)) <a href="javascript:alert(3)">x</a> '
    "![a](javascript:alert(4))",
    "documents": "<iframe src=//evil.example></iframe>",
    "problems": "[gọi](vbscript:msgbox(1)) [dữ liệu](data:text/html;base64,PHNjcmlwdD4=)",
    "status": "published",
}


class _Tags(HTMLParser):
    """Every element of a page with its attributes, as a browser would build them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def assert_inert(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    assert parser.tags, "not a page"
    for tag, attrs in parser.tags:
        ours = tag == "svg" and attrs == ICON  # templating.icon() beside a button's word
        assert ours or tag not in ("iframe", "svg", "object", "embed"), tag
        if tag == "use":
            assert attrs.get("href", "").startswith(f"{ICONS}#"), attrs
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            value = re.sub(r"\s", "", attrs.get(name, "")).lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:")), (tag, attrs)
    assert parser.script_text.strip() == ""


def test_script_in_a_guide_renders_inert(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    slug = create(client, **XSS)
    preview = post(client, f"/console/guides/{slug}/edit", form(op="preview", **XSS))
    public = client.get(f"/vi/guides/{slug}")
    assert public.status_code == 200
    for html in (preview.text, public.text):
        assert_inert(html)
        assert "&lt;script&gt;alert(" in html  # shown as the text that was typed
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.search(r"<a [^>]*>x</a>", public.text) is None  # the raw anchor is only text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://dichvucong.gov.vn",
        "dichvucong.gov.vn",
        "https://",
        "https://dichvucong.gov.vn/a b",
        "https://" + "a" * 500 + ".vn",
    ],
)
def test_source_link_must_be_http(client: TestClient, world: World, db: Database, url: str) -> None:
    login(client, world.phone("coord_a"))
    response = post(client, "/console/guides/new", form(source_url=url))
    assert response.status_code == 400
    message = vi("Give the official web address, starting with https:// or http://.")
    assert message in response.text
    assert count(db, Guide) == 0


def test_missing_fields_are_named(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    response = post(
        client,
        "/console/guides/new",
        form(title="", summary="", skill="nope", reviewed_on="2999-01-01", **{"step-1": ""}),
    )
    empty_steps = post(client, "/console/guides/new", form(**{"step-1": "", "step-2": ""}))
    assert response.status_code == 400 and empty_steps.status_code == 400
    for message in (
        "Give the guide a title.",
        "Choose the skill this guide teaches.",
        "Give the date you checked the guide, not in the future.",
    ):
        assert vi(message) in response.text
    assert vi("Write at least one step.") in empty_steps.text
    assert 'aria-invalid="true"' in response.text and "Traceback" not in response.text
    assert count(db, Guide) == 0


def test_search_follows_publishing_in_the_console(
    client: TestClient, world: World, db: Database
) -> None:
    from server.guides import search_guides

    login(client, world.phone("coord_a"))
    slug = create(client)
    with db.read() as s:
        assert search_guides(s, "lich tiep cong dan", "vi") == []  # a draft is not found
    assert edit(client, slug, 1, status="published").status_code == 303
    with db.read() as s:
        assert [g.slug for g in search_guides(s, "lich tiep cong dan", "vi")][:1] == [slug]
    assert edit(client, slug, 2, status="draft").status_code == 303
    with db.read() as s:
        assert search_guides(s, "lich tiep cong dan", "vi") == []


def _due_section(html: str) -> str:
    found = re.search(r'<section class="review-due".*?</section>', html, re.S)
    return found.group(0) if found else ""


def test_guides_not_checked_for_six_months_are_listed_to_check_again(
    client: TestClient, world: World, db: Database, catalogue: None
) -> None:
    today = datetime.now(i18n.TZ).date()
    due = guides.review_due_before(today)
    assert due.year * 12 + due.month == today.year * 12 + today.month - 6
    login(client, world.phone("coord_a"))
    old = create(
        client, title="Lịch tiếp dân cũ", reviewed_on=(due - timedelta(days=1)).isoformat()
    )
    fresh = create(client, title="Lịch tiếp dân mới", reviewed_on=due.isoformat())
    shared = "dung-zalo-an-toan"
    with db.write() as s:
        s.execute(sa.update(Guide).where(Guide.slug == shared).values(reviewed_on=date(2025, 1, 2)))

    listing = client.get("/console/guides").text
    section = _due_section(listing)
    assert "1 hướng dẫn cần kiểm tra lại" in section
    assert f'href="/console/guides/{old}/edit"' in section
    assert f'href="/console/guides/{fresh}/edit"' not in section  # checked six months ago today
    assert shared not in section  # the coordinator cannot fix the shared catalogue
    assert vi("Last checked on %(date)s", date=i18n.fmt_date(due - timedelta(days=1))) in section

    # Checking it again (the day set in the form) takes it off the list.
    assert (
        edit(client, old, 1, title="Lịch tiếp dân cũ", reviewed_on=today.isoformat()).status_code
        == 303
    )
    assert _due_section(client.get("/console/guides").text) == ""

    client.cookies.clear()
    login(client, world.phone("admin"))
    section = _due_section(client.get("/console/guides").text)
    assert f'href="/console/guides/{shared}/edit"' in section
    assert re.findall(r'href="/console/guides/([a-z0-9-]+)/edit"', section) == [shared]
