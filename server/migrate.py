"""Bring a database to the newest schema and load the reference data it needs."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import Database
from .places import load_places
from .services import load_services

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
    db = Database(url)
    try:
        with db.write() as session:
            load_places(session)
            load_services(session)
    finally:
        db.dispose()
