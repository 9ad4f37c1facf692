"""App shell: what the service worker precaches, raw and as sent (goal ≤ 100 KB).

The list is the one /sw.js carries; each file is fetched from the app in-process with
`Accept-Encoding: gzip`, and the body is counted as it left the app (compressed by the app
itself), before the client decodes it.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.migrate import migrate

BUDGET = 100 * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'shell.sqlite3'}"
        migrate(url)
        app = create_app(Settings.from_env(database_url=url, secret_key="bench", var_dir=Path(tmp)))
        with TestClient(app) as client:
            worker = client.get("/sw.js").text
            shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", worker).group(1))
            rows = []
            for path in shell:
                with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as r:
                    body = r.read()
                    rows.append((path, len(body), r.num_bytes_downloaded))
    width = max(len(p) for p, _, _ in rows)
    for path, raw, packed in sorted(rows, key=lambda r: -r[2]):
        print(f"  {path:<{width}}  {raw:>8,} B  {packed:>7,} B sent")
    raw_total = sum(r[1] for r in rows)
    gz_total = sum(r[2] for r in rows)
    print(
        f"  {len(rows)} files: {raw_total:,} B raw, {gz_total:,} B as sent "
        f"({gz_total / BUDGET:.0%} of the 100 KB budget)"
    )


if __name__ == "__main__":
    main()
