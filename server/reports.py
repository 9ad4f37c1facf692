"""Indicators for the coordinator's dashboard, the province roll-up and the LGSP API.

Plain functions over a Session. A period is a range of local dates [start, end) in Vietnam's
time; its bounds become UTC instants for the queries. Counting happens in SQL (GROUP BY) with
the same results on SQLite and PostgreSQL. Deleted sessions never count; a village merged into
another counts as the one it was merged into.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from .labels import FIVE_SKILLS, REASONS, SKILLS
from .models import (
    AssistanceSession,
    AuditEvent,
    Commune,
    DailyLineCount,
    Household,
    Outcome,
    Service,
    SessionService,
)
from .periods import Period, week_of
from .villages import merges

T_SESSION: sa.Table = AssistanceSession.__table__  # type: ignore[attr-defined]
T_LINE: sa.Table = SessionService.__table__  # type: ignore[attr-defined]
T_SERVICE: sa.Table = Service.__table__  # type: ignore[attr-defined]
T_HOUSEHOLD: sa.Table = Household.__table__  # type: ignore[attr-defined]
T_DAILY: sa.Table = DailyLineCount.__table__  # type: ignore[attr-defined]

NOT_DONE = (Outcome.not_finished, Outcome.could_not)

# Vietnam has kept UTC+7, without daylight saving, since 1975: a local day is a fixed shift.
UTC_OFFSET = 7 * 3600
EPOCH = date(1970, 1, 1)  # a Thursday: ISO week w starts on EPOCH + 7w - 3 days


# --- Figures ------------------------------------------------------------------------------------


@dataclass
class ServiceTally:
    code: str
    skill: str
    done: int = 0
    total: int = 0

    @property
    def rate(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass
class Figures:
    """What a commune's team did in a period."""

    sessions: int = 0
    households: int = 0  # distinct households helped
    people: int = 0
    volunteers: int = 0  # distinct volunteers with a session
    lines: int = 0  # services tried
    done: int = 0  # services done
    dossiers: int = 0  # lines with a dossier code
    done_by_skill: dict[str, int] = field(default_factory=dict)
    services: dict[str, ServiceTally] = field(default_factory=dict)  # only when counting lines
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, reason_key)

    @property
    def completion(self) -> float | None:
        return self.done / self.lines if self.lines else None

    @property
    def active(self) -> bool:
        return self.sessions > 0

    def top_reasons(self) -> list[tuple[str, str, int]]:
        """(outcome, reason, lines), the most common first."""
        rows = [(o, r, n) for (o, r), n in self.reasons.items()]
        return sorted(rows, key=lambda t: (-t[2], t[0], t[1]))


@dataclass
class FollowUps:
    open: int = 0
    overdue: int = 0  # due before today


def _scope(communes: Sequence[str]) -> sa.ColumnElement[bool]:
    s = T_SESSION
    if len(communes) == 1:
        return s.c.commune_code == communes[0]
    return s.c.commune_code.in_(communes)


def _counted(communes: Sequence[str], period: Period) -> list[sa.ColumnElement[bool]]:
    """Sessions that count: of these communes, in the period, not deleted."""
    s = T_SESSION
    start, end = period.bounds()
    return [
        _scope(communes),
        s.c.occurred_at >= start,
        s.c.occurred_at < end,
        s.c.deleted_at.is_(None),
    ]


def indicators(
    session: Session, communes: Sequence[str], period: Period, *, per_service: bool = True
) -> dict[str, Figures]:
    """Figures per commune, every commune given included (zeros where nothing happened).

    With `per_service`, the lines themselves are counted (and each service's tally kept);
    without, their daily counts are summed: the same figures, fast for a whole province."""
    out = {code: Figures() for code in communes}
    if not communes:
        return out
    s = T_SESSION
    totals = (
        sa.select(
            s.c.commune_code,
            sa.func.count(),
            sa.func.count(sa.distinct(s.c.household_id)),
            sa.func.coalesce(sa.func.sum(s.c.people_helped), 0),
            sa.func.count(sa.distinct(s.c.volunteer_id)),
        )
        .where(*_counted(communes, period))
        .group_by(s.c.commune_code)
    )
    for code, sessions, households, people, volunteers in session.execute(totals):
        f = out[code]
        f.sessions, f.households, f.people, f.volunteers = sessions, households, people, volunteers
    if per_service:
        _count_lines(session, out, communes, period)
    else:
        _sum_days(session, out, communes, period)
    return out


def reason_key(reason: str | None) -> str:
    """A reason as the reports group it: one of REASONS, anything else is "other"."""
    return reason if reason in REASONS else "other"


