"""Lighthouse mobile scores (performance, accessibility, best practices, SEO) of the catalogue,
a guide page, the field app and the sign-in page, as a phone that has never visited sees them.

Lighthouse 12 (pinned below) runs the system Chromium headless with its default mobile
emulation (a mid-range phone, slow 4G, CPU slowed 4×). It is installed with npm into a cache
folder outside the project the first time; with no npm or no Chromium the benchmark says so
and skips. A fresh migrated SQLite file with the shipped catalogue, one uvicorn worker. Each
page is measured RUNS times and the median score of each category printed, with the audits that
cost points. Performance moves with the machine's load (the other categories do not): run it on
a quiet machine before comparing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from server.db import Database
from server.guides import load_guides
from server.migrate import migrate

from ._common import app_env, uvicorn

VERSION = "12.8.2"
PAGES = ["/vi/", "/vi/guides/lien-thong-khai-sinh-thuong-tru-bhyt", "/app", "/login"]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
RUNS = 3
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "langso-bench"


def chromium() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def lighthouse() -> Path | None:
    """The lighthouse command, installed with npm into the cache the first time."""
    folder = CACHE / f"lighthouse-{VERSION}"
    command = folder / "node_modules" / ".bin" / "lighthouse"
    if command.exists():
        return command
    if not shutil.which("npm"):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(folder),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"lighthouse@{VERSION}",
        ],
        check=True,
    )
    return command if command.exists() else None


def audit(command: Path, browser: str, url: str, out: Path) -> dict:
    subprocess.run(
        [
            str(command),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": browser},
        timeout=300,
    )
    return json.loads(out.read_text())


def main() -> None:
    browser = chromium()
    command = lighthouse() if browser else None
    if not browser or not command:
        print("skipped: Lighthouse needs npm and Chromium")
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate(url)
        db = Database(url)
        with db.write() as s:
            load_guides(s)
        db.dispose()
        print(f"Lighthouse {VERSION}, mobile, median of {RUNS} runs")
        with uvicorn("server.asgi:app", app_env(url, Path(tmp))) as (base, _pid):
            for page in PAGES:
                reports = [
                    audit(command, browser, base + page, Path(tmp) / f"report-{i}.json")
                    for i in range(RUNS)
                ]
                scores = {
                    c: statistics.median(round(r["categories"][c]["score"] * 100) for r in reports)
                    for c in CATEGORIES
                }
                landed = reports[-1]["finalDisplayedUrl"].removeprefix(base)
                shown = f"{page} (→ {landed})" if landed != page else page
                print(f"  {shown}: " + ", ".join(f"{c} {scores[c]:g}" for c in CATEGORIES))
                for line in _lost_points(reports[-1]):
                    print(f"      {line}")


def _lost_points(report: dict) -> list[str]:
    """The weighted audits of the last run that did not score full marks."""
    lines = []
    for category in report["categories"].values():
        for ref in category["auditRefs"]:
            found = report["audits"][ref["id"]]
            if ref.get("weight", 0) > 0 and found["score"] is not None and found["score"] < 1:
                value = found.get("displayValue", "")
                lines.append(
                    f"{category['id']}: {found['id']} {found['score']:.2f} {value}".strip()
                )
    return lines


if __name__ == "__main__":
    main()
