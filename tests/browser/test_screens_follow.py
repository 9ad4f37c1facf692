"""Issue 14 point 1 in Chromium: the screen shown follows the data (what the coordinator sends
back, what the outbox sends) without a reload, and the sync badge says only what is true."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import select

from server import review
from server.db import Database
from server.models import AssistanceSession, Member

from ..conftest import World
from .test_field_app import log_walk_in, sign_in

COMMENT = "Ghi thiếu mã hồ sơ, bổ sung giúp nhé"


def test_a_returned_session_and_its_comment_appear_after_sync_without_reload(
    page: Page, world: World, db: Database
) -> None:
    sign_in(page)
    # Nothing sent yet: the badge does not claim a send that did not happen.
    expect(page.locator("#sync-badge .last-sync")).to_have_text("Chưa gửi lần nào")
    expect(page.locator("#sync-badge .waiting")).to_have_text("Chưa có gì để gửi")
    log_walk_in(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#sync-badge .waiting")).to_have_text("Đã gửi hết")
    # The home screen drew "waiting to send" first; once sent it says so without a reload.
    expect(page.locator("#today li")).to_have_count(1)
    expect(page.locator("#today li")).not_to_contain_text("chờ gửi")
    with db.write() as s:
        row = s.exec(select(AssistanceSession)).one()
        coord = s.get(Member, world.coord_a.id)
        assert coord is not None
        review.return_to_volunteer(s, row.id, coord, COMMENT)
    page.evaluate("window.scrollTo(0, 0)")
    page.evaluate("window.langso.sync({force: true})")
    expect(page.locator("#to-fix")).to_contain_text(COMMENT)


def test_the_waiting_count_follows_the_outbox_offline_and_online(
    page: Page, context: BrowserContext, world: World, db: Database
) -> None:
    sign_in(page)
    context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    log_walk_in(page)
    log_walk_in(page)
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "2")
    expect(page.locator("#sync-badge .last-sync")).to_have_text("Chưa có mạng, chưa gửi")
    expect(page.locator("#today li")).to_have_count(2)
    expect(page.locator("#today li").first).to_contain_text("chờ gửi")
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#sync-badge .last-sync")).to_have_text("Vừa gửi xong")
    expect(page.locator("#today")).not_to_contain_text("chờ gửi")
    with db.read() as s:
        assert len(s.exec(select(AssistanceSession)).all()) == 2
