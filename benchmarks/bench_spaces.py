"""What a CPU Basic Space (2 vCPU, 16 GB) needs from the app: a cold start, and the peak memory while a
visitor uses every tab in turn with the full-size default model (issue 20).

Run it as a fresh process (it is the cold start it measures):

    python benchmarks/bench_spaces.py [--model ViT-B-16] [--pretrained random] [--warm-up wait|beside|off]

- start-up: seconds from this process's start (the interpreter included) to `app.py` imported and
  its demo built, to the page answering, to the default model ready, and to the warm-up done (each
  tab's first example run once, as `app.py` starts it: `app/warmup.py`);
- the visit: with `--warm-up wait` (the default) it begins once the warm-up is done, so each tab's
  seconds are what a visitor after the warm-up waits; with `beside` it begins as soon as the model is
  ready, the warm-up running beside it (the worst case for memory: both at once); with `off` there
  is no warm-up and each tab pays its own first run;
- memory: the process's resident memory after start, once the model is ready, after each tab's first
  run (its first example at the UI's defaults; CLIPasso and Train with fewer iterations and steps —
  their memory does not grow with them), and its peak (VmHWM) over the whole visit.

Random weights weigh what the real ones do; the paper backbones the tabs load (DepthCLIP's RN50,
CLIPasso's RN101 and ViT-B/32) come in too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

SHORT = {  # settings whose size does not change the memory a run needs
    "clipasso": {"iterations": 10, "seeds": 1},
    "train": {"steps": 20, "eval_every": 10},
}


def since_start() -> float:
    """Seconds since this process started (from /proc: the interpreter's own start-up included)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def memory_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-16")
    parser.add_argument("--pretrained", default="random")
    parser.add_argument("--warm-up", choices=("wait", "beside", "off"), default="wait")
    args = parser.parse_args()
    os.environ.update(CLIP_LAB_MODEL=args.model, CLIP_LAB_PRETRAINED=args.pretrained, CLIP_LAB_DEVICE="cpu",
                      CLIP_LAB_WARM_UP="0" if args.warm_up == "off" else "1")

    import app as entry_package

    entry = entry_package.entry_module()  # app.py: imports, builds the demo
    built = since_start()
    demo = entry.demo
    ctx = demo.clip_lab
    from appserver import free_port

    # as app.py's main: the page served first, then the model's load and the warm-up
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **entry.launch_kwargs())
    ctx.start_loading()
    warmed: dict = {}
    warm_up = None
    if args.warm_up != "off":  # as app.py's main starts it, with each tab's seconds kept for the report
        import threading

        from app import warmup

        def run_warm_up() -> None:
            warmed.update(warmup.warm_up(ctx, background=False) or {})
            warmed["_done"] = since_start()

        warm_up = threading.Thread(target=run_warm_up, name="bench-warm-up", daemon=True)
        warm_up.start()
    url = demo.local_url
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    serving = since_start()
    rows = [dict(step="demo built", seconds=built), dict(step="page answers", seconds=serving,
                                                          rss_mb=memory_mb())]
    ctx.backbone()
    rows.append(dict(step="default model ready", seconds=since_start(), rss_mb=memory_mb()))

    def warm_up_rows() -> list[dict]:
        warm_up.join()
        tabs = {k: v for k, v in warmed.items() if k != "_done"}
        failed = {k: v for k, v in tabs.items() if isinstance(v, str)}
        return [dict(step=f"warm-up done ({len(tabs)} tabs)", seconds=warmed.get("_done"), rss_mb=memory_mb(),
                     outcome="ok" if not failed else f"failed: {failed}"[:160])]

    if args.warm_up == "wait":
        rows += warm_up_rows()

    from gradio_client import Client

    from tabcalls import arguments

    client = Client(url, verbose=False)
    for key, page in ctx.pages.items():
        run = page.endpoints[0]
        start = time.perf_counter()
        try:
            client.predict(*arguments(page, run, **SHORT.get(key, {})), api_name=f"/{run.api_name}")
            outcome = "ok"
        except Exception as error:  # reported, not hidden: the memory so far still counts
            outcome = f"failed: {str(error)[:120]}"
        rows.append(dict(step=f"{key} ({run.api_name})", seconds=time.perf_counter() - start, rss_mb=memory_mb(),
                         outcome=outcome))
    if args.warm_up == "beside":
        rows += warm_up_rows()
    rows.append(dict(step="peak over the visit", rss_mb=memory_mb("VmHWM")))
    demo.close()
    from common import report

    report("spaces" if args.warm_up == "wait" else f"spaces_warm_up_{args.warm_up}", rows)


if __name__ == "__main__":
    main()
