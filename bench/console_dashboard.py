"""Console dashboard, session list and province roll-up on 1,000,000 sessions: p50/p95 ms.

A fresh migrated SQLite file (and PostgreSQL when BENCH_DATABASE_URL is set) gets every commune
of one province (Bắc Ninh, 99 communes) in use, with villages, volunteers, households and
1,000,000 sessions over the last twelve months (about 1.6 lines each), spread unevenly: a few
communes have nothing, the busiest about twice the average. Then, on the last full month:

- the dashboard of the busiest commune (server/reports.py, then the page through the app);
- the session list query of that commune (newest 50 of the month);
- the province roll-up (every commune in use, with the month before beside it; then the page).

Figures only; budgets: dashboard and list p95 ≤ 150 ms on SQLite, roll-up p95 ≤ 500 ms.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from server import accounts, labels, periods, reports
from server.app import create_app
from server.config import Settings
from server.db import Database
from server.i18n import TZ
from server.migrate import migrate
from server.models import AssistanceSession, Commune, Member, Role, Village
from server.services import CATALOGUE

from ._common import postgres

PROVINCE = "24"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000000"))
DAYS = 365
VILLAGES, VOLUNTEERS, HOUSEHOLDS = 6, 8, 300  # per commune
SILENT = 5  # communes in use with no session at all
RUNS = 30
PASSWORD = "bench password 2026"
COORDINATOR, ADMIN = "0900000201", "0900000202"
CHUNK = 50_000
AT = AssistanceSession.__table__.c.occurred_at.type  # type: ignore[attr-defined]

SESSION_COLUMNS = [
    "id",
    "commune_code",
    "village_id",
    "household_id",
    "volunteer_id",
    "occurred_at",
    "minutes",
    "people_helped",
    "guide_slug",
    "notes",
    "follow_up_on",
    "follow_up_done_at",
    "review_state",
    "review_comment",
    "reviewed_by",
    "reviewed_at",
    "conflict",
    "version",
    "seq",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
]
LINE_COLUMNS = ["session_id", "service_code", "outcome", "reason", "dossier_code"]
HOUSEHOLD_COLUMNS = [
    "id",
    "commune_code",
    "village_id",
    "code",
    "head_name",
    "head_name_key",
    "phone",
    "consent_at",
    "consent_by",
    "skills",
    "version",
    "seq",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
]
REASONS = ["missing_papers", "no_smartphone", "no_signal", "system_error", "needs_police", "other"]
SKILLS = list(labels.FIVE_SKILLS)


def main() -> None:
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {SESSIONS:,}")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", Path(tmp))
        if pg := os.environ.get("BENCH_DATABASE_URL"):
            with postgres(pg) as url:
                run("PostgreSQL", url, Path(tmp))


# --- Building the database -----------------------------------------------------------------------


class Generator:
    """Rows as Python values, the same for both backends (a fixed seed)."""

    def __init__(self, communes: list[str], now: datetime) -> None:
        self.rng = random.Random(2026)
        self.now = now
        self.today = now.astimezone(TZ).date()
        self.communes = communes
        busy = communes[SILENT:]
        weights = [self.rng.uniform(0.3, 2.0) for _ in busy]
        self.weights = dict(zip(busy, weights, strict=True))
        self.staff: dict[str, list[uuid.UUID]] = {}
        self.villages: dict[str, list[uuid.UUID]] = {}
        self.households: dict[str, list[uuid.UUID]] = {}
        self.services = [(code, skill) for code, skill, *_ in CATALOGUE]

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def members(self) -> Iterator[dict[str, Any]]:
        for i, code in enumerate(self.communes):
            self.staff[code] = []
            for j in range(VOLUNTEERS):
                mid = self.uid()
                self.staff[code].append(mid)
                yield {
                    "id": mid,
                    "name": f"Tình nguyện viên {i}-{j}",
                    "name_key": f"tinh nguyen vien {i}-{j}",
                    "phone": f"+8491{i:03d}{j:04d}",
                    "role": "volunteer",
                    "province_code": PROVINCE,
                    "commune_code": code,
                    "active": True,
                    "created_at": self.now,
                    "updated_at": self.now,
                }

    def village_rows(self) -> Iterator[dict[str, Any]]:
        for code in self.communes:
            self.villages[code] = []
            for j in range(VILLAGES):
                vid = self.uid()
                self.villages[code].append(vid)
                yield {
                    "id": vid,
                    "commune_code": code,
                    "name": f"Thôn {j + 1}",
                    "name_key": f"thon {j + 1}",
                    "merged_into_id": None,
                    "version": 1,
                    "seq": 0,
                    "created_at": self.now,
                    "updated_at": self.now,
                }

    def household_rows(self) -> Iterator[tuple]:
        n = 0
        for code in self.communes:
            self.households[code] = []
            for _ in range(HOUSEHOLDS):
                n += 1
                hid = self.uid()
                self.households[code].append(hid)
                vol = self.rng.choice(self.staff[code])
                skills = sorted(self.rng.sample(SKILLS, self.rng.randrange(0, 4)))
                yield (
                    hid,
                    code,
                    self.rng.choice(self.villages[code]),
                    f"B{n:07d}",
                    "Nguyễn Thị Lan",
                    "nguyen thi lan",
                    None,
                    self.now,
                    vol,
                    json.dumps(skills),
                    1,
                    0,
                    self.now,
                    self.now,
                    None,
                    vol,
                    vol,
                )

    def session_rows(self) -> Iterator[tuple[tuple, list[tuple]]]:
        rng = self.rng
        busy = list(self.weights)
        picks = rng.choices(busy, weights=list(self.weights.values()), k=SESSIONS)
        for seq, code in enumerate(picks, 1):
            sid = self.uid()
            at = self.now - timedelta(seconds=rng.randrange(DAYS * 86400))
            vol = rng.choice(self.staff[code])
            follow = None
            follow_done = None
            if rng.random() < 0.12:
                follow = at.astimezone(TZ).date() + timedelta(days=rng.randrange(3, 15))
                if follow < self.today - timedelta(days=3) and rng.random() < 0.9:
                    follow_done = at + timedelta(days=rng.randrange(3, 15))
            state = rng.choices(["approved", "new", "returned"], [70, 28, 2])[0]
            session = (
                sid,
                code,
                rng.choice(self.villages[code]),
                rng.choice(self.households[code]) if rng.random() < 0.85 else None,
                vol,
                at,
                rng.randrange(5, 45),
                rng.choices([1, 2, 3], [70, 22, 8])[0],
                None,
                "",
                follow,
                follow_done,
                state,
                "Thiếu mã hồ sơ" if state == "returned" else "",
                None,
                None,
                False,
                1,
                seq,
                at,
                at,
                at if rng.random() < 0.01 else None,
                vol,
                vol,
            )
            lines = []
            for service, skill in rng.sample(
                self.services, rng.choices([1, 2, 3], [55, 30, 15])[0]
            ):
                outcome = rng.choices(["done", "not_finished", "could_not"], [75, 15, 10])[0]
                reason = None if outcome == "done" else rng.choice(REASONS)
                dossier = None
                if skill == "public_services" and outcome == "done" and rng.random() < 0.6:
                    dossier = f"H24.46-{at:%y%m%d}-{rng.randrange(10000):04d}"
                lines.append((sid, service, outcome, reason, dossier))
            yield session, lines


def _sqlite_value(value: Any) -> Any:
    """How SQLAlchemy stores a value in SQLite: UUIDs as 32 hex digits, UTC naive text."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _migration_0002() -> Any:
    """Migration 0002, for the statement that fills daily_line_count from existing lines."""
    path = Path(__file__).resolve().parent.parent / "server/migrations/versions/0002_api_tokens.py"
    spec = importlib.util.spec_from_file_location("migration_0002", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SQLiteLoader:
    """Loads with the triggers and indexes of the two big tables set aside, then puts them back
    and fills the daily counts the way migration 0002 does: minutes instead of a quarter hour."""

    TABLES = ("assistance_session", "session_service")

    def __init__(self, url: str) -> None:
        self.conn = sqlite3.connect(sa.engine.make_url(url).database)
        # A throwaway file: no fsync, and a page cache large enough for the indexes.
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-1000000")
        marks = ", ".join("?" * len(self.TABLES))
        self.aside = self.conn.execute(
            f"SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ({marks}) "
            "AND type IN ('index', 'trigger') AND sql IS NOT NULL",
            self.TABLES,
        ).fetchall()
        for kind, name, _ in self.aside:
            self.conn.execute(f'DROP {kind.upper()} "{name}"')

    def rows(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self.conn.executemany(sql, [tuple(map(_sqlite_value, r)) for r in rows])

    def close(self) -> None:
        self.conn.execute(_migration_0002()._backfill("sqlite"))
        for kind in ("index", "trigger"):
            for k, _, sql in self.aside:
                if k == kind:
                    self.conn.execute(sql)
        self.conn.commit()
        self.conn.close()


class PostgresLoader:
    TRIGGERS = (
        ("session_service", "daily_line_count_line"),
        ("assistance_session", "daily_line_count_session"),
    )

    def __init__(self, url: str) -> None:
        import psycopg

        dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)
        self.conn = psycopg.connect(dsn)
        for table, trigger in self.TRIGGERS:
            self.conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")

    def rows(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row(r)

    def close(self) -> None:
        self.conn.execute(_migration_0002()._backfill("postgresql"))
        for table, trigger in self.TRIGGERS:
            self.conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")
        self.conn.close()


def build(url: str) -> tuple[str, float]:
    """Fill the database; return the busiest commune and the seconds it took."""
    t = time.perf_counter()
    migrate(url)
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as s:
        codes = list(
            s.scalars(
                sa.select(Commune.code)
                .where(Commune.province_code == PROVINCE)
                .order_by(Commune.code)
            )
        )
        s.execute(sa.update(Commune).where(Commune.code.in_(codes)).values(in_use_since=now))
    gen = Generator(codes, now)
    with db.write() as s:
        s.execute(sa.insert(Member), list(gen.members()))
        s.execute(sa.insert(Village), list(gen.village_rows()))
    db.dispose()
    loader = PostgresLoader(url) if url.startswith("postgresql") else SQLiteLoader(url)
    loader.rows("household", HOUSEHOLD_COLUMNS, list(gen.household_rows()))
    sessions: list[tuple] = []
    lines: list[tuple] = []
    counts: dict[str, int] = {}
    for session, its_lines in gen.session_rows():
        sessions.append(session)
        lines.extend(its_lines)
        counts[session[1]] = counts.get(session[1], 0) + 1
        if len(sessions) == CHUNK:
            loader.rows("assistance_session", SESSION_COLUMNS, sessions)
            loader.rows("session_service", LINE_COLUMNS, lines)
            sessions, lines = [], []
    if sessions:
        loader.rows("assistance_session", SESSION_COLUMNS, sessions)
        loader.rows("session_service", LINE_COLUMNS, lines)
    loader.close()
    db = Database(url)
    busiest = max(counts, key=lambda c: counts[c])
    with db.write() as s:
        s.execute(sa.text("UPDATE counter SET value = :n WHERE name = 'sync'"), {"n": SESSIONS})
        for phone, role, commune in (
            (COORDINATOR, Role.coordinator, busiest),
            (ADMIN, Role.admin, None),
        ):
            accounts.create_member(
                s,
                name="Người Đo",
                phone=phone,
                role=role,
                commune_code=commune,
                province_code=PROVINCE,
                password=PASSWORD,
            )
    db.dispose()
    return busiest, time.perf_counter() - t


# --- Measuring -----------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    for _ in range(2):  # warm up: imports, caches, the page cache
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(label: str, url: str, tmp: Path) -> None:
    busiest, seconds = build(url)
    app = create_app(
        Settings.from_env(
            database_url=url, secret_key="bench", var_dir=tmp, base_url="http://testserver"
        )
    )
    db: Database = app.state.db
    today = periods.today_in_vietnam()
    month = periods.month_of(today).previous()
    start, end = month.bounds()
    with db.read() as s:
        commune = s.get(Commune, busiest)
        assert commune is not None
        board = reports.dashboard(s, commune, month, today)
        in_use = len(reports.communes_in_use(s, PROVINCE))
        month_total = sum(r.now.sessions for r in reports.rollup(s, PROVINCE, month, today))

    def dashboard() -> None:
        with db.read() as s:
            reports.dashboard(s, commune, month, today)

    def session_list() -> None:
        with db.read() as s:
            rows = s.execute(
                sa.text(
                    "SELECT id, occurred_at, village_id, household_id, volunteer_id, "
                    "review_state FROM assistance_session WHERE commune_code = :c "
                    "AND occurred_at >= :s AND occurred_at < :e AND deleted_at IS NULL "
                    "ORDER BY occurred_at DESC LIMIT 50"
                ).bindparams(sa.bindparam("s", type_=AT), sa.bindparam("e", type_=AT)),
                {"c": busiest, "s": start, "e": end},
            ).all()
            assert len(rows) == 50

    def rollup() -> None:
        with db.read() as s:
            reports.rollup(s, PROVINCE, month, today)

    figures = [
        ("dashboard, reports", timed(dashboard)),
        ("session list, newest 50", timed(session_list)),
        ("province roll-up, reports", timed(rollup)),
    ]
    query = f"period={month.key}"
    with TestClient(app, follow_redirects=False) as client:
        for phone, path, name in (
            (COORDINATOR, f"/console/?{query}", "dashboard page"),
            (ADMIN, f"/console/province?{query}", "province page"),
        ):
            client.cookies.clear()
            client.get("/login")
            token = client.cookies["langso_csrf"]
            signed_in = client.post(
                "/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD}
            )
            assert signed_in.status_code == 303, signed_in.text[:300]

            def page(path: str = path) -> None:
                response = client.get(path)
                assert response.status_code == 200, response.text[:300]

            figures.append((f"{name}, HTTP in process", timed(page)))
    db.dispose()

    print(f"{label}: built in {seconds:.0f} s; {in_use} communes in use")
    print(
        f"  month {month.key}: {month_total:,} sessions in the province; the busiest commune "
        f"({busiest}) {board.now.sessions:,} sessions, {board.now.lines:,} services"
    )
    for name, (p50, p95) in figures:
        print(f"  {name:<34} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   ({RUNS} runs)")


if __name__ == "__main__":
    main()