def _count_lines(
    session: Session, out: dict[str, Figures], communes: Sequence[str], period: Period
) -> None:
    s, ln, sv = T_SESSION, T_LINE, T_SERVICE
    has_dossier = sa.case(
        (sa.and_(ln.c.dossier_code.is_not(None), ln.c.dossier_code != ""), 1), else_=0
    )
    lines = (
        sa.select(
            s.c.commune_code,
            sv.c.skill,
            ln.c.service_code,
            ln.c.outcome,
            ln.c.reason,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(has_dossier), 0),
        )
        .select_from(s.join(ln, ln.c.session_id == s.c.id).join(sv, sv.c.code == ln.c.service_code))
        .where(*_counted(communes, period))
        .group_by(s.c.commune_code, sv.c.skill, ln.c.service_code, ln.c.outcome, ln.c.reason)
    )
    for code, skill, service, outcome, reason, n, dossiers in session.execute(lines):
        f = out[code]
        f.lines += n
        f.dossiers += dossiers
        tally = f.services.setdefault(service, ServiceTally(service, skill))
        tally.total += n
        if outcome == Outcome.done:
            f.done += n
            tally.done += n
            f.done_by_skill[skill] = f.done_by_skill.get(skill, 0) + n
        elif outcome in NOT_DONE:
            key = (outcome, reason_key(reason))
            f.reasons[key] = f.reasons.get(key, 0) + n


def _sum_days(
    session: Session, out: dict[str, Figures], communes: Sequence[str], period: Period
) -> None:
    d = T_DAILY
    names = ["lines", "done", "dossiers"]
    names += [f"done_{skill}" for skill in SKILLS]
    names += [f"{outcome}_{reason}" for outcome in NOT_DONE for reason in REASONS]
    scope = (
        d.c.commune_code == communes[0] if len(communes) == 1 else d.c.commune_code.in_(communes)
    )
    stmt = (
        sa.select(d.c.commune_code, *[sa.func.coalesce(sa.func.sum(d.c[n]), 0) for n in names])
        .where(scope, d.c.day >= period.start, d.c.day < period.end)
        .group_by(d.c.commune_code)
    )
    for code, *values in session.execute(stmt):
        v = dict(zip(names, values, strict=True))
        f = out[code]
        f.lines, f.done, f.dossiers = v["lines"], v["done"], v["dossiers"]
        f.done_by_skill = {k: v[f"done_{k}"] for k in SKILLS if v[f"done_{k}"]}
        f.reasons = {(o, r): v[f"{o}_{r}"] for o in NOT_DONE for r in REASONS if v[f"{o}_{r}"]}


def follow_ups(session: Session, communes: Sequence[str], today: date) -> dict[str, FollowUps]:
    """Follow-ups not yet done, as of today, per commune; overdue ones were due before today."""
    out = {code: FollowUps() for code in communes}
    if not communes:
        return out
    s = T_SESSION
    overdue = sa.case((s.c.follow_up_on < today, 1), else_=0)
    stmt = (
        sa.select(s.c.commune_code, sa.func.count(), sa.func.coalesce(sa.func.sum(overdue), 0))
        .where(
            _scope(communes),
            s.c.follow_up_on.is_not(None),
            s.c.follow_up_done_at.is_(None),
            s.c.deleted_at.is_(None),
        )
        .group_by(s.c.commune_code)
    )
    for code, n, late in session.execute(stmt):
        out[code] = FollowUps(n, late)
    return out


def _week_index(dialect: str) -> sa.ColumnElement[int]:
    """The ISO week (counted from 1970) of a session in Vietnam's time, as an integer."""
    at = "assistance_session.occurred_at"
    if dialect == "sqlite":
        day = f"(CAST(strftime('%s', {at}) AS INTEGER) + {UTC_OFFSET}) / 86400"
    else:
        day = f"CAST(floor((extract(epoch FROM {at}) + {UTC_OFFSET}) / 86400) AS INTEGER)"
    return sa.literal_column(f"(({day}) + 3) / 7", sa.Integer)


def monday_of_week(index: int) -> date:
    return EPOCH + timedelta(days=7 * index - 3)


def weekly(session: Session, commune: str, period: Period) -> list[tuple[date, int]]:
    """Sessions per ISO week (its Monday), every week the period touches, zeros included."""
    week = _week_index(session.get_bind().dialect.name).label("week")
    sub = sa.select(week).where(*_counted([commune], period)).subquery()
    counts = {
        int(w): n
        for w, n in session.execute(sa.select(sub.c.week, sa.func.count()).group_by(sub.c.week))
    }
    first = week_of(period.start).start
    out = []
    monday = first
    while monday < period.end:
        index = ((monday - EPOCH).days + 3) // 7
        out.append((monday, counts.get(index, 0)))
        monday += timedelta(days=7)
    return out


# --- Villages and coverage -----------------------------------------------------------------------


@dataclass
class VillageRow:
    id: uuid.UUID | None  # None: sessions without a village
    name: str
    merged: list[str] = field(default_factory=list)  # names of villages merged into this one
    sessions: int = 0
    households_helped: int = 0
    people: int = 0
    households: int = 0  # households on record
    coverage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIVE_SKILLS, 0))


def _rolled_up(column: sa.ColumnElement, roots: dict[uuid.UUID, uuid.UUID]) -> sa.ColumnElement:
    merged = [(vid, root) for vid, root in roots.items() if vid != root]
    if not merged:
        return column
    return sa.case(
        *[(column == vid, sa.literal(root, column.type)) for vid, root in merged],
        else_=column,
    )


