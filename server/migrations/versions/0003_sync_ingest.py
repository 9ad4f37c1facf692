"""sync ingest: fewer indexes to write per session, pulls by commune and seq, and a sync batch
that counts its own lines

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00.000000

- Six indexes of assistance_session go: every session a phone sends wrote each of them, and no
  query needs them. commune_code is the prefix of commune_period; the queries that filter on
  occurred_at, village_id, volunteer_id, review_state or follow_up_on all name the commune too
  and are served by commune_period, open_follow_up or household_id.
- Sessions and households are pulled by commune and seq (server/sync/shapes.py, pull()). With
  an index on each alone, SQLite chose the commune one and sorted all of a commune's rows at
  every sync. An index on (commune_code, seq) replaces the one on seq, and for households the
  one on commune_code too (its prefix).
- line_count_batch: while a sync batch writes its sessions and lines, it holds a row here. The
  triggers of daily_line_count skip rows then, and the batch adds what it changed with one
  statement per commune and day (server/line_counts.py). Nothing else writes the table, so
  every other writer (review, erasure, the demo seed, SQL by hand) still goes through the
  triggers. Only the writing transaction ever sees its row: it is deleted before commit.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Single-column indexes dropped; each of these tables gets one on (commune_code, seq) instead.
DROPPED = {
    "assistance_session": (
        "commune_code",
        "occurred_at",
        "village_id",
        "volunteer_id",
        "review_state",
        "follow_up_on",
        "seq",
    ),
    "household": ("commune_code", "seq"),
}
BATCH_OPEN = "EXISTS (SELECT 1 FROM line_count_batch)"
SQLITE_TRIGGERS = ("line_insert", "line_delete", "line_update")
SQLITE_TRIGGERS += ("session_insert", "session_delete", "session_update")


def _v0002() -> ModuleType:
    """Migration 0002, for the statements its triggers run (frozen there, so shared here)."""
    path = Path(__file__).with_name("0002_api_tokens.py")
    spec = importlib.util.spec_from_file_location("migration_0002", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sqlite_triggers(v2: ModuleType) -> list[str]:
    """0002's triggers, each skipping rows while a sync batch counts its own lines."""
    d, changed = "sqlite", v2.CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    line, session = v2._line, v2._session
    each = [
        ("line_insert", "INSERT ON session_service", "", [line("NEW", 1, d)]),
        ("line_delete", "DELETE ON session_service", "", [line("OLD", -1, d)]),
        ("line_update", "UPDATE ON session_service", "", [line("OLD", -1, d), line("NEW", 1, d)]),
        ("session_insert", "INSERT ON assistance_session", "", [session("NEW", 1, d)]),
        ("session_delete", "DELETE ON assistance_session", "", [session("OLD", -1, d)]),
        (
            "session_update",
            "UPDATE OF commune_code, occurred_at, deleted_at ON assistance_session",
            f"({changed}) AND ",
            [session("OLD", -1, d), session("NEW", 1, d)],
        ),
    ]
    return [
        f"CREATE TRIGGER daily_line_count_{name} AFTER {event} "
        f"WHEN {when}NOT {BATCH_OPEN} BEGIN {'; '.join(body)}; END"
        for name, event, when, body in each
    ]


def _postgresql_triggers(v2: ModuleType) -> list[str]:
    """0002's trigger functions, returning at once while a sync batch counts its own lines
    (a trigger's WHEN cannot hold a subquery on PostgreSQL)."""
    skip = f"IF {BATCH_OPEN} THEN RETURN NULL; END IF; "
    out = []
    for statement in v2._postgresql_triggers():
        if statement.startswith("CREATE FUNCTION"):
            assert "AS $$ BEGIN " in statement
            statement = statement.replace("AS $$ BEGIN ", f"AS $$ BEGIN {skip}", 1)
        out.append(statement)
    return out


def _drop_triggers() -> None:
    """The triggers (and on PostgreSQL their functions): 0002 and this migration use one set of
    names."""
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS daily_line_count_{name}")
        return
    for name, table in (("line", "session_service"), ("session", "assistance_session")):
        op.execute(f"DROP TRIGGER IF EXISTS daily_line_count_{name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS daily_line_count_of_{name}()")


def upgrade() -> None:
    v2 = _v0002()
    op.create_table(
        "line_count_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_count_batch")),
    )
    for table, columns in DROPPED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(f"ix_{table}_{column}")
            batch_op.create_index(f"ix_{table}_commune_seq", ["commune_code", "seq"])
    _drop_triggers()
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _sqlite_triggers(v2) if sqlite else _postgresql_triggers(v2):
        op.execute(statement)


def downgrade() -> None:
    v2 = _v0002()
    _drop_triggers()
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in v2._sqlite_triggers() if sqlite else v2._postgresql_triggers():
        op.execute(statement)
    for table, columns in DROPPED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_commune_seq")
            for column in columns:
                batch_op.create_index(f"ix_{table}_{column}", [column], unique=False)
    op.drop_table("line_count_batch")
