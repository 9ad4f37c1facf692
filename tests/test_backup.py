"""`langso backup` while phones write, and `langso restore`: the copy opens, passes the integrity
checks, and holds the records of one point in time (each batch whole or not at all)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench._common import postgres
from bench._fleet import Server, Tally, run_phones, stored_once, wait_for
from server.config import Settings

from .conftest import PASSWORD, World, langso_cli


@contextmanager
def empty_database(settings: Settings, tmp_path: Path, name: str) -> Iterator[Settings]:
    """Settings of a new, empty database of the same kind as the test's, to restore into."""
    if settings.database_url.startswith("sqlite"):
        yield replace(settings, database_url=f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
        return
    with postgres(os.environ["TEST_DATABASE_URL"]) as url:
        yield replace(settings, database_url=url)


def session_ids(url: str) -> set[uuid.UUID]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id FROM assistance_session")).scalars()
            return {uuid.UUID(str(v)) for v in rows}
    finally:
        engine.dispose()


def test_backups_taken_while_phones_write_restore_one_point_in_time(
    settings: Settings, world: World, team: list[str], servers: list[Server], tmp_path: Path
) -> None:
    server = servers[0].start()
    tally, stop = Tally(), threading.Event()
    villages = [str(world.village_a), str(world.village_a2)]
    threads, sent, errors = run_phones(
        [server.url], team, PASSWORD, villages, tally, ops=40, again=0.2, until=stop
    )
    backups = []
    try:
        for n in range(2):
            wait_for(tally, tally.acked_batches + 8)
            target = (
                tmp_path
                / f"backup-{n}.{'sqlite3' if 'sqlite' in settings.database_url else 'dump'}"
            )
            made = langso_cli(["backup", str(target)], settings)
            assert made.returncode == 0, made.stderr
            backups.append(target)
        wait_for(tally, tally.acked_batches + 4)  # writes go on after the last copy
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    everything = sum(len(batch) for batch in sent)
    with empty_database(settings, tmp_path, "restored") as there:
        for n, target in enumerate(backups):
            if n:  # a database that holds data is replaced only when asked
                again = langso_cli(["restore", str(target)], there)
                assert again.returncode == 1 and "--replace" in again.stderr
            done = langso_cli(["restore", *(["--replace"] if n else []), str(target)], there)
            assert done.returncode == 0, done.stderr
            assert "members" in done.stdout
            present = session_ids(there.database_url)
            whole = []
            for batch in sent:
                got = sum(uuid.UUID(o["id"]) in present for o in batch)
                assert got in (0, len(batch)), f"half a batch: {got} of {len(batch)}"
                if got:
                    whole.append(batch)
            assert 0 < len(present) < everything  # a point during the writes
            ops = [o for batch in whole for o in batch]
            assert stored_once(there.database_url, ops) == []  # incl. SQLite's integrity_check


def test_restore_refuses_what_is_not_a_backup_of_this_kind(
    settings: Settings, tmp_path: Path
) -> None:
    missing = langso_cli(["restore", str(tmp_path / "nothing")], settings)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all")
    refused = langso_cli(["restore", str(junk)], settings)
    assert refused.returncode == 1 and "is not a" in refused.stderr


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="a SQLite file")
def test_restore_refuses_a_damaged_sqlite_copy(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "copy.sqlite3"
    assert langso_cli(["backup", str(target)], settings).returncode == 0
    data = bytearray(target.read_bytes())
    page = 4096
    for i in range(3 * page, min(len(data), 12 * page)):  # pages of tables in the middle
        data[i] ^= 0x5A
    target.write_bytes(bytes(data))
    with empty_database(settings, tmp_path, "restored") as there:
        refused = langso_cli(["restore", str(target)], there)
        assert refused.returncode == 1
        assert "damaged" in refused.stderr or "cannot be read" in refused.stderr
        assert not Path(there.database_url.removeprefix("sqlite:///")).exists()
