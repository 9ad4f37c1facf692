"""Guide search: query latency (p50/p95) over the shipped guides plus 500 generated ones.

A fresh migrated SQLite file (and PostgreSQL when BENCH_DATABASE_URL is set) gets the
shipped guides and 500 generated ones (random Vietnamese words in title, keywords, summary and
steps), loaded by load_guides, which fills the full-text index. Then villagers' queries from
tests/search_queries.tsv (with typos and unfinished words) are timed through search_guides:
the index answers, no guide is read unless it is a result. Figures only.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from server.db import Database
from server.guides import CONTENT_DIR, load_guides, search_guides
from server.migrate import migrate

from ._common import postgres

GENERATED = 500
ROUNDS = 3
_TEXT = (
    "đăng ký tài khoản hồ sơ giấy tờ điện thoại ứng dụng mật khẩu ngân hàng bảo hiểm thẻ mã "
    "chuyển khoản trả tiền học phí nước điện xe máy ruộng lúa giống phân bón chợ phiên hợp tác "
    "xã thôn bản tổ dân phố công an trạm y tế trường học sổ đỏ đất đai thuế hộ kinh doanh"
)
WORDS = _TEXT.split()
TABLE = Path(__file__).parent.parent / "tests" / "search_queries.tsv"


def _guides(directory: Path) -> None:
    rng = random.Random(7)
    for path in CONTENT_DIR.glob("*.md"):
        shutil.copy(path, directory / path.name)

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    for i in range(GENERATED):
        steps = "\n".join(f"{n}. {words(12).capitalize()}." for n in range(1, 7))
        (directory / f"tao-ra-{i}.md").write_text(
            f"---\nslug: tao-ra-{i}\nskill: public_services\ntitle: {words(6).capitalize()}\n"
            f"title_en: Generated guide {i}\nsummary: {words(18).capitalize()}.\n"
            f"summary_en: A generated guide.\nsources: [https://example.gov.vn/{i}]\n"
            f"reviewed_on: 2026-11-01\nkeywords: [{words(2)}, {words(1)}]\n---\n\n"
            f"## Cần chuẩn bị\n\n- {words(8).capitalize()}.\n\n## Các bước\n\n{steps}\n\n"
            f"## Khi gặp vướng mắc\n\n- {words(10).capitalize()}.\n",
            encoding="utf-8",
        )


def _run(label: str, url: str, directory: Path) -> None:
    migrate(url)
    db = Database(url)
    with db.write() as s:
        load_guides(s, directory)
    queries = [
        line.split("\t")[0]
        for line in TABLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    times = []
    with db.read() as s:
        for q in queries:  # warm the version cache as a running server would be
            search_guides(s, q, "vi")
        for _ in range(ROUNDS):
            for q in queries:
                start = time.perf_counter()
                search_guides(s, q, "vi")
                times.append((time.perf_counter() - start) * 1000)
    db.dispose()
    guides = [path for path in directory.glob("*.md") if path.name != "README.md"]
    q = statistics.quantiles(times, n=20)
    print(
        f"{label}: {len(guides)} guides, {len(times)} queries: "
        f"p50 {statistics.median(times):.2f} ms, p95 {q[18]:.2f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "guides"
        directory.mkdir()
        _guides(directory)
        _run("SQLite (FTS5, bm25)", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", directory)
        if pg := os.environ.get("BENCH_DATABASE_URL"):
            with postgres(pg) as url:
                _run("PostgreSQL (tsvector, ts_rank)", url, directory)


if __name__ == "__main__":
    main()
