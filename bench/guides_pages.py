"""Guide pages: bytes on the wire before first paint, in total and on a repeat visit; catalogue
load and search times; guide-page throughput against bare Starlette.

A fresh migrated SQLite file with the shipped catalogue, served by a real uvicorn worker with
gzip as a phone gets it. "Before first paint" is the HTML plus every render-blocking resource
it names (stylesheets, classic scripts without defer or async); "total" adds the module
scripts and the icon sprite; "repeat" is the page and its files again, each revalidated by its
ETag as a browser does; then what the service worker of a resident's phone fetches to read
offline. Throughput: the guide page as a visitor who is not signed in gets it
(a whole page kept in memory, server/web/page_cache.py), and bare Starlette answering the same
bytes with the same gzip (bench/_bare.py), taken in turns in the same run; then as a signed-in
volunteer gets it (the page kept for the role, with the member's own form token), and made
afresh for every request (a cookie of a session that has ended). Figures only: the budgets are
14 KB (one TCP initial window) before first paint, and at least 60% of the bare throughput.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import httpx2
from sqlmodel import select

from server.accounts import create_member, start_session
from server.app import create_app
from server.config import Settings
from server.guides import load_guides, search_guides
from server.migrate import migrate
from server.models import Commune, Role
from server.web.field import READER

from ._common import app_env, uvicorn

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
GUIDE = "/vi/guides/lien-thong-khai-sinh-thuong-tru-bhyt"
CLIENTS, ROUNDS, SECONDS = 4, 3, 4.0
QUERIES = ["dang ky khai sinh", "vneid", "tiền điện", "lua dao", "giay phep lai xe", "qr", "otp"]


class _Resources(HTMLParser):
    """The stylesheets, scripts and icon sprites a page names, and whether each blocks
    rendering."""

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
        if tag == "use" and a.get("href"):  # an icon sprite, fetched once, drawn after the text
            sprite = str(a["href"]).split("#")[0]
            if (sprite, False) not in self.found:
                self.found.append((sprite, False))


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

        with db.write() as s:  # a volunteer, signed in, reading the guide in the browser
            commune = s.exec(select(Commune.code).limit(1)).one()
            member = create_member(
                s, name="Người đọc", phone="0900000001", role=Role.volunteer, commune_code=commune
            )
            token = start_session(s, member)
        db.dispose()
        with uvicorn("server.asgi:app", app_env(url, Path(tmp))) as (base, _pid):
            wire_bytes(base)
            throughput(base, Path(tmp), token)


def fetch(client: httpx2.Client, path: str, **headers: str) -> tuple[httpx2.Response, int]:
    """A GET as a browser sends it (gzip accepted) and the bytes that crossed the wire."""
    with client.stream("GET", path, headers={"Accept-Encoding": "gzip", **headers}) as r:
        r.read()
        return r, r.num_bytes_downloaded + sum(len(k) + len(v) + 4 for k, v in r.headers.raw)


def wire_bytes(base: str) -> None:
    """Cold: nothing cached. Repeat: the page again, its files revalidated by ETag (304)."""
    print("bytes on the wire (gzip as served, headers included):")
    print(f"  {'page':52} {'html':>6} {'first paint':>12} {'total':>7} {'repeat':>7}  budget")
    with httpx2.Client(base_url=base) as client:
        for path in PAGES:
            page, html = fetch(client, path)
            assert page.status_code == 200, path
            first = total = html
            _, repeat = fetch(client, path, **{"If-None-Match": page.headers.get("etag", "")})
            if not path.endswith(".svg"):
                parser = _Resources()
                parser.feed(page.text)
                for src, blocking in parser.found:
                    r, size = fetch(client, src)
                    total += size
                    first += size if blocking else 0
                    _, again = fetch(client, src, **{"If-None-Match": r.headers.get("etag", "")})
                    repeat += again
            verdict = "ok" if first <= BUDGET else "OVER"
            print(f"  {path:52} {html:6} {first:12} {total:7} {repeat:7}  {verdict}")
        reader_worker(client)


def reader_worker(client: httpx2.Client) -> None:
    """What a resident's phone fetches after the first paint to read offline: /sw.js, its
    precache (field.READER, every file fetched cold: an upper bound, since the page's own files
    come from the browser's cache) and the page and catalogue it keeps (here, the guide's)."""
    _, worker = fetch(client, "/sw.js")
    files = [fetch(client, url)[1] for url in READER]
    pages = sum(fetch(client, path)[1] for path in (GUIDE, "/vi/"))
    print(
        f"  a resident's service worker: sw.js {worker} B, precache {len(files)} files "
        f"{sum(files)} B, the page and the catalogue kept {pages} B; "
        f"{worker + sum(files) + pages} B in all, after the first paint (no app shell)"
    )


def _load(base: str, path: str, seconds: float, **cookies: str) -> float:
    """Requests per second from CLIENTS keep-alive connections during `seconds`."""
    deadline = time.perf_counter() + seconds
    counts = [0] * CLIENTS

    def worker(i: int) -> None:
        headers = {"Accept-Encoding": "gzip"}
        with httpx2.Client(base_url=base, headers=headers, cookies=cookies) as client:
            while time.perf_counter() < deadline:
                assert client.get(path).status_code == 200
                counts[i] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    return sum(counts) / (time.perf_counter() - started)


def throughput(base: str, tmp: Path, token: str) -> None:
    """The guide page against bare Starlette sending the same bytes, turn about, best of each;
    then as a signed-in member gets it, and for a cookie of a session that has ended."""
    html = tmp / "guide.html"
    html.write_bytes(httpx2.get(f"{base}{GUIDE}").content)
    ours, bare, member, made = [], [], [], []
    with uvicorn("bench._bare:app", {"BARE_HTML": str(html)}) as (bare_base, _pid):
        _load(base, GUIDE, 1)  # warm both up
        _load(bare_base, "/page", 1)
        for _ in range(ROUNDS):
            ours.append(_load(base, GUIDE, SECONDS))
            bare.append(_load(bare_base, "/page", SECONDS))
            member.append(_load(base, GUIDE, SECONDS, langso_session=token))
            # A session cookie that signs nobody in makes the page afresh each time.
            made.append(_load(base, GUIDE, SECONDS, langso_session="none"))
    print(
        f"throughput, one uvicorn worker, {CLIENTS} keep-alive clients, {os.cpu_count()} CPUs, "
        f"best of {ROUNDS} x {SECONDS:.0f} s:"
    )
    print(f"  {GUIDE}: {max(ours):,.0f} req/s (rounds: {', '.join(f'{r:,.0f}' for r in ours)})")
    print(f"  bare Starlette, same bytes: {max(bare):,.0f} req/s")
    print(f"  ratio {max(ours) / max(bare):.0%} (goal >= 60%)")
    print(
        f"  a signed-in volunteer (the page kept for the role, its own token): "
        f"{max(member):,.0f} req/s, {max(member) / max(bare):.0%} of bare (goal >= 60%)"
    )
    print(
        f"  made afresh for each request (a session that has ended): {max(made):,.0f} req/s, "
        f"{max(made) / max(bare):.0%} of bare"
    )


if __name__ == "__main__":
    main()
