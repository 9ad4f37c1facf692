"""Lighthouse mobile scores (12.x, headless Chromium) of /vi/, a guide page, /app and /login.

Lighthouse is not a dependency of the project (it comes from npm): install it outside the
project, `npm install lighthouse@12.2.3` in a directory of your own, and point LIGHTHOUSE at
its `node_modules/.bin/lighthouse` (or have `lighthouse` on PATH). Chromium: CHROMIUM, else
`chromium` on PATH. A fresh SQLite database with the guide catalogue, one uvicorn worker,
loopback only. Goal: 100 in every category on each page; the audits that cost points are listed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from server.db import Database
from server.guides import load_guides
from server.migrate import migrate

from ._common import app_env, uvicorn

PAGES = ["/vi/", "/vi/guides/nhan-biet-cuoc-goi-lua-dao", "/app", "/login"]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]


def main() -> None:
    lighthouse = os.environ.get("LIGHTHOUSE") or shutil.which("lighthouse")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not lighthouse or not chromium:
        print("  skipped: set LIGHTHOUSE to a lighthouse 12 CLI (npm) and have a Chromium")
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lighthouse.sqlite3'}"
        migrate(url)
        db = Database(url)
        try:
            with db.write() as s:
                load_guides(s)
        finally:
            db.dispose()
        with uvicorn("server.asgi:app", app_env(url, Path(tmp))) as (base_url, _pid):
            print(f"  {'page':42} " + " ".join(f"{c:>14}" for c in CATEGORIES))
            for path in PAGES:
                report = audit(lighthouse, chromium, base_url + path, Path(tmp))
                scores = {c: report["categories"][c]["score"] for c in CATEGORIES}
                print(
                    f"  {path:42} " + " ".join(f"{round(scores[c] * 100):>14}" for c in CATEGORIES)
                )
                for category in CATEGORIES:
                    for ref in report["categories"][category]["auditRefs"]:
                        found = report["audits"][ref["id"]]
                        if ref["weight"] and found.get("score") is not None and found["score"] < 1:
                            shown = found.get("displayValue") or ""
                            print(f"      {category}: {found['title']} {shown} ({found['score']})")


def audit(lighthouse: str, chromium: str, url: str, tmp: Path) -> dict:
    out = tmp / "report.json"
    subprocess.run(
        [
            lighthouse,
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            "--chrome-flags=--headless=new --no-sandbox",
            f"--only-categories={','.join(CATEGORIES)}",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": chromium},
        timeout=300,
    )
    return json.loads(out.read_text())


if __name__ == "__main__":
    main()
