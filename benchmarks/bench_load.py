"""Load: many concurrent gradio_client clients across the image tabs while a CLIPasso sketch and a
video indexing run are going.

Reports per-endpoint p50/p95 latency, failures, whether the quick requests finished while the long
jobs were still running (they must not starve them), and the server's resident memory before and
after. `tests/test_load.py` runs the same driver on the tiny model (20 clients) and asserts the
pass conditions.

    python benchmarks/bench_load.py [--clients 50] [--rounds 3]     (tiny model)

The server runs in a process of its own (`serve_app.py`), as it does for real visitors: fifty client
threads inside the server's interpreter would compete with it for the GIL and time themselves out.
The test drives an in-process server instead (fewer clients, the same driver).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CHOICE = "clip-lab-tiny-vit · random"


def quick_requests(photo: str, handle_file) -> list[tuple[str, dict]]:
    """One call per image tab, with settings a person would use."""
    image = handle_file(photo)
    return [
        ("/zeroshot_classify", dict(image=image, labels="cat, dog, tiger")),
        ("/lseg_segment", dict(image=image, labels="cat, grass, other")),
        ("/groupvit_segment", dict(image=image)),
        ("/vild_detect", dict(image=image, categories="cat; dog")),
        ("/glip_ground", dict(image=image, caption="a cat . a dog .")),
        ("/vilt_answer", dict(image=image, question="What animal is this?")),
        ("/depthclip_estimate", dict(image=image)),
    ]


def resident_mb() -> float:
    """This process's resident memory, after handing freed heap back to the OS (glibc's malloc_trim),
    so that it measures live memory rather than the allocator's slack."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


def run_load(url: str, clients: int = 20, rounds: int = 3, sketch_iterations: int = 400, memory=None,
             warm_long_jobs: bool = True) -> dict:
    """Drive the server at `url`. memory: a callable giving the server's live resident MB (default:
    this process's, for a server in the same process). warm_long_jobs: one sketch and one indexing run
    in the warm-up too (the benchmark's memory figure; the test, which checks the queue, skips them)."""
    from gradio_client import Client, handle_file

    from app.examples import skimage_photo
    from app.tabs.clipasso import SHARED

    photo = skimage_photo("chelsea")
    # One session per client, made up front (making them is not what is measured).
    sessions = [Client(url, verbose=False) for _ in range(clients)]
    latencies: dict[str, list[float]] = {}
    failures: list[str] = []
    finished_during_sketch = []
    lock = threading.Lock()
    sketch = None

    def one_client(index: int, record: bool) -> None:
        client = sessions[index]
        calls = quick_requests(photo, handle_file)
        for r in range(rounds if record else 1):
            endpoint, kwargs = calls[(index + r) % len(calls)]
            start = time.perf_counter()
            try:
                client.predict(api_name=endpoint, **kwargs)
            except Exception as error:  # every failure is reported, none hidden
                with lock:
                    failures.append(f"{endpoint}: {error}")
                continue
            if record:
                with lock:
                    latencies.setdefault(endpoint, []).append(time.perf_counter() - start)
                    finished_during_sketch.append(not sketch.done())

    videos = sorted((ROOT / "assets" / "videos").glob("*.mp4")) + sorted((ROOT / "assets" / "videos").glob("*.webm"))

    def long_jobs(iterations: int):
        """A sketch and a second visitor's video indexing, submitted (not awaited)."""
        sketching = Client(url, verbose=False).submit(
            api_name="/clipasso_sketch", image=handle_file(skimage_photo("coffee")), strokes=8,
            iterations=iterations, backbones=SHARED,
        )
        indexing = Client(url, verbose=False).submit(files=[handle_file(str(v)) for v in videos], api_name="/clip4clip_add")
        return sketching, indexing

    # Warm-up: a burst of quick requests and one of each long job, so models, caches, every session's
    # state, the sketch's and the index's buffers and the allocator's per-thread arenas exist before
    # memory is first read: a difference afterwards is growth from the same work repeated.
    warm = long_jobs(10) if warm_long_jobs else ()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda i: one_client(i, False), range(clients)))
    for job, name in zip(warm, ("/clipasso_sketch (warm-up)", "/clip4clip_add (warm-up)")):
        _finished(job, name, failures)
    memory = memory or resident_mb
    memory_before = memory()

    sketch, indexing = long_jobs(sketch_iterations)  # a second visitor indexes videos meanwhile
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda i: one_client(i, True), range(clients)))
    quick_wall = time.perf_counter() - started
    sketch_done_before_quick = sketch.done()
    indexing_done_before_quick = indexing.done()
    sketch_ok = _finished(sketch, "/clipasso_sketch", failures)
    indexing_ok = _finished(indexing, "/clip4clip_add", failures)
    memory_after = memory()
    every = [t for values in latencies.values() for t in values]
    return {
        "clients": clients,
        "requests": clients * rounds,
        "failures": failures,
        "quick_wall_s": quick_wall,
        "p50_s": percentile(every, 50),
        "p95_s": percentile(every, 95),
        "per_endpoint": {
            name: {"n": len(v), "p50_s": percentile(v, 50), "p95_s": percentile(v, 95), "mean_s": statistics.mean(v)}
            for name, v in sorted(latencies.items())
        },
        "finished_while_sketch_ran": sum(finished_during_sketch),
        "sketch_finished_before_quick_requests": sketch_done_before_quick,
        "sketch_ok": sketch_ok,
        "indexing_ok": indexing_ok,
        "indexing_finished_before_quick_requests": indexing_done_before_quick,
        "memory_before_mb": memory_before,
        "memory_after_mb": memory_after,
    }


