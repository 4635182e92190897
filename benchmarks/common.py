"""Shared timing helpers for benchmarks/: medians, ratios against the bare CLIP forward, JSON out.

Benchmarks run full-size architectures with random weights (the speed of a forward does not depend
on the weights) on whatever device is given, and print milliseconds and ratios. They are not tests:
nothing here passes or fails.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def median_ms(fn, runs: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def interleaved_ms(calls: dict, runs: int, warmup: bool = True) -> dict:
    """Median ms of each named call, timed in turns (a, b, c, a, b, c, ...) after one warm-up each,
    so that load from other processes on a shared machine falls on all of them alike."""
    if warmup:
        for call in calls.values():
            call()
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            call()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def time_dense_tab(backbone, image, pipeline, tab, cheap: dict, runs: int) -> dict:
    """Timings of a tab built on dense patch embeddings (LSeg, GroupViT) for one image.

    pipeline(): the method's call; tab(result): what the tab draws and Gradio encodes from it;
    cheap: named calls that re-score without a forward. Returns the views the call ran, the median ms
    of the bare forward of those views, of the pipeline, the tab and each cheap call, of the dense
    pass alone and of the pipeline's own work after it, and the ratios to the bare forward."""
    pipeline()  # warms the text cache
    before = backbone.image_forwards
    pipeline()
    views = backbone.image_forwards - before
    pixels = backbone.pixels([image]).repeat(max(1, views), 1, 1, 1)
    ms = interleaved_ms(
        dict(bare=lambda: backbone.encode_images(pixels), pipeline=pipeline, tab=lambda: tab(pipeline()), **cheap),
        runs,
    )
    features = backbone.dense(image)
    real_dense = backbone.dense
    backbone.dense = lambda *args, **kwargs: features  # the same call with the dense features given
    try:
        after_forward = interleaved_ms(dict(post=pipeline), runs)["post"]
    finally:
        backbone.dense = real_dense
    return dict(
        views=views,
        pipeline_ms=ms["pipeline"],
        tab_ms=ms["tab"],
        bare_same_views_ms=ms["bare"],
        dense_ms=interleaved_ms(dict(dense=lambda: backbone.dense(image)), runs)["dense"],
        after_forward_ms=after_forward,
        ratio=ms["pipeline"] / ms["bare"],
        tab_ratio=ms["tab"] / ms["bare"],
        **{f"{name}_ms": ms[name] for name in cheap},
    )


def sender(components: dict):
    """What Gradio does before sending a tab's answer: each named output through its component's
    `postprocess` (images encoded and cached, files copied into Gradio's cache). Returns
    `send(answer) -> answer`; pass every output the tab fills, so the tab ratio covers all it sends."""

    def send(answer):
        for name, component in components.items():
            value = answer.outputs[name]
            if isinstance(value, dict) and "__type__" in value:  # a gr.update(...)
                value = value.get("value")
            component.postprocess(value)
        return answer

    return send


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def report(name: str, rows: list[dict]) -> Path:
    """Print rows as a table and write them, with the machine, to benchmarks/results/<name>.json."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for row in rows:
        print("  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    print(f"→ {path.relative_to(ROOT)}")
    return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)
