"""The coordinator's console on a phone: every list fits 360 px without sideways scroll, is
paged with its total, and a long invitation link wraps on a 240 px feature phone."""

from __future__ import annotations

from urllib.parse import unquote

from playwright.sync_api import Page, expect

from ..conftest import World
from .conftest import assert_accessible
from .test_console_browser import seed
from .test_pages import no_sideways_scroll, sign_in

LISTS = (
    "/console/sessions",
    "/console/households",
    "/console/follow-ups",
    "/console/follow-ups?by=volunteer",
    "/console/follow-ups?show=closed",
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
    # Copy and share the link (issue 14 point 6): the copy lands on the clipboard, and an SMS
    # carries the link to the member's number without any JavaScript.
    link = page.locator("#invite-link").input_value()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Chép đường dẫn").click()
    expect(page.locator(".share-link [role=status]")).to_contain_text("Đã chép. Mở Zalo")
    assert page.evaluate("navigator.clipboard.readText()") == link
    sms = page.get_by_role("link", name="Gửi tin nhắn SMS").get_attribute("href")
    assert sms.startswith("sms:+84912345679?&body=") and unquote(sms).endswith(" " + link)
    page.set_viewport_size({"width": 240, "height": 320})
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 240, f"the invitation page is {width}px wide at 240 px"
