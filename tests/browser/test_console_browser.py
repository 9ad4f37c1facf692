"""The dashboard and the province pages in Chromium on a 360×740 phone: axe-core finds nothing,
nothing scrolls sideways, targets are big enough, and the period picker works without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from server import accounts, periods

from ..conftest import World
from ..test_reports import add_household, add_session
from .conftest import assert_accessible
from .test_pages import no_sideways_scroll, sign_in, small_targets


def seed(db, world: World) -> None:
    now = datetime.now(UTC)
    household = add_household(db, world, world.village_a, ["payment", "safety"])
    birth = ("dvc_birth", "done", None, "H24.46-261102-0001")
    not_yet = ("dvc_birth", "not_finished", "missing_papers", None)
    for days in range(0, 60, 3):
        add_session(
            db,
            world,
            at=now - timedelta(days=days, hours=2),
            village=world.village_a if days % 2 else world.village_a2,
            household=household if days % 4 else None,
            people=1 + days % 3,
            follow_up_on=(now - timedelta(days=days - 5)).date() if days % 9 == 0 else None,
            lines=[("vneid_install", "done", None, None), birth if days % 6 else not_yet],
        )
    with db.write() as s:
        accounts.use_commune(s, "07582")  # in use, nothing done: marked on the roll-up


def check(page: Page, path: str) -> None:
    page.goto(path)
    no_sideways_scroll(page)
    assert_accessible(page)
    assert small_targets(page) == [], path


def test_dashboard_on_a_phone(page: Page, world: World, db) -> None:
    seed(db, world)
    sign_in(page, "0900000002")
    for path in (
        "/console/",
        "/console/?period=week",
        "/console/?period=quarter",
        "/console/?period=custom&from=2020-01-01&to=2026-12-31",  # too long: the error is shown
    ):
        check(page, path)
    page.goto("/console/")
    expect(page.locator("figure.chart svg[role=img]").first).to_be_visible()
    page.locator("details.numbers > summary").first.click()
    expect(page.locator("details.numbers table").first).to_be_visible()
    assert_accessible(page)


def test_province_pages_on_a_phone(page: Page, world: World, db) -> None:
    seed(db, world)
    sign_in(page, "0900000001")
    for path in (
        "/console/province",
        "/console/province?sort=sessions&order=desc",
        "/console/province?period=bad",
        "/console/province/communes/07627",
        "/console/province/tokens",
    ):
        check(page, path)
    page.goto("/console/province")
    expect(page.locator("tr.inactive .tag")).to_have_count(1)
    page.goto("/console/province/tokens")
    page.locator("#f-name").fill("Kho dữ liệu tỉnh")
    page.locator("form[action='/console/province/tokens'] button[type=submit]").click()
    expect(page.locator("#new-key")).to_have_value(re.compile(r"^lsk_[A-Za-z0-9_-]{20,}$"))
    no_sideways_scroll(page)
    assert_accessible(page)


def test_the_period_picker_works_without_javascript(browser, live_server, world: World, db) -> None:
    seed(db, world)
    ctx = browser.new_context(
        java_script_enabled=False,
        viewport={"width": 360, "height": 740},
        base_url=live_server.url,
        locale="vi-VN",
    )
    page = ctx.new_page()
    sign_in(page, "0900000002")
    page.goto("/console/")
    page.locator("#f-period").select_option("custom")
    last = periods.today_in_vietnam()
    page.locator("#f-from").fill((last - timedelta(days=10)).isoformat())
    page.locator("#f-to").fill(last.isoformat())
    page.locator("form.period button[type=submit]").click()
    page.wait_for_url("**/console/?period=custom*")
    assert f"to={last.isoformat()}" in page.url
    expect(page.locator(".period-now strong")).to_contain_text(
        f"{last.day}/{last.month}/{last.year}"
    )
    ctx.close()
