"""A resident's phone in Chromium, without the app: a guide opened once from a poster reads again
with no network and says it is the saved copy; a guide never opened gives the offline page in
the reader's language; on a network too slow to wait for, the saved copy first; the words
explained at 240×320 without JavaScript."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect
from starlette.applications import Starlette

from server.db import Database
from server.guides import load_guides

from ..test_glossary import BODY
from ..test_guides import guide_text, write
from .conftest import PHONE, LiveServer, assert_accessible, kept_for_offline
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


class Crawling:
    """The network of a village at dusk: while `held`, guide pages get no answer (the request
    waits in the server); everything else answers as usual."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.held = threading.Event()
        self.waiting = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/vi/guides/"):
            self.waiting += 1
            while self.held.is_set():
                await asyncio.sleep(0.05)
            self.waiting -= 1
        await self.app(scope, receive, send)


def test_on_a_crawling_network_the_saved_guide_comes_first_and_the_fresh_one_next_time(
    browser: Browser, app: Starlette, db: Database, tmp_path: Path
) -> None:
    """The network answers, but not in time: after a few seconds the phone shows the copy it
    saved, marked as such, and keeps the page that arrives late for the next visit."""
    write(tmp_path, guide_text(title="Cách cũ"))
    with db.write() as s:
        load_guides(s, tmp_path)
    network = Crawling(app)
    server = LiveServer(network).start()
    ctx = browser.new_context(viewport=PHONE, base_url=server.url, locale="vi-VN")
    try:
        page = ctx.new_page()
        page.goto("/vi/guides/thu-nghiem")
        kept_for_offline(page)

        write(tmp_path, guide_text(title="Cách mới"))  # the guide changes on the server
        with db.write() as s:
            load_guides(s, tmp_path)
        network.held.set()
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Cách cũ")
        expect(page.locator("#saved-copy")).to_have_text(SAVED)
        assert network.waiting == 1  # the server has not answered: this is the phone's copy

        network.held.clear()  # the late answer arrives and is kept
        check = """async () => (await (await caches.match(location.pathname)).text())
            .includes('Cách mới')"""
        deadline = time.monotonic() + 15
        while not page.evaluate(check):
            assert time.monotonic() < deadline, "the late page was not kept"
            time.sleep(0.05)
        network.held.set()
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Cách mới")
        expect(page.locator("#saved-copy")).to_have_text(SAVED)
    finally:
        network.held.clear()
        ctx.close()
        server.stop()
