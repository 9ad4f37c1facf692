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
from ..test_sync import op, push, session_data, when
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
