"""The tables sync reads and writes, the sync counter, and the bulk INSERTs a batch writes
with: one statement per table, SQLAlchemy writing the SQL and each value converted by its
column type's own bind processor, but without SQLAlchemy's bookkeeping per row, which was the
largest cost of a 200-op batch (bench/sync_ingest.py). SQLite gets an executemany, PostgreSQL
a COPY; claiming op ids is one INSERT … ON CONFLICT DO NOTHING RETURNING on both. `lookup`
reads rows by a list of keys with one statement whose text never changes (the keys as one
JSON array on SQLite, one array on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ..db import UTCDateTime
from ..models import (
    AppliedOp,
    AssistanceSession,
    Counter,
    Household,
    RecordHistory,
    Service,
    SessionService,
    Village,
)

COUNTER = "sync"

T_SESSION: sa.Table = AssistanceSession.__table__  # type: ignore[attr-defined]
T_LINE: sa.Table = SessionService.__table__  # type: ignore[attr-defined]
T_HOUSEHOLD: sa.Table = Household.__table__  # type: ignore[attr-defined]
T_VILLAGE: sa.Table = Village.__table__  # type: ignore[attr-defined]
T_SERVICE: sa.Table = Service.__table__  # type: ignore[attr-defined]
T_HISTORY: sa.Table = RecordHistory.__table__  # type: ignore[attr-defined]
T_OP: sa.Table = AppliedOp.__table__  # type: ignore[attr-defined]
T_COUNTER: sa.Table = Counter.__table__  # type: ignore[attr-defined]


def insert(session: Session, table: sa.Table) -> Any:
    """INSERT for the session's dialect, with its ON CONFLICT clauses."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# --- The counter -------------------------------------------------------------------------------


# Built once: a batch runs each of them.
_COUNTER = sa.select(T_COUNTER.c.value).where(T_COUNTER.c.name == COUNTER)
_LOCK = _COUNTER.with_for_update()
_SET = sa.update(T_COUNTER).where(T_COUNTER.c.name == COUNTER).values(value=sa.bindparam("v"))


def lock_counter(session: Session) -> int:
    """The current value of the sync counter, locked until the transaction ends."""
    value = session.execute(_LOCK).scalar()
    if value is None:
        session.execute(
            insert(session, T_COUNTER).values(name=COUNTER, value=0).on_conflict_do_nothing()
        )
        value = session.execute(_LOCK).scalar_one()
    return int(value)


def set_counter(session: Session, value: int) -> None:
    session.execute(_SET, {"v": value})


def current_cursor(session: Session) -> int:
    value = session.execute(_COUNTER).scalar()
    return int(value or 0)


def next_seqs(session: Session, n: int = 1) -> int:
    """Take `n` seqs for records changed outside a sync batch; returns the first one."""
    top = lock_counter(session) + n
    set_counter(session, top)
    return top - n + 1


# --- Bulk statements ---------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Compact, unescaped JSON text (orjson: a tenth of the time of json.dumps per history row)."""
    return orjson.dumps(value).decode()


Convert = Callable[[list[Any]], list[Any]]


def _default(column: sa.Column[Any]) -> Callable[[int], list[Any]]:
    """The values of a column left out of the rows: its Python-side default, as SQLAlchemy
    would fill it in."""
    default = column.default
    if default is None:
        return lambda n: [None] * n
    if default.is_scalar:
        value = default.arg  # type: ignore[attr-defined]
        return lambda n: [value] * n
    if default.is_callable:
        make = default.arg  # type: ignore[attr-defined]
        return lambda n: [make(None) for _ in range(n)]
    raise RuntimeError(f"{column} has a default that a bulk insert cannot compute")


