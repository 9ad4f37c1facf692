"""Periods of local days in Vietnam's time: the weeks, months, quarters and custom ranges of the
dashboard, the exports and the API, and the optional date filters of the console's lists. The one
place that reads them from a query and turns them into bounds for `occurred_at` or `at`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .accounts import InvalidInput
from .i18n import TZ, gettext

MAX_DAYS = 731  # a custom period of at most two years
MIN_YEAR, MAX_YEAR = 2000, 2100  # far dates overflow when turned into UTC


class PeriodError(InvalidInput):
    """A period that cannot be read; `fields` maps the parameter to a translated message."""


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), TZ).astimezone(UTC)


def today_in_vietnam() -> date:
    return datetime.now(TZ).date()


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _where(column: Any, low: date | None, high: date | None) -> list[Any]:
    """Conditions on a UTC column for the local days [low, high); None leaves that side open."""
    out = []
    if low is not None:
        out.append(column >= _utc(low))
    if high is not None:
        out.append(column < _utc(high))
    return out


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

    @property
    def slug(self) -> str:
        """For file names: the key, else 2026-03-01_2026-03-15."""
        return self.key or f"{self.start.isoformat()}_{self.last.isoformat()}"

    def previous(self) -> Period:
        """The period just before: the month, quarter or week before, or as many days before."""
        if self.kind == "month":
            return month_of(_add_months(self.start, -1))
        if self.kind == "quarter":
            return quarter_of(_add_months(self.start, -3))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start)

    def compared(self, today: date) -> Period:
        """What to set this period beside: the period before, but while this one is still
        running, only as many of its first days as have passed of this one (1–5 December is
        compared with 1–5 November, not with all of November)."""
        before = self.previous()
        if not self.start <= today < self.last:
            return before
        passed = (today - self.start).days + 1
        return Period(
            "custom", before.start, min(before.start + timedelta(days=passed), before.end)
        )

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants [start, end)."""
        return _utc(self.start), _utc(self.end)

    def where(self, column: Any) -> list[Any]:
        return _where(column, self.start, self.end)

    def query(self) -> dict[str, str]:
        """The GET parameters that name this period."""
        if self.key:
            return {"period": self.key}
        return {"period": "custom", "from": self.start.isoformat(), "to": self.last.isoformat()}


@dataclass(frozen=True)
class Days:
    """A list filter: from `first` to `last`, both included; None leaves that side open."""

    first: date | None = None
    last: date | None = None

    def where(self, column: Any) -> list[Any]:
        return _where(column, self.first, self.last + timedelta(days=1) if self.last else None)


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
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _year(value: str, name: str) -> int:
    year = int(value)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError({name: gettext("Choose a year between 2000 and 2100.")})
    return year


def _day(value: str, name: str) -> date:
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError as e:
        raise PeriodError({name: gettext("Enter a date like 2026-10-31.")}) from e
    _year(str(day.year), name)
    return day


def parse_period(params: Mapping[str, str], today: date) -> Period:
    """Read `period` (week, month, quarter, custom, 2026-10, 2026-Q4, 2026-W40) or `from` and
    `to` (dates, both included). Without either: this month."""
    kind = (params.get("period") or "").strip()[:20]
    start_raw = (params.get("from") or "").strip()[:20]
    end_raw = (params.get("to") or "").strip()[:20]
    if kind == "custom" or (not kind and (start_raw or end_raw)):
        errors: dict[str, str] = {}
        days: dict[str, date] = {}
        for name, raw, missing in (
            ("from", start_raw, gettext("Enter the first day.")),
            ("to", end_raw, gettext("Enter the last day.")),
        ):
            if not raw:
                errors[name] = missing
                continue
            try:
                days[name] = _day(raw, name)
            except PeriodError as e:
                errors.update(e.fields)
        if errors:
            raise PeriodError(errors)
        start, last = days["from"], days["to"]
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


def parse_days(raw_from: str, raw_to: str) -> Days:
    """A list filter from two form fields; either may be empty."""
    first = _day(raw_from.strip(), "from") if raw_from.strip() else None
    last = _day(raw_to.strip(), "to") if raw_to.strip() else None
    if first and last and last < first:
        raise PeriodError({"to": gettext("The last day comes before the first day.")})
    return Days(first, last)
