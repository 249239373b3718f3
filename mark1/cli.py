"""The `mark1` command: `mark1 info | bench | diff | cache`.

Each subcommand lives beside what it drives (info.py, bench/cli.py, vision/cli.py, cache.py) and exposes
register(subparsers); this file only assembles them, so a missing part never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = ("mark1.info", "mark1.bench.cli", "mark1.vision.cli", "mark1.cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mark1", description="mark1: neural-network kernels on NumPy, Numba and CUDA")
    sub = parser.add_subparsers(dest="command", metavar="{info,bench,diff,cache}")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name and name.startswith(e.name)):  # it exists but something it needs is missing: say so
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
