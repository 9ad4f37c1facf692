"""A consistent copy of the database while the app runs (SQLite's online backup, or pg_dump),
and putting one back (`langso restore`), checked before anything is replaced.

SQLite: the backup API copies every page in one step, inside one read transaction, so the
copy is the database as one commit left it; writers go on meanwhile (WAL). PostgreSQL:
pg_dump's custom format, also one snapshot (one REPEATABLE READ transaction); pg_restore puts
it back in a single transaction, so a restore that fails leaves the database as it was.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

SQLITE_HEADER = b"SQLite format 3\x00"
PG_HEADER = b"PGDMP"  # pg_dump's custom format


def backup(url: str, target: str | Path) -> Path:
    path = Path(target)
    if path.exists():
        raise ValueError(f"{path} already exists: choose a new file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = sqlite3.connect(parsed.database or "")
        try:
            dest = sqlite3.connect(path)
            with dest:
                source.backup(dest)  # all pages in one step: one consistent state
            dest.close()
        finally:
            source.close()
        return path
    _need("pg_dump")
    subprocess.run(["pg_dump", "--format=custom", f"--file={path}", _libpq(url)], check=True)
    return path


def restore(url: str, source: str | Path, *, replace: bool = False) -> None:
    """Put the backup `source` into the database of `url`, with the app stopped. A database
    that already holds members is replaced only with `replace`. The copy is checked first
    (SQLite: integrity_check; PostgreSQL: pg_restore's own reading, all in one transaction);
    then migrate brings an older copy up to the code's schema."""
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    with path.open("rb") as f:
        head = f.read(16)
    sqlite = sa.engine.make_url(url).get_backend_name() == "sqlite"
    if sqlite and not head.startswith(SQLITE_HEADER):
        raise ValueError(f"{path} is not a SQLite backup (made by `langso backup` on SQLite)")
    if not sqlite and not head.startswith(PG_HEADER):
        raise ValueError(f"{path} is not a pg_dump backup (made by `langso backup` on PostgreSQL)")
    if not replace and _holds_members(url):
        raise ValueError(
            "the database already holds data: stop the app, then run again with --replace"
        )
    if sqlite:
        _restore_sqlite(url, path)
    else:
        _need("pg_restore")
        args = ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction"]
        subprocess.run(
            ["pg_restore", *args, "--exit-on-error", f"--dbname={_libpq(url)}", str(path)],
            check=True,
        )


def _restore_sqlite(url: str, path: Path) -> None:
    copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise ValueError(f"{path} is damaged: {problems[0]}")
        if copy.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise ValueError(f"{path} is damaged: a row refers to one that is missing")
        target = Path(sa.engine.make_url(url).database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(target)
        try:
            # Through SQLite, not a file copy: the target's WAL, if any, is replaced too.
            copy.backup(dest)
        finally:
            dest.close()
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{path} cannot be read: {e}") from None
    finally:
        copy.close()


def _holds_members(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return False  # and do not make the file by looking
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("member"):
                return False
            return conn.execute(sa.text("SELECT 1 FROM member LIMIT 1")).first() is not None
    finally:
        engine.dispose()


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver name)."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _need(program: str) -> None:
    if shutil.which(program) is None:
        raise ValueError(f"{program} is not installed (the PostgreSQL client tools)")
