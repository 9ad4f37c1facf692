"""The review loop in Chromium: a volunteer logs a session in the field app, the coordinator
returns it from the console with a comment, the volunteer sees it after sync and fixes it, the
coordinator approves it. And every console page of this part passes axe at 360×740."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from server.db import Database
from server.models import AssistanceSession, SessionService

from ..conftest import World
from ..test_console_sessions import (
    add_household,
    log_sessions,
    op,
    push,
    session_data,
    vn_today,
)
from .conftest import PHONE, assert_accessible
from .test_field_app import eventually, log_walk_in, sign_in, wait_ready
from .test_pages import no_sideways_scroll, small_targets
from .test_pages import sign_in as console_sign_in

COMMENT = "Thiếu mã hồ sơ, bổ sung giúp nhé"


def only_session(db: Database) -> AssistanceSession:
    with db.read() as s:
        return s.exec(select(AssistanceSession)).one()


def check(page: Page) -> None:
    no_sideways_scroll(page)
    assert_accessible(page)
    assert small_targets(page) == [], page.url


def test_return_fix_and_approve_across_app_and_console(
    browser: Browser, page: Page, live_server, world: World, db: Database
) -> None:
    phone_ctx = browser.new_context(
        viewport=PHONE,
        base_url=live_server.url,
        locale="vi-VN",
        is_mobile=True,
        has_touch=True,
    )
    phone_ctx.set_default_timeout(15000)
    phone = phone_ctx.new_page()
    sign_in(phone)
    log_walk_in(phone)
    expect(phone.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    sid = only_session(db).id

    # The coordinator, on a phone too, finds it in the list and returns it.
    console_sign_in(page, world.phone("coord_a"))
    page.goto("/console/sessions")
    check(page)
    page.locator(f'a[href="/console/sessions/{sid}"]').click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lượt hỗ trợ")
    check(page)
    page.locator("#f-comment").fill(COMMENT)
    page.locator("form.return button[type=submit]").click()
    expect(page.locator(".alert.ok")).to_be_visible()
    assert (only_session(db).review_state, only_session(db).review_comment) == (
        "returned",
        COMMENT,
    )
    expect(page.locator(".history")).to_contain_text(COMMENT)
    check(page)

    # The volunteer's app shows it on the home screen after sync, and the fix goes back.
    phone.evaluate("window.langso.sync({force: true})")
    phone.reload()
    wait_ready(phone)
    fix = phone.locator("#to-fix")
    expect(fix).to_contain_text(COMMENT)
    fix.get_by_role("link").first.click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Sửa lượt hỗ trợ")
    phone.get_by_role("button", name="Nhận biết cuộc gọi lừa đảo").click()
    phone.get_by_role("button", name="Lưu", exact=True).click()

    def fixed() -> bool:
        row = only_session(db)
        return (row.review_state, row.version) == ("new", 3)

    eventually(fixed)
    with db.read() as s:
        lines = s.exec(select(SessionService.service_code)).all()
    assert set(lines) == {"vneid_install", "safe_scam"}

    # Back in the console: the fix is there, and the coordinator approves it.
    page.goto("/console/sessions?state=new")
    expect(page.locator(f'a[href="/console/sessions/{sid}"]')).to_be_visible()
    page.locator(f'a[href="/console/sessions/{sid}"]').click()
    expect(page.locator(".lines")).to_contain_text("Nhận biết cuộc gọi lừa đảo")
    page.locator(f'form[action="/console/sessions/{sid}/approve"] button').click()
    expect(page.locator(".alert.ok")).to_be_visible()
    assert only_session(db).review_state == "approved"

    phone.evaluate("window.langso.sync({force: true})")
    phone.reload()
    wait_ready(phone)
    expect(phone.locator("#to-fix")).to_have_count(0)
    phone_ctx.close()


def test_console_pages_of_this_part_are_accessible(
    page: Page, live_server, world: World, db: Database
) -> None:
    day = vn_today()
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    helped = log_sessions(db, world.vol_a, world.village_a, 3, household_id=str(hh))
    log_sessions(db, world.vol_a, world.village_a2, follow_up_on=str(day))
    [late] = log_sessions(db, world.vol_a, world.village_a, follow_up_on=str(day))
    # A conflict, so that the side-by-side table is checked too.
    sid = uuid.uuid4()
    base = session_data(world.village_a)
    push(db, world.vol_a, [op("session", sid, base)])
    push(db, world.vol_a, [op("session", sid, {**base, "people_helped": 3}, base=1)])
    push(db, world.vol_a, [op("session", sid, {**base, "people_helped": 4}, base=1)])

    console_sign_in(page, world.phone("coord_a"))
    page.wait_for_url("**/console/")
    for path in (
        "/console/sessions",
        "/console/sessions?from=bad",
        f"/console/sessions/{sid}",
        f"/console/sessions/{late}",
        f"/console/sessions/{helped[0]}",
        "/console/follow-ups",
        "/console/follow-ups?by=volunteer",
        "/console/households",
        "/console/households?q=lan",
        f"/console/households/{hh}",
        f"/console/households/{hh}/card",
        f"/console/households/{hh}/export",
        "/console/exports",
        "/console/audit",
        "/console/members",
    ):
        page.goto(path)
        check(page)
    # The menu reaches every page of this part.
    for path in ("sessions", "households", "follow-ups", "exports", "audit"):
        expect(page.locator(f'nav.menu a[href="/console/{path}"]')).to_be_visible()
    # A form error is announced and tied to its field.
    page.goto(f"/console/sessions/{late}")
    page.locator("form.return button[type=submit]").click()
    expect(page.locator("#e-comment")).to_have_text("Hãy ghi rõ tổ viên cần sửa gì.")
    check(page)
