"""api tokens, daily line counts and the indexes of the dashboard

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:12:48.177126

- api_token: keys of the province data warehouse (LGSP); only their SHA-256 is kept.
- daily_line_count: services tried per commune and local day, kept by triggers on
  session_service and assistance_session, so that the province roll-up sums days instead of
  reading a million lines (bench/console_dashboard.py). Filled from the existing lines here.
- two indexes on assistance_session: a commune's period (covering what the dashboard counts) and
  the follow-ups still open.

A later migration that rebuilds assistance_session or session_service (SQLite batch mode copies
the table) drops these triggers: it must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import server.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration must not change when the application's lists do.
SKILLS = (
    "vneid",
    "public_services",
    "social_insurance",
    "payment",
    "shopping",
    "safety",
    "local_platforms",
)
NOT_DONE = ("not_finished", "could_not")
REASONS = ("missing_papers", "no_smartphone", "no_signal", "system_error", "needs_police", "other")
COUNTS = (
    ["lines", "done", "dossiers"]
    + [f"done_{skill}" for skill in SKILLS]
    + [f"{outcome}_{reason}" for outcome in NOT_DONE for reason in REASONS]
)
OPEN_FOLLOW_UP = "follow_up_on IS NOT NULL AND follow_up_done_at IS NULL AND deleted_at IS NULL"


def _terms(line: str) -> list[str]:
    """What one line (a row or alias `line`, its service as `sv`) adds to each count."""
    known = ", ".join(f"'{r}'" for r in REASONS if r != "other")
    reason = f"(CASE WHEN {line}.reason IN ({known}) THEN {line}.reason ELSE 'other' END)"
    terms = [
        "1",
        f"CASE WHEN {line}.outcome = 'done' THEN 1 ELSE 0 END",
        f"CASE WHEN {line}.dossier_code IS NOT NULL AND {line}.dossier_code <> '' "
        "THEN 1 ELSE 0 END",
    ]
    terms += [
        f"CASE WHEN {line}.outcome = 'done' AND sv.skill = '{skill}' THEN 1 ELSE 0 END"
        for skill in SKILLS
    ]
    terms += [
        f"CASE WHEN {line}.outcome = '{outcome}' AND {reason} = '{r}' THEN 1 ELSE 0 END"
        for outcome in NOT_DONE
        for r in REASONS
    ]
    return terms


def _day(at: str, dialect: str) -> str:
    """The local date of a UTC instant: Vietnam has kept UTC+7, without summer time, since 1975."""
    if dialect == "sqlite":
        return f"date({at}, '+7 hours')"
    return f"CAST(({at}) AT TIME ZONE 'Asia/Ho_Chi_Minh' AS date)"


def _upsert() -> str:
    sets = ", ".join(f"{c} = daily_line_count.{c} + excluded.{c}" for c in COUNTS)
    return f"ON CONFLICT (commune_code, day) DO UPDATE SET {sets}"


def _columns() -> str:
    return ", ".join(["commune_code", "day", *COUNTS])


def _line(row: str, sign: int, dialect: str) -> str:
    """Count one line (NEW or OLD) in its session's day, if the session counts."""
    values = ", ".join(f"{sign} * ({t})" for t in _terms(row))
    return (
        f"INSERT INTO daily_line_count ({_columns()}) "
        f"SELECT s.commune_code, {_day('s.occurred_at', dialect)}, {values} "
        f"FROM assistance_session AS s LEFT JOIN service AS sv ON sv.code = {row}.service_code "
        f"WHERE s.id = {row}.session_id AND s.deleted_at IS NULL {_upsert()}"
    )


def _session(row: str, sign: int, dialect: str) -> str:
    """Count every line of a session (NEW or OLD) in its day, if it counts."""
    values = ", ".join(f"{sign} * SUM({t})" for t in _terms("l"))
    return (
        f"INSERT INTO daily_line_count ({_columns()}) "
        f"SELECT {row}.commune_code, {_day(f'{row}.occurred_at', dialect)}, {values} "
        "FROM session_service AS l LEFT JOIN service AS sv ON sv.code = l.service_code "
        f"WHERE l.session_id = {row}.id AND {row}.deleted_at IS NULL "
        f"GROUP BY l.session_id {_upsert()}"
    )


CHANGED = (
    "OLD.commune_code IS DISTINCT FROM NEW.commune_code "
    "OR OLD.occurred_at IS DISTINCT FROM NEW.occurred_at "
    "OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at"
)


