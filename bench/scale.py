"""Scale-out on PostgreSQL: 1 and 2 app processes, 200 volunteers syncing, 50 residents reading.

Each run gets a fresh database (20 communes, 10 volunteers each, 3 villages each, the guide
catalogue) and N app processes on loopback ports; phone n talks to port n % N, as nginx would
spread them. The volunteers sign in first; then for SECONDS (60 by default: `--seconds`, or
SCALE_SECONDS) each sends batches of 5–30 new sessions, up to a second apart, sends a fifth of
them again as if the answer had been lost, and retries after a network error, a 5xx or a 429
with the same ops. The residents read guide pages and the catalogue without signing in, up to
0.2 s apart. Afterwards every op sent is checked in SQL to be stored exactly once
(bench/_fleet.py stored_once), and the run fails on any 5xx or a record lost or doubled.
Printed: requests, p50/p95/p99, stored ops/s, the servers' CPU and peak RSS; the figures go into
BENCHMARKS.md between the bench-scale markers (`--no-write` leaves it alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
import sqlalchemy as sa

from server import accounts, villages
from server.config import ROOT
from server.db import Database
from server.guides import load_guides
from server.migrate import migrate

from ._common import app_env, cpu_seconds, machine_reference, postgres, write_block
from ._fleet import Server, Tally, add_volunteer, run_phones, stored_once

COMMUNES, PER_COMMUNE, VILLAGES = 20, 10, 3
READERS = 50
PASSWORD = "bench password 2026"
SLUGS = sorted(p.stem for p in (ROOT / "server/content/guides").glob("*.md") if p.stem != "README")


@dataclass
class Run:
    processes: int
    seconds: float
    phones: Tally
    readers: list[float]  # seconds per guide page
    reader_status: dict[int, int]
    stored: int
    cpu: float  # of the app processes
    rss: int  # the largest of the app processes, bytes
    backends: int  # the most PostgreSQL connections seen
    problems: list[str]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SCALE_SECONDS", 60)))
    parser.add_argument("--processes", default="1,2", help="comma-separated, default 1,2")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv if argv is not None else [])
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        print("  skipped: set BENCH_DATABASE_URL=postgresql+psycopg://… (PostgreSQL only)")
        return
    runs = [run(admin, int(n), args.seconds) for n in args.processes.split(",")]
    text = report(runs)
    print(text)
    if not args.no_write:
        write_block("bench-scale", "Raw output of `make bench-scale`", text)
    failed = [p for r in runs for p in r.problems]
    if failed:
        raise SystemExit("bench-scale failed: " + "; ".join(failed))


def run(admin: str, processes: int, seconds: float) -> Run:
    """One run on a fresh database with `processes` app processes."""
    with tempfile.TemporaryDirectory() as tmp, postgres(admin) as url:
        migrate(url)
        phones, village_ids = seed(url)
        env = app_env(url, Path(tmp))
        servers = [Server(env, Path(tmp) / f"server-{n}.log") for n in range(processes)]
        try:
            for server in servers:
                server.start()
            return drive(url, servers, phones, village_ids, seconds)
        finally:
            for server in servers:
                server.stop()


def drive(
    url: str,
    servers: list[Server],
    phones: list[str],
    village_ids: dict[str, list[str]],
    seconds: float,
) -> Run:
    urls = [s.url for s in servers]
    tally, stop = Tally(), threading.Event()
    ready = threading.Barrier(len(phones) + 1)
    print(f"  {len(servers)} process(es): {len(phones)} volunteers signing in…", flush=True)
    threads, sent, errors = run_phones(
        urls,
        phones,
        PASSWORD,
        village_ids,
        tally,
        ops=(5, 30),
        again=0.2,
        until=stop,
        ready=ready,
        think=1.0,
        deadline=seconds + 300,
    )
    ready.wait(timeout=300)
    cpu_before = sum(cpu_seconds(s.pid) for s in servers)
    reads: list[float] = []
    read_status: dict[int, int] = {}
    readers = [
        threading.Thread(target=reader, args=(urls[n % len(urls)], n, stop, reads, read_status))
        for n in range(READERS)
    ]
    for thread in readers:
        thread.start()
    started = time.monotonic()
    rss, backends = 0, 0
    watcher = sa.create_engine(url, pool_size=1)
    while time.monotonic() - started < seconds:
        time.sleep(1)
        rss = max([rss, *(s.rss() for s in servers)])
        with watcher.connect() as conn:
            count = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            backends = max(backends, conn.execute(sa.text(count)).scalar() or 0)
    watcher.dispose()
    stop.set()
    for thread in threads + readers:
        thread.join(timeout=300)
    elapsed = time.monotonic() - started  # the last batches finish after the stop
    cpu = sum(cpu_seconds(s.pid) for s in servers) - cpu_before
    ops = [o for batch in sent for o in batch]
    problems = [f"{type(e).__name__}: {e}" for e in errors[:3]]
    problems += stored_once(url, ops)
    if tally.server_errors or any(status >= 500 for status in read_status):
        problems.append(f"5xx answers: sync {tally.server_errors}, guides {read_status}")
    return Run(
        len(servers), elapsed, tally, reads, read_status, len(ops), cpu, rss, backends, problems
    )


def reader(
    url: str, n: int, stop: threading.Event, times: list[float], status: dict[int, int]
) -> None:
    """A resident without an account: guide pages (from a QR poster) and the catalogue."""
    rng = random.Random(n)
    with httpx2.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            path = f"/vi/guides/{rng.choice(SLUGS)}" if rng.random() < 0.8 else "/vi/"
            t = time.perf_counter()
            try:
                code = client.get(path).status_code
            except httpx2.TransportError:
                code = 0
            times.append(time.perf_counter() - t)
            status[code] = status.get(code, 0) + 1
            time.sleep(rng.random() * 0.2)


def seed(url: str) -> tuple[list[str], dict[str, list[str]]]:
    """COMMUNES communes in use with PER_COMMUNE volunteers and VILLAGES villages each, and the
    guide catalogue: (phone numbers, the village ids of each phone's commune)."""
    db = Database(url)
    hashed = accounts.hash_password(PASSWORD)
    phones: list[str] = []
    village_ids: dict[str, list[str]] = {}
    try:
        with db.write() as s:
            load_guides(s)
            codes = s.execute(
                sa.text("SELECT code FROM commune ORDER BY code LIMIT :n"), {"n": COMMUNES}
            )
            for c, code in enumerate(codes.scalars()):
                ours = []
                for v in range(PER_COMMUNE):
                    phone = f"0{900000000 + c * 100 + v}"
                    member = add_volunteer(s, phone, f"Tình nguyện viên {c}-{v}", code, hashed)
                    phones.append(phone)
                    ours.append(phone)
                made = [
                    villages.add_village(s, code, f"Thôn {v + 1}", member) for v in range(VILLAGES)
                ]
                for phone in ours:
                    village_ids[phone] = [str(village.id) for village in made]
    finally:
        db.dispose()
    return phones, village_ids


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms"


def report(runs: list[Run]) -> str:
    lines = [
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"machine reference {machine_reference():.1f} ms; load and servers on the same machine "
        f"(the load's own CPU: {own_cpu():.0f} s in all)",
        f"{COMMUNES * PER_COMMUNE} volunteers ({COMMUNES} communes), {READERS} residents, "
        f"one PostgreSQL database, DB_POOL_MAX 40 per process",
    ]
    for r in runs:
        t = r.phones
        requests = sum(t.http.values())
        applied = t.statuses["applied"]
        reads = sum(r.reader_status.values())
        lines += [
            f"{r.processes} process{'es' if r.processes > 1 else ''}, {r.seconds:.0f} s:",
            f"  sync: {requests:,} requests ({t.acked_batches:,} batches answered, "
            f"{t.statuses['duplicate']:,} ops sent again and answered duplicate), "
            f"{applied / r.seconds:,.0f} ops/s stored, "
            f"{t.acked_batches / r.seconds:,.1f} batches/s; {percentiles(t.latencies)}",
            f"  guides: {reads:,} pages, {reads / r.seconds:,.0f} req/s; {percentiles(r.readers)}",
            f"  5xx: {t.server_errors + sum(n for c, n in r.reader_status.items() if c >= 500)}, "
            f"429: {t.http[429]}, network errors: {t.network_errors}; "
            f"stored exactly once: {'yes' if not r.problems else '; '.join(r.problems)} "
            f"({r.stored:,} ops checked in SQL)",
            f"  servers: {r.cpu:.0f} CPU-s ({r.cpu / r.seconds:.2f} cores), peak RSS "
            f"{r.rss / 2**20:.0f} MiB per process, up to {r.backends} PostgreSQL connections",
        ]
    return "\n".join(lines)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main(sys.argv[1:])
