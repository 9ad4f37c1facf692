"""follow-ups closed from the phone: who closed one; a household's address

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 19:00:00.000000

- assistance_session.follow_up_done_by: the member who closed the follow-up (the volunteer
  from the phone, through a "follow_up" sync op, or the coordinator in the console), beside
  follow_up_done_at. Added in place: SQLite's batch mode would copy the table and drop the
  triggers of daily_line_count (0002, 0003).
- household.address: the house number, lane or hamlet as the family says it, so that a
  volunteer finds the household by it (empty for the households already kept).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "household",
        sa.Column("address", sa.String(length=120), nullable=False, server_default=""),
    )
    if op.get_bind().dialect.name == "sqlite":
        # ALTER TABLE … ADD COLUMN may name its reference inline; alembic would want batch mode.
        op.execute(
            "ALTER TABLE assistance_session ADD COLUMN follow_up_done_by CHAR(32) "
            "REFERENCES member (id)"
        )
        return
    op.add_column(
        "assistance_session",
        sa.Column("follow_up_done_by", sa.Uuid(), nullable=True),
    )
    op.create_foreign_key(
        "fk_assistance_session_follow_up_done_by_member",
        "assistance_session",
        "member",
        ["follow_up_done_by"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_column("household", "address")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE assistance_session DROP COLUMN follow_up_done_by")
        return
    op.drop_constraint(
        "fk_assistance_session_follow_up_done_by_member", "assistance_session", type_="foreignkey"
    )
    op.drop_column("assistance_session", "follow_up_done_by")