def _sqlite_triggers() -> list[str]:
    changed = CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    d = "sqlite"
    return [
        "CREATE TRIGGER daily_line_count_line_insert AFTER INSERT ON session_service "
        f"BEGIN {_line('NEW', 1, d)}; END",
        "CREATE TRIGGER daily_line_count_line_delete AFTER DELETE ON session_service "
        f"BEGIN {_line('OLD', -1, d)}; END",
        "CREATE TRIGGER daily_line_count_line_update AFTER UPDATE ON session_service "
        f"BEGIN {_line('OLD', -1, d)}; {_line('NEW', 1, d)}; END",
        "CREATE TRIGGER daily_line_count_session_insert AFTER INSERT ON assistance_session "
        f"BEGIN {_session('NEW', 1, d)}; END",
        "CREATE TRIGGER daily_line_count_session_delete AFTER DELETE ON assistance_session "
        f"BEGIN {_session('OLD', -1, d)}; END",
        "CREATE TRIGGER daily_line_count_session_update "
        "AFTER UPDATE OF commune_code, occurred_at, deleted_at ON assistance_session "
        f"WHEN {changed} BEGIN {_session('OLD', -1, d)}; {_session('NEW', 1, d)}; END",
    ]


def _postgresql_triggers() -> list[str]:
    d = "postgresql"
    return [
        "CREATE FUNCTION daily_line_count_of_line() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF TG_OP <> 'INSERT' THEN {_line('OLD', -1, d)}; END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_line('NEW', 1, d)}; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER daily_line_count_line AFTER INSERT OR UPDATE OR DELETE ON session_service "
        "FOR EACH ROW EXECUTE FUNCTION daily_line_count_of_line()",
        "CREATE FUNCTION daily_line_count_of_session() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF TG_OP = 'UPDATE' AND NOT ({CHANGED}) THEN RETURN NULL; END IF; "
        f"IF TG_OP <> 'INSERT' THEN {_session('OLD', -1, d)}; END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_session('NEW', 1, d)}; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER daily_line_count_session "
        "AFTER INSERT OR DELETE OR UPDATE OF commune_code, occurred_at, deleted_at "
        "ON assistance_session FOR EACH ROW EXECUTE FUNCTION daily_line_count_of_session()",
    ]


def _backfill(dialect: str) -> str:
    day = _day("s.occurred_at", dialect)
    values = ", ".join(f"SUM({t})" for t in _terms("l"))
    return (
        f"INSERT INTO daily_line_count ({_columns()}) "
        f"SELECT s.commune_code, {day}, {values} "
        "FROM session_service AS l JOIN assistance_session AS s ON s.id = l.session_id "
        "LEFT JOIN service AS sv ON sv.code = l.service_code "
        f"WHERE s.deleted_at IS NULL GROUP BY s.commune_code, {day}"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "api_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("province_code", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["member.id"], name=op.f("fk_api_token_created_by_member")
        ),
        sa.ForeignKeyConstraint(
            ["province_code"],
            ["province.code"],
            name=op.f("fk_api_token_province_code_province"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_token_province_code"), ["province_code"], unique=False
        )

    op.create_table(
        "daily_line_count",
        sa.Column("commune_code", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.PrimaryKeyConstraint("commune_code", "day", name=op.f("pk_daily_line_count")),
    )

    with op.batch_alter_table("assistance_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assistance_session_commune_period",
            [
                "commune_code",
                "occurred_at",
                "deleted_at",
                "household_id",
                "volunteer_id",
                "people_helped",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_assistance_session_open_follow_up",
            ["commune_code", "follow_up_on"],
            unique=False,
            sqlite_where=sa.text(OPEN_FOLLOW_UP),
            postgresql_where=sa.text(OPEN_FOLLOW_UP),
        )

    op.execute(_backfill(dialect))
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("line_insert", "line_delete", "line_update"):
            op.execute(f"DROP TRIGGER IF EXISTS daily_line_count_{name}")
        for name in ("session_insert", "session_delete", "session_update"):
            op.execute(f"DROP TRIGGER IF EXISTS daily_line_count_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS daily_line_count_line ON session_service")
        op.execute("DROP TRIGGER IF EXISTS daily_line_count_session ON assistance_session")
        op.execute("DROP FUNCTION IF EXISTS daily_line_count_of_line()")
        op.execute("DROP FUNCTION IF EXISTS daily_line_count_of_session()")

    with op.batch_alter_table("assistance_session", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_assistance_session_open_follow_up",
            sqlite_where=sa.text(OPEN_FOLLOW_UP),
            postgresql_where=sa.text(OPEN_FOLLOW_UP),
        )
        batch_op.drop_index("ix_assistance_session_commune_period")

    op.drop_table("daily_line_count")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_province_code"))
    op.drop_table("api_token")
