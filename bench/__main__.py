"""Run every benchmark module in bench/ and print its figures."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from pathlib import Path

from ._common import machine_reference


def main() -> int:
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
        module.main()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
