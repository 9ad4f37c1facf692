"""Guide pages: gzip bytes before first paint and in total, catalogue load and search times.

A fresh migrated SQLite file with the shipped catalogue, served in-process. "Before first
paint" is the HTML plus every render-blocking resource it names (stylesheets, classic scripts
without defer or async); "total" adds the module scripts. Figures only: the budget is 14 KB
(one TCP initial window) before first paint for the catalogue and for a guide.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.guides import load_guides, search_guides
from server.migrate import migrate

BUDGET = 14 * 1024
PAGES = [
    "/vi/",
    "/en/",
    "/vi/?q=dang+ky+khai+sinh",
    "/vi/guides/lien-thong-khai-sinh-thuong-tru-bhyt",
    "/en/guides/lien-thong-khai-sinh-thuong-tru-bhyt",
    "/vi/guides/nhan-biet-cuoc-goi-lua-dao/poster",
    "/guides/lien-thong-khai-sinh-thuong-tru-bhyt/qr.svg",
]
QUERIES = ["dang ky khai sinh", "vneid", "tiền điện", "lua dao", "giay phep lai xe", "qr", "otp"]


class _Resources(HTMLParser):
    """The stylesheets and scripts a page names, and whether each blocks rendering."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.found.append((str(a["href"]), a.get("media", "all") in ("all", "screen")))
        if tag == "script" and a.get("src"):
            deferred = "defer" in a or "async" in a or a.get("type") == "module"
            self.found.append((str(a["src"]), not deferred))


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate(url)
        settings = Settings.from_env(
            database_url=url, secret_key="bench", var_dir=Path(tmp), base_url="https://langso.vn"
        )
        app = create_app(settings)
        db = app.state.db
        started = time.perf_counter()
        with db.write() as s:
            summary = load_guides(s)
        first_load = time.perf_counter() - started
        started = time.perf_counter()
        with db.write() as s:
            load_guides(s)
        second_load = time.perf_counter() - started
        print(f"load-guides: {summary} in {first_load * 1000:.0f} ms; unchanged run", end=" ")
        print(f"{second_load * 1000:.0f} ms")

        timings = []
        with db.read() as s:
            for _ in range(20):
                for q in QUERIES:
                    started = time.perf_counter()
                    search_guides(s, q, "vi")
                    timings.append(time.perf_counter() - started)
        print(
            f"search over {len(summary.added)} guides: median "
            f"{statistics.median(timings) * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms"
        )

        with TestClient(app) as client:
            print(f"{'page':56} {'html gz':>8} {'first paint':>12} {'total':>8}  budget")
            for path in PAGES:
                body = client.get(path).content
                first = total = gz(body)
                if path.endswith(".svg"):
                    print(f"{path:56} {first:8} {first:12} {total:8}")
                    continue
                parser = _Resources()
                parser.feed(body.decode())
                for src, blocking in parser.found:
                    size = gz(client.get(src).content)
                    total += size
                    first += size if blocking else 0
                verdict = "ok" if first <= BUDGET else "OVER"
                print(f"{path:56} {gz(body):8} {first:12} {total:8}  {verdict}")
