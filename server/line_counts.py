"""daily_line_count for a sync batch: the batch adds what it changed itself, one row per commune
and day, instead of a trigger firing for every session and every line it writes.

The triggers of migrations 0002 and 0003 keep the table for every other writer. While a batch
holds a `line_count_batch` row they skip the rows it writes; `Tally` counts exactly what they
would have counted: every line of a session that is not deleted, in the commune and local day
of the session, `done_<skill>` by the service's skill, a reason that is not one of the known
ones as "other". tests/test_line_counts.py checks the table against a recount after every kind
of write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from .i18n import TZ
from .models import DailyLineCount, LineCountBatch

T_DAILY: sa.Table = DailyLineCount.__table__  # type: ignore[attr-defined]
T_BATCH: sa.Table = LineCountBatch.__table__  # type: ignore[attr-defined]
KEY = ("commune_code", "day")
COUNTS = tuple(c.name for c in T_DAILY.columns if c.name not in KEY)
_AT = {name: i for i, name in enumerate(COUNTS)}


class Tally:
    """What a batch adds to (or takes from) daily_line_count, per commune and local day."""

    def __init__(self, skills: Mapping[str, str]) -> None:
        self.skills = skills  # service code → skill, for every service of the catalogue
        self.days: dict[tuple[str, date], list[int]] = {}
        self._terms: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def add(
        self,
        commune: str,
        occurred_at: datetime,
        lines: Iterable[Mapping[str, Any]],
        sign: int = 1,
    ) -> None:
        """Count the lines of a session that is not deleted (sign -1: take them away)."""
        counts = None
        for line in lines:
            key = (line["service"], line["outcome"], line["reason"], bool(line["dossier_code"]))
            terms = self._terms.get(key)
            if terms is None:
                terms = self._terms[key] = self._columns(*key)
            if counts is None:
                # Vietnam has kept UTC+7 since 1975: the triggers' date(…, '+7 hours') agrees.
                day = occurred_at.astimezone(TZ).date()
                counts = self.days.setdefault((commune, day), [0] * len(COUNTS))
            for i in terms:
                counts[i] += sign

    def _columns(
        self, service: str, outcome: str, reason: str | None, filed: bool
    ) -> tuple[int, ...]:
        names = ["lines"]
        if filed:
            names.append("dossiers")
        if outcome == "done":
            names.append("done")
            names.append(f"done_{self.skills.get(service)}")
        elif f"{outcome}_other" in _AT:
            names.append(
                f"{outcome}_{reason}" if f"{outcome}_{reason}" in _AT else f"{outcome}_other"
            )
        return tuple(_AT[name] for name in names if name in _AT)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"commune_code": commune, "day": day, **dict(zip(COUNTS, counts, strict=True))}
            for (commune, day), counts in sorted(self.days.items())
            if any(counts)
        ]

    def write(self, session: Session) -> None:
        rows = self.rows()
        if not rows:
            return
        conn = session.connection()
        if conn.dialect.name != "sqlite":
            session.execute(_upsert(conn.dialect.name), rows)
            return
        # SQLite: the compiled statement with plain tuples; SQLAlchemy's work per row and column
        # (26 of them) cost more than the upsert itself.
        sql, order, day = _sqlite_upsert()
        conn.exec_driver_sql(
            sql,
            [tuple(day(row[n]) if n == "day" else row[n] for n in order) for row in rows],  # type: ignore[arg-type]
        )


@cache
def _upsert(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO UPDATE that adds to the day's counts (built once: 24 columns)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(T_DAILY)
    return insert.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: T_DAILY.c[name] + insert.excluded[name] for name in COUNTS},
    )


@cache
def _sqlite_upsert() -> tuple[str, list[str], Callable[[date], Any]]:
    """_upsert for SQLite as SQL text, the order of its parameters, and how a day is bound."""
    dialect = sqlite.dialect()
    compiled = _upsert("sqlite").compile(
        dialect=dialect, column_keys=[*KEY, *COUNTS], for_executemany=True
    )
    order = list(compiled.positiontup or ())
    process = T_DAILY.c.day.type.dialect_impl(dialect).bind_processor(dialect)
    return compiled.string, order, process or (lambda value: value)


# Built once: every sync batch runs both.
_HOLD = sa.insert(T_BATCH).values(id=sa.bindparam("marker"))
_RELEASE = sa.delete(T_BATCH).where(T_BATCH.c.id == sa.bindparam("marker"))


@contextmanager
def counted_by_batch(session: Session, skills: Mapping[str, str]) -> Iterator[Tally]:
    """Hold a line_count_batch row while the body writes sessions and lines, then add the tally
    the body made. On an error the row stays in the transaction, which the caller rolls back
    (Database.write does); nothing commits it."""
    marker = {"marker": uuid.uuid4()}
    session.execute(_HOLD, marker)
    tally = Tally(skills)
    yield tally
    tally.write(session)
    session.execute(_RELEASE, marker)
