"""Console lists on a coordinator's phone: every list is paged, 50 rows at most, with the
total said, and paging through shows every row exactly once."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from starlette.testclient import TestClient

from server import accounts
from server.db import Database
from server.models import Role

from .conftest import COMMUNE_A, World, login, post
from .test_console_sessions import listed, log_sessions, stored, vn_today, when

RANGE = re.compile(r"Cần hỗ trợ tiếp (\d+)–(\d+) trong (\d+)")


def test_follow_ups_are_paged_with_the_total(
    client: TestClient, db: Database, world: World
) -> None:
    day = vn_today()
    ids = set()
    for village, n, due in ((world.village_a, 70, -2), (world.village_a2, 50, 3)):
        made = log_sessions(
            db,
            world.vol_a,
            village,
            n,
            occurred_at=when(days=5),
            follow_up_on=str(day + timedelta(due)),
        )
        ids |= {str(i) for i in made}
    login(client, world.phone("coord_a"))

    first = client.get("/console/follow-ups")
    assert first.status_code == 200
    assert RANGE.search(first.text).groups() == ("1", "50", "120")  # type: ignore[union-attr]
    assert len(listed(first.text)) == 50 and "Trang 1/3" in first.text
    seen: list[str] = []
    for n in (1, 2, 3):
        page = client.get(f"/console/follow-ups?page={n}")
        seen += sorted(listed(page.text))
    assert len(seen) == 120 and set(seen) == ids  # every row once, none twice
    assert len(listed(client.get("/console/follow-ups?page=99").text)) == 20  # the last page
    assert client.get("/console/follow-ups?page=x").status_code == 200

    # Closing one on page 2 comes back to page 2, and the total counts one fewer.
    on_two = sorted(listed(client.get("/console/follow-ups?page=2").text))[0]
    closed = post(client, f"/console/follow-ups/{on_two}/done", {"page": "2"})
    assert closed.status_code == 303 and "page=2" in closed.headers["location"]
    assert stored(db, uuid.UUID(on_two)).follow_up_done_at is not None
    again = client.get(closed.headers["location"])
    assert RANGE.search(again.text).group(3) == "119"  # type: ignore[union-attr]


def test_members_are_paged(client: TestClient, db: Database, world: World) -> None:
    with db.write() as s:
        for i in range(60):
            accounts.create_member(
                s,
                name=f"Tổ viên {i:02d}",
                phone=f"09111{i:05d}",
                role=Role.volunteer,
                commune_code=COMMUNE_A,
                password=None,
            )
    login(client, world.phone("coord_a"))
    first = client.get("/console/members")
    total = re.search(r"Thành viên 1–50 trong (\d+)", first.text)
    assert total is not None and int(total.group(1)) >= 61
    rows = re.compile(r"Tổ viên \d\d")
    names = rows.findall(first.text) + rows.findall(client.get("/console/members?page=2").text)
    assert sorted(names) == [f"Tổ viên {i:02d}" for i in range(60)]
