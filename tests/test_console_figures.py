"""Dashboard figures that compare like with like: a month still running is set beside the same
days of the month before (and says which days); every card has its own words; the demo
commune is marked in the province roll-up and left out of its totals unless asked for."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from starlette.testclient import TestClient

from server import periods
from server.db import Database
from server.demo import seed_demo
from server.i18n import fmt_date

from .conftest import World, login
from .test_console_dashboard import OTHER_IN_24 as DEMO_COMMUNE
from .test_console_dashboard import english, seed
from .test_reports import add_session


def test_a_running_month_is_compared_with_the_same_days() -> None:
    december = periods.month_of(date(2026, 12, 1))
    same_days = december.compared(date(2026, 12, 5))
    assert (same_days.start, same_days.last) == (date(2026, 11, 1), date(2026, 11, 5))
    # 30 days of March beside all of February, never past its end.
    march = periods.month_of(date(2026, 3, 1)).compared(date(2026, 3, 30))
    assert (march.start, march.end) == (date(2026, 2, 1), date(2026, 3, 1))
    # A finished period is set beside the whole one before.
    assert december.compared(date(2027, 1, 3)) == periods.month_of(date(2026, 11, 1))
    quarter = periods.quarter_of(date(2026, 10, 1)).compared(date(2026, 10, 10))
    assert (quarter.start, quarter.last) == (date(2026, 7, 1), date(2026, 7, 10))


def test_this_month_is_set_beside_the_same_days_of_last_month(
    client: TestClient, world: World
) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    today = periods.today_in_vietnam()
    month = periods.month_of(today)
    last = month.previous()
    at_start = datetime.combine(last.start, datetime.min.time(), UTC) + timedelta(hours=3)
    at_end = datetime.combine(last.last, datetime.min.time(), UTC) + timedelta(hours=3)
    add_session(db, world, at=at_start, village=world.village_a)
    add_session(db, world, at=at_end, village=world.village_a)
    login(english(client), world.phone("coord_a"))
    page = client.get("/console/").text
    compared = month.compared(today)
    assert f"compared with {fmt_date(compared.start)} – {fmt_date(compared.last)}" in page
    inside = sum(compared.start <= d < compared.end for d in (last.start, last.last))
    before = re.search(
        r"Sessions</span>\s*<strong>0</strong>\s*<span[^>]*>Period before: (\d+)", page
    )
    assert before is not None and int(before.group(1)) == inside
    if today < month.last:  # the month is still running: its last days are not counted
        assert inside == 1


def test_every_card_has_its_own_words(client: TestClient, world: World, db: Database) -> None:
    seed(db, world)
    for lang in ("vi", "en"):
        client.cookies.set("lang", lang)
        login(client, world.phone("coord_a"))
        labels = re.findall(
            r'<span class="figure-label">([^<]+)</span>', client.get("/console/").text
        )
        assert len(labels) >= 7 and len(set(labels)) == len(labels), labels


def test_the_demo_commune_is_marked_and_left_out_of_province_totals(
    client: TestClient, world: World, db: Database
) -> None:
    seed(db, world)  # 3 real sessions in commune A this month
    with db.write() as s:
        seed_demo(s, DEMO_COMMUNE)
    login(english(client), world.phone("admin"))
    page = client.get("/console/province").text
    row = page[page.index(f"({DEMO_COMMUNE})") :]
    assert "Demo data" in row[: row.index("</th>")]
    foot = page[page.index("<tfoot>") :]
    assert re.search(
        r"Whole province<br><small>without the demo commune</small></th>\s*"
        r'<td class="num">3</td>',
        foot,
    )
    assert "The demo commune is left out of the province totals." in page
    included = client.get("/console/province?demo=1").text
    total = int(
        re.search(r'<tfoot>.*?<td class="num">([\d,]+)</td>', included, re.S)
        .group(1)
        .replace(",", "")
    )  # type: ignore[union-attr]
    assert total > 3
    assert "demo=1" in re.search(r'<th scope="col"[^>]*><a href="([^"]+)"', included).group(1)  # type: ignore[union-attr]
