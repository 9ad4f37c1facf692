"""More of the field app in Chromium: the four-tap log, households with consent and duplicate
warnings, guides offline, signing out with unsent work, and the export a coordinator imports."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Playwright, expect
from sqlmodel import delete, func, select
from starlette.testclient import TestClient

from server.db import Database
from server.models import AssistanceSession, AuthSession, Household

from ..conftest import PASSWORD, World, csrf, login
from .conftest import assert_accessible
from .test_field_app import (
    controlled,
    count_sessions,
    eventually,
    log_walk_in,
    open_app,
    sign_in,
    wait_ready,
    waiting,
)
from .test_guide_editor_browser import fill_guide_with_picture


def add_household(page, name: str, village: str = "Thôn Đông Hòa", phone: str = "") -> None:
    page.goto("/app#/household/new")
    wait_ready(page)
    page.get_by_label("Thôn, tổ dân phố").select_option(label=village)
    page.get_by_label("Tên chủ hộ").fill(name)
    if phone:
        page.get_by_label("Số điện thoại (không bắt buộc)").fill(phone)


def test_household_needs_consent_and_warns_of_duplicates(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    add_household(page, "Nguyễn Thị Hoa", phone="0912 000 111")
    consent = page.get_by_label("Gia đình đồng ý cho Tổ lưu tên và số điện thoại để hỗ trợ.")
    assert not consent.is_checked()  # never pre-ticked
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.locator(".consent .error")).to_contain_text("khách vãng lai")
    consent.check()
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nguyễn Thị Hoa")
    expect(page.locator("figure.qr svg")).to_be_visible()
    assert_accessible(page)
    eventually(lambda: _households(db) == 1)

    add_household(page, "nguyen thi hoa")  # same folded name, same village
    page.get_by_label("Gia đình đồng ý cho Tổ lưu tên và số điện thoại để hỗ trợ.").check()
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Hộ này có thể đã có rồi")
    expect(page.get_by_role("button", name="Vẫn lưu")).to_be_visible()
    assert _households(db) == 1
    ctx.close()


def _households(db: Database) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(Household)).one()


def test_repeat_household_is_logged_in_four_taps(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    add_household(page, "Trần Văn Lộc")
    page.get_by_label("Gia đình đồng ý cho Tổ lưu tên và số điện thoại để hỗ trợ.").check()
    page.get_by_role("button", name="Lưu", exact=True).click()
    page.get_by_role("link", name="Ghi lượt hỗ trợ cho hộ này").click()
    page.get_by_role("button", name="Cài VNeID, đăng ký mức 1").click()
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    # The repeat visit: tap, tap, tap, tap; no typing.
    taps = [
        page.get_by_role("link", name="Ghi lượt hỗ trợ"),
        page.get_by_role("button", name="Trần Văn Lộc"),
        page.get_by_role("button", name="Trả tiền điện không dùng tiền mặt"),
        page.get_by_role("button", name="Lưu", exact=True),
    ]
    for tap in taps:
        tap.first.click()
        if tap is taps[1]:  # a slow phone redraws the form with the household chosen
            expect(page.locator(".picked-name")).to_contain_text("Trần Văn Lộc")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    eventually(lambda: count_sessions(db) == 2)
    with db.read() as s:
        rows = s.exec(select(AssistanceSession)).all()
        assert len({r.household_id for r in rows}) == 1 and rows[0].household_id is not None
    ctx.close()


def test_guides_read_offline_and_found_without_diacritics(
    playwright: Playwright, live_server, world: World, catalogue, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    controlled(page)
    page.goto("/vi/guides/tra-cuu-ho-so-bang-ma")  # opened once, online
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    opened = page.get_by_role("heading", level=1).inner_text()
    ctx.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(opened)
    page.goto("/vi/guides/dung-zalo-an-toan")  # never opened: the offline page lists what is
    expect(page.get_by_role("heading", level=1)).to_have_text("Không có mạng")
    expect(page.locator("#saved-pages")).to_contain_text(opened)
    assert_accessible(page)

    page.goto("/app#/guides")
    wait_ready(page)
    page.get_by_label("Tìm hướng dẫn").fill("dang ky khai sinh")
    first = page.locator("#guide-results li").first
    expect(first).to_contain_text("Đăng ký khai sinh")
    ctx.set_offline(False)
    page.get_by_role("button", name="Lưu tất cả hướng dẫn").click()
    expect(page.locator("#save-progress")).to_contain_text("Đã lưu 27 hướng dẫn")
    ctx.set_offline(True)
    page.goto("/vi/guides/dung-zalo-an-toan")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zalo")
    ctx.close()


def test_saved_guides_keep_their_step_pictures_offline(
    playwright: Playwright, live_server, world: World, catalogue, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page, "0900000002")  # the coordinator writes a guide with a picture
    controlled(page)
    page.goto("/console/guides/new")
    fill_guide_with_picture(page)
    page.locator("button[name=op][value=save]").click()
    page.wait_for_url("**/edit?saved=1")

    page.goto("/app#/guides")
    wait_ready(page)
    page.get_by_role("button", name="Lưu tất cả hướng dẫn").click()
    expect(page.locator("#save-progress")).to_contain_text("Đã lưu 28 hướng dẫn")
    # The editor showed the picture: forget the browser's own copy, keep only what the app saved.
    ctx.new_cdp_session(page).send("Network.clearBrowserCache")
    ctx.set_offline(True)
    page.goto("/vi/guides/dat-lich-tiep-cong-dan")  # never opened: saved with its picture
    image = page.locator("img.step-image")
    image.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('img.step-image').complete")
    width, src = image.evaluate("img => [img.naturalWidth, img.currentSrc]")
    assert width > 0, src  # a 2x phone asks for the 720 px file: it gets the saved 360 px one
    ctx.close()


def test_sign_out_keeps_unsent_records_for_the_same_member(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    controlled(page)
    ctx.set_offline(True)
    log_walk_in(page)
    log_walk_in(page)
    page.get_by_role("link", name="Thêm").click()
    messages = []
    page.on("dialog", lambda d: (messages.append(d.message), d.accept()))
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login")
    assert "Còn 2 mục chưa gửi" in messages[0]
    left = page.evaluate("""async () => {
        const { all } = await import('/static/js/db.js');
        return {households: (await all('households')).length,
                sessions: (await all('sessions')).length, outbox: (await all('outbox')).length};
    }""")
    assert left == {"households": 0, "sessions": 2, "outbox": 2}  # only unsent work stays
    ctx.set_offline(False)
    # Signed out offline: the next opening with a network ends that session on the server.
    page.goto("/app")
    page.wait_for_url("**/login?next=/app")
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(AuthSession)).one() == 0
    sign_in(page)
    eventually(lambda: count_sessions(db) == 2)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    ctx.close()


def test_another_volunteer_on_the_same_phone_gets_their_own_app(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    """One phone shared by two volunteers: each sees their own commune, and records wait for,
    and are sent as, the volunteer who made them."""
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    controlled(page)
    add_household(page, "Trần Văn Hộ A", phone="0912345678")
    page.get_by_label("Gia đình đồng ý cho Tổ lưu tên và số điện thoại để hỗ trợ.").check()
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trần Văn Hộ A")
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    ctx.set_offline(True)
    page.goto("/app#/")
    wait_ready(page)
    log_walk_in(page)
    page.get_by_role("link", name="Thêm").click()
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login")
    ctx.set_offline(False)

    sign_in(page, "0900000005")  # commune B's volunteer
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    page.get_by_role("link", name="Hộ dân").click()
    expect(page.get_by_text("Trần Văn Hộ A")).to_have_count(0)
    page.get_by_role("link", name="Hôm nay").click()
    expect(page.locator("#today li")).to_have_count(0)  # A's unsent walk-in is not B's to see
    log_walk_in(page, village="Tổ dân phố 1")
    eventually(lambda: count_sessions(db) == 1)
    with db.read() as s:
        first = s.exec(select(AssistanceSession)).one()
    assert (first.volunteer_id, first.commune_code) == (world.vol_b.id, world.vol_b.commune_code)
    page.get_by_role("link", name="Thêm").click()
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login")

    sign_in(page)  # A again: the record A left on the phone goes now, as A's
    eventually(lambda: count_sessions(db) == 2)
    with db.read() as s:
        rows = s.exec(select(AssistanceSession).where(AssistanceSession.id != first.id)).all()
    assert [(r.volunteer_id, r.commune_code) for r in rows] == [
        (world.vol_a.id, world.vol_a.commune_code)
    ]
    page.get_by_role("link", name="Hộ dân").click()
    expect(page.get_by_text("Trần Văn Hộ A")).to_be_visible()
    ctx.close()


def test_a_tab_left_open_never_sends_as_whoever_signed_in_since(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    """A's app is open; A's sign-in ends, A logs a visit (it waits: the server says 401), and
    B signs in on the same phone in another tab.
    When A's tab sends, the server refuses (409): the tab loads B's data instead, and A's
    record waits for A."""
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    controlled(page)
    with db.write() as s:
        s.exec(delete(AuthSession))  # A's 30 days are over (the server says 401: nothing goes)
    log_walk_in(page)
    assert waiting(page) == 1
    other = ctx.new_page()
    sign_in(other, "0900000005")  # and B signs in on the same phone
    other.close()
    page.evaluate("window.langso.sync({force: true})")
    page.wait_for_function(f"() => window.langso.store.member.id === '{world.vol_b.id}'")
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    assert count_sessions(db) == 0  # not written as B's
    left = page.evaluate("""async () => {
        const { all } = await import('/static/js/db.js');
        return (await all('outbox')).map((e) => e.member_id);
    }""")
    assert left == [str(world.vol_a.id)]
    ctx.close()


def test_exported_file_is_imported_once_by_the_coordinator(
    playwright: Playwright, live_server, app, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "p", live_server.url)
    ctx_page = ctx.new_page()
    sign_in(ctx_page)
    controlled(ctx_page)
    ctx.set_offline(True)
    for _ in range(3):
        log_walk_in(ctx_page)
    ctx_page.get_by_role("link", name="Thêm").click()
    with ctx_page.expect_download() as download:
        ctx_page.get_by_role("button", name="Xuất dữ liệu chưa gửi").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name.startswith("langso-chua-gui-") and waiting(ctx_page) == 3
    ctx.close()

    with TestClient(app, follow_redirects=False) as coordinator:
        login(coordinator, world.phone("coord_a"), PASSWORD)
        for _ in range(2):
            response = coordinator.post(
                "/console/import",
                data={"csrf_token": csrf(coordinator)},
                files={"file": (path.name, path.read_bytes(), "application/json")},
            )
            assert response.status_code == 200
    assert count_sessions(db) == 3
