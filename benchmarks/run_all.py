"""Run every benchmarks/bench_*.py and write benchmarks/results/<name>.json for each.

    python benchmarks/run_all.py [--quick] [name ...]
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from common import report

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help="bench_<name>.py to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    names = args.names or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    for name in names:
        print(f"\n== {name}")
        module = importlib.import_module(f"bench_{name}")
        report(name, module.run(quick=args.quick))


if __name__ == "__main__":
    main()
