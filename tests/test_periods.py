"""Periods: read from a query or a form, named, bounded in Vietnam's time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from server import periods


def test_previous_period() -> None:
    assert periods.month_of(date(2026, 10, 15)).previous() == periods.Period(
        "month", date(2026, 9, 1), date(2026, 10, 1)
    )
    jan = periods.month_of(date(2027, 1, 9))
    assert jan.previous().start == date(2026, 12, 1)
    q1 = periods.quarter_of(date(2027, 2, 1))
    assert (q1.previous().start, q1.previous().end) == (date(2026, 10, 1), date(2027, 1, 1))
    week = periods.week_of(date(2026, 10, 7))  # a Wednesday
    assert (week.start, week.previous().start) == (date(2026, 10, 5), date(2026, 9, 28))
    custom = periods.Period("custom", date(2026, 10, 10), date(2026, 10, 20))
    assert custom.previous() == periods.Period("custom", date(2026, 9, 30), date(2026, 10, 10))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, periods.month_of(date(2026, 10, 15))),
        ({"period": "week"}, periods.week_of(date(2026, 10, 15))),
        ({"period": "quarter"}, periods.quarter_of(date(2026, 10, 15))),
        ({"period": "2026-02"}, periods.month_of(date(2026, 2, 1))),
        ({"period": "2026-Q1"}, periods.quarter_of(date(2026, 1, 1))),
        ({"period": "2026-W01"}, periods.week_of(date(2025, 12, 29))),
        (
            {"period": "custom", "from": "2026-10-01", "to": "2026-10-10"},
            periods.Period("custom", date(2026, 10, 1), date(2026, 10, 11)),
        ),
        (
            {"from": "2026-10-01", "to": "2026-10-01"},
            periods.Period("custom", date(2026, 10, 1), date(2026, 10, 2)),
        ),
        ({"period": "month", "from": "", "to": ""}, periods.month_of(date(2026, 10, 15))),
    ],
)
def test_periods_are_read(params: dict[str, str], expected: periods.Period) -> None:
    period = periods.parse_period(params, date(2026, 10, 15))
    assert period == expected
    assert periods.parse_period(period.query(), date(2020, 1, 1)) == period


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "yesterday"}, "period"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-W60"}, "period"),
        ({"period": "1900-01"}, "period"),
        ({"period": "custom"}, "from"),
        ({"from": "2026-10-10", "to": "2026-10-01"}, "to"),
        ({"from": "2026-10-10"}, "to"),
        ({"from": "10/10/2026", "to": "2026-10-11"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "9999-01-01", "to": "9999-01-02"}, "from"),
    ],
)
def test_bad_periods_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(periods.PeriodError) as e:
        periods.parse_period(params, date(2026, 10, 15))
    assert field in e.value.fields


@given(st.dictionaries(st.sampled_from(["period", "from", "to"]), st.text(max_size=20)))
def test_any_period_text_is_read_or_refused(params: dict[str, str]) -> None:
    try:
        period = periods.parse_period(params, date(2026, 10, 15))
    except periods.PeriodError as e:
        assert e.fields
    else:
        assert 1 <= period.days <= periods.MAX_DAYS


def test_bounds_are_midnight_in_vietnam() -> None:
    low, high = periods.month_of(date(2026, 10, 15)).bounds()
    assert low == datetime(2026, 9, 30, 17, tzinfo=UTC)
    assert high == datetime(2026, 10, 31, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "slug"),
    [
        (periods.month_of(date(2026, 3, 9)), "2026-03"),
        (periods.quarter_of(date(2026, 11, 1)), "2026-Q4"),
        (periods.Period("custom", date(2026, 3, 1), date(2026, 3, 16)), "2026-03-01_2026-03-15"),
    ],
)
def test_file_names_say_the_period(period: periods.Period, slug: str) -> None:
    assert period.slug == slug


def test_a_list_filter_may_be_open_on_either_side() -> None:
    at = sa.column("at", sa.DateTime(timezone=True))
    assert periods.parse_days("", "") == periods.Days()
    assert periods.Days().where(at) == []
    days = periods.parse_days(" 2026-10-01 ", "2026-10-01")
    low, high = (c.right.value for c in days.where(at))
    assert (low, high) == (
        datetime(2026, 9, 30, 17, tzinfo=UTC),
        datetime(2026, 10, 1, 17, tzinfo=UTC),
    )
    only_end = periods.parse_days("", "2026-10-31").where(at)
    assert len(only_end) == 1 and only_end[0].operator.__name__ == "lt"


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field"),
    [("2026-10-02", "2026-10-01", "to"), ("hôm qua", "", "from"), ("", "31/10/2026", "to")],
)
def test_a_bad_list_filter_names_the_field(raw_from: str, raw_to: str, field: str) -> None:
    with pytest.raises(periods.PeriodError) as e:
        periods.parse_days(raw_from, raw_to)
    assert list(e.value.fields) == [field]