def by_village(session: Session, commune: str, period: Period) -> list[VillageRow]:
    """Sessions, households helped and people per village in the period, and the households on
    record with the skills they now have. Merged villages count in the one they joined."""
    tree = merges(session, commune)
    villages, roots = tree.villages, tree.roots
    rows: dict[uuid.UUID | None, VillageRow] = {}
    for vid, village in sorted(villages.items(), key=lambda kv: kv[1].name_key):
        root = roots[vid]
        if root == vid:
            rows.setdefault(vid, VillageRow(vid, village.name))
    for vid, village in sorted(villages.items(), key=lambda kv: kv[1].name_key):
        if roots[vid] != vid:
            rows[roots[vid]].merged.append(village.name)

    s = T_SESSION
    inner = sa.select(
        _rolled_up(s.c.village_id, roots).label("village"), s.c.household_id, s.c.people_helped
    ).where(*_counted([commune], period))
    sub = inner.subquery()
    stmt = sa.select(
        sub.c.village,
        sa.func.count(),
        sa.func.count(sa.distinct(sub.c.household_id)),
        sa.func.coalesce(sa.func.sum(sub.c.people_helped), 0),
    ).group_by(sub.c.village)
    for vid, n, households, people in session.execute(stmt):
        row = rows.get(vid) or rows.setdefault(vid, VillageRow(vid, ""))
        row.sessions, row.households_helped, row.people = n, households, people

    h = T_HOUSEHOLD
    text = sa.cast(h.c.skills, sa.Text)
    # Household.skills is a JSON list of skill names (plain ASCII words, written with json.dumps):
    # a quoted name inside its text is that skill, on both backends.
    flags = [
        sa.case((text.contains(f'"{skill}"', autoescape=True), 1), else_=0).label(skill)
        for skill in FIVE_SKILLS
    ]
    sub = (
        sa.select(_rolled_up(h.c.village_id, roots).label("village"), *flags)
        .where(h.c.commune_code == commune, h.c.deleted_at.is_(None))
        .subquery()
    )
    stmt = sa.select(
        sub.c.village,
        sa.func.count(),
        *[sa.func.coalesce(sa.func.sum(sub.c[skill]), 0) for skill in FIVE_SKILLS],
    ).group_by(sub.c.village)
    for vid, households, *counts in session.execute(stmt):
        row = rows.get(vid) or rows.setdefault(vid, VillageRow(vid, ""))
        row.households = households
        row.coverage = dict(zip(FIVE_SKILLS, counts, strict=True))
    return [r for r in rows.values() if r.id is not None or r.sessions]


# --- The dashboard and the province roll-up ------------------------------------------------------


@dataclass
class Dashboard:
    commune: Commune
    period: Period
    previous: Period
    today: date
    now: Figures
    before: Figures
    follow_ups: FollowUps
    weeks: list[tuple[date, int]]
    villages: list[VillageRow]
    services: dict[str, Service]

    @property
    def households(self) -> int:
        return sum(v.households for v in self.villages)

    @property
    def coverage(self) -> dict[str, int]:
        return {s: sum(v.coverage.get(s, 0) for v in self.villages) for s in FIVE_SKILLS}


def dashboard(session: Session, commune: Commune, period: Period, today: date) -> Dashboard:
    code = commune.code
    previous = period.compared(today)
    return Dashboard(
        commune=commune,
        period=period,
        previous=previous,
        today=today,
        now=indicators(session, [code], period)[code],
        before=indicators(session, [code], previous, per_service=False)[code],
        follow_ups=follow_ups(session, [code], today)[code],
        weeks=weekly(session, code, period),
        villages=by_village(session, code, period),
        services={s.code: s for s in session.exec(select(Service))},
    )


@dataclass
class CommuneRow:
    commune: Commune
    now: Figures
    before: Figures
    follow_ups: FollowUps
    demo: bool = False  # `langso seed-demo` loaded it: made-up figures


def demo_communes(session: Session, codes: list[str]) -> set[str]:
    """The communes that hold the demo data (seed-demo records a `demo.loaded` event)."""
    if not codes:
        return set()
    found = session.exec(
        select(AuditEvent.commune_code).where(
            AuditEvent.action == "demo.loaded", col(AuditEvent.commune_code).in_(codes)
        )
    ).all()
    return {c for c in found if c}


def communes_in_use(session: Session, province: str) -> list[Commune]:
    return list(
        session.exec(
            select(Commune)
            .where(Commune.province_code == province, col(Commune.in_use_since).is_not(None))
            .order_by(Commune.name_key, Commune.code)
        ).all()
    )


def rollup(session: Session, province: str, period: Period, today: date) -> list[CommuneRow]:
    """The figures of every commune in use in the province, in name order."""
    communes = communes_in_use(session, province)
    codes = [c.code for c in communes]
    now = indicators(session, codes, period, per_service=False)
    before = indicators(session, codes, period.compared(today), per_service=False)
    due = follow_ups(session, codes, today)
    demo = demo_communes(session, codes)
    return [
        CommuneRow(c, now[c.code], before[c.code], due[c.code], c.code in demo) for c in communes
    ]
