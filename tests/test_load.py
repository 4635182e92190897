"""Load: 20 concurrent clients across the image tabs while a CLIPasso sketch and a video indexing run
are going (tiny model). The driver is benchmarks/bench_load.py, which also reports p50/p95 latency
(and runs 50 clients by default)."""

from __future__ import annotations

import sys
from pathlib import Path

from appserver import running_demo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_twenty_clients_and_a_sketch():
    from bench_load import run_load

    with running_demo() as (_demo, url):
        stats = run_load(url, clients=20, rounds=2, sketch_iterations=400, warm_long_jobs=False)
    assert stats["failures"] == [], stats["failures"]
    assert stats["sketch_ok"] and stats["indexing_ok"]
    # The long job has its own queue slot: quick requests finish while it is still running.
    assert not stats["sketch_finished_before_quick_requests"]
    assert stats["finished_while_sketch_ran"] >= 0.9 * stats["requests"]
    assert stats["memory_after_mb"] <= 1.10 * stats["memory_before_mb"], stats
