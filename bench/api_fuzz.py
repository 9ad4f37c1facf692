"""API fuzzing: schemathesis over every operation of /api/v1/openapi.json, plus invalid Unicode.

The same test module `make test` runs briefly (tests/test_api_fuzz.py), here with 300 examples
per operation and generation mode and new random cases each run, on a fresh SQLite file
(and PostgreSQL when BENCH_DATABASE_URL is set, through TEST_DATABASE_URL). It prints how many
requests were made and what they got; the figure that matters is 0 answers of 5xx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

EXAMPLES = 300
ROOT = Path(__file__).resolve().parent.parent


def _run(database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "statuses.json"
        env = {**os.environ, "FUZZ_EXAMPLES": str(EXAMPLES), "FUZZ_REPORT": str(report)}
        env.pop("TEST_DATABASE_URL", None)
        if database_url:
            env["TEST_DATABASE_URL"] = database_url
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_api_fuzz.py",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        statuses = Counter(json.loads(report.read_text()) if report.exists() else {})
    total = sum(statuses.values())
    by_class = Counter()
    for key, n in statuses.items():
        by_class[f"{key.rsplit(' ', 1)[1][0]}xx"] += n
    where = "PostgreSQL" if database_url else "SQLite"
    print(
        f"  {where}: {total} requests in {seconds:.0f} s; "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
        + f"; 5xx: {by_class.get('5xx', 0)}; tests {'passed' if done.returncode == 0 else 'FAILED'}"
    )
    if done.returncode != 0:
        print(done.stdout[-2000:])


def main() -> None:
    _run(None)
    if url := os.environ.get("BENCH_DATABASE_URL"):
        _run(url)


if __name__ == "__main__":
    main()
