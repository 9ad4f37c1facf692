"""Issue 14 points 4 and 5 in Chromium: a volunteer closes or moves a follow-up from Today,
offline, and it reaches the server once; every one of 3,000 households can be found."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader
from sqlmodel import select

from server.db import Database
from server.models import AssistanceSession, RecordHistory
from server.periods import today_in_vietnam

from ..conftest import PASSWORD, World
from ..test_sync import household_data, op, push, session_data, when
from .test_field_app import sign_in
from .test_pages import sign_in as console_sign_in


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


def _taps(page: Page, *targets) -> int:
    for target in targets:
        target.click()
    return len(targets)


def test_the_log_form_fits_the_hand(page: Page, world: World, db: Database) -> None:
    """Issue 14 point 3: a repeat visit and a walk-in in 4 taps, a new household in 8 and its
    name; Save always on screen; every target at least 44 px; Today opens at its top."""
    hid = uuid.uuid4()
    push(db, world.vol_a, [op("household", hid, household_data(world.village_a2, "LAN00001"))])
    login_line = {"service": "dvc_login", "outcome": "done", "reason": None, "dossier_code": None}
    before = [
        op(
            "session",
            uuid.uuid4(),
            session_data(world.village_a2, household_id=str(hid), services=[login_line]),
        )
        for _ in range(2)
    ]
    push(db, world.vol_a, before)
    sign_in(page)
    tab = page.locator(".tabs a.log")
    save = page.get_by_role("button", name="Lưu", exact=True)
    favourite = page.get_by_role("group", name="Việc bạn hay làm").get_by_role(
        "button", name="Đăng nhập Cổng Dịch vụ công"
    )
    # A repeat visit: the bar's Log, the household among the recent ones, the usual service, Save.
    tab.click()
    expect(save).to_be_in_viewport()  # the sticky bar, before any scrolling
    small = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)]
            .filter((e) => e.offsetParent && e.getBoundingClientRect().height < 44)
            .map((e) => e.outerHTML.slice(0, 60))""",
        "#screen button, #screen a, #screen input, #screen select, #screen summary",
    )
    assert small == []
    taps = 1 + _taps(
        page, page.get_by_role("button", name="Nguyễn Thị Lan · LAN00001"), favourite, save
    )
    assert taps == 4
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    assert page.evaluate("window.scrollY") == 0
    # A walk-in: its village is the one of the last visit.
    taps = _taps(page, tab, page.get_by_role("button", name="Khách vãng lai"))
    expect(page.get_by_label("Thôn, tổ dân phố")).to_have_value(str(world.village_a2))
    taps += _taps(page, page.get_by_role("button", name="Đăng nhập Cổng Dịch vụ công"), save)
    assert taps == 4
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    # A new household, from the log form and back to it with the household chosen; a select
    # counts two taps.
    taps = _taps(page, tab, page.get_by_role("link", name="Thêm hộ mới"))
    page.get_by_label("Thôn, tổ dân phố").select_option(label="Thôn Tây")
    taps += 2
    page.get_by_label("Tên chủ hộ").fill("Hà Văn Mới")
    taps += _taps(page, page.get_by_label("Gia đình đồng ý", exact=False), save)
    expect(page.locator(".picked-name")).to_contain_text("Hà Văn Mới")
    page.get_by_label("Tìm việc (gõ không dấu cũng được)").fill("chuyen tien qr")
    expect(page.locator(".service-groups .chip:visible")).to_have_count(1)
    taps += 1  # the filter box: a tap to start typing
    taps += _taps(page, page.get_by_role("button", name="Chuyển tiền bằng mã QR"), save)
    assert taps == 8 + 1  # eight, and one for the filter this test chose to use
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôm nay")
    expect(page.locator("#today li")).to_have_count(5)
    page.evaluate("window.langso.sync({force: true})")  # resolves once the outbox is sent
    expect(page.locator("#sync-badge .waiting")).to_have_attribute("data-waiting", "0")
    with db.read() as s:
        rows = s.exec(select(AssistanceSession)).all()
        assert len(rows) == 5
        assert sum(1 for r in rows if r.household_id == hid) == 3
        assert (
            sum(1 for r in rows if r.household_id is None and r.village_id == world.village_a2) == 1
        )


