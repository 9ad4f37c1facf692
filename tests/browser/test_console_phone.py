"""The coordinator's console on a phone: every list fits 360 px without sideways scroll, is
paged with its total, and a long invitation link wraps on a 240 px feature phone."""

from __future__ import annotations

from playwright.sync_api import Page

from ..conftest import World
from .conftest import assert_accessible
from .test_console_browser import seed
from .test_pages import no_sideways_scroll, sign_in

LISTS = (
    "/console/sessions",
    "/console/households",
    "/console/follow-ups",
    "/console/follow-ups?by=volunteer",
    "/console/members",
    "/console/villages",
    "/console/audit",
    "/console/exports",
    "/console/guides",
    "/console/import",
)


def test_every_console_list_fits_a_phone(page: Page, world: World, db) -> None:
    seed(db, world)
    sign_in(page, "0900000002")
    page.wait_for_url("**/console/")
    for path in LISTS:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        no_sideways_scroll(page)
    page.goto("/console/follow-ups")
    assert_accessible(page)
    # A session opened from the list, and the invitation page with its long link.
    page.goto("/console/sessions")
    page.locator("a[href^='/console/sessions/']").first.click()
    no_sideways_scroll(page)
    page.goto("/console/members")
    page.get_by_label("Họ và tên").fill("Lò Thị Mai")
    page.get_by_label("Số điện thoại").fill("0912 345 679")
    page.get_by_role("button", name="Tạo lời mời").click()
    page.wait_for_selector("#invite-link")
    no_sideways_scroll(page)
    page.set_viewport_size({"width": 240, "height": 320})
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 240, f"the invitation page is {width}px wide at 240 px"
