"""The schema comes from the migrations alone, and Vietnamese text survives the round trip."""

from __future__ import annotations

import os
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from server import accounts
from server.db import Database
from server.guides import INDEX_TABLES
from server.migrate import alembic_config, migrate
from server.models import Member, Role, Village
from server.places import load_places
from server.services import load_services


def _fresh_url(tmp_path) -> tuple[str, object]:
    pg = os.environ.get("TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}", None
    name = f"langso_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.engine.make_url(pg).set(database=name).render_as_string(hide_password=False), (
        admin,
        name,
    )


def _drop(cleanup) -> None:
    if cleanup:
        admin, name = cleanup
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_at(tmp_path, revision: str) -> Iterator[tuple[str, Member]]:
    """A fresh database migrated up to `revision`, with the places, the services and a volunteer
    of commune 07627; dropped afterwards. Yields its URL and the volunteer."""
    url, cleanup = _fresh_url(tmp_path)
    try:
        command.upgrade(alembic_config(url), revision)
        db = Database(url)
        with db.write() as s:
            load_places(s)
            load_services(s)
            vol = accounts.create_member(
                s,
                name="Nguyễn Văn Tình",
                phone="0900000004",
                role="volunteer",
                commune_code="07627",
            )
        db.dispose()
        yield url, vol
    finally:
        _drop(cleanup)


def add_as_then(session: Any, obj: Any) -> None:
    """Insert a model's row into a database at an older revision: only the columns it had then
    (the models have the columns of head)."""
    table = type(obj).__table__
    have = {c["name"] for c in sa.inspect(session.connection()).get_columns(table.name)}
    values = {c.name: getattr(obj, c.key) for c in table.columns if c.name in have}
    session.execute(sa.insert(table).values(values))


def _modelled(obj: object, name: str | None, type_: str, *_args: object) -> bool:
    """The search index (migration 0006: an FTS5 table and its shadow tables on SQLite) is
    written by server/guides.py in SQL, not by models."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not str(table).startswith(INDEX_TABLES)


def test_empty_to_head_matches_the_models_and_back(tmp_path) -> None:
    url, cleanup = _fresh_url(tmp_path)
    try:
        migrate(url)
        migrate(url)  # running it again changes nothing
        db = Database(url)
        with db.write_engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _modelled})
            diff = compare_metadata(context, SQLModel.metadata)
            assert diff == [], "models and migrations disagree: write a migration"
            count = conn.execute(sa.text("SELECT count(*) FROM commune")).scalar()
            assert count == 3321
        db.dispose()
        command.downgrade(alembic_config(url), "base")
        db = Database(url)
        with db.read_engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        db.dispose()
        assert tables == set()
    finally:
        _drop(cleanup)


def test_vietnamese_text_round_trips_unchanged(db: Database, world) -> None:
    names = [
        "Nguyễn Thị Ánh Tuyết",
        "Đặng Văn Đức",
        "Thôn Nậm Ổ",
        "Tổ dân phố Hoà Thuỷ",
        "Ông Ơn Ư ữ ỹ ỵ",
    ]
    with db.write() as s:
        for i, name in enumerate(names):
            s.add(
                Member(
                    name=name,
                    name_key="k",
                    phone=f"+8490999{i:04d}",
                    role=Role.volunteer,
                    commune_code="07627",
                )
            )
        s.add(Village(commune_code="07627", name=names[3], name_key="k"))
    with db.read() as s:
        stored = {m.name for m in s.exec(sa.select(Member).where(Member.name_key == "k")).scalars()}
        village = s.exec(sa.select(Village).where(Village.name_key == "k")).scalars().one()
    assert stored == set(names[:5])
    assert village.name == names[3]
    for name in stored:
        assert unicodedata.is_normalized("NFC", name)
