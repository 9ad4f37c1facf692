"""Servers and phones for the fault tests (tests/test_faults.py) and the scale benchmark
(bench/scale.py): uvicorn processes that can be killed and started again on their port,
volunteers who send batches as the app does (the same op ids again after a network error, a
5xx or a 429, and now and then a batch again whose answer might have been lost), and the SQL
check that every op sent is stored exactly once."""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2
import sqlalchemy as sa
from sqlmodel import Session

from server import accounts
from server.config import ROOT
from server.db import Database
from server.models import Member, Role

from ._common import free_port
from .sync_ingest import local_time, op

SERVICES = [
    ("vneid_install", "done", None),
    ("dvc_birth", "not_finished", "missing_papers"),
    ("pay_electricity", "done", None),
    ("safe_scam", "done", None),
]


class Server:
    """One uvicorn process of the app, on a port that stays its own across kill() and start()."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.env, self.log_path = env, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by stop/kill)
        args = ["server.asgi:app", "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *args, "--no-access-log"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=self._log,
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no rollback by the app, open transactions cut where they are."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def rss(self) -> int:
        """Resident memory of the process now, in bytes (Linux)."""
        status = Path(f"/proc/{self.pid}/status")
        for line in status.read_text().splitlines() if status.exists() else []:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Tally:
    """What the phones saw, shared by their threads."""

    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    http: collections.Counter[int] = field(default_factory=collections.Counter)
    network_errors: int = 0
    locked: int = 0  # answers that said "database is locked"
    latencies: list[float] = field(default_factory=list)  # of the requests answered 200
    acked_batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.http.items() if status >= 500)


class Phone:
    """A volunteer's phone: signs in, then sends batches until the server has acknowledged
    each, as pwa/js/sync.js does (same op ids, backing off), following its cursor."""

    def __init__(self, url: str, phone: str, password: str, tally: Tally) -> None:
        self.client = httpx2.Client(base_url=url, timeout=60)
        self.phone, self.password, self.tally = phone, password, tally
        self.cursor, self.token = 0, ""
        self.rng = random.Random(phone)

    def sign_in(self, deadline: float) -> None:
        def attempt() -> httpx2.Response:
            self.client.get("/login")
            self.token = self.client.cookies["langso_csrf"]
            data = {"csrf_token": self.token, "phone": self.phone, "password": self.password}
            return self.client.post("/login", data=data)

        response = self._retrying(attempt, deadline)
        assert response.status_code == 303, response.text[:300]

    def send(self, ops: list[dict[str, Any]], deadline: float) -> list[dict[str, Any]]:
        """Send a batch until it is answered (200); every op must be applied or a duplicate."""
        body = gzip.compress(json.dumps({"cursor": self.cursor, "ops": ops}).encode(), 6)
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
            "X-CSRF-Token": self.token,
        }

        def attempt() -> httpx2.Response:
            return self.client.post("/api/v1/sync", content=body, headers=headers)

        response = self._retrying(attempt, deadline)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        answer = response.json()
        results = answer["results"]
        assert [r["op_id"] for r in results] == [o["op_id"] for o in ops]
        wrong = [r for r in results if r["status"] not in ("applied", "duplicate")]
        assert not wrong, wrong[:3]
        self.cursor = answer["cursor"]
        with self.tally.lock:
            self.tally.statuses.update(r["status"] for r in results)
            self.tally.acked_batches += 1
        return results

    def close(self) -> None:
        self.client.close()

    def _retrying(self, attempt: Any, deadline: float) -> httpx2.Response:
        tries = 0
        while True:
            started = time.perf_counter()
            try:
                response = attempt()
            except httpx2.TransportError:
                response = None
                with self.tally.lock:
                    self.tally.network_errors += 1
            else:
                with self.tally.lock:
                    self.tally.http[response.status_code] += 1
                    if "database is locked" in response.text:
                        self.tally.locked += 1
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code == 200:
                        with self.tally.lock:
                            self.tally.latencies.append(time.perf_counter() - started)
                    return response
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.phone}: no answer before the deadline")
            # The app's back-off (5 s·2ⁿ with jitter), shortened for a test of seconds.
            time.sleep(min(0.05 * 2**tries, 1.0) * (0.5 + self.rng.random()))
            tries += 1


def run_phones(
    urls: list[str],
    phones: list[str],
    password: str,
    villages: list[str] | dict[str, list[str]],
    tally: Tally,
    batches: int | None = None,
    *,
    ops: int | tuple[int, int] = 40,
    again: float = 0.3,
    until: threading.Event | None = None,
    ready: threading.Barrier | None = None,
    think: float = 0.0,
    deadline: float = 120,
) -> tuple[list[threading.Thread], list[list[dict[str, Any]]], list[BaseException]]:
    """A thread per phone (phone n talks to urls[n % len(urls)]): sign in (then wait at
    `ready`), send `batches` batches (for `villages`, or the villages of its own commune
    when they are given per phone number) of `ops` new sessions (a number, or a range to draw from)
    or until `until` is set, up to `think` seconds apart, and after a fraction `again` of them
    the same batch once more, as if its answer had been lost (all duplicates). Returns the
    threads, started; every batch made, in the order each phone made them; what went wrong."""
    made: list[list[dict[str, Any]]] = []
    errors: list[BaseException] = []
    end = time.monotonic() + deadline

    def work(url: str, number: str) -> None:
        phone = Phone(url, number, password, tally)
        rng = random.Random(number)
        try:
            phone.sign_in(end)
            if ready is not None:
                ready.wait(timeout=max(1.0, end - time.monotonic()))
            n = 0
            while (batches is None or n < batches) and not (until and until.is_set()):
                size = ops if isinstance(ops, int) else rng.randint(*ops)
                where = villages[number] if isinstance(villages, dict) else villages
                batch = session_ops(rng, where, size)
                made.append(batch)
                phone.send(batch, end)
                if rng.random() < again:
                    repeat = phone.send(batch, end)
                    assert {r["status"] for r in repeat} == {"duplicate"}, repeat[:2]
                n += 1
                if think:
                    time.sleep(rng.random() * think)
        except BaseException as e:
            errors.append(e)
        finally:
            phone.close()

    threads = [
        threading.Thread(target=work, args=(urls[n % len(urls)], number))
        for n, number in enumerate(phones)
    ]
    for thread in threads:
        thread.start()
    return threads, made, errors


def wait_for(tally: Tally, batches: int, timeout: float = 60) -> None:
    """Until the phones have had `batches` batches acknowledged."""
    end = time.monotonic() + timeout
    while tally.acked_batches < batches and time.monotonic() < end:
        time.sleep(0.005)


def add_volunteer(session: Session, phone: str, name: str, commune: str, hashed: str) -> Member:
    """A volunteer whose password hash is made once for all (argon2id is slow on purpose)."""
    member = accounts.create_member(
        session, name=name, phone=phone, role=Role.volunteer, commune_code=commune
    )
    member.password_hash = hashed
    session.add(member)
    return member


def session_ops(rng: random.Random, village_ids: list[str], n: int) -> list[dict[str, Any]]:
    """`n` new walk-in sessions as the app makes them (UUIDv7 ids)."""
    ops = []
    for _ in range(n):
        services = rng.sample(SERVICES, rng.choice([1, 1, 2, 3]))
        ops.append(
            op(
                "session",
                {
                    "household_id": None,
                    "village_id": rng.choice(village_ids),
                    "occurred_at": local_time(rng.randrange(60 * 24 * 30)),
                    "minutes": rng.choice([10, 15, 20, 30]),
                    "people_helped": rng.choice([1, 1, 2]),
                    "services": [
                        {"service": s, "outcome": o, "reason": r, "dossier_code": None}
                        for s, o, r in services
                    ],
                    "guide_slug": None,
                    "notes": "",
                    "follow_up_on": None,
                },
            )
        )
    return ops


def stored_once(url: str, sent: Iterable[dict[str, Any]]) -> list[str]:
    """What is wrong, in SQL, with the sessions the ops `sent` created (each op once, however
    often it was sent): each op claimed once, each session once at version 1 with one history
    row and its lines, the day counts equal to the lines, no seq twice, and on SQLite an intact
    file. An empty list when all is right. The database holds nothing else of these tables."""
    ops = {o["op_id"]: o for o in sent}
    sessions = {uuid.UUID(o["id"]): len(o["data"]["services"]) for o in ops.values()}
    problems = []
    db = Database(url)
    try:
        with db.read() as s:

            def one(sql: str) -> Any:
                return s.execute(sa.text(sql)).scalar()

            claimed = {
                uuid.UUID(str(v))
                for v in s.execute(sa.text("SELECT op_id FROM applied_op")).scalars()
            }
            want = {uuid.UUID(k) for k in ops}
            if claimed != want:
                problems.append(
                    f"applied_op: {len(want - claimed)} ops missing, {len(claimed - want)} unknown"
                )
            rows = s.execute(sa.text("SELECT id, version FROM assistance_session")).all()
            ids = [uuid.UUID(str(r[0])) for r in rows]
            if len(ids) != len(set(ids)) or set(ids) != set(sessions):
                problems.append(
                    f"assistance_session: {len(ids)} rows, {len(set(ids))} distinct, "
                    f"{len(set(sessions) - set(ids))} lost, {len(sessions)} sent"
                )
            if any(r[1] != 1 for r in rows):
                problems.append("assistance_session: a version other than 1")
            history = one("SELECT count(*) FROM record_history")
            history_ids = one("SELECT count(DISTINCT record_id) FROM record_history")
            if history != history_ids or history != len(sessions):
                problems.append(f"record_history: {history} rows for {len(sessions)} sessions")
            lines = one("SELECT count(*) FROM session_service")
            if lines != sum(sessions.values()):
                problems.append(f"session_service: {lines} lines, {sum(sessions.values())} sent")
            counted = one("SELECT coalesce(sum(lines), 0) FROM daily_line_count")
            if counted != lines:
                problems.append(f"daily_line_count: {counted} lines counted, {lines} stored")
            seqs = one("SELECT count(DISTINCT seq) FROM assistance_session")
            if seqs != len(ids):
                problems.append(f"seq: {seqs} distinct for {len(ids)} sessions")
            if db.is_sqlite:
                check = [r[0] for r in s.execute(sa.text("PRAGMA integrity_check"))]
                if check != ["ok"]:
                    problems.append(f"integrity_check: {check[:3]}")
                if s.execute(sa.text("PRAGMA foreign_key_check")).first() is not None:
                    problems.append("foreign_key_check: a row without its parent")
    finally:
        db.dispose()
    return problems
