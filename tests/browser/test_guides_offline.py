"""A resident's phone in Chromium, without the app: a guide opened once from a poster reads again
with no network and says it is the saved copy; a guide never opened gives the offline page in
the reader's language; the words explained at 240×320 without JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from server.db import Database
from server.guides import load_guides

from ..test_glossary import BODY
from ..test_guides import guide_text, write
from .conftest import LiveServer, assert_accessible, kept_for_offline
from .test_guides_browser import FAKE_VOICE

GUIDE = "/vi/guides/lien-thong-khai-sinh-thuong-tru-bhyt"
SAVED = re.compile(r"^Bản đã lưu lúc \d\d:\d\d, \d{1,2}/\d{1,2}/20\d\d\.$")


def test_a_guide_opened_once_reads_offline_and_says_it_is_the_saved_copy(
    context: BrowserContext, page: Page, catalogue: Database
) -> None:
    page.goto(GUIDE)  # from the poster's QR code: the first page this phone opens here
    title = page.get_by_role("heading", level=1).inner_text()
    expect(page.locator("#saved-copy")).to_be_hidden()
    kept_for_offline(page)
    # A resident's phone keeps its few files, not the volunteers' app.
    assert page.evaluate("async () => !(await caches.match('/static/js/app.js'))")

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("#saved-copy")).to_have_text(SAVED)
    expect(page.locator("[data-action=share]")).to_be_visible()  # its script came from the phone
    page.locator("#step-1 input").check()
    assert_accessible(page)

    page.get_by_role("link", name="Tất cả hướng dẫn").first.click()  # the catalogue's last copy
    expect(page.get_by_role("heading", level=1)).to_have_text("Hướng dẫn từng bước")
    expect(page.locator("#saved-copy")).to_have_text(SAVED)

    page.goto("/vi/guides/dung-zalo-an-toan")  # never opened: what this phone has instead
    expect(page.get_by_role("heading", level=1)).to_have_text("Không có mạng")
    expect(page.locator("#saved-pages")).to_contain_text(title)
    assert_accessible(page)
    page.goto("/en/guides/dung-zalo-an-toan")
    expect(page.get_by_role("heading", level=1)).to_have_text("No connection")
    page.goto("/vi/glossary")  # the catalogue's link, never followed: not saved either
    expect(page.get_by_role("heading", level=1)).to_have_text("Không có mạng")

    context.set_offline(False)
    page.goto(GUIDE)
    expect(page.locator("#step-1 input")).to_be_checked()
    expect(page.locator("#saved-copy")).to_be_hidden()  # online: the page as it is now
    page.get_by_role("link", name="Giải thích từ ngữ trong hướng dẫn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Từ ngữ trong hướng dẫn")
    assert_accessible(page)


def test_words_are_explained_on_a_small_phone_without_javascript(
    browser: Browser, live_server: LiveServer, db: Database, tmp_path: Path
) -> None:
    write(tmp_path, guide_text(body=BODY))
    with db.write() as s:
        load_guides(s, tmp_path)
    ctx = browser.new_context(
        viewport={"width": 240, "height": 320},
        base_url=live_server.url,
        locale="vi-VN",
        java_script_enabled=False,
    )
    page = ctx.new_page()
    page.goto("/vi/guides/thu-nghiem")
    explanation = page.get_by_text("Mã số dùng một lần")
    expect(explanation).to_be_hidden()  # folded: the step reads on
    page.get_by_text("“Mã OTP” là gì?").click()
    expect(explanation).to_be_visible()
    page.locator("#step-1").get_by_role("link", name="Các từ khác").click()
    page.wait_for_url("**/vi/glossary#otp")
    expect(page.locator("#otp")).to_be_in_viewport()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 240, f"the glossary is {width}px wide"
    ctx.close()  # (axe-core needs JavaScript: the glossary page is checked with it above)


def test_an_opened_explanation_is_read_aloud_with_its_step(
    page: Page, db: Database, tmp_path: Path
) -> None:
    write(tmp_path, guide_text(body=BODY))
    with db.write() as s:
        load_guides(s, tmp_path)
    page.add_init_script(FAKE_VOICE)
    page.goto("/vi/guides/thu-nghiem")
    page.get_by_text("“Mã OTP” là gì?").click()
    page.locator("[data-action=read]").click()
    spoken = page.evaluate("() => window.spoken[0].text")
    assert spoken.startswith("Nhập mã OTP gửi về máy. Mã OTP: Mã số dùng một lần"), spoken
    assert "Các từ khác" not in spoken
