"""Indicators: every figure the dashboard shows equals a recount in Python over the same rows."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from server import labels, periods, reports
from server.db import Database
from server.i18n import TZ
from server.models import (
    AssistanceSession,
    Commune,
    Household,
    Service,
    SessionService,
    Village,
)
from server.services import CATALOGUE
from server.text import fold

from .conftest import COMMUNE_A, COMMUNE_B, World

SERVICE_CODES = [code for code, *_ in CATALOGUE]
REASONS = [None, *labels.REASONS]
CHANGES = ["delete", "undelete", "move", "other_commune", "relog", "line_outcome", "purge"]


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), TZ).astimezone(UTC)


# --- Building rows directly --------------------------------------------------------------------


def add_village(db: Database, commune: str, name: str, into: uuid.UUID | None = None) -> uuid.UUID:
    with db.write() as s:
        v = Village(commune_code=commune, name=name, name_key=fold(name), merged_into_id=into)
        s.add(v)
    return v.id


def add_household(
    db: Database, world: World, village: uuid.UUID, skills: list[str], deleted: bool = False
) -> uuid.UUID:
    hid = uuid.uuid4()
    now = datetime.now(UTC)
    with db.write() as s:
        s.add(
            Household(
                id=hid,
                commune_code=COMMUNE_A,
                village_id=village,
                code=f"T{hid.hex[:10].upper()}",
                head_name="Nguyễn Thị Lan",
                head_name_key="nguyen thi lan",
                consent_at=now,
                consent_by=world.vol_a.id,
                skills=skills,
                deleted_at=now if deleted else None,
                created_by=world.vol_a.id,
                updated_by=world.vol_a.id,
            )
        )
    return hid


def add_session(
    db: Database,
    world: World,
    *,
    at: datetime,
    commune: str = COMMUNE_A,
    village: uuid.UUID | None = None,
    household: uuid.UUID | None = None,
    volunteer: Any = None,
    people: int = 1,
    deleted: bool = False,
    follow_up_on: date | None = None,
    follow_up_done: bool = False,
    lines: list[tuple[str, str, str | None, str | None]] = (),  # type: ignore[assignment]
    then: bool = False,  # the database is at an older revision than the models
) -> uuid.UUID:
    sid = uuid.uuid4()
    volunteer = volunteer or (world.vol_a if commune == COMMUNE_A else world.vol_b)
    with db.write() as s:
        row = AssistanceSession(
            id=sid,
            commune_code=commune,
            village_id=village,
            household_id=household,
            volunteer_id=volunteer.id,
            occurred_at=at,
            people_helped=people,
            follow_up_on=follow_up_on,
            follow_up_done_at=at if follow_up_done else None,
            deleted_at=at if deleted else None,
            created_by=volunteer.id,
            updated_by=volunteer.id,
        )
        if then:
            from .test_migrations import add_as_then

            add_as_then(s, row)
        else:
            s.add(row)
        s.flush()
        for service, outcome, reason, dossier in lines:
            s.add(
                SessionService(
                    session_id=sid,
                    service_code=service,
                    outcome=outcome,
                    reason=reason,
                    dossier_code=dossier,
                )
            )
    return sid


def clear(db: Database, villages: list[uuid.UUID]) -> None:
    with db.write() as s:
        s.execute(sa.delete(SessionService))
        s.execute(sa.delete(AssistanceSession))
        s.execute(sa.delete(Household))
        for vid in villages:  # merged ones first: they point at the others
            s.execute(sa.delete(Village).where(Village.id == vid))


def change(db: Database, sid: uuid.UUID, action: str, at: datetime, service: str) -> None:
    """Edit a stored session the ways sync, review and erasure do; the daily counts follow."""
    s_, ln = AssistanceSession.__table__, SessionService.__table__
    with db.write() as s:
        row = s_.c.id == sid
        if action == "delete":
            s.execute(sa.update(s_).where(row).values(deleted_at=at))
        elif action == "undelete":
            s.execute(sa.update(s_).where(row).values(deleted_at=None))
        elif action == "move":
            s.execute(sa.update(s_).where(row).values(occurred_at=at))
        elif action == "other_commune":
            code = s.execute(sa.select(s_.c.commune_code).where(row)).scalar_one()
            other = COMMUNE_B if code == COMMUNE_A else COMMUNE_A
            # A village belongs to one commune: the moved session leaves its village behind.
            s.execute(sa.update(s_).where(row).values(commune_code=other, village_id=None))
        elif action == "relog":  # sync replaces the lines of an edited session
            s.execute(sa.delete(ln).where(ln.c.session_id == sid))
            s.execute(
                sa.insert(ln).values(
                    session_id=sid, service_code=service, outcome="could_not", reason="no_signal"
                )
            )
        elif action == "line_outcome":
            s.execute(
                sa.update(ln)
                .where(ln.c.session_id == sid)
                .values(outcome="done", reason=None, dossier_code="H24.46-261001-0002")
            )
        elif action == "purge":  # erasure: lines, then the session
            s.execute(sa.delete(ln).where(ln.c.session_id == sid))
            s.execute(sa.delete(s_).where(row))


# --- The recount in Python ---------------------------------------------------------------------


@dataclass
class Rows:
    sessions: list[AssistanceSession]
    lines: list[SessionService]
    skill_of: dict[str, str]
    households: list[Household]
    villages: dict[uuid.UUID, Village]


def load(db: Database) -> Rows:
    with db.read() as s:
        return Rows(
            list(s.exec(select(AssistanceSession))),
            list(s.exec(select(SessionService))),
            {sv.code: sv.skill for sv in s.exec(select(Service))},
            list(s.exec(select(Household))),
            {v.id: v for v in s.exec(select(Village))},
        )


def counted(rows: Rows, commune: str, period: periods.Period) -> list[AssistanceSession]:
    start, end = local_midnight(period.start), local_midnight(period.end)
    return [
        r
        for r in rows.sessions
        if r.commune_code == commune and r.deleted_at is None and start <= r.occurred_at < end
    ]


def recount(rows: Rows, commune: str, period: periods.Period) -> dict[str, Any]:
    sessions = counted(rows, commune, period)
    ids = {r.id for r in sessions}
    lines = [ln for ln in rows.lines if ln.session_id in ids]
    done = [ln for ln in lines if ln.outcome == "done"]
    services: dict[str, tuple[int, int]] = {}
    for ln in lines:
        d, t = services.get(ln.service_code, (0, 0))
        services[ln.service_code] = (d + (ln.outcome == "done"), t + 1)
    return {
        "sessions": len(sessions),
        "households": len({r.household_id for r in sessions if r.household_id is not None}),
        "people": sum(r.people_helped for r in sessions),
        "volunteers": len({r.volunteer_id for r in sessions}),
        "lines": len(lines),
        "done": len(done),
        "dossiers": sum(1 for ln in lines if ln.dossier_code),
        "done_by_skill": dict(Counter(rows.skill_of[ln.service_code] for ln in done)),
        "services": services,
        "reasons": dict(
            Counter(
                (ln.outcome, ln.reason if ln.reason in labels.REASONS else "other")
                for ln in lines
                if ln.outcome in ("not_finished", "could_not")
            )
        ),
    }


def summed(expected: dict[str, Any]) -> dict[str, Any]:
    """What the daily counts give: everything but the tally of each service."""
    return {k: v for k, v in expected.items() if k != "services"}


def as_dict(f: reports.Figures) -> dict[str, Any]:
    return {
        "sessions": f.sessions,
        "households": f.households,
        "people": f.people,
        "volunteers": f.volunteers,
        "lines": f.lines,
        "done": f.done,
        "dossiers": f.dossiers,
        "done_by_skill": f.done_by_skill,
        "services": {code: (t.done, t.total) for code, t in f.services.items()},
        "reasons": f.reasons,
    }


def as_summed(f: reports.Figures) -> dict[str, Any]:
    assert f.services == {}
    return summed(as_dict(f))


def root(villages: dict[uuid.UUID, Village], vid: uuid.UUID) -> uuid.UUID:
    while villages[vid].merged_into_id is not None:
        vid = villages[vid].merged_into_id
    return vid


def recount_villages(rows: Rows, commune: str, period: periods.Period) -> dict:
    out: dict[uuid.UUID | None, dict[str, Any]] = {}

    def row(vid: uuid.UUID | None) -> dict[str, Any]:
        key = root(rows.villages, vid) if vid is not None else None
        return out.setdefault(
            key,
            {
                "sessions": 0,
                "households_helped": set(),
                "people": 0,
                "households": 0,
                "coverage": dict.fromkeys(labels.FIVE_SKILLS, 0),
            },
        )

    for v in rows.villages.values():
        if v.commune_code == commune and v.merged_into_id is None:
            row(v.id)
    for r in counted(rows, commune, period):
        item = row(r.village_id)
        item["sessions"] += 1
        item["people"] += r.people_helped
        if r.household_id is not None:
            item["households_helped"].add(r.household_id)
    for h in rows.households:
        if h.commune_code == commune and h.deleted_at is None:
            item = row(h.village_id)
            item["households"] += 1
            for skill in h.skills:
                item["coverage"][skill] += 1
    for item in out.values():
        item["households_helped"] = len(item["households_helped"])
    return out


def weeks(rows: Rows, commune: str, period: periods.Period) -> list[tuple[date, int]]:
    per_monday = Counter()
    for r in counted(rows, commune, period):
        day = r.occurred_at.astimezone(TZ).date()
        per_monday[day - timedelta(days=day.weekday())] += 1
    monday = period.start - timedelta(days=period.start.weekday())
    out = []
    while monday < period.end:
        out.append((monday, per_monday[monday]))
        monday += timedelta(days=7)
    return out


# --- Random data against the recount -----------------------------------------------------------

any_period = st.builds(
    lambda kind, day, length: (
        periods.Period("custom", day, day + timedelta(days=length))
        if kind == "custom"
        else {"week": periods.week_of, "month": periods.month_of, "quarter": periods.quarter_of}[
            kind
        ](day)
    ),
    st.sampled_from(["week", "month", "quarter", "custom"]),
    st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    st.integers(1, 120),
)
lines = st.lists(
    st.tuples(
        st.sampled_from(SERVICE_CODES),
        st.sampled_from(["done", "done", "not_finished", "could_not"]),
        st.sampled_from(REASONS),
        st.sampled_from([None, None, "", "H24.46-261001-0001"]),
    ),
    max_size=4,
    unique_by=lambda t: t[0],
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), period=any_period)
def test_every_figure_equals_a_recount(db: Database, world: World, data, period) -> None:
    # Villages of this example: one merged into Thôn Tây, one merged into that one (a chain).
    merged = add_village(db, COMMUNE_A, "Thôn Bắc", into=world.village_a2)
    chain = add_village(db, COMMUNE_A, "Xóm Chùa", into=merged)
    villages_a = [world.village_a, world.village_a2, merged, chain]
    try:
        households = [
            add_household(
                db,
                world,
                data.draw(st.sampled_from(villages_a)),
                data.draw(st.lists(st.sampled_from(labels.FIVE_SKILLS), unique=True)),
                deleted=data.draw(st.booleans()),
            )
            for _ in range(data.draw(st.integers(0, 5)))
        ]
        span = (period.end - period.start).days * 86400
        start = local_midnight(period.start)
        previous_start = local_midnight(period.previous().start)
        today = data.draw(st.dates(period.start - timedelta(days=20), period.end))
        sessions = []
        for _ in range(data.draw(st.integers(0, 30))):
            # Times near both ends of the period and of the previous one, and anywhere around.
            at = data.draw(
                st.one_of(
                    st.sampled_from([start, start - timedelta(seconds=1), previous_start]),
                    st.sampled_from([span - 1, span, span + 1]).map(
                        lambda s: start + timedelta(seconds=s)
                    ),
                    st.integers(-span - 86400 * 40, span + 86400 * 10).map(
                        lambda s: start + timedelta(seconds=s)
                    ),
                )
            )
            commune = data.draw(st.sampled_from([COMMUNE_A, COMMUNE_A, COMMUNE_A, COMMUNE_B]))
            a = commune == COMMUNE_A
            sid = add_session(
                db,
                world,
                at=at,
                commune=commune,
                village=data.draw(st.sampled_from([*villages_a, None])) if a else world.village_b,
                household=data.draw(st.sampled_from([None, *households])) if a else None,
                volunteer=data.draw(st.sampled_from([world.vol_a, world.coord_a]))
                if a
                else world.vol_b,
                people=data.draw(st.integers(1, 5)),
                deleted=data.draw(st.booleans()),
                follow_up_on=data.draw(
                    st.one_of(st.none(), st.dates(today - timedelta(days=5), today + timedelta(5)))
                ),
                follow_up_done=data.draw(st.booleans()),
                lines=data.draw(lines),
            )
            sessions.append((sid, at))
        for _ in range(data.draw(st.integers(0, 6))):
            if not sessions:
                break
            sid, at = data.draw(st.sampled_from(sessions))
            action = data.draw(st.sampled_from(CHANGES))
            moved = at + timedelta(days=data.draw(st.integers(-40, 40)))
            change(db, sid, action, moved, data.draw(st.sampled_from(SERVICE_CODES)))
            if action == "purge":
                sessions.remove((sid, at))

        with db.read() as s:
            commune = s.get(Commune, COMMUNE_A)
            board = reports.dashboard(s, commune, period, today)
            province = {r.commune.code: r for r in reports.rollup(s, "24", period, today)}
        rows = load(db)

        assert as_dict(board.now) == recount(rows, COMMUNE_A, period)
        assert board.previous == period.compared(today)
        assert as_summed(board.before) == summed(recount(rows, COMMUNE_A, period.compared(today)))
        assert board.weeks == weeks(rows, COMMUNE_A, period)

        open_ = [
            r
            for r in rows.sessions
            if r.commune_code == COMMUNE_A
            and r.deleted_at is None
            and r.follow_up_on is not None
            and r.follow_up_done_at is None
        ]
        assert board.follow_ups == reports.FollowUps(
            len(open_), sum(1 for r in open_ if r.follow_up_on < today)
        )

        expected = recount_villages(rows, COMMUNE_A, period)
        got = {
            v.id: {
                "sessions": v.sessions,
                "households_helped": v.households_helped,
                "people": v.people,
                "households": v.households,
                "coverage": v.coverage,
            }
            for v in board.villages
        }
        assert got == {k: v for k, v in expected.items() if k is not None or v["sessions"]}
        assert set(got) <= {world.village_a, world.village_a2, None}  # merged ones rolled up

        # The province roll-up: the same figures, and never commune B (another province).
        assert set(province) == {COMMUNE_A}
        now, before = province[COMMUNE_A].now, province[COMMUNE_A].before
        assert as_summed(now) == summed(recount(rows, COMMUNE_A, period))
        assert as_summed(before) == summed(recount(rows, COMMUNE_A, period.compared(today)))
        with db.read() as s:  # commune B's days too: the counts move with a session
            b = reports.indicators(s, [COMMUNE_B], period, per_service=False)[COMMUNE_B]
            b_lines = reports.indicators(s, [COMMUNE_B], period)[COMMUNE_B]
        assert as_summed(b) == summed(recount(rows, COMMUNE_B, period))
        assert as_dict(b_lines) == recount(rows, COMMUNE_B, period)
        assert province[COMMUNE_A].follow_ups == board.follow_ups
    finally:
        clear(db, [chain, merged])


# --- The rules one at a time -------------------------------------------------------------------

OCT = periods.month_of(date(2026, 10, 15))


def at_local(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), TZ).astimezone(UTC)


def figures(db: Database, period: periods.Period = OCT) -> reports.Figures:
    with db.read() as s:
        return reports.indicators(s, [COMMUNE_A], period)[COMMUNE_A]


def test_deleted_sessions_never_count(db: Database, world: World) -> None:
    kept = [("vneid_install", "done", None, None)]
    add_session(db, world, at=at_local(date(2026, 10, 2)), people=2, lines=kept)
    add_session(
        db,
        world,
        at=at_local(date(2026, 10, 3)),
        people=5,
        deleted=True,
        follow_up_on=date(2026, 10, 1),
        lines=[("dvc_birth", "done", None, "H24-1")],
    )
    f = figures(db)
    assert (f.sessions, f.people, f.lines, f.done, f.dossiers) == (1, 2, 1, 1, 0)
    with db.read() as s:
        assert reports.follow_ups(s, [COMMUNE_A], date(2026, 10, 20))[COMMUNE_A].open == 0


def test_period_bounds_are_midnight_in_vietnam(db: Database, world: World) -> None:
    # 30 September 23:59 in Hà Nội is 16:59 UTC; 1 October 00:00 is 17:00 UTC on 30 September.
    add_session(db, world, at=datetime(2026, 9, 30, 16, 59, tzinfo=UTC))
    add_session(db, world, at=datetime(2026, 9, 30, 17, 0, tzinfo=UTC))
    add_session(db, world, at=datetime(2026, 10, 31, 16, 59, 59, tzinfo=UTC))
    add_session(db, world, at=datetime(2026, 10, 31, 17, 0, tzinfo=UTC))
    assert figures(db).sessions == 2
    assert figures(db, OCT.previous()).sessions == 1


def test_merged_villages_roll_up(db: Database, world: World) -> None:
    old = add_village(db, COMMUNE_A, "Thôn Cũ", into=world.village_a)
    older = add_village(db, COMMUNE_A, "Thôn Cũ Hơn", into=old)
    h1 = add_household(db, world, old, ["payment", "safety"])
    h2 = add_household(db, world, world.village_a, ["payment"])
    add_session(db, world, at=at_local(date(2026, 10, 2)), village=old, household=h1, people=3)
    add_session(db, world, at=at_local(date(2026, 10, 3)), village=older, household=h1)
    add_session(db, world, at=at_local(date(2026, 10, 4)), village=world.village_a, household=h2)
    add_session(db, world, at=at_local(date(2026, 10, 5)), village=world.village_a2)
    with db.read() as s:
        rows = {v.id: v for v in reports.by_village(s, COMMUNE_A, OCT)}
    assert set(rows) == {world.village_a, world.village_a2}
    dong_hoa = rows[world.village_a]
    assert (dong_hoa.sessions, dong_hoa.households_helped, dong_hoa.people) == (3, 2, 5)
    assert dong_hoa.households == 2
    assert dong_hoa.coverage["payment"] == 2 and dong_hoa.coverage["safety"] == 1
    assert sorted(dong_hoa.merged) == ["Thôn Cũ", "Thôn Cũ Hơn"]
    assert rows[world.village_a2].sessions == 1


def test_reasons_rates_and_dossiers(db: Database, world: World) -> None:
    add_session(
        db,
        world,
        at=at_local(date(2026, 10, 2)),
        lines=[
            ("vneid_activate", "could_not", "needs_police", None),
            ("dvc_birth", "done", None, "H24.46-261002-0001"),
            ("pay_electricity", "not_finished", "no_signal", None),
        ],
    )
    add_session(
        db,
        world,
        at=at_local(date(2026, 10, 3)),
        lines=[("vneid_activate", "could_not", "needs_police", None)],
    )
    f = figures(db)
    assert f.top_reasons()[0] == ("could_not", "needs_police", 2)
    assert f.services["vneid_activate"].rate == 0
    assert f.services["dvc_birth"].rate == 1
    assert f.completion == pytest.approx(1 / 4)
    assert (f.dossiers, f.done_by_skill) == (1, {"public_services": 1})


def test_migration_0002_counts_the_lines_already_stored(tmp_path) -> None:
    """Lines logged before the daily counts existed are counted when the migration runs."""
    from alembic import command

    from server.migrate import alembic_config

    from .test_migrations import database_at

    with database_at(tmp_path, "0001") as (url, vol):
        db = Database(url)
        world = World(vol, vol, vol, vol, vol, None, None, None)  # type: ignore[arg-type]
        birth = ("dvc_birth", "done", None, "H24-1")
        odd_reason = ("vneid_activate", "could_not", "x", None)  # not a known reason: "other"
        for day, deleted, lines in [
            (2, False, [birth, odd_reason]),
            (2, True, [("safe_scam", "done", None, None)]),
            (20, False, [("pay_water", "not_finished", "no_signal", None)]),
        ]:
            add_session(
                db, world, at=at_local(date(2026, 10, day)), deleted=deleted, lines=lines, then=True
            )
        db.dispose()
        command.upgrade(alembic_config(url), "head")
        db = Database(url)
        with db.read() as s:
            daily = reports.indicators(s, [COMMUNE_A], OCT, per_service=False)[COMMUNE_A]
            lines = reports.indicators(s, [COMMUNE_A], OCT)[COMMUNE_A]
        db.dispose()
        assert as_summed(daily) == summed(as_dict(lines))
        assert (daily.lines, daily.done, daily.dossiers) == (3, 1, 1)
        assert daily.reasons == {("could_not", "other"): 1, ("not_finished", "no_signal"): 1}
