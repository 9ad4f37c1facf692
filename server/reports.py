"""Indicators for the coordinator's dashboard, the province roll-up and the LGSP API.

Plain functions over a Session. A period is a range of local dates [start, end) in Vietnam's
time; its bounds become UTC instants for the queries. Counting happens in SQL (GROUP BY) with
the same results on SQLite and PostgreSQL. Deleted sessions never count; a village merged into
another counts as the one it was merged into.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from .i18n import TZ, gettext, lazy
from .models import (
    AssistanceSession,
    Commune,
    DailyLineCount,
    Household,
    Outcome,
    Service,
    SessionService,
    Skill,
    Village,
)

T_SESSION: sa.Table = AssistanceSession.__table__  # type: ignore[attr-defined]
T_LINE: sa.Table = SessionService.__table__  # type: ignore[attr-defined]
T_SERVICE: sa.Table = Service.__table__  # type: ignore[attr-defined]
T_HOUSEHOLD: sa.Table = Household.__table__  # type: ignore[attr-defined]
T_DAILY: sa.Table = DailyLineCount.__table__  # type: ignore[attr-defined]

# The five basic digital skills a household can gain (Household.skills).
FIVE_SKILLS: tuple[str, ...] = (
    Skill.public_services,
    Skill.shopping,
    Skill.payment,
    Skill.safety,
    Skill.local_platforms,
)
# Every group of the service catalogue, in the order the console shows them.
SKILLS: dict[str, str] = {
    Skill.vneid: lazy("VNeID"),
    Skill.public_services: lazy("Online public services"),
    Skill.social_insurance: lazy("Social and health insurance"),
    Skill.payment: lazy("Paying online"),
    Skill.shopping: lazy("Shopping online"),
    Skill.safety: lazy("Staying safe online"),
    Skill.local_platforms: lazy("Commune platforms"),
}
OUTCOMES: dict[str, str] = {
    Outcome.done: lazy("Done"),
    Outcome.not_finished: lazy("Not finished"),
    Outcome.could_not: lazy("Could not"),
}
REASONS: dict[str, str] = {
    "missing_papers": lazy("Missing papers"),
    "no_smartphone": lazy("No smartphone"),
    "no_signal": lazy("No signal"),
    "system_error": lazy("System error"),
    "needs_police": lazy("Needs the police"),
    "other": lazy("Other"),
}
NOT_DONE = (Outcome.not_finished, Outcome.could_not)

MAX_DAYS = 731  # a custom period of at most two years
MIN_YEAR, MAX_YEAR = 2000, 2100
# Vietnam has kept UTC+7, without daylight saving, since 1975: a local day is a fixed shift.
UTC_OFFSET = 7 * 3600
EPOCH = date(1970, 1, 1)  # a Thursday: ISO week w starts on EPOCH + 7w - 3 days


# --- Periods ------------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period that cannot be read; `fields` maps the parameter to a translated message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.fields = fields


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), TZ).astimezone(UTC)


def today_in_vietnam() -> date:
    return datetime.now(TZ).date()


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    kind: str  # week | month | quarter | custom
    start: date
    end: date  # the day after the last one

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def key(self) -> str | None:
        """How the API and links name this period: 2026-10, 2026-Q4, 2026-W40."""
        if self.kind == "month":
            return f"{self.start.year:04d}-{self.start.month:02d}"
        if self.kind == "quarter":
            return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year:04d}-W{week:02d}"
        return None

    def previous(self) -> Period:
        """The period just before: the month, quarter or week before, or as many days before."""
        if self.kind == "month":
            return month_of(_add_months(self.start, -1))
        if self.kind == "quarter":
            return quarter_of(_add_months(self.start, -3))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start)

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants [start, end)."""
        return _utc(self.start), _utc(self.end)

    def query(self) -> dict[str, str]:
        """The GET parameters that name this period."""
        if self.key:
            return {"period": self.key}
        return {"period": "custom", "from": self.start.isoformat(), "to": self.last.isoformat()}


def month_of(day: date) -> Period:
    start = day.replace(day=1)
    return Period("month", start, _add_months(start, 1))


def quarter_of(day: date) -> Period:
    start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return Period("quarter", start, _add_months(start, 3))


def week_of(day: date) -> Period:
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=7))


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_WEEK = re.compile(r"^(\d{4})-[Ww](\d{1,2})$")


def _year(value: str, name: str) -> int:
    year = int(value)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError({name: gettext("Choose a year between 2000 and 2100.")})
    return year


def _day(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise PeriodError({name: gettext("Enter a date like 2026-10-31.")}) from e
    _year(str(day.year), name)
    return day


def parse_period(params: Mapping[str, str], today: date) -> Period:
    """Read `period` (week, month, quarter, custom, 2026-10, 2026-Q4, 2026-W40) or `from` and
    `to` (dates, both included). Without either: this month."""
    kind = (params.get("period") or "").strip()
    start_raw = (params.get("from") or "").strip()
    end_raw = (params.get("to") or "").strip()
    if kind == "custom" or (not kind and (start_raw or end_raw)):
        errors = {}
        if not start_raw:
            errors["from"] = gettext("Enter the first day.")
        if not end_raw:
            errors["to"] = gettext("Enter the last day.")
        if errors:
            raise PeriodError(errors)
        start, last = _day(start_raw, "from"), _day(end_raw, "to")
        if last < start:
            raise PeriodError({"to": gettext("The last day comes before the first day.")})
        if (last - start).days + 1 > MAX_DAYS:
            raise PeriodError({"to": gettext("Choose at most two years.")})
        return Period("custom", start, last + timedelta(days=1))
    if kind in ("", "month"):
        return month_of(today)
    if kind == "week":
        return week_of(today)
    if kind == "quarter":
        return quarter_of(today)
    if m := _MONTH.match(kind):
        month = int(m.group(2))
        if 1 <= month <= 12:
            return month_of(date(_year(m.group(1), "period"), month, 1))
    elif m := _QUARTER.match(kind):
        return quarter_of(date(_year(m.group(1), "period"), int(m.group(2)) * 3, 1))
    elif m := _WEEK.match(kind):
        try:
            monday = date.fromisocalendar(_year(m.group(1), "period"), int(m.group(2)), 1)
        except ValueError:
            pass
        else:
            return week_of(monday)
    raise PeriodError({"period": gettext("Choose a week, a month, a quarter or two dates.")})


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


def village_roots(session: Session, commune: str) -> tuple[dict[uuid.UUID, Village], dict]:
    """The commune's villages, and for each the village it now counts as (following merges)."""
    villages = {
        v.id: v for v in session.exec(select(Village).where(Village.commune_code == commune))
    }
    roots: dict[uuid.UUID, uuid.UUID] = {}
    for vid in villages:
        seen, current = {vid}, vid
        while (nxt := villages[current].merged_into_id) is not None and nxt in villages:
            if nxt in seen:  # a loop should not exist; stop rather than spin
                break
            seen.add(nxt)
            current = nxt
        roots[vid] = current
    return villages, roots


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
    villages, roots = village_roots(session, commune)
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
    previous = period.previous()
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
    before = indicators(session, codes, period.previous(), per_service=False)
    due = follow_ups(session, codes, today)
    return [CommuneRow(c, now[c.code], before[c.code], due[c.code]) for c in communes]
