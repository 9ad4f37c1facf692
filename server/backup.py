"""A consistent copy of the database while the app runs: SQLite's online backup, or pg_dump."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa


def backup(url: str, target: str | Path) -> Path:
    path = Path(target)
    if path.exists():
        raise ValueError(f"{path} already exists: choose a new file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = sqlite3.connect(parsed.database or "")
        try:
            dest = sqlite3.connect(path)
            with dest:
                source.backup(dest)  # a page-by-page copy that sees one consistent state
            dest.close()
        finally:
            source.close()
        return path
    if shutil.which("pg_dump") is None:
        raise ValueError("pg_dump is not installed")
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["pg_dump", "--format=custom", f"--file={path}", plain], check=True)
    return path
