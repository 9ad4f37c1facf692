"""The field app in Chromium with a real service worker: every record made offline reaches the
server exactly once, whatever the network, the browser or the server does."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Route, expect
from sqlmodel import delete, func, select

from server import review
from server.db import Database
from server.models import AppliedOp, AssistanceSession, AuthSession, Member, SessionService

from ..conftest import PASSWORD, World
from .conftest import CHROMIUM_ARGS, PHONE, assert_accessible, chromium_path

ROOT = Path(__file__).resolve().parents[2]


def count_sessions(db: Database) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(AssistanceSession)).one()


def open_app(
    playwright: Playwright, profile: Path, base_url: str, offline: bool = False
) -> BrowserContext:
    ctx = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(playwright),
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        base_url=base_url,
        locale="vi-VN",
        is_mobile=True,
        has_touch=True,
        service_workers="allow",
    )
    ctx.set_default_timeout(15000)
    if offline:
        ctx.set_offline(True)
    return ctx


def sign_in(page: Page, phone: str = "0900000004") -> None:
    page.goto("/login?next=/app")
    page.get_by_label("Số điện thoại").fill(phone)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/app")
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """The first screen is drawn and the start's exchange with the server is over."""
    try:
        page.wait_for_selector("body[data-ready=true][data-loaded=true]", state="attached")
    except Exception as error:
        where = page.evaluate("document.body && document.body.dataset.step")
        raise AssertionError(f"the app did not start: stuck at {where!r} on {page.url}") from error


def controlled(page: Page) -> None:
    """The first load is not controlled by the service worker: wait for it, then reload."""
    page.evaluate("navigator.serviceWorker.ready")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
        wait_ready(page)
    assert page.evaluate("!!navigator.serviceWorker.controller")


def waiting(page: Page) -> int:
    return int(page.locator("#sync-badge .waiting").get_attribute("data-waiting"))


def log_walk_in(
    page: Page, village: str = "Thôn Đông Hòa", service: str = "Cài VNeID, đăng ký mức 1"
) -> None:
    page.get_by_role("link", name="Ghi lượt hỗ trợ").first.click()
    page.get_by_role("button", name="Khách vãng lai").click()
    page.get_by_label("Thôn, tổ dân phố").select_option(label=village)
    page.get_by_role("button", name=service).click()
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")


def save_in_js(page: Page, n: int, village_id: str, service: str = "dvc_login") -> None:
    """Queue n sessions through the app's own outbox module (the code the Save button runs)."""
    page.evaluate(
        """async ([n, village, service]) => {
            const { saveRecord } = await import('/static/js/outbox.js');
            const member = window.langso.store.member.id;
            for (let i = 0; i < n; i++) {
                await saveRecord('session', {id: crypto.randomUUID(), version: 0, data: {
                    household_id: null, village_id: village,
                    occurred_at: new Date(Date.now() - i * 60000).toISOString(), minutes: 10,
                    people_helped: 1, services: [{service, outcome: 'done', reason: null,
                    dossier_code: null}], guide_slug: null, notes: 'ghi chú ' + i,
                    follow_up_on: null}}, member);
            }
        }""",
        [n, village_id, service],
    )


def eventually(check, timeout: float = 15.0) -> None:
    """Poll the server's database until `check()` holds (the phone syncs in the background)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the server never got there")
        time.sleep(0.1)


def sync_until_sent(page: Page, rounds: int = 40) -> None:
    for _ in range(rounds):
        page.evaluate("window.langso.sync({force: true})")
        if waiting(page) == 0:
            return
    raise AssertionError(f"{waiting(page)} records still waiting")


def test_offline_sessions_survive_a_closed_browser_and_arrive_once(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    ctx = open_app(playwright, profile, live_server.url)
    page = ctx.new_page()
    sign_in(page)
    controlled(page)
    assert_accessible(page)
    ctx.set_offline(True)
    page.reload()
    wait_ready(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    # The icons beside the words come from the precached sprite (a missing one draws nothing).
    drawn = "[...document.querySelectorAll('.tabs use')].map(use => use.getBBox().width > 0)"
    assert page.evaluate(drawn) == [True] * 5
    for _ in range(5):
        log_walk_in(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "5")
    assert count_sessions(db) == 0
    ctx.close()

    ctx = open_app(playwright, profile, live_server.url, offline=True)
    page = ctx.new_page()
    page.on("console", lambda m: print("CONSOLE", m.type, m.text))
    page.on("pageerror", lambda e: print("PAGEERROR", e))
    page.on("requestfailed", lambda r: print("REQFAILED", r.url, r.failure))
    page.goto("/app")
    wait_ready(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "5")
    expect(page.locator("#today li")).to_have_count(5)
    ctx.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#sync-badge")).to_contain_text("Đã gửi hết")
    expect(page.locator("#sync-badge .last-sync")).to_have_text("Vừa gửi xong")
    assert count_sessions(db) == 5
    # The phone made the ids: UUIDv7 (pwa/js/ids.js), so that they sort in the order made.
    with db.read() as s:
        ops = s.exec(select(AppliedOp)).all()
    assert len(ops) == 5
    assert {(op.op_id.version, op.record_id.version) for op in ops} == {(7, 7)}
    sessions = [op.record_id for op in sorted(ops, key=lambda op: op.op_id)]
    assert sessions == sorted(sessions)
    ctx.close()


def test_fifty_sessions_arrive_once_through_a_bad_network(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "profile", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    # Two of every five requests fail (40%): one before the server sees it, one after it
    # applied the batch but before the phone hears back. The order is shuffled, seeded, after
    # one of each first: a loaded machine may save all fifty before the first send, in a few
    # large batches, and each kind of failure must happen whatever the number of requests.
    pattern = ["before", "pass", "after", "pass", "pass"] * 40
    random.Random(20261127).shuffle(pattern)
    pattern = ["before", "after", *pattern]
    seen = {"aborted_before": 0, "aborted_after": 0, "passed": 0}

    def flaky(route: Route) -> None:
        roll = pattern[sum(seen.values())]
        if roll == "before":
            seen["aborted_before"] += 1
            route.abort("connectionreset")  # never reached the server
        elif roll == "after":
            seen["aborted_after"] += 1
            route.fetch()  # the server applied it, the phone never hears back
            route.abort("connectionreset")
        else:
            seen["passed"] += 1
            route.continue_()

    page.route("**/api/v1/sync", flaky)
    for i in range(10):  # ten rounds of five: many requests, each a small batch
        save_in_js(page, 5, str(world.village_a if i % 2 else world.village_a2))
        page.evaluate("window.langso.sync({force: true})")
    sync_until_sent(page)
    assert count_sessions(db) == 50
    assert seen["aborted_before"] and seen["aborted_after"]  # both failures really happened
    with db.read() as s:
        ids = s.exec(select(AssistanceSession.id)).all()
    assert len(set(ids)) == 50
    ctx.close()


@pytest.fixture
def server_process(settings, world: World, tmp_path: Path):
    """uvicorn as its own process, so that the test can kill it with SIGKILL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": "test-secret",
        "LANGSO_VAR": str(tmp_path),
        "BASE_URL": f"http://127.0.0.1:{port}",
    }

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc
            except OSError:
                time.sleep(0.05)
        proc.kill()
        raise RuntimeError("server did not start")

    holder = {"proc": start()}
    holder["start"] = start
    holder["url"] = f"http://127.0.0.1:{port}"
    yield holder
    holder["proc"].kill()
    holder["proc"].wait()


