"""The app on the tiny model in a process of its own, for benchmarks whose clients must not share the
server's interpreter (`bench_load.py`: fifty clients' threads in the server's process compete with it
for the GIL, which no real classroom does).

    python benchmarks/serve_app.py [--model M --pretrained P] [--warm-up]   # prints "url <url>", serves until killed

On SIGUSR1 it collects garbage, hands freed heap back to the OS (glibc's malloc_trim) and prints
"trimmed <resident MB>", so its live memory can be read from outside.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]


def main() -> None:
    import argparse

    import testkit  # noqa: F401  (registers the tiny model configs)
    from appserver import running_demo
    from bench_load import resident_mb

    def trimmed(*_):
        print(f"trimmed {resident_mb():.1f}", flush=True)

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="clip-lab-tiny-vit")
    parser.add_argument("--pretrained", default="random")
    parser.add_argument("--warm-up", action="store_true", help="warm up as app.py does; print 'warmed' when done")
    args = parser.parse_args()
    signal.signal(signal.SIGUSR1, trimmed)
    with running_demo(args.model, args.pretrained) as (demo, url):
        print(f"url {url}", flush=True)
        if args.warm_up:
            import threading

            from app import warmup

            def warm():
                done = warmup.warm_up(demo.clip_lab, background=False)
                print(f"warmed {len(done or {})}", flush=True)

            threading.Thread(target=warm, daemon=True).start()
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
