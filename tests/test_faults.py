"""Faults, with real uvicorn processes on the test's database (a SQLite file, or PostgreSQL with
TEST_DATABASE_URL): a server killed in the middle of a sync and started again, two processes
writing one SQLite file, a 20 MB body. Each fails when a record is lost or doubled, checked in
SQL (bench/_fleet.py stored_once)."""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from bench._fleet import Phone, Server, Tally, run_phones, session_ops, stored_once, wait_for
from server.db import Database

from .conftest import PASSWORD, PHONES, World

BATCHES = 8  # each phone's


def phones_on(servers: list[Server], world: World, team: list[str]) -> tuple[Any, ...]:
    """Start `servers` and the team's phones on them: (threads, batches, errors, tally)."""
    for server in servers:
        server.start()
    tally = Tally()
    villages = [str(world.village_a), str(world.village_a2)]
    urls = [s.url for s in servers]
    return (*run_phones(urls, team, PASSWORD, villages, tally, BATCHES), tally)


def test_a_server_killed_mid_sync_and_restarted_loses_and_doubles_nothing(
    settings, world: World, team: list[str], servers: list[Server]
) -> None:
    """SIGKILL twice while six phones send: the phones retry the same ops until answered, and
    the database holds each op once (a transaction cut by the kill left nothing behind)."""
    server = servers[0]
    threads, sent, errors, tally = phones_on([server], world, team)
    for acked in (PHONES * BATCHES // 4, PHONES * BATCHES // 2):
        wait_for(tally, acked)
        server.kill()
        time.sleep(0.2)  # phones meet a closed port meanwhile
        server.start()
    for thread in threads:
        thread.join(timeout=150)
    assert errors == []
    assert tally.network_errors > 0  # the kills cut requests (or found the port closed)
    made = [o for batch in sent for o in batch]
    assert stored_once(settings.database_url, made) == []
    assert tally.statuses["applied"] + tally.statuses["duplicate"] >= len(made)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_postgresql_connections_killed_mid_load_lose_and_double_nothing(
    settings, world: World, team: list[str], servers: list[Server]
) -> None:
    """pg_terminate_backend on every connection of two app processes, twice, while six phones
    send: a batch whose connection died is run again on a new one (sync_api._exchange), any
    other request so cut is a 503 the phone retries, never a 500; the processes need no
    restart, and each op is stored once."""
    threads, sent, errors, tally = phones_on(servers, world, team)
    admin = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    killed = 0
    try:
        for acked in (PHONES * BATCHES // 4, PHONES * BATCHES // 2):
            wait_for(tally, acked)
            with admin.connect() as conn:
                killed += (
                    conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).scalar()
                    or 0
                )
    finally:
        admin.dispose()
    for thread in threads:
        thread.join(timeout=150)
    assert errors == [] and killed > 0
    assert tally.http[500] == 0  # a lost connection is a 503 with Retry-After, if anything
    for server in servers:
        assert server.proc is not None and server.proc.poll() is None  # never restarted
    made = [o for batch in sent for o in batch]
    assert stored_once(settings.database_url, made) == []


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="a SQLite file")
def test_two_processes_on_one_sqlite_file_never_answer_database_is_locked(
    settings, world: World, team: list[str], servers: list[Server]
) -> None:
    """Two uvicorn processes on one file, phones split between them, signing in and sending
    at once: every answer below 500, none says "database is locked", each op stored once."""
    threads, sent, errors, tally = phones_on(servers, world, team)
    readers = [threading.Thread(target=read_while, args=(s.url, threads)) for s in servers]
    for thread in readers:
        thread.start()
    for thread in threads + readers:
        thread.join(timeout=150)
    assert errors == []
    assert tally.server_errors == 0 and tally.locked == 0 and tally.network_errors == 0
    for server in servers:
        assert "locked" not in server.output() and "Traceback" not in server.output()
    made = [o for batch in sent for o in batch]
    assert stored_once(settings.database_url, made) == []


def read_while(url: str, writers: list[threading.Thread]) -> None:
    """A resident reading the catalogue while the phones write (reads meet no lock either)."""
    with httpx2.Client(base_url=url, timeout=30) as client:
        while any(t.is_alive() for t in writers):
            assert client.get("/vi/").status_code == 200
            assert client.get("/healthz").status_code == 200


def test_a_20_mb_body_is_413_in_the_users_language_over_a_real_server(
    settings, db: Database, world: World, servers: list[Server]
) -> None:
    server = servers[0].start()
    phone = Phone(server.url, world.phone("vol_a"), PASSWORD, Tally())
    try:
        phone.sign_in(time.monotonic() + 30)
        body = b'{"cursor": 0, "ops": [' + b'{"op_id": "x"},' * (20 * 1024 * 1024 // 15) + b"{}]}"
        headers = {"Content-Type": "application/json", "X-CSRF-Token": phone.token}
        for lang, message in (("vi", "Dữ liệu gửi lên quá lớn"), ("en", "What you sent is too")):
            phone.client.cookies.set("lang", lang)
            response = phone.client.post("/api/v1/sync", content=body, headers=headers)
            assert response.status_code == 413
            error = response.json()["error"]
            assert error["code"] == "too_large" and error["message"].startswith(message)
        # The server goes on: the same phone sends a batch that fits.
        batch = session_ops(random.Random(1), [str(world.village_a)], 5)
        assert {r["status"] for r in phone.send(batch, time.monotonic() + 30)} == {"applied"}
    finally:
        phone.close()
    assert stored_once(settings.database_url, batch) == []
