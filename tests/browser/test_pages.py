"""In Chromium on a 360×740 phone: signing in, every page accessible (axe-core), no sideways
scrolling, touch targets of 48 px."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from ..conftest import PASSWORD, World
from .conftest import assert_accessible


def sign_in(page: Page, phone: str) -> None:
    page.goto("/login")
    page.get_by_label("Số điện thoại").fill(phone)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width}px wide"


def small_targets(page: Page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('main a, main button, main input, main select,'
                 + ' header a, nav a, nav button')]
            .filter(e => e.offsetParent !== null && e.type !== 'hidden')
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.height < 44 && !(e.type === 'radio' || e.type === 'checkbox'))
            .map(([e, r]) => e.outerHTML.slice(0, 80) + ' h=' + r.height)"""
    )


def test_volunteer_signs_in_on_a_phone(page: Page, world: World) -> None:
    sign_in(page, "0900 000 004")
    page.wait_for_url("**/app")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    page.get_by_role("link", name="Thêm").click()
    expect(page.locator("main .lead")).to_have_text("Nguyễn Văn Tình")
    # Session and CSRF cookies are HttpOnly: the page reads only who is signed in (an id).
    readable = page.evaluate("() => document.cookie")
    assert readable.startswith("langso_member=") and ";" not in readable
    no_sideways_scroll(page)
    assert_accessible(page)


def test_wrong_password_message_is_announced(page: Page, world: World) -> None:
    page.goto("/login")
    page.get_by_label("Số điện thoại").fill("0900000004")
    page.get_by_label("Mật khẩu").fill("sai mat khau")
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("alert")).to_have_text("Số điện thoại hoặc mật khẩu không đúng.")
    assert_accessible(page)


def test_public_and_auth_pages_are_accessible(page: Page, world: World) -> None:
    for path in ("/vi/", "/en/", "/login", "/invite/khong-co-that-123", "/khong-co"):
        page.goto(path)
        no_sideways_scroll(page)
        assert_accessible(page)
        assert small_targets(page) == [], path


def test_console_pages_are_accessible(page: Page, world: World) -> None:
    sign_in(page, "0900000002")
    for path in (
        "/console/",
        "/console/members",
        "/console/villages",
        f"/console/villages/{world.village_a}",
        "/app",
    ):
        page.goto(path)
        no_sideways_scroll(page)
        assert_accessible(page)
        assert small_targets(page) == [], path


def test_admin_pages_are_accessible(page: Page, world: World) -> None:
    sign_in(page, "0900000001")
    for path in (
        "/console/province",
        "/console/province?q=dai+son",
        "/console/members?commune=07627",
    ):
        page.goto(path)
        no_sideways_scroll(page)
        assert_accessible(page)


def test_invitation_flow_in_the_browser(page: Page, world: World) -> None:
    sign_in(page, "0900000002")
    page.goto("/console/members")
    page.get_by_label("Họ và tên").fill("Lò Văn Mới")
    page.get_by_label("Số điện thoại").fill("0966 123 456")
    page.get_by_role("button", name="Tạo lời mời").click()
    link = page.get_by_label("Link mời").input_value()
    assert page.locator("figure.qr svg").is_visible()
    no_sideways_scroll(page)
    assert_accessible(page)
    page.get_by_role("button", name="Đăng xuất").click()
    page.goto(link.replace("http://testserver", ""))
    page.get_by_label("Mật khẩu mới").fill("lua nep 2026")
    page.get_by_label("Nhập lại mật khẩu").fill("lua nep 2026")
    page.get_by_role("button", name="Lưu và đăng nhập").click()
    page.wait_for_url("**/app")
    page.get_by_role("link", name="Thêm").click()
    expect(page.locator("main .lead")).to_have_text("Lò Văn Mới")


def test_pages_work_without_javascript(browser, live_server, world: World) -> None:
    ctx = browser.new_context(
        java_script_enabled=False,
        viewport={"width": 360, "height": 740},
        base_url=live_server.url,
        locale="vi-VN",
    )
    page = ctx.new_page()
    sign_in(page, "0900000002")
    page.goto("/console/villages")
    page.get_by_label("Tên (thôn, bản, ấp, tổ dân phố…)").fill("Thôn Không JS")
    page.get_by_role("button", name="Thêm").click()
    expect(page.get_by_role("link", name="Thôn Không JS")).to_be_visible()
    ctx.close()
