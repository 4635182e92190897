"""A classroom opening the link at once: N simultaneous opens of the page (`/`) and of `/config`.

Starts the real app (`python app.py`, ViT-B-32 with random weights: the page does not depend on the
weights) twice — as Gradio serves it (CLIP_LAB_PAGE_CACHE=0) and with CLIP Lab's page cache
(app/serving.py) — and, for each, opens `/` N times at once and then `/config` N times at once
(browsers' Accept-Encoding), printing p50 / p95 / max seconds and the bytes on the wire.

    python benchmarks/bench_page.py [--clients 50]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BROWSER_ENCODING = "gzip, deflate, br, zstd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cache: bool) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CLIP_LAB_PAGE_CACHE": "1" if cache else "0", "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "app.py", "--model", "ViT-B-32", "--pretrained", "random", "--device", "cpu", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    while True:  # wait for the server, however long it takes to start; fail only if it died
        if server.poll() is not None:
            raise RuntimeError("the app did not start")
        try:
            if httpx.get(url + "gradio_api/info", timeout=60).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    time.sleep(5)  # let the background model load finish, so it does not share the clock
    return server, url


def _at_once(url: str, clients: int) -> tuple[list[float], int]:
    """`clients` threads GET `url` at the same moment; (seconds each, bytes on the wire of one)."""
    barrier = threading.Barrier(clients)
    times, sizes, errors = [], [], []

    def one():
        with httpx.Client(timeout=300) as client:
            barrier.wait()
            start = time.perf_counter()
            try:
                with client.stream("GET", url, headers={"Accept-Encoding": BROWSER_ENCODING}) as response:
                    wire = sum(len(chunk) for chunk in response.iter_raw())
                    response.raise_for_status()
            except httpx.HTTPError as error:
                errors.append(repr(error))
                return
            times.append(time.perf_counter() - start)
            sizes.append(wire)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {clients} requests failed: {errors[0]}")
    return times, max(sizes)


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run(quick: bool = False, clients: int = 50) -> list[dict]:
    rows = []
    for cache in (False, True):
        server, url = _start(cache)
        try:
            httpx.get(url, timeout=300)  # the first open of each kind builds (and, cached, keeps) it
            httpx.get(url + "config", timeout=300)
            for path in ("", "config"):
                times, wire = _at_once(url + path, clients)
                rows.append({
                    "served by": "CLIP Lab page cache" if cache else "Gradio as shipped",
                    "path": "/" + path, "clients": clients,
                    "p50 s": round(statistics.median(times), 3), "p95 s": round(_percentile(times, 0.95), 3),
                    "max s": round(max(times), 3), "KB on the wire": round(wire / 1024, 1),
                })
        finally:
            server.terminate()
            server.wait(timeout=60)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import report

    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    report("page", run(clients=args.clients))
