"""What the benchmarks share: a throwaway PostgreSQL database, a real uvicorn process, the CPU
time it used. Not a benchmark itself (bench/__main__.py skips modules starting with _)."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import sqlalchemy as sa

from server.config import ROOT


@contextmanager
def postgres(admin_url: str) -> Iterator[str]:
    """A new empty database on the server of `admin_url`, dropped afterwards."""
    name = f"langso_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn(
    app: str, env: dict[str, str], ready_path: str = "/healthz"
) -> Iterator[tuple[str, int]]:
    """`app` (module:attribute) in one uvicorn worker; yields its base URL and process id."""
    port = free_port()
    args = [app, "--port", str(port), "--workers", "1", "--log-level", "warning"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--no-access-log"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx2.get(f"{base_url}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"uvicorn did not start {app}")
        yield base_url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def app_env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a Làng Số process on database `url`, keeping its files in `tmp`."""
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "LANGSO_VAR": str(tmp), **extra}


def cpu_seconds(pid: int) -> float:
    """CPU time used by a process so far (Linux): unlike wall time, other load barely moves it."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return float("nan")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_reference(rounds: int = 5) -> float:
    """Milliseconds, best of `rounds`, for a fixed piece of work shaped like a sync batch's
    (2,000 ids, JSON both ways, an indexed SQLite insert and commit), in this process: a figure
    of the machine, not of Làng Số. Each session runs on a machine of its own, and their speed
    has differed threefold; figures from two machines compare once divided by it."""
    best = float("inf")
    for r in range(rounds):
        t = time.perf_counter()
        rows = [
            json.dumps({"id": str(uuid.UUID(int=r * 10_000 + i)), "n": i, "text": "Thôn " * 8})
            for i in range(2000)
        ]
        parsed = [json.loads(row) for row in rows]
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, text TEXT)")
        conn.execute("CREATE INDEX ix_t_n ON t (n)")
        with conn:
            conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [tuple(p.values()) for p in parsed])
        conn.close()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def write_block(name: str, title: str, text: str) -> None:
    """Put `text`, dated, between the `<!-- name -->` markers of BENCHMARKS.md (a section
    `title` added at its end if they are missing)."""
    mark, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    path = ROOT / "BENCHMARKS.md"
    doc = path.read_text()
    block = f"{mark}\n```\n{time.strftime('%Y-%m-%d', time.gmtime())}: {text.strip()}\n```\n{end}"
    if mark in doc and end in doc:
        doc = re.sub(re.escape(mark) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"
    path.write_text(doc)
