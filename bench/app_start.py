"""Field app start on a slow phone: first start, returning start and offline start to usable.

Chromium (headless, 360×740) with the CPU slowed 4× and the line at 400 kbit/s both ways with
400 ms round trips (Chrome DevTools Protocol), against a real uvicorn on SQLite with a commune
of 3,000 households. "Usable" is the app's first screen drawn with the villages and the service
catalogue in (`body[data-ready=true]`): a volunteer can log a visit. A first start is timed from
the tap on "Đăng nhập" and also to all households on the phone (`data-loaded`); a returning
start from the reload, with the service worker in control, online and then offline. Goals:
returning and offline ≤ 1 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlmodel import select

from server import accounts, sync
from server.db import Database
from server.migrate import migrate
from server.models import Member

from ._common import app_env, uvicorn
from .sync_ingest import PASSWORD, PHONE, household_op, seed

HOUSEHOLDS = 3000
ROUNDS = int(os.environ.get("BENCH_START_ROUNDS", "3"))
SLOW_LINE = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
}


def _seed(url: str) -> None:
    """The volunteer and villages of bench/sync_ingest.py, and HOUSEHOLDS households sent as a
    phone sends them."""
    village_ids = seed(url)
    db = Database(url)
    try:
        for start in range(0, HOUSEHOLDS, 200):
            with db.write() as s:
                me = s.exec(select(Member).where(Member.phone == accounts.clean_phone(PHONE))).one()
                ops = [
                    household_op(village_ids, i) for i in range(start, min(start + 200, HOUSEHOLDS))
                ]
                results = sync.apply_ops(s, me, ops)
                assert all(r.status == "applied" for r in results)
    finally:
        db.dispose()


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("No Chromium found: set CHROMIUM or install the chromium package")
    return found


def _wait(page, selector: str) -> float:
    t = time.perf_counter()
    page.wait_for_selector(selector, state="attached", timeout=120_000)
    return time.perf_counter() - t


def _one_phone(pw, base_url: str) -> dict[str, float]:
    browser = pw.chromium.launch(
        executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
    )
    try:
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, base_url=base_url, locale="vi-VN"
        )
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_LINE)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        page.goto("/login?next=/app", timeout=120_000)
        page.get_by_label("Số điện thoại").fill(PHONE)
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        t = time.perf_counter()
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=120_000)
        first = time.perf_counter() - t
        page.wait_for_selector("body[data-loaded=true]", state="attached", timeout=120_000)
        first_all = time.perf_counter() - t
        page.evaluate("navigator.serviceWorker.ready")
        page.wait_for_function(
            "!!navigator.serviceWorker.controller || location.reload()", timeout=60_000
        )
        page.wait_for_selector("body[data-loaded=true]", state="attached", timeout=120_000)
        t = time.perf_counter()
        page.reload()
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=120_000)
        returning = time.perf_counter() - t
        page.wait_for_selector("body[data-loaded=true]", state="attached", timeout=120_000)
        context.set_offline(True)
        t = time.perf_counter()
        page.reload()
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=120_000)
        offline = time.perf_counter() - t
        households = page.evaluate(
            "async () => (await (await import('/static/js/db.js')).all('households')).length"
        )
        assert households == HOUSEHOLDS, households
        return {"first": first, "first_all": first_all, "returning": returning, "offline": offline}
    finally:
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'start.sqlite3'}"
        migrate(url)
        _seed(url)
        runs = []
        server = uvicorn("server.asgi:app", app_env(url, Path(tmp)))
        with server as (base_url, _pid), sync_playwright() as pw:
            for _ in range(ROUNDS):
                runs.append(_one_phone(pw, base_url))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"  {HOUSEHOLDS:,} households, CPU 4× slower, 400 kbit/s, 400 ms RTT; median of {ROUNDS}")
    print(f"  first start, tap on Đăng nhập to usable   {med['first']:6.2f} s")
    print(f"  first start, to all households on phone   {med['first_all']:6.2f} s")
    for key, label in (("returning", "online"), ("offline", "offline")):
        value = med[key]
        verdict = "met" if value <= 1 else "NOT met"
        start = f"returning start, {label},"
        print(f"  {start:<41} {value:6.2f} s  (goal ≤ 1 s: {verdict})")
    for r in runs:
        print("   run: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()))
