"""server/db.py: the WAL checkpointer of a SQLite file. These tests make their own SQLite file
(the checkpointer exists only there), whatever TEST_DATABASE_URL says."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.db import SAFETY_PAGES, Database

PAGES = 50  # a short WAL, so that a test fills it many times over


def scratch(tmp_path: Path, **kw: int) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'scratch.sqlite3'}", **kw)
    with db.write() as s:
        s.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB)"))
    return db


def write_pages(db: Database, n: int) -> None:
    """One commit of about `n` new pages."""
    with db.write() as s:
        s.execute(
            sa.text("INSERT INTO scratch (body) VALUES (randomblob(:size))"), {"size": n * 4000}
        )


def wal_frames(db: Database) -> int:
    size = os.path.getsize(f"{db.checkpointer.path}-wal")  # type: ignore[union-attr]
    return max(0, (size - 32) // (4096 + 24))


def test_the_checkpointer_keeps_the_wal_short(tmp_path: Path) -> None:
    db = scratch(tmp_path, checkpoint_pages=PAGES)
    checkpointer = db.checkpointer
    assert checkpointer is not None
    try:
        written = 0
        for _ in range(60):  # 600 pages: twelve times the threshold
            write_pages(db, 10)
            written += 10
            assert checkpointer.settle()
            # A full WAL is copied back between two commits, and the next one starts it over.
            assert wal_frames(db) < PAGES + 20
        assert checkpointer.running
        assert checkpointer.checkpoints >= written // (PAGES + 20)
        # The writers' own automatic checkpoint is left far away: the thread did the copying.
        with db.write_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SAFETY_PAGES
    finally:
        db.dispose()
    assert not checkpointer.running


def test_without_the_thread_the_wal_would_keep_growing(tmp_path: Path) -> None:
    """The control of the test above: the same writes with a threshold never reached."""
    db = scratch(tmp_path, checkpoint_pages=100_000)
    try:
        for _ in range(60):
            write_pages(db, 10)
        assert db.checkpointer is not None and not db.checkpointer.running
        assert wal_frames(db) >= 600
    finally:
        db.dispose()


def rows_in_the_database_file(db: Database, tmp_path: Path) -> int:
    """The rows the database file itself holds, without the WAL: what checkpoints copied."""
    assert db.checkpointer is not None
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(db.checkpointer.path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM scratch").fetchone()[0]
    finally:
        conn.close()


def test_dispose_stops_the_thread_and_checkpoints_the_wal(tmp_path: Path) -> None:
    db = scratch(tmp_path, checkpoint_pages=PAGES)
    assert db.checkpointer is not None
    for _ in range(20):
        write_pages(db, 10)
        db.checkpointer.settle()
    name = f"wal-checkpoint {db.checkpointer.path}"
    assert name in {t.name for t in threading.enumerate()}
    # Another connection keeps the file open, so that closing the engines' connections does not
    # checkpoint it: only dispose() does.
    other = sqlite3.connect(db.checkpointer.path)
    try:
        other.execute("SELECT count(*) FROM scratch").fetchall()
        write_pages(db, 5)  # too little to wake the thread: only in the WAL
        assert rows_in_the_database_file(db, tmp_path) < 21
        db.dispose()
        assert name not in {t.name for t in threading.enumerate()}
        assert rows_in_the_database_file(db, tmp_path) == 21
    finally:
        other.close()


def test_a_checkpointer_starts_only_when_needed_and_again_after_dispose(tmp_path: Path) -> None:
    db = scratch(tmp_path, checkpoint_pages=PAGES)
    assert db.checkpointer is not None
    write_pages(db, 5)
    assert not db.checkpointer.running  # a small database never needs the thread
    db.dispose()
    for _ in range(10):  # the app may write after its Database was disposed (tests do)
        write_pages(db, 10)
    assert db.checkpointer.running
    db.dispose()
    assert not db.checkpointer.running


def test_writers_and_readers_never_meet_a_locked_database(tmp_path: Path) -> None:
    db = scratch(tmp_path, checkpoint_pages=PAGES)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(40):
                write_pages(db, 4)
        except BaseException as e:
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(80):
                with db.read() as s:
                    s.execute(sa.text("SELECT count(*), sum(length(body)) FROM scratch")).one()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (writer, writer, reader, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert db.checkpointer is not None and db.checkpointer.settle()
        assert db.checkpointer.checkpoints > 0
        with db.read() as s:
            assert s.execute(sa.text("SELECT count(*) FROM scratch")).scalar() == 80
    finally:
        db.dispose()


def test_a_database_left_without_dispose_lets_its_thread_go(tmp_path: Path) -> None:
    db = scratch(tmp_path, checkpoint_pages=PAGES)
    for _ in range(10):
        write_pages(db, 10)
    assert db.checkpointer is not None and db.checkpointer.running
    name = f"wal-checkpoint {db.checkpointer.path}"
    (thread,) = [t for t in threading.enumerate() if t.name == name]
    db.write_engine.dispose()
    db.read_engine.dispose()
    del db
    gc.collect()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_no_checkpointer_without_a_file(url: str) -> None:
    db = Database(url)
    try:
        assert db.checkpointer is None
        with db.write() as s:
            s.execute(sa.text("SELECT 1"))
    finally:
        db.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_no_checkpointer_on_postgresql() -> None:
    db = Database(os.environ["TEST_DATABASE_URL"])
    try:
        assert db.checkpointer is None
        with db.write() as s:
            assert s.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_the_server_recovers_when_postgresql_kills_its_connections(
    client, db: Database, world
) -> None:
    """A failover or an operator's pg_terminate_backend: the next requests get fresh
    connections (pool pre-ping), no 5xx stays, and a sync sent again is stored once."""
    from .conftest import csrf, login
    from .test_sync import op, session_data

    login(client, world.phone("vol_a"))
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    ops = [op("session", uuid.uuid4(), session_data(world.village_a)) for _ in range(5)]
    body = {"cursor": 0, "ops": ops}
    with sa.create_engine(db.write_engine.url).connect() as admin:
        killed = admin.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert killed and killed >= 1
    assert client.get("/api/v1/me").status_code == 200
    headers = {"X-CSRF-Token": csrf(client)}
    for _ in range(2):  # the phone sends again after a lost answer
        answer = client.post("/api/v1/sync", json=body, headers=headers)
        assert answer.status_code == 200, answer.text[:300]
    with db.read() as s:
        stored = s.execute(sa.text("SELECT count(*) FROM assistance_session")).scalar()
    assert stored == 5
