"""guide search: a full-text index of the current guide versions, and the vocabulary of its words

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-05 21:00:00.000000

- guide_search: one row per (guide, locale) of each guide's current version, with the folded
  text (server/text.py fold()) of its title, keywords, summary and steps. On SQLite it is an
  FTS5 table ranked by bm25 with column weights; on PostgreSQL a tsvector with setweight A/B/C/D
  (GIN index) ranked by ts_rank. server/guides.py keeps it in sync whenever a guide changes.
- guide_term: every word of the index once, so that a query word found nowhere can be replaced
  by the indexed words one letter away (a typo) without reading every guide.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE guide_search USING fts5("
            "slug UNINDEXED, locale UNINDEXED, title, keywords, summary, body, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    else:
        op.create_table(
            "guide_search",
            sa.Column("slug", sa.String(80), nullable=False),
            sa.Column("locale", sa.String(8), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("keywords", sa.Text(), nullable=False),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("document", sa.dialects.postgresql.TSVECTOR(), nullable=False),
            sa.PrimaryKeyConstraint("slug", "locale"),
        )
        op.create_index(
            "guide_search_document", "guide_search", ["document"], postgresql_using="gin"
        )
    op.create_table(
        "guide_term",
        sa.Column("term", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    # Guides already stored are indexed by the next `load-guides` (or any change to a guide).


def downgrade() -> None:
    op.drop_table("guide_term")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE guide_search")
    else:
        op.drop_table("guide_search")
