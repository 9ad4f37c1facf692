"""Run every benchmark module in bench/ and print its figures."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.ispkg
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