def _finished(job, endpoint: str, failures: list[str]) -> bool:
    """Whether a long job ended well, waited for by its progress (never by a fixed time)."""
    from appserver import finish

    try:
        finish(job)
        return True
    except Exception as error:  # reported, not hidden
        failures.append(f"{endpoint}: {error}")
        return False


class ServerProcess:
    """`serve_app.py` in a child process (`args` are its own: --model, --pretrained): its URL, and its
    live resident memory on request. A thread drains the child's stdout, so a chatty child never
    blocks on a full pipe."""

    def __init__(self, *args: str):
        import queue
        import signal
        import subprocess

        self._signal = signal.SIGUSR1
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "serve_app.py"), *args], stdout=subprocess.PIPE, text=True,
        )
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self.line("url")

    def _drain(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the child ended

    def line(self, word: str) -> str:
        """The rest of the next line the child prints that starts with `word` (waits for it)."""
        while (line := self._lines.get()) is not None:  # blocks until the child writes (or ends)
            if line.startswith(word + " "):
                return line.split(" ", 1)[1].strip()
        raise RuntimeError(f"the app process ended (exit {self.process.wait()}) before it printed {word!r}")

    def memory(self) -> float:
        self.process.send_signal(self._signal)
        return float(self.line("trimmed"))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def run(quick: bool = False, clients: int = 50, rounds: int = 3, sketch_iterations: int = 400) -> list[dict]:
    """Start the app on the tiny model in its own process, drive it, and return one row per endpoint."""
    server = ServerProcess()
    try:
        stats = run_load(server.url, clients, 2 if quick else rounds, sketch_iterations, memory=server.memory)
    finally:
        server.close()
    for failure in stats["failures"]:
        print("FAILED", failure[:500])
    print(
        f"failures: {len(stats['failures'])}; {stats['finished_while_sketch_ran']} of {stats['requests']} requests "
        f"finished while the CLIPasso job ran; memory {stats['memory_before_mb']:.0f} → "
        f"{stats['memory_after_mb']:.0f} MB"
    )
    rows = [
        dict(endpoint=name, n=v["n"], p50_s=v["p50_s"], p95_s=v["p95_s"])
        for name, v in stats["per_endpoint"].items()
    ]
    rows.append(
        dict(
            endpoint="all",
            n=stats["requests"],
            p50_s=stats["p50_s"],
            p95_s=stats["p95_s"],
            failures=len(stats["failures"]),
            memory_before_mb=stats["memory_before_mb"],
            memory_after_mb=stats["memory_after_mb"],
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sketch-iterations", type=int, default=400)
    args = parser.parse_args()
    from common import report

    report("load", run(False, args.clients, args.rounds, args.sketch_iterations))


if __name__ == "__main__":
    main()
