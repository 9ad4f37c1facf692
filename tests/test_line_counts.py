"""daily_line_count equals a recount of the lines after every kind of write: sync batches (new,
edited, moved, relined, deleted, stale edits merged, replays, rejections), the coordinator's
review and conflict resolution, follow-ups, household erasure, the console import and the demo
seed. A sync batch counts its own lines (server/line_counts.py); every other writer goes through
the triggers of migrations 0002 and 0003, which skip only while a batch holds its marker row."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from server import demo, review, sync
from server.db import Database
from server.i18n import TZ
from server.models import (
    AssistanceSession,
    DailyLineCount,
    Household,
    LineCountBatch,
    Member,
    Service,
    SessionService,
)
from server.privacy_actions import erase_household

from .conftest import World, login
from .test_imports import exported, upload
from .test_sync import household_data, op, push, session_data

KNOWN_REASONS = ("missing_papers", "no_smartphone", "no_signal", "system_error", "needs_police")
SERVICES = ["vneid_install", "dvc_birth", "bhyt_renew", "pay_electricity", "safe_scam"]
OUTCOMES = [("done", None), ("not_finished", "missing_papers"), ("could_not", "needs_police")]
OUTCOMES += [("could_not", "other"), ("not_finished", "no_signal")]


# --- The recount -------------------------------------------------------------------------------


def recount(db: Database) -> dict[tuple[str, date], dict[str, int]]:
    """Every line of every session that is not deleted, by commune and day in Vietnam, counted
    here from the rows, independently of both the triggers and server/line_counts.py."""
    with db.read() as s:
        skill = dict(s.execute(sa.select(Service.code, Service.skill)).all())  # type: ignore[call-overload]
        t = AssistanceSession.__table__  # only the columns this reads: the database may be older
        stmt = sa.select(t.c.id, t.c.commune_code, t.c.occurred_at).where(t.c.deleted_at.is_(None))
        sessions = {r.id: r for r in s.execute(stmt)}
        lines = s.exec(select(SessionService)).all()
    out: dict[tuple[str, date], Counter[str]] = {}
    for line in lines:
        row = sessions.get(line.session_id)
        if row is None:
            continue
        c = out.setdefault((row.commune_code, row.occurred_at.astimezone(TZ).date()), Counter())
        c["lines"] += 1
        c["dossiers"] += bool(line.dossier_code)
        if line.outcome == "done":
            c["done"] += 1
            c[f"done_{skill[line.service_code]}"] += 1
        else:
            reason = line.reason if line.reason in KNOWN_REASONS else "other"
            c[f"{line.outcome}_{reason}"] += 1
    return {key: {k: v for k, v in c.items() if v} for key, c in out.items()}


def stored(db: Database) -> dict[tuple[str, date], dict[str, int]]:
    table = DailyLineCount.__table__  # type: ignore[attr-defined]
    names = [c.name for c in table.columns if c.name not in ("commune_code", "day")]
    with db.read() as s:
        rows = s.exec(select(DailyLineCount)).all()
    out = {}
    for row in rows:
        counts = {name: getattr(row, name) for name in names if getattr(row, name)}
        if counts:
            out[row.commune_code, row.day] = counts
    return out


def check(db: Database, marker: bool = True) -> None:
    assert stored(db) == recount(db)
    if marker:  # no batch left its marker behind (the table came with migration 0003)
        with db.read() as s:
            assert s.exec(select(LineCountBatch)).all() == []


def current(db: Database, sid: uuid.UUID) -> AssistanceSession | None:
    with db.read() as s:
        return s.get(AssistanceSession, sid)


def current_lines(db: Database, sid: uuid.UUID) -> list[dict[str, Any]]:
    with db.read() as s:
        return sync.lines_of(s, sync.T_SESSION.c.id == sid).get(sid, [])


def at_local(days_ago: int, hour: int) -> str:
    day = datetime.now(UTC).astimezone(TZ).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), TZ).isoformat()


# --- Sync ----------------------------------------------------------------------------------------

lines_st = st.lists(
    st.tuples(st.sampled_from(SERVICES), st.sampled_from(OUTCOMES), st.booleans()),
    min_size=1,
    max_size=4,
    unique_by=lambda t: t[0],
)
# Hours near local midnight too, so that a move can change the day, not only the hour.
times_st = st.tuples(st.integers(1, 40), st.sampled_from([0, 6, 12, 23]))


def _lines(drawn: list[tuple[str, tuple[str, str | None], bool]]) -> list[dict[str, Any]]:
    return [
        {
            "service": service,
            "outcome": outcome,
            "reason": reason,
            "dossier_code": "H24.46-261001-0002" if filed else None,
        }
        for service, (outcome, reason), filed in drawn
    ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_sync_batches_keep_the_daily_counts(db: Database, world: World, data) -> None:
    pool = [uuid.uuid4() for _ in range(6)]
    for _ in range(data.draw(st.integers(1, 4), label="batches")):
        ops: list[dict[str, Any]] = []
        for _ in range(data.draw(st.integers(1, 8), label="ops")):
            sid = data.draw(st.sampled_from(pool))
            row = current(db, sid)
            version = row.version if row else 0
            base = data.draw(st.sampled_from([version, max(version - 1, 0)]), label="base")
            kind = data.draw(st.sampled_from(["write", "write", "move", "delete", "bad"]))
            days, hour = data.draw(times_st)
            body = session_data(
                world.village_a,
                occurred_at=at_local(days, hour),
                services=_lines(data.draw(lines_st)),
            )
            if kind == "move" and row is not None:  # the same lines on another day
                body["services"] = current_lines(db, sid)
            if kind == "delete":
                body = {"deleted": True}
            if kind == "bad":
                body["services"] = [{"service": "no_such_service", "outcome": "done"}]
            ops.append(op("session", sid, body, base=base))
        if data.draw(st.booleans(), label="replay") and ops:
            ops.append(dict(ops[0]))  # the same op twice in a batch
        push(db, world.vol_a, ops)
        check(db)
    # Commune B's volunteer writes in the same tables; its counts are its commune's.
    push(db, world.vol_b, [op("session", uuid.uuid4(), session_data(world.village_b))])
    check(db)


def test_a_replayed_batch_changes_no_count(db: Database, world: World) -> None:
    ops = [op("session", uuid.uuid4(), session_data(world.village_a)) for _ in range(3)]
    push(db, world.vol_a, ops)
    before = stored(db)
    assert before and sum(c["lines"] for c in before.values()) == 6
    assert {r.status for r in push(db, world.vol_a, ops)} == {sync.DUPLICATE}
    assert stored(db) == before
    check(db)


def test_a_stale_edit_merged_field_by_field_counts_what_was_kept(db: Database, world) -> None:
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    moved = session_data(world.village_a, occurred_at=at_local(9, 23))
    push(db, world.vol_a, [op("session", sid, moved, base=1)])
    # A second phone of the same volunteer still had version 1: it changes the lines only.
    relined = session_data(world.village_a, services=_lines([("safe_scam", ("done", None), True)]))
    [result] = push(db, world.vol_a, [op("session", sid, relined, base=1)])
    assert result.status == sync.CONFLICT
    row = current(db, sid)
    assert row is not None and row.conflict
    assert row.occurred_at.astimezone(TZ).date() == datetime.fromisoformat(at_local(9, 23)).date()
    check(db)
    assert sum(c["lines"] for c in stored(db).values()) == 1


def test_a_batch_that_fails_leaves_the_triggers_counting(db: Database, world: World) -> None:
    with pytest.raises(RuntimeError), db.write() as s:
        sync.apply_ops(s, world.vol_a, [op("session", uuid.uuid4(), session_data(world.village_a))])
        raise RuntimeError("the request fails after the batch was written")
    check(db)
    assert stored(db) == {}
    # A writer outside sync (here SQL by hand) is still counted by the triggers.
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    with db.write() as s:
        s.execute(
            sa.insert(SessionService).values(
                session_id=sid, service_code="safe_scam", outcome="could_not", reason="x"
            )
        )
    check(db)
    assert sum(c.get("could_not_other", 0) for c in stored(db).values()) == 1


# --- The coordinator, erasure, import, demo ----------------------------------------------------


def _member(db: Database, member: Member) -> Member:
    with db.read() as s:
        found = s.get(Member, member.id)
        assert found is not None
        return found


def test_review_and_follow_ups_keep_the_daily_counts(db: Database, world: World) -> None:
    approved, returned, flagged, follow = (uuid.uuid4() for _ in range(4))
    later = (date.today() + timedelta(days=3)).isoformat()
    push(
        db,
        world.vol_a,
        [
            op("session", approved, session_data(world.village_a)),
            op("session", returned, session_data(world.village_a)),
            op("session", flagged, session_data(world.village_a)),
            op("session", follow, session_data(world.village_a, follow_up_on=later)),
        ],
    )
    coord = _member(db, world.coord_a)
    with db.write() as s:
        review.approve(s, approved, coord)
        review.return_to_volunteer(s, returned, coord, "Thiếu giấy tờ")
    check(db)
    # The volunteer fixes the returned session: other lines, another day.
    fixed = session_data(world.village_a, occurred_at=at_local(3, 0))
    fixed["services"] = _lines([("pay_electricity", ("could_not", "no_signal"), False)])
    push(db, world.vol_a, [op("session", returned, fixed, base=2)])
    check(db)
    # A stale edit flags a conflict; the coordinator keeps the phone's version (its lines, its
    # day), which review.py writes itself: the triggers count it.
    push(db, world.vol_a, [op("session", flagged, session_data(world.village_a), base=1)])
    phone = session_data(world.village_a, occurred_at=at_local(30, 23))
    phone["services"] = _lines([("dvc_birth", ("done", None), True)])
    [result] = push(db, world.vol_a, [op("session", flagged, phone, base=1)])
    assert result.status == sync.CONFLICT
    check(db)
    with db.write() as s:
        review.resolve_conflict(s, flagged, coord, review.KEEP_CLIENT)
    check(db)
    assert [line["service"] for line in current_lines(db, flagged)] == ["dvc_birth"]
    with db.write() as s:
        review.reassign_follow_up(s, follow, coord, world.coord_a.id)
        review.follow_up_done(s, follow, coord)
    check(db)
    assert sum(c["lines"] for c in stored(db).values()) == 2 + 1 + 1 + 2


def test_erasing_a_household_keeps_the_daily_counts(db: Database, world: World) -> None:
    hid = uuid.uuid4()
    push(db, world.vol_a, [op("household", hid, household_data(world.village_a, "DS-0001"))])
    ops = [
        op("session", uuid.uuid4(), session_data(world.village_a, household_id=str(hid)))
        for _ in range(3)
    ]
    push(db, world.vol_a, ops)
    before = stored(db)
    with db.write() as s:
        household = s.get(Household, hid)
        assert household is not None
        erase_household(s, household, s.get(Member, world.coord_a.id))
    check(db)
    assert stored(db) == before  # the sessions stay, without the family's data


def test_the_console_import_keeps_the_daily_counts(client, db: Database, world: World) -> None:
    login(client, world.phone("coord_a"))
    assert upload(client, exported(world, world.vol_a.id, n=4)).status_code == 200
    check(db)
    assert sum(c["lines"] for c in stored(db).values()) == 4


def test_the_demo_seed_counts_every_line(db: Database) -> None:
    with db.write() as s:
        demo.seed_demo(s)
    check(db)
    assert sum(c["lines"] for c in stored(db).values()) > 2000
    assert {commune for commune, _ in stored(db)} == {demo.COMMUNE}


def test_migration_0003_keeps_the_counts_and_both_ways_the_triggers(tmp_path) -> None:
    from alembic import command

    from server import villages
    from server.migrate import alembic_config

    from .test_migrations import add_as_then, database_at

    def line(db: Database, sid: uuid.UUID, service: str) -> None:
        with db.write() as s:
            s.execute(
                sa.insert(SessionService).values(
                    session_id=sid, service_code=service, outcome="done"
                )
            )

    with database_at(tmp_path, "0002") as (url, vol):
        db = Database(url)
        sid = uuid.uuid4()
        with db.write() as s:  # written as review.py would: 0002's triggers count it
            village = villages.add_village(s, "07627", "Thôn Đông", vol).id
            row = AssistanceSession(
                id=sid,
                commune_code="07627",
                village_id=village,
                volunteer_id=vol.id,
                occurred_at=datetime.now(UTC) - timedelta(hours=1),
                created_by=vol.id,
                updated_by=vol.id,
            )
            add_as_then(s, row)
        line(db, sid, "dvc_birth")
        check(db, marker=False)
        db.dispose()
        command.upgrade(alembic_config(url), "head")
        db = Database(url)
        check(db)
        line(db, sid, "safe_scam")  # by hand: 0003's triggers
        push(db, vol, [op("session", uuid.uuid4(), session_data(village))])  # by the batch
        check(db)
        db.dispose()
        command.downgrade(alembic_config(url), "0002")
        db = Database(url)
        line(db, sid, "pay_electricity")  # 0002's triggers again
        check(db, marker=False)
        assert sum(c["lines"] for c in stored(db).values()) == 5
        db.dispose()
