"""Sync ingest through a real uvicorn server: ops/second, bytes per op, bootstrap size.

A fresh migrated SQLite file (and PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL is
set), one uvicorn worker, one signed-in volunteer. 3,000 households are synced first (a large
commune), then batches of 200 new sessions, gzipped as the app sends them, with ids made as the
app makes them (UUIDv7, pwa/js/ids.js). A second figure: four volunteers of the same commune,
each signed in on its own client with its own cursor, sending their batches at the same time
(the server's ops/s over all of them). Figures only: the budgets are ≥ 5,000 ops/s on SQLite,
≤ 300 B gzip per session op, and a bootstrap small enough for a 400 kbit/s line with 400 ms
round trips.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

from server import accounts, villages
from server.db import Database
from server.i18n import TZ
from server.migrate import migrate
from server.models import Role

from ._common import app_env, cpu_seconds, machine_reference, postgres, uvicorn

COMMUNE = "07627"
PHONE = "0900000123"
PASSWORD = "bench password 2026"
HOUSEHOLDS = 3000
BATCH = 200
BATCHES = 25
VOLUNTEERS = 4  # sending at the same time, for the second figure
TOGETHER = 10  # batches each
LINE_KBIT, RTT = 400, 0.4

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi"]
MIDDLE = ["Văn", "Thị", "Đức", "Ngọc", "Minh", "Thanh", "Hữu", "Quang", "Thu", "Xuân"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Long", "Mai"]
PREFIXES = ["090", "091", "093", "094", "096", "097", "098", "086", "088", "032", "035", "039"]
SKILLS = ["public_services", "shopping", "payment", "safety", "local_platforms"]
NOTES = [
    "Đã hướng dẫn cài VNeID, hẹn tuần sau mang giấy khai sinh của cháu",
    "Bác chưa có điện thoại thông minh, con trai sẽ về vào Chủ nhật",
    "Nộp hồ sơ khai sinh trên Cổng DVC, chờ UBND xã duyệt",
    "Hướng dẫn nhận biết cuộc gọi lừa đảo, không đưa mã OTP cho ai",
    "",
]
SERVICES = [
    ("vneid_install", "done", None),
    ("vneid_activate", "not_finished", "needs_police"),
    ("dvc_birth", "done", None),
    ("bhyt_renew", "could_not", "system_error"),
    ("pay_electricity", "done", None),
    ("safe_scam", "done", None),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", Path(tmp))
        pg = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if pg:
            with postgres(pg) as url:
                run("PostgreSQL", url, Path(tmp))


def run(label: str, url: str, tmp: Path) -> None:
    migrate(url)
    village_ids = seed(url)
    with (
        uvicorn("server.asgi:app", app_env(url, tmp)) as (base_url, pid),
        httpx2.Client(base_url=base_url, timeout=60) as client,
    ):
        send = Sender.signed_in(client, PHONE)

        households = [household_op(village_ids, i) for i in range(HOUSEHOLDS)]
        for i in range(0, HOUSEHOLDS, BATCH):
            send(households[i : i + BATCH])
        household_ids = [op["id"] for op in households]

        rng = random.Random(7)
        batches = [
            [session_op(rng, village_ids, household_ids) for _ in range(BATCH)]
            for _ in range(BATCHES + 2)
        ]
        for batch in batches[:2]:  # warm up: imports, caches, the page cache
            send(batch)
        # The bench's own heap (every batch prepared ahead) is not the phone's: keep this
        # process's collector from walking it during the timed requests (passes of 150 ms).
        gc.collect()
        gc.freeze()
        times, sizes, answer_bytes = [], [], 0
        cpu_before = cpu_seconds(pid)
        for batch in batches[2:]:
            body = Sender.encode(send.cursor, batch)  # on the phone, before the request
            sizes.append(len(body))
            t = time.perf_counter()
            answer_bytes += send.raw(body, len(batch))
            times.append(time.perf_counter() - t)
        elapsed = sum(times)
        server_cpu = cpu_seconds(pid) - cpu_before
        together = at_once(base_url, pid, village_ids, household_ids)
        gc.unfreeze()

        ops = BATCH * BATCHES
        raw_per_op = statistics.mean(len(json.dumps(op).encode()) for op in batches[2])
        gzip_per_op = statistics.mean(sizes) / BATCH
        plain = client.get("/api/v1/bootstrap", headers={"Accept-Encoding": "identity"})
        t = time.perf_counter()
        packed = client.get("/api/v1/bootstrap", headers={"Accept-Encoding": "gzip"})
        boot_ms = (time.perf_counter() - t) * 1000
        etag = packed.headers["etag"]
        t = time.perf_counter()
        unchanged = client.get("/api/v1/bootstrap", headers={"If-None-Match": etag})
        revalidate_ms = (time.perf_counter() - t) * 1000
        assert unchanged.status_code == 304
        assert plain.status_code == packed.status_code == 200
        assert len(plain.json()["households"]) == HOUSEHOLDS
        boot_raw = len(plain.content)
        boot_gzip = int(packed.headers.get("content-length", len(packed.content)))
        line_bytes_per_s = LINE_KBIT * 1000 / 8
        estimate = 3 * RTT + boot_gzip / line_bytes_per_s

    print(
        f"{label}, one uvicorn worker, {os.cpu_count()} CPUs, "
        f"machine reference {machine_reference():.1f} ms"
    )
    print(
        f"  ingest: {ops:,} new session ops in {BATCHES} batches of {BATCH}: "
        f"{elapsed:.2f} s, {ops / elapsed:,.0f} ops/s "
        f"(batch median {statistics.median(times) * 1000:.0f} ms, "
        f"fastest {min(times) * 1000:.0f} ms = {BATCH / min(times):,.0f} ops/s, "
        f"slowest {max(times) * 1000:.0f} ms)"
    )
    print(
        f"  server CPU: {server_cpu / BATCHES * 1000:.0f} ms per batch of {BATCH}, "
        f"{ops / server_cpu:,.0f} ops per server CPU-second"
    )
    wall, cpu, latencies = together
    many = VOLUNTEERS * TOGETHER * BATCH
    print(
        f"  ingest, {VOLUNTEERS} volunteers of the commune sending at once (each signed in on "
        f"its own client, with its own cursor), {TOGETHER} batches of {BATCH} each: "
        f"{many:,} ops in {wall:.2f} s, {many / wall:,.0f} ops/s for the server "
        f"(batch median {statistics.median(latencies) * 1000:.0f} ms as each phone waits; "
        f"server CPU {cpu / (VOLUNTEERS * TOGETHER) * 1000:.0f} ms per batch)"
    )
    print(
        f"  wire: {gzip_per_op:.0f} B gzip per session op sent (raw JSON {raw_per_op:.0f} B); "
        f"answer {answer_bytes / ops:.0f} B gzip per op"
    )
    print(
        f"  bootstrap, {HOUSEHOLDS:,} households: {boot_raw / 1000:,.0f} kB raw, "
        f"{boot_gzip / 1000:,.0f} kB gzip ({boot_gzip / HOUSEHOLDS:.0f} B per household); "
        f"≈ {estimate:.1f} s at {LINE_KBIT} kbit/s with {RTT * 1000:.0f} ms RTT "
        f"(3 round trips for TCP, TLS and the request, then the body at line speed)"
    )
    print(
        f"  bootstrap served in {boot_ms:.0f} ms; revalidated (304 by ETag) in "
        f"{revalidate_ms:.0f} ms"
    )


class Sender:
    """Posts gzipped batches the way the app does and follows the cursor."""

    def __init__(self, client: httpx2.Client, token: str) -> None:
        self.client, self.token, self.cursor = client, token, 0

    @classmethod
    def signed_in(cls, client: httpx2.Client, phone: str) -> Sender:
        client.get("/login")
        token = client.cookies["langso_csrf"]
        answer = client.post(
            "/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD}
        )
        assert answer.status_code == 303, answer.text[:300]
        return cls(client, token)

    def catch_up(self) -> None:
        """Pull until nothing more is waiting (a phone new to the commune gets its households)."""
        more = True
        while more:
            headers = {"Content-Type": "application/json", "X-CSRF-Token": self.token}
            body = json.dumps({"cursor": self.cursor, "ops": []})
            answer = self.client.post("/api/v1/sync", content=body, headers=headers)
            assert answer.status_code == 200, answer.text[:300]
            self.cursor, more = answer.json()["cursor"], answer.json()["more"]

    @staticmethod
    def encode(cursor: int, ops: list[dict]) -> bytes:
        body = json.dumps({"cursor": cursor, "ops": ops}, ensure_ascii=False)
        return gzip.compress(body.encode(), compresslevel=6)

    def __call__(self, ops: list[dict]) -> None:
        self.raw(self.encode(self.cursor, ops), len(ops))

    def raw(self, body: bytes, n: int) -> int:
        response = self.client.post(
            "/api/v1/sync",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Accept-Encoding": "gzip",
                "X-CSRF-Token": self.token,
            },
        )
        assert response.status_code == 200, response.text[:300]
        wire = int(response.headers.get("content-length", len(response.content)))
        answer = response.json()
        statuses = {r["status"] for r in answer["results"]}
        assert len(answer["results"]) == n and statuses == {"applied"}, answer["results"][:3]
        assert not answer["more"]
        self.cursor = answer["cursor"]
        return wire


def at_once(
    base_url: str, pid: int, village_ids: list[str], household_ids: list[str]
) -> tuple[float, float, list[float]]:
    """VOLUNTEERS phones sending TOGETHER batches each, one after another, all at the same
    time: (wall seconds from the first request to the last answer, server CPU seconds, the
    time of each request)."""
    rng = random.Random(11)
    clients = [httpx2.Client(base_url=base_url, timeout=60) for _ in range(VOLUNTEERS)]
    try:
        senders = [Sender.signed_in(c, f"{PHONE[:-1]}{n + 4}") for n, c in enumerate(clients)]
        work = []
        for sender in senders:
            sender.catch_up()
            sender(
                [session_op(rng, village_ids, household_ids) for _ in range(BATCH)]
            )  # its first pull, and a warm connection
            work.append(
                [
                    [session_op(rng, village_ids, household_ids) for _ in range(BATCH)]
                    for _ in range(TOGETHER)
                ]
            )
        latencies: list[float] = []
        start = threading.Barrier(VOLUNTEERS + 1)

        def phone(sender: Sender, batches: list[list[dict]]) -> None:
            start.wait()
            for batch in batches:
                body = Sender.encode(sender.cursor, batch)  # as the phone does, with its cursor
                t = time.perf_counter()
                sender.raw(body, len(batch))
                latencies.append(time.perf_counter() - t)

        threads = [
            threading.Thread(target=phone, args=(sender, batches))
            for sender, batches in zip(senders, work, strict=True)
        ]
        for thread in threads:
            thread.start()
        cpu_before = cpu_seconds(pid)
        start.wait()
        t = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - t, cpu_seconds(pid) - cpu_before, latencies
    finally:
        for c in clients:
            c.close()


def seed(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.write() as s:
            member = accounts.create_member(
                s,
                name="Nguyễn Văn Tình",
                phone=PHONE,
                role=Role.volunteer,
                commune_code=COMMUNE,
                password=PASSWORD,
            )
            for n in range(1, VOLUNTEERS + 1):  # the others of the commune, for the second figure
                accounts.create_member(
                    s,
                    name=f"Tình nguyện viên {n}",
                    phone=f"{PHONE[:-1]}{n + 3}",
                    role=Role.volunteer,
                    commune_code=COMMUNE,
                    password=PASSWORD,
                )
            return [
                str(villages.add_village(s, COMMUNE, f"Thôn {n}", member).id)
                for n in ("Đông", "Tây", "Nam", "Bắc", "Thượng", "Hạ", "Trung", "Chùa", "Đình")
            ]
    finally:
        db.dispose()


def household_op(village_ids: list[str], i: int) -> dict:
    rng = random.Random(i)
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    phone = rng.choice(PREFIXES) + f"{rng.randrange(10**7):07d}" if rng.random() < 0.7 else None
    return op(
        "household",
        {
            "village_id": rng.choice(village_ids),
            "code": f"DS-{i:05d}",
            "head_name": name,
            "phone": phone,
            "consent": True,
            "consent_at": local_time(rng.randrange(60 * 24 * 200)),
            "skills": sorted(rng.sample(SKILLS, rng.randrange(4))),
        },
    )


def session_op(rng: random.Random, village_ids: list[str], household_ids: list[str]) -> dict:
    services = rng.sample(SERVICES, rng.choice([1, 1, 2, 3]))
    return op(
        "session",
        {
            "household_id": rng.choice(household_ids) if rng.random() < 0.8 else None,
            "village_id": rng.choice(village_ids),
            "occurred_at": local_time(rng.randrange(60 * 24 * 30)),
            "minutes": rng.choice([10, 15, 20, 30, 45]),
            "people_helped": rng.choice([1, 1, 2, 3]),
            "services": [
                {"service": code, "outcome": outcome, "reason": reason, "dossier_code": None}
                for code, outcome, reason in services
            ],
            "guide_slug": None,
            "notes": rng.choice(NOTES),
            "follow_up_on": None,
        },
    )


def uuid7() -> uuid.UUID:
    """An id as the app makes them (pwa/js/ids.js, RFC 9562 version 7): the Unix time in ms in
    the first 48 bits, then the version, the variant and 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, of which 74 are kept
    high, low = (rand >> 62) & 0xFFF, rand & ((1 << 62) - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (high << 64) | (0b10 << 62) | low)


def op(entity: str, data: dict) -> dict:
    return {
        "op_id": str(uuid7()),
        "entity": entity,
        "id": str(uuid7()),
        "base_version": 0,
        "data": data,
    }


def local_time(minutes_ago: int) -> str:
    when = datetime.now(UTC).astimezone(TZ) - timedelta(minutes=minutes_ago + 1)
    return when.isoformat(timespec="seconds")


if __name__ == "__main__":
    main()
