"""Time to answer at the UI's defaults (issue 19): every tab's first example — the first row the page
shows — through its main endpoint with the tab's default settings, on the app's default model,
cold and warm.

Cold: a fresh app per tab (`serve_app.py` in its own process, precision `auto`), the clock started as
soon as the page is serving and a client is connected, so the first answer includes whatever the
app was still loading. Warm: the same request again, the median of --warm calls. With --after-warm-up,
instead each tab's first answer on one fresh app whose warm-up (app/warmup.py: each tab's first
example once, in the background) is done, as a visitor who comes a little later finds it. Targets: ≤ 10 s cold and
≤ 3 s warm for the image tabs on this machine.

    .venv/bin/python benchmarks/bench_tabs.py [--model ViT-B-16] [--warm 3] [--tabs zeroshot,lseg]

Full-size architecture on random weights (speed does not depend on them; without weights the app
would start on CLIP Lab Mini, which is far smaller). The paper backbones the tabs load (DepthCLIP's
RN50, CLIPasso's RN101 and ViT-B/32, ViLT's and GroupViT's official engines) are full size too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from common import RESULTS, ROOT, report

sys.path[:0] = [str(ROOT / "tests")]

# The image tabs answer a person in seconds; the others are jobs (a sketch, a video, a training run).
IMAGE_TABS = ("zeroshot", "lseg", "groupvit", "vild", "glip", "depthclip", "vilt", "compare")
LONG_TABS = ("pointclip", "actionclip", "clip4clip", "clipasso")  # a mesh, a video, an index, a sketch
WARM_TARGET_S, COLD_TARGET_S = 3.0, 10.0


def tab_pages(model: str, pretrained: str) -> dict:
    """The app's pages built here (no model loaded, nothing served), to read each tab's endpoint,
    defaults and first example exactly as the served app has them."""
    from appserver import environment

    with environment({"CLIP_LAB_MODEL": model, "CLIP_LAB_PRETRAINED": pretrained, "CLIP_LAB_DEVICE": "cpu"}):
        import app
        from app.context import Settings

        return app.entry_module().build_demo(Settings(model, pretrained, "cpu")).clip_lab.pages


def time_tab(page, model: str, pretrained: str, warm: int) -> dict:
    from bench_load import ServerProcess
    from gradio_client import Client
    from tabcalls import arguments

    run = page.endpoints[0]
    args = arguments(page, run, world=False)
    server = ServerProcess("--model", model, "--pretrained", pretrained)
    try:
        client = Client(server.url, verbose=False)
        times = []
        for _ in range(1 + warm):
            started = time.perf_counter()
            client.predict(*args, api_name=f"/{run.api_name}")
            times.append(time.perf_counter() - started)
    finally:
        server.close()
    key = page.tab.key
    row = {"tab": key, "endpoint": f"/{run.api_name}", "cold_s": times[0], "warm_s": statistics.median(times[1:]),
           "warm_runs": warm}
    if key in IMAGE_TABS:
        row.update(cold_target_s=COLD_TARGET_S, warm_target_s=WARM_TARGET_S,
                   met="yes" if times[0] <= COLD_TARGET_S and row["warm_s"] <= WARM_TARGET_S else "no")
    print(f"{key}: cold {times[0]:.1f} s, warm {row['warm_s']:.2f} s", flush=True)
    return row


def after_warm_up(pages: dict, keys: list[str], model: str, pretrained: str) -> dict[str, dict]:
    """One fresh app whose warm-up is left to finish (a visitor who comes a little after the start),
    then each tab's first example once: its first answer."""
    from bench_load import ServerProcess
    from gradio_client import Client
    from tabcalls import arguments

    server = ServerProcess("--model", model, "--pretrained", pretrained, "--warm-up")
    try:
        client = Client(server.url, verbose=False)
        started = time.perf_counter()
        server.line("warmed")
        warm_up_s = time.perf_counter() - started
        first = {}
        for key in keys:
            run = pages[key].endpoints[0]
            args = arguments(pages[key], run, world=False)
            started = time.perf_counter()
            client.predict(*args, api_name=f"/{run.api_name}")
            first[key] = {"first_after_warm_up_s": time.perf_counter() - started, "warm_up_s": warm_up_s}
            print(f"{key}: first answer after the warm-up ({warm_up_s:.0f} s) {first[key]['first_after_warm_up_s']:.2f} s",
                  flush=True)
    finally:
        server.close()
    return first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-16")
    parser.add_argument("--pretrained", default="random")
    parser.add_argument("--warm", type=int, default=3, help="warm calls per tab (CLIPasso's: one)")
    parser.add_argument("--tabs", default=",".join(IMAGE_TABS + LONG_TABS))
    parser.add_argument("--after-warm-up", action="store_true",
                        help="instead: each tab's first answer on one fresh app once its warm-up is done")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pages = tab_pages(args.model, args.pretrained)
    keys = [k.strip() for k in args.tabs.split(",") if k.strip()]
    unknown = [k for k in keys if k not in pages]
    if unknown:
        parser.error(f"no tab {', '.join(unknown)}; tabs: {', '.join(pages)}")
    # a run of some tabs keeps the other tabs' rows of the last run, in the page's order
    previous = RESULTS / "tabs.json"
    kept = {r["tab"]: r for r in json.loads(previous.read_text())["rows"]} if previous.is_file() else {}
    if args.after_warm_up:  # added to the tabs' rows of the last cold / warm run
        timed = {k: {**kept.get(k, {"tab": k}), **v} for k, v in after_warm_up(pages, keys, args.model, args.pretrained).items()}
    else:
        timed = {k: time_tab(pages[k], args.model, args.pretrained, 1 if k == "clipasso" else args.warm) for k in keys}
    rows = [timed.get(k) or kept[k] for k in pages if k in timed or k in kept]
    report("tabs", rows)


if __name__ == "__main__":
    main()
