"""Engines and sessions. Every write goes through `Database.write()`.

SQLite runs in WAL mode; writes start with BEGIN IMMEDIATE so that a transaction which reads
then writes takes the lock up front instead of failing with "database is locked" half-way.
The writers of one process queue on a lock of their own first, so that the next one starts
as soon as the last commits instead of sleeping in SQLite's busy handler.

A SQLite file also gets a `WalCheckpointer`: a daemon thread with its own connection copies the
WAL back into the database (PRAGMA wal_checkpoint(PASSIVE)) once the WAL has grown past
CHECKPOINT_PAGES, so that no request waits for that copy and its fsync, as the committing
request did with SQLite's own automatic checkpoint. Durability is unchanged (WAL,
synchronous=NORMAL); the automatic checkpoint stays as a safety net at SAFETY_PAGES.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

log = logging.getLogger(__name__)

CHECKPOINT_PAGES = 1000  # the WAL length at which the checkpointer copies it back (4 MB)
SAFETY_PAGES = 10000  # SQLite's own automatic checkpoint, should the thread fall behind
BUSY_MS = 30000
# PostgreSQL connections of one process: handlers run in anyio's 40 threads, so a pool of 40
# never makes a request wait for a connection longer than for a thread (the default 5 + 10
# made the 16th concurrent request wait, and after 30 s fail). 10 stay open when idle.
POOL_MAX = 40
POOL_KEPT = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps them as naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file at `path` in a thread of its own.

    `written()` is called after each write transaction commits: it reads the size of the -wal
    file (a stat, no query) and, past `pages` pages, wakes the thread, which runs
    PRAGMA wal_checkpoint(PASSIVE) on its own connection: it copies what no reader still needs
    and never blocks a reader or a writer. The writers' connections have journal_size_limit=0,
    so that SQLite truncates the -wal file when it starts the WAL over, and its size is the
    length of the WAL. The thread starts at the first wake-up (most databases of a test run
    never need one) and stops at `close()`, or when its Database is garbage-collected."""

    def __init__(self, path: str, pages: int = CHECKPOINT_PAGES) -> None:
        self.path = path
        self.wal = f"{path}-wal"
        self.pages = pages
        self.page_size = 4096  # read from the database by the write engine's connections
        self.checkpoints = 0  # run by the thread
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._served = threading.Condition()
        self._asked = self._answered = 0  # wake-ups asked for, and acted on by the thread
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # of the current thread; each thread has its own

    @property
    def threshold(self) -> int:
        """The size of the -wal file that holds `pages` frames (32 B header, 24 B per frame)."""
        return 32 + self.pages * (self.page_size + 24)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def written(self) -> None:
        """After a commit: wake the thread when the WAL has grown past the threshold."""
        try:
            size = os.stat(self.wal).st_size
        except OSError:
            return
        if size < self.threshold:
            return
        with self._lock:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._stop,),
                    name=f"wal-checkpoint {self.path}",
                    daemon=True,
                )
                self._thread.start()
        with self._served:
            self._asked += 1
        self._wake.set()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the thread has acted on every wake-up asked for so far."""
        with self._served:
            asked = self._asked
            return self._served.wait_for(
                lambda: self._answered >= asked or not self.running, timeout
            )

    def stop(self) -> None:
        """Tell the thread to end, without waiting (safe from any thread, even its own)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._stop.set()
                self._wake.set()

    def close(self) -> None:
        """Stop the thread and wait for it, then checkpoint once more."""
        with self._lock:
            thread = self._thread
        self.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if os.path.exists(self.path) and os.path.exists(self.wal):
            try:
                conn = self._connect()
            except sqlite3.Error as e:
                log.warning("final WAL checkpoint of %s: %s", self.path, e)
                return
            try:
                self._checkpoint(conn)
            finally:
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        return conn

    def _checkpoint(self, conn: sqlite3.Connection) -> bool:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return True
        except sqlite3.Error as e:  # logged; the next commit wakes the thread again
            log.warning("WAL checkpoint of %s: %s", self.path, e)
            return False

    def _run(self, stop: threading.Event) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as e:
            log.warning("WAL checkpointer of %s cannot connect: %s", self.path, e)
            self._answer(None)
            return
        try:
            while True:
                self._wake.wait()
                if stop.is_set():
                    return  # leaving the wake-up set, for a thread started after this one
                self._wake.clear()
                with self._served:
                    asked = self._asked
                if self._checkpoint(conn):
                    self.checkpoints += 1
                self._answer(asked)
        finally:
            conn.close()
            self._answer(None)

    def _answer(self, asked: int | None) -> None:
        with self._served:
            self._answered = self._asked if asked is None else asked
            self._served.notify_all()


def _sqlite_engine(
    url: str, *, immediate: bool, checkpointer: WalCheckpointer | None = None
) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's is broken)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        if checkpointer is not None:
            cur.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
            cur.execute("PRAGMA journal_size_limit=0")
            checkpointer.page_size = cur.execute("PRAGMA page_size").fetchone()[0]
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _plain_file(url: str) -> bool:
    """Whether a SQLite URL names a file by its path (not memory, not a URI)."""
    parsed = sa.engine.make_url(url)
    path = parsed.database or ""
    return (
        path not in ("", ":memory:") and not path.startswith("file:") and "uri" not in parsed.query
    )


class Database:
    """A read engine and a write engine (the same one outside SQLite), and on a SQLite file
    the thread that checkpoints its WAL."""

    def __init__(
        self, url: str, checkpoint_pages: int = CHECKPOINT_PAGES, pool_max: int = POOL_MAX
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.checkpointer: WalCheckpointer | None = None
        # SQLite takes one writer at a time. Writers of this process queue here, and the next
        # starts the moment the last commits; SQLite's busy handler would have it sleep and
        # poll (up to 100 ms a try). Writers of other processes still meet busy_timeout.
        self._writer: AbstractContextManager[Any] = nullcontext()
        if self.is_sqlite:
            self._writer = threading.RLock()
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            if path and _plain_file(url):
                self.checkpointer = WalCheckpointer(path, checkpoint_pages)
                weakref.finalize(self, self.checkpointer.stop)
            self.write_engine = _sqlite_engine(url, immediate=True, checkpointer=self.checkpointer)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            kept = min(POOL_KEPT, pool_max)
            self.write_engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=kept, max_overflow=pool_max - kept
            )
            self.read_engine = self.write_engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self._writer, Session(self.write_engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
        if self.checkpointer is not None:
            self.checkpointer.written()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.read_engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> bool:
        try:
            with self.read_engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        """Stop the checkpointer (after a last checkpoint) and close every connection."""
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
