"""Browser fixtures: a real uvicorn serving the app on a real database, and Chromium.

Chromium is found in this order: $CHROMIUM, the system `chromium`, Playwright's own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from starlette.applications import Starlette

from server.db import Database
from server.guides import load_guides

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def chromium_path(pw: Playwright) -> str:
    if path := os.environ.get("CHROMIUM"):
        return path
    if path := shutil.which("chromium") or shutil.which("chromium-browser"):
        return path
    own = pw.chromium.executable_path
    if own and Path(own).exists():
        return own
    raise RuntimeError("No Chromium found: set CHROMIUM or install the chromium package")


class LiveServer:
    """uvicorn in a thread on a free port."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(app: Starlette) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(playwright), args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        viewport=PHONE,
        base_url=live_server.url,
        locale="vi-VN",
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def catalogue(db: Database) -> Database:
    """The shipped guides, loaded into this test's database."""
    with db.write() as s:
        load_guides(s)
    return db


def kept_for_offline(page: Page, seconds: float = 15) -> None:
    """Wait until the site's service worker controls the page and keeps it for reading offline
    (polled with evaluate, which awaits the check's promise; wait_for_function would not)."""
    check = """async () => Boolean(navigator.serviceWorker.controller)
        && Boolean(await caches.match(location.pathname))"""
    deadline = time.monotonic() + seconds
    while not page.evaluate(check):
        assert time.monotonic() < deadline, f"{page.url} was not kept for reading offline"
        time.sleep(0.05)


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core (WCAG 2.x A and AA rules) on the page; evaluate() is not bound by the CSP."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return result


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
