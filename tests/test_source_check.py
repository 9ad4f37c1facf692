"""`langso check-sources`: a reviewer learns which cited official pages are gone or moved."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server.guides import CONTENT_DIR
from server.source_check import check_pages


class Site(BaseHTTPRequestHandler):
    """A provincial site after the merger: some pages answer, some are gone or redirected."""

    def _answer(self) -> None:
        port = self.server.server_address[1]
        path = self.path
        if path in ("/", "/trang-tin"):
            self.send_response(200)
        elif path == "/khong-nhan-head" and self.command == "HEAD":
            self.send_response(405)
        elif path == "/khong-nhan-head":
            self.send_response(200)
        elif path == "/doi-ten-mien":  # the merged province's new site
            self.send_response(301)
            self.send_header("Location", f"http://localhost:{port}/trang-tin")
        elif path == "/ve-trang-chu":  # every old address sent to the new home page
            self.send_response(302)
            self.send_header("Location", "/")
        elif path == "/cham":
            time.sleep(3)
            self.send_response(200)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = _answer
    do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_each_cited_page_is_called_ok_broken_moved_or_a_home_page(site: str) -> None:
    cited = {
        f"{site}/trang-tin": ["a", "b"],
        f"{site}/khong-nhan-head": ["a"],
        f"{site}/da-xoa": ["b"],
        f"{site}/doi-ten-mien": ["c"],
        f"{site}/ve-trang-chu": ["c"],
        f"{site}/": ["d"],
        f"{site}/cham": ["d"],
    }
    findings = {f.url.removeprefix(site): f for f in check_pages(cited, timeout=1)}
    verdicts = {path: f.verdict for path, f in findings.items()}
    assert verdicts == {
        "/trang-tin": "ok",
        "/khong-nhan-head": "ok",
        "/da-xoa": "broken",
        "/doi-ten-mien": "moved",
        "/ve-trang-chu": "moved",
        "/": "home page",
        "/cham": "broken",
    }
    assert findings["/da-xoa"].detail == "HTTP 404"
    assert "localhost" in findings["/doi-ten-mien"].detail
    assert "no answer in 1 s" in findings["/cham"].detail
    assert findings["/trang-tin"].guides == ["a", "b"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_names_the_guide_whose_page_is_gone_and_fails(tmp_path: Path) -> None:
    guides = tmp_path / "guides"
    guides.mkdir()
    original = CONTENT_DIR / "tra-cuu-ho-so-bang-ma.md"
    text = original.read_text(encoding="utf-8")
    port = closed_port()
    cited = f"sources:\n  - url: https://127.0.0.1:{port}/tin-tuc/ho-so\n  - https://127.0.0.1:{port}/\n"
    text = re.sub(r"sources:\n(  .*\n)+", cited, text, count=1)
    (guides / original.name).write_text(text, encoding="utf-8")
    env = {**os.environ, "SECRET_KEY": "check-sources", "LANGSO_VAR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "server", "check-sources", "--directory", str(guides)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"broken     https://127.0.0.1:{port}/"
    assert lines[1].endswith("cited by tra-cuu-ho-so-bang-ma")
    assert lines[2] == f"broken     https://127.0.0.1:{port}/tin-tuc/ho-so"
    assert lines[-1] == "2 pages: 0 ok, 2 broken, 0 moved, 0 home pages"
