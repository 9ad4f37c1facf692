"""Alembic environment: runs on the URL the caller put in the config (see server/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from server import models  # noqa: F401  (registers every table on the metadata)
from server.db import Database

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    db = Database(config.get_main_option("sqlalchemy.url") or "")
    # Plain connection: DDL under SQLite's BEGIN IMMEDIATE is fine, and Alembic manages it.
    with db.write_engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=db.is_sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    db.dispose()


run_migrations_online()
