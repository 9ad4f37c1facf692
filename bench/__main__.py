"""Run every benchmark module in bench/, print its figures, and write the whole output into
BENCHMARKS.md between the `bench` markers (`--no-write` leaves the file alone)."""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
import platform
import sys
from pathlib import Path
from typing import TextIO

from ._common import machine_reference, write_block


class _Tee(io.TextIOBase):
    """Standard output that also keeps what it printed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.kept = io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def main() -> int:
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        run_all()
    finally:
        sys.stdout = tee.stream
    if "--no-write" not in sys.argv[1:]:
        write_block("bench", "Raw output of `make bench`", tee.kept.getvalue())
    return 0


def run_all() -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.ispkg
    )
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"machine reference {machine_reference():.1f} ms (the same work on every machine)\n"
    )
    for name in names:
        if name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        if name == "scale":
            module.main(["--no-write"])  # its figures are in this run's output, written below
        else:
            module.main()
        print()


if __name__ == "__main__":
    sys.exit(main())
