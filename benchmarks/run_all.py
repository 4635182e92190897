"""Run every benchmarks/bench_*.py and write benchmarks/results/<name>.json for each.

    python benchmarks/run_all.py [--quick] [name ...]

A benchmark without a `run(quick)` (bench_spaces measures its own process's cold start) runs as a
process of its own, with its defaults, and writes its results itself.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
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
        print(f"\n== {name}", flush=True)
        module = importlib.import_module(f"bench_{name}")
        if hasattr(module, "run"):
            report(name, module.run(quick=args.quick))
        else:  # a benchmark that must be a process of its own (a cold start, Ray's workers): its main()
            subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")], check=True)


if __name__ == "__main__":
    main()
