"""Issue 14 points 4 and 5 in Chromium: a volunteer closes or moves a follow-up from Today,
offline, and it reaches the server once; every one of 3,000 households can be found."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import select

from server.db import Database
from server.models import AssistanceSession, RecordHistory
from server.periods import today_in_vietnam

from ..conftest import World
from ..test_sync import household_data, op, push, session_data, when
from .test_field_app import sign_in


def _follow_up(db: Database, world: World, days: int, notes: str) -> uuid.UUID:
    sid = uuid.uuid4()
    follow = (today_in_vietnam() + timedelta(days=days)).isoformat()
    data = session_data(world.village_a, follow_up_on=follow, notes=notes, occurred_at=when(days=5))
    [r] = push(db, world.vol_a, [op("session", sid, data)])
    assert r.status == "applied"
    return sid


def test_a_follow_up_closed_and_one_moved_offline_reach_the_server_once(
    page: Page, context: BrowserContext, world: World, db: Database
) -> None:
    late = _follow_up(db, world, -2, "quá hạn")
    due = _follow_up(db, world, 1, "mai")
    sign_in(page)
    items = page.locator("#follow-ups li")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Quá hạn từ")  # overdue first
    context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    page.locator(f'#follow-ups li[data-session="{late}"]').get_by_role(
        "button", name="Xong"
    ).click()
    moving = page.locator(f'#follow-ups li[data-session="{due}"]')
    moving.get_by_text("Dời sang ngày khác").click()
    moving.get_by_role("button", name="1 tuần nữa").click()
    # Gone from Today at once (a week away is still on Today's list, with its new day).
    expect(page.locator(f'#follow-ups li[data-session="{late}"]')).to_have_count(0)
    week = today_in_vietnam() + timedelta(days=7)
    expect(page.locator(f'#follow-ups li[data-session="{due}"]')).to_contain_text(
        f"{week.day}/{week.month}/{week.year}"
    )
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "2")
    with db.read() as s:
        assert s.get(AssistanceSession, late).follow_up_done_at is None  # still on the phone only
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    page.evaluate("window.langso.sync({force: true})")  # a second send changes nothing
    with db.read() as s:
        closed = s.get(AssistanceSession, late)
        moved = s.get(AssistanceSession, due)
        assert closed.follow_up_done_by == world.vol_a.id
        assert moved.follow_up_on == week and moved.follow_up_done_at is None
        actions = [
            h.data.get("_action")
            for h in s.exec(select(RecordHistory).where(RecordHistory.entity == "session"))
        ]
    assert sorted(a for a in actions if a) == ["follow_up.done", "follow_up.moved"]
    page.reload()
    expect(page.locator("#follow-ups li")).to_have_count(1)


FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ"]
GIVEN = ["Văn An", "Thị Bình", "Văn Cường", "Thị Dung", "Đức Em", "Thị Hoa", "Văn Hùng", "Thị Lan"]


def _households(db: Database, world: World, n: int) -> dict[str, int]:
    """n households over the commune's two villages, sent as a phone sends them; returns how
    many each village got, and one family to look for, found by name, house or village."""
    ops, per_village = [], {"Thôn Đông Hòa": 0, "Thôn Tây": 0}
    for i in range(n - 1):
        tay = i % 3 == 0
        village = world.village_a2 if tay else world.village_a
        per_village["Thôn Tây" if tay else "Thôn Đông Hòa"] += 1
        name = f"{FAMILY[i % 10]} {GIVEN[(i // 10) % 8]}"
        data = household_data(village, f"H{i:07d}", head_name=name, phone=None)
        ops.append(op("household", uuid.uuid4(), {**data, "address": f"Số {i + 1}, xóm {i % 7}"}))
    special = household_data(world.village_a2, "BUOI7777", head_name="Trần Thị Bưởi", phone=None)
    ops.append(op("household", uuid.uuid4(), {**special, "address": "Số 77, xóm Đồng Chùa"}))
    per_village["Thôn Tây"] += 1
    for start in range(0, n, 200):
        results = push(db, world.vol_a, ops[start : start + 200])
        assert {r.status for r in results} == {"applied"}
    return per_village


def test_every_one_of_3000_households_is_reachable_with_a_count(
    page: Page, world: World, db: Database
) -> None:
    per_village = _households(db, world, 3000)
    sign_in(page)
    page.goto(page.url.split("#")[0] + "#/households")
    rows = page.locator("#households li")
    count = page.locator("#households-count")
    expect(count).to_have_text("Hiện 50 trong 3.000 hộ")
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Xem thêm 50").click()
    expect(rows).to_have_count(100)
    expect(count).to_have_text("Hiện 100 trong 3.000 hộ")
    search = page.get_by_label(
        "Tìm theo tên, số nhà, thôn hoặc mã thẻ, có dấu hay không dấu đều được"
    )
    for typed in ("tran thi buoi", "so 77 dong chua", "BUOI7777", "buoi thon tay"):
        search.fill(typed)
        expect(count).to_have_text("1 hộ")
        expect(rows).to_have_text(["Trần Thị Bưởi · BUOI7777 Số 77, xóm Đồng Chùa, Thôn Tây"])
    search.fill("thon tay")
    total = f"{per_village['Thôn Tây']:,}".replace(",", ".")
    expect(count).to_have_text(f"Hiện 50 trong {total} hộ")
    # The log form's picker finds her too, though she was never helped before.
    page.goto(page.url.split("#")[0] + "#/log")
    page.get_by_label("Tìm theo tên, số nhà, thôn hoặc mã thẻ", exact=True).fill("bưởi")
    page.locator("#household-results").get_by_role("button", name="Trần Thị Bưởi").click()
    expect(page.locator(".picked-name")).to_have_text("Trần Thị Bưởi (BUOI7777)")
    page.get_by_role("button", name="Chọn hộ khác").click()
    page.get_by_label("Tìm theo tên, số nhà, thôn hoặc mã thẻ", exact=True).fill("nguyen van an")
    expect(page.locator("#household-results .count")).to_contain_text("Hiện 20 trong")