def test_server_killed_during_sync_loses_nothing(
    playwright: Playwright, server_process, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "profile", server_process["url"])
    page = ctx.new_page()
    sign_in(page)
    ctx.set_offline(True)
    save_in_js(page, 120, str(world.village_a))
    ctx.set_offline(False)
    killed = {"done": False}

    def kill_mid_request(route: Route) -> None:
        if not killed["done"]:
            killed["done"] = True
            proc = server_process["proc"]
            # Let the request reach the server, then kill it while it works on the batch.
            import threading

            threading.Timer(0.03, lambda: proc.send_signal(signal.SIGKILL)).start()
        route.continue_()

    page.route("**/api/v1/sync", kill_mid_request)
    page.evaluate("window.langso.sync({force: true})")
    server_process["proc"].wait(10)
    assert killed["done"]
    assert waiting(page) > 0
    server_process["proc"] = server_process["start"]()
    sync_until_sent(page)
    assert count_sessions(db) == 120
    ctx.close()


def test_expired_session_keeps_records_until_signed_in_again(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "profile", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    ctx.set_offline(True)
    for _ in range(3):
        log_walk_in(page)
    with db.write() as s:
        s.exec(delete(AuthSession))  # the 30 days are over
    ctx.set_offline(False)
    page.evaluate("window.langso.sync({force: true})")
    expect(page.get_by_role("link", name="Đăng nhập lại để gửi")).to_be_visible()
    assert waiting(page) == 3 and count_sessions(db) == 0
    page.get_by_role("link", name="Đăng nhập lại để gửi").click()
    page.get_by_label("Số điện thoại").fill("0900000004")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/app")
    wait_ready(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    assert count_sessions(db) == 3
    ctx.close()


def test_returned_session_shows_on_home_and_can_be_fixed(
    playwright: Playwright, live_server, world: World, db: Database, tmp_path: Path
) -> None:
    ctx = open_app(playwright, tmp_path / "profile", live_server.url)
    page = ctx.new_page()
    sign_in(page)
    log_walk_in(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    with db.write() as s:
        coordinator = s.get(Member, world.coord_a.id)
        row = s.exec(select(AssistanceSession)).one()
        review.return_to_volunteer(s, row.id, coordinator, "Thiếu mã hồ sơ, bổ sung giúp nhé")
    page.evaluate("window.langso.sync({force: true})")
    page.reload()
    wait_ready(page)
    fix = page.locator("#to-fix")
    expect(fix).to_contain_text("Thiếu mã hồ sơ, bổ sung giúp nhé")
    assert_accessible(page)
    fix.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sửa lượt hỗ trợ")
    page.get_by_role("button", name="Nhận biết cuộc gọi lừa đảo").click()
    page.get_by_role("button", name="Lưu", exact=True).click()

    def fixed() -> bool:
        with db.read() as s:
            row = s.exec(select(AssistanceSession)).one()
            return (row.review_state, row.version) == ("new", 3)

    eventually(fixed)
    with db.read() as s:
        row = s.exec(select(AssistanceSession)).one()
        lines = s.exec(
            select(SessionService.service_code).where(SessionService.session_id == row.id)
        ).all()
        assert set(lines) == {"vneid_install", "safe_scam"}  # the fix arrived
    with db.write() as s:
        review.approve(s, row.id, s.get(Member, world.coord_a.id))
    page.evaluate("window.langso.sync({force: true})")
    page.reload()
    wait_ready(page)
    expect(page.locator("#to-fix")).to_have_count(0)
    ctx.close()