def _utc_text(value: datetime | None) -> str | None:
    """An aware time as UTCDateTime writes it on SQLite: naive UTC, microseconds."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# Compared with SQLAlchemy's own conversion before _utc_text stands in for it.
_TIME_SAMPLES = (
    datetime(2026, 12, 2, 4, 5, 6, 789, tzinfo=UTC),
    datetime(2026, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=7))),
    datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC),
)


def _converter(column: sa.Column[Any], dialect: sa.Dialect) -> Convert | None:
    """A column's values as the driver takes them, by the column type's own bind processor."""
    impl = column.type.dialect_impl(dialect)
    if isinstance(impl, sa.JSON):  # written compact and unescaped
        return lambda values: [dumps(v) for v in values]
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    if isinstance(impl, sa.Uuid):  # record ids never repeat: no cache to look up
        sample = uuid.uuid4()
        if process(sample) == sample.hex:  # SQLite: 32 hex digits, without a call per value
            return lambda values: [None if v is None else v.hex for v in values]
        return lambda values: [None if v is None else process(v) for v in values]

    if isinstance(column.type, UTCDateTime) and all(
        process(sample) == _utc_text(sample) for sample in _TIME_SAMPLES
    ):  # SQLite's text, in a third of the time of SQLAlchemy's two steps
        process = _utc_text

    def convert(values: list[Any]) -> list[Any]:
        # Members, times and flags repeat within a batch: convert each distinct value once.
        seen: dict[Any, Any] = {}
        return [seen[v] if v in seen else seen.setdefault(v, process(v)) for v in values]

    return convert


class _Bulk:
    """An INSERT of `names` into `table` for one dialect: its SQL, and how to make each
    column's values (given, or the column's default)."""

    def __init__(self, table: sa.Table, names: tuple[str, ...], dialect: sa.Dialect) -> None:
        compiled = sa.insert(table).compile(
            dialect=dialect, column_keys=list(names), for_executemany=True
        )
        self.order = list(compiled.positiontup or compiled.bind_names.values())
        self.sql = compiled.string
        self.given = [name in names for name in self.order]
        self.convert = [_converter(table.c[name], dialect) for name in self.order]
        self.defaults = {name: _default(table.c[name]) for name in self.order if name not in names}
        quote = dialect.identifier_preparer.quote
        self.into = f"{quote(table.name)} ({', '.join(quote(n) for n in self.order)})"
        # PostgreSQL: the type of each column, to read it from an array (see insert_new).
        self.types = [table.c[name].type.compile(dialect=dialect) for name in self.order]

    def columns(self, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
        out = []
        for name, given, convert in zip(self.order, self.given, self.convert, strict=True):
            values = [row[name] for row in rows] if given else self.defaults[name](len(rows))
            out.append(convert(values) if convert is not None else values)
        return out


_BULK: dict[tuple[str, str, tuple[str, ...]], _Bulk] = {}


def _bulk(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> _Bulk:
    names = tuple(rows[0])
    key = (conn.dialect.name, table.name, names)
    if key not in _BULK:
        _BULK[key] = _Bulk(table, names, conn.dialect)
    return _BULK[key]


def bulk_insert(s: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys): on SQLite one executemany; on PostgreSQL a
    COPY, which psycopg streams without the work it does for each statement of an executemany
    (most of a batch's time there)."""
    conn = s.connection()
    bulk = _bulk(conn, table, rows)
    rows_out = zip(*bulk.columns(rows), strict=True)
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {bulk.into} FROM STDIN") as copy:
            for row in rows_out:
                copy.write_row(row)
    else:
        conn.exec_driver_sql(bulk.sql, list(rows_out))  # type: ignore[arg-type]


def insert_new(s: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
    """INSERT `rows` … ON CONFLICT (key) DO NOTHING in one statement; returns the `key` of the
    rows the database took, as the driver gives them (see `driver_values`)."""
    conn = s.connection()
    bulk = _bulk(conn, table, rows)
    quote = conn.dialect.identifier_preparer.quote
    tail = f" ON CONFLICT ({quote(key)}) DO NOTHING RETURNING {quote(key)}"
    columns = bulk.columns(rows)
    if conn.dialect.name == "postgresql":
        # One array per column: psycopg would parse a VALUES list of 1,400 placeholders anew
        # for every batch (too long for its cache of queries).
        arrays = ", ".join(f"%s::{t}[]" for t in bulk.types)
        sql = f"INSERT INTO {bulk.into} SELECT * FROM unnest({arrays}){tail}"
        return set(conn.exec_driver_sql(sql, tuple(columns)).scalars())
    values = list(zip(*columns, strict=True))
    marks = "(" + ", ".join("?" * len(bulk.order)) + ")"
    taken: set[Any] = set()
    for start in range(0, len(values), 500):  # far below SQLite's limit of parameters
        chunk = values[start : start + 500]
        sql = f"INSERT INTO {bulk.into} VALUES {', '.join([marks] * len(chunk))}{tail}"
        taken.update(conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row)).scalars())
    return taken


def driver_values(s: Session, table: sa.Table, name: str, values: list[Any]) -> list[Any]:
    """`values` of a column as the driver gives them back (SQLite: UUIDs as 32 hex digits)."""
    convert = _converter(table.c[name], s.connection().dialect)
    return convert(values) if convert is not None else values


# --- Looking records up by key -----------------------------------------------------------------


def _result(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    impl = column.type.dialect_impl(dialect)
    process = impl.result_processor(dialect, None)
    return process if process is not None else (lambda value: value)


def lookup(
    s: Session, key: sa.Column[Any], keys: Collection[Any], *columns: sa.Column[Any]
) -> dict[Any, tuple[Any, ...]]:
    """The rows whose `key` is among `keys`, as {key as given: (columns…)}, by one statement
    whose text never changes: the keys travel as one JSON array (SQLite, json_each) or one
    array (PostgreSQL, = ANY), where an IN list would be built, rendered and bound anew for
    each batch (SQLAlchemy took six times as long as SQLite for 200 ids). Each column's value
    is converted by its type, as a select would."""
    if not keys:
        return {}
    conn = s.connection()
    dialect = conn.dialect
    given = list(keys)
    back = dict(zip(driver_values(s, key.table, key.name, given), given, strict=True))  # type: ignore[arg-type]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in (key, *columns))
    table = quote(key.table.name)  # type: ignore[attr-defined]
    if dialect.name == "postgresql":
        kind = key.type.compile(dialect=dialect)
        sql = f"SELECT {names} FROM {table} WHERE {quote(key.name)} = ANY(%s::{kind}[])"
        param: Any = list(back)
    else:
        each = "(SELECT value FROM json_each(?))"
        sql = f"SELECT {names} FROM {table} WHERE {quote(key.name)} IN {each}"
        param = orjson.dumps(list(back)).decode()
    convert = [_result(c, dialect) for c in columns]
    out = {}
    for found, *values in conn.exec_driver_sql(sql, (param,)):
        out[back[found]] = tuple(f(v) for f, v in zip(convert, values, strict=True))
    return out
