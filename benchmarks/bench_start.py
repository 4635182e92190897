"""Cold start of `python app.py`, as a Space starts it: seconds from the process's spawn to the page
answering and to the default model ready (issue 20 asks for the page in ≤ 15 s).

    python benchmarks/bench_start.py [--runs 3] [--against REV] [--model ViT-B-16] [--pretrained random]

Each run spawns the app afresh (no warm-up, Hub offline) on a free port, polls the page until it
answers, then the `model_status` endpoint until it says "Ready:", and stops the app. With
`--against REV` the same is done for that revision (checked out in a temporary git worktree, sharing
this tree's virtual environment), the two trees taking turns run by run so that both see the same
load: the ratio of their medians is what to read on a busy machine; the seconds themselves only on a
quiet one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

POLL_S = 0.1
LIMIT_S = 600.0  # a start that takes longer is reported as failed, not waited on


def cold_start(tree: Path, model: str, pretrained: str) -> dict:
    from gradio_client import Client

    from appserver import free_port

    port = free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "CLIP_LAB_WARM_UP": "0", "PYTHONPATH": str(tree)}
    spawned = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, str(tree / "app.py"), "--model", model, "--pretrained", pretrained, "--device", "cpu",
         "--port", str(port)],
        cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    row: dict = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        while "page answers" not in row:
            if app.poll() is not None or time.perf_counter() - spawned > LIMIT_S:
                return row | {"outcome": f"failed: {app.stderr.read()[-300:] if app.poll() is not None else 'too slow'}"}
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                row["page answers"] = time.perf_counter() - spawned
            except OSError:
                time.sleep(POLL_S)
        client = Client(url, verbose=False)
        while "model ready" not in row:
            status = client.predict(f"{model} · {pretrained}", api_name="/model_status")[0]
            if "Ready:" in str(status):
                row["model ready"] = time.perf_counter() - spawned
            elif time.perf_counter() - spawned > LIMIT_S or "fail" in str(status).lower():
                return row | {"outcome": f"failed: {str(status)[:200]}"}
            else:
                time.sleep(POLL_S)
        return row | {"outcome": "ok"}
    finally:
        app.terminate()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()


def worktree(rev: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="clip-lab-start-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(folder), rev], cwd=ROOT, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="also start this revision, alternating with this tree")
    parser.add_argument("--model", default="ViT-B-16")
    parser.add_argument("--pretrained", default="random")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.against:
        trees[args.against] = worktree(args.against)
    rows: list[dict] = []
    try:
        for run in range(1, args.runs + 1):
            for name, tree in trees.items():
                rows.append({"tree": name, "run": run, **cold_start(tree, args.model, args.pretrained)})
                print(rows[-1], flush=True)
    finally:
        for name, tree in trees.items():
            if tree != ROOT:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
                shutil.rmtree(tree.parent, ignore_errors=True)
    for name in trees:
        done = [r for r in rows if r["tree"] == name and r.get("outcome") == "ok"]
        if done:
            rows.append({"tree": name, "run": "median", "outcome": f"{len(done)} of {args.runs}",
                         **{k: statistics.median(r[k] for r in done) for k in ("page answers", "model ready")}})
    medians = [r for r in rows if r["run"] == "median"]
    if len(medians) == 2:
        rows.append({"tree": "this tree / " + args.against, "run": "ratio",
                     **{k: medians[0][k] / medians[1][k] for k in ("page answers", "model ready")}})
    from common import report

    report("start", rows)


if __name__ == "__main__":
    main()