def test_a_start_is_usable_before_the_households_arrive(
    page: Page, world: World, db: Database
) -> None:
    """Issue 14 point 2: a first start is usable once the villages and catalogue are in, says
    how many households it is bringing, and a returning start draws the phone's own data
    while the server has not answered yet."""
    _households(db, world, 3000)
    held: list = []
    hold = [True]
    # The full bootstrap waits while `hold` (the core one, ?part=core, is not this URL).
    page.route(
        "**/api/v1/bootstrap", lambda route: held.append(route) if hold[0] else route.continue_()
    )
    page.goto("/login?next=/app")
    page.get_by_label("Số điện thoại").fill("0900000004")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    expect(page.locator("#loading")).to_have_text("Đang tải hộ dân: 0 / 3.000")
    page.locator(".tabs a.log").click()  # usable: a walk-in can be logged already
    page.get_by_role("button", name="Khách vãng lai").click()
    expect(page.get_by_label("Thôn, tổ dân phố").locator("option")).to_have_count(3)
    page.get_by_role("link", name="Hôm nay").click()
    hold[0] = False
    for route in held:
        route.continue_()
    held.clear()
    page.wait_for_selector("body[data-loaded=true]", state="attached")
    expect(page.locator("#loading")).to_have_count(0)
    page.goto(page.url.split("#")[0] + "#/households")
    expect(page.locator("#households-count")).to_have_text("Hiện 50 trong 3.000 hộ")
    # A returning start: the households are drawn from the phone while bootstrap is held.
    hold[0] = True
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    expect(page.locator("#households-count")).to_have_text("Hiện 50 trong 3.000 hộ")
    assert page.evaluate("document.body.dataset.loaded") is None
    assert len(held) == 1
    hold[0] = False
    held[0].continue_()
    page.wait_for_selector("body[data-loaded=true]", state="attached")


def _pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(pdf))
    return [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]


A6 = (297.6, 419.5)  # points


def test_a_households_card_prints_alone_on_an_a6_page(
    page: Page, world: World, db: Database
) -> None:
    """Issue 14 point 6: "In thẻ" prints the card, not the household page around it."""
    hid = uuid.uuid4()
    push(db, world.vol_a, [op("household", hid, household_data(world.village_a, "CARD0001"))])
    sign_in(page)
    page.goto(page.url.split("#")[0] + f"#/household/{hid}")
    page.evaluate("window.print = () => { window.printedWith = document.body.className; }")
    page.get_by_role("button", name="In thẻ").click()
    assert "print-card" in page.evaluate("window.printedWith")
    page.evaluate("document.body.classList.add('print-card')")
    page.emulate_media(media="print")
    visible = page.evaluate(
        "[...document.querySelectorAll('#screen > *')].filter((e) => e.offsetParent !== null)"
        ".map((e) => e.id)"
    )
    assert visible == ["household-card"]
    expect(page.locator("#household-card")).to_contain_text("CARD0001")
    expect(page.locator("#household-card")).to_contain_text("Nguyễn Thị Lan")
    pages = _pdf_pages(page.pdf(prefer_css_page_size=True))
    assert len(pages) == 1 and all(abs(a - b) < 2 for a, b in zip(pages[0], A6, strict=True))
    # The console's card page prints the same way.
    page.emulate_media(media="screen")
    page.context.clear_cookies()  # the coordinator signs in on this browser
    coordinator = page.context.new_page()
    console_sign_in(coordinator, "0900000002")
    coordinator.wait_for_url("**/console/")
    coordinator.goto(f"/console/households/{hid}/card")
    coordinator.emulate_media(media="print")
    pages = _pdf_pages(coordinator.pdf(prefer_css_page_size=True))
    assert len(pages) == 1 and all(abs(a - b) < 2 for a, b in zip(pages[0], A6, strict=True))
