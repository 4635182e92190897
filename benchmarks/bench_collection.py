"""CLIP4Clip collections: the Ray engine's embedding throughput against the single-process local
engine on the same machine and cores, and a collection of 1 000 000 stored videos — faiss index
build time, query latency, memory of the opened (memory-mapped) collection.

Targets (issue 22): Ray ≥ 0.9× the local engine's videos/s (what is measured is the engine's
overhead: both call the same decode and encode); a query over 1 000 000 stored vectors ≤ 20 ms.
Each engine runs over --clips clips and over three times as many, so its throughput once running and
its fixed start-up are told apart; both runs' end-to-end ratios are reported as well.

    .venv/bin/python benchmarks/bench_collection.py [--clips 24] [--videos 1000000] [--model ViT-B-32]

Full-size architecture on random weights (speed does not depend on them). The 1 000 000 vectors are
random unit vectors written as clip-retrieval writes its embeddings (img_emb + metadata), so the
index is the one `build_index` picks for that size and the default 4 GiB budget.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, ROOT, report

from components.clip4clip import collection as col

sys.path.insert(0, str(ROOT / "assets"))
from generate_videos import moving_square, write_video  # noqa: E402

COLOURS = [(220, 30, 30), (30, 180, 60), (30, 60, 220), (230, 210, 40), (200, 60, 200), (40, 200, 200)]


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clips(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):  # 12 s at 8 fps: 12 sampled frames, as CLIP4Clip's cap
        write_video(folder / f"clip{i:03d}.mp4", moving_square(COLOURS[i % len(COLOURS)], 96, size=(320, 240)))
    return folder


def _timed_index(src: Path, out: Path, make, **engine) -> tuple[float, int]:
    """(seconds, videos embedded) of one indexing job; a Ray job starts its own local Ray first, whose
    start (`ray.init`) is not counted — on a cluster it is up before any job."""
    import ray

    if engine.get("engine") == "ray":
        ray.init(num_cpus=os.cpu_count(), object_store_memory=col.RAY_OBJECT_STORE, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        started = time.perf_counter()
        job = col.index_collection(src, out, make_backbone=make, shard_size=8, progress=False, **engine)
        return time.perf_counter() - started, job.embedded
    finally:
        if ray.is_initialized():
            ray.shutdown()


def engines(work: Path, n_clips: int, model: str, workers: int, decode: str = "actor") -> list[dict]:
    """Each engine over n clips and over 3n: the difference between the two runs is the engine's
    throughput once it is running (what a collection of thousands of videos sees), the rest of the
    small run is its fixed start-up (for Ray: the actors' processes importing torch and open_clip and
    building the model, which the local engine, holding the model already, does not pay)."""
    big = clips(work / "clips", 3 * n_clips)
    small = work / "small"
    small.mkdir()
    for path in sorted(big.iterdir())[:n_clips]:
        os.link(path, small / path.name)
    make = col.backbone_factory(model, "random", "cpu")
    make()  # load once here, so neither engine pays the first load from disk
    timed = {}
    for name, engine in (("local", {}), ("ray", {"engine": "ray", "workers": workers, "decode": decode})):
        for size, src in ((n_clips, small), (3 * n_clips, big)):
            timed[name, size] = _timed_index(src, work / f"{name}{size}", make, **engine)
    same = all(np.allclose(np.load(work / f"local{n_clips}" / f"img_emb/img_emb_{n}.npy"),
                           np.load(work / f"ray{n_clips}" / f"img_emb/img_emb_{n}.npy"), atol=1e-5)
               for n in range(len(list((work / f"local{n_clips}" / "img_emb").glob("*.npy")))))
    rows, rate = [], {}
    for name, label in (("local", "local engine"), ("ray", f"ray engine ({workers} actors, decoding in {'the actors' if decode == 'actor' else 'map tasks'})")):
        for size in (n_clips, 3 * n_clips):
            seconds, embedded = timed[name, size]
            row = {"what": f"{label}, {size} clips × 12 frames", "seconds": seconds,
                   "videos_per_s": embedded / seconds, "cores": os.cpu_count()}
            if name == "ray":
                row["ratio_to_local"] = row["videos_per_s"] / (timed["local", size][1] / timed["local", size][0])
                row["same_vectors"] = same if size == n_clips else None
            rows.append(row)
        (t_small, n_small), (t_big, n_big) = timed[name, n_clips], timed[name, 3 * n_clips]
        rate[name] = (n_big - n_small) / (t_big - t_small)
        rows.append({"what": f"{label}: throughput once running (the {n_big - n_small} clips more of the larger run)",
                     "videos_per_s": rate[name], "startup_s": t_small - n_small / rate[name]})
    rows[-1]["ratio_to_local"] = rate["ray"] / rate["local"]
    return rows


def million(work: Path, n: int, model: str, queries: int) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.backbone import load_backbone

    folder = work / "million"
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    rng = np.random.default_rng(0)
    per_shard = 100_000
    # clustered, as real embeddings are (videos of a kind lie near each other): 2 000 topics + noise
    topics = rng.standard_normal((2_000, 512), dtype=np.float32)
    for s, start in enumerate(range(0, n, per_shard)):
        count = min(per_shard, n - start)
        vectors = topics[rng.integers(0, len(topics), count)] + 0.6 * rng.standard_normal((count, 512), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        np.save(folder / f"img_emb/img_emb_{s}.npy", vectors)
        pq.write_table(pa.table({"image_path": [f"v{start + j}.mp4" for j in range(count)]}),
                       folder / f"metadata/metadata_{s}.parquet")
    del vectors
    started = time.perf_counter()
    info = col.build_index(folder, model=model, pretrained="random")
    build_s = time.perf_counter() - started
    before = rss_mb()
    collection = col.Collection(folder)
    opened = rss_mb() - before
    backbone = load_backbone(model, "random", "cpu")
    texts = [f"a video of thing number {i}" for i in range(queries)]
    encoded = backbone.encode_texts(texts).numpy().astype(np.float32)
    collection.index.search(encoded[:1], 10)  # warm
    started = time.perf_counter()
    for i in range(queries):
        collection.index.search(encoded[i : i + 1], 10)
    faiss_ms = (time.perf_counter() - started) * 1000 / queries
    started = time.perf_counter()
    for text in texts[: queries // 4]:
        collection.search(backbone, text, k=10)
    full_ms = (time.perf_counter() - started) * 1000 / (queries // 4)
    after = rss_mb() - before
    # recall@10 of the index against the exact scan, for queries near stored videos (an image of one)
    stored = np.concatenate([np.asarray(v[:2]) for v in collection.vectors[:10]])
    near = stored + 0.3 * rng.standard_normal(stored.shape, dtype=np.float32) / np.sqrt(512)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    exact = np.concatenate([np.asarray(v) @ near.T for v in collection.vectors])  # (n, q)
    _, ids = collection.index.search(np.ascontiguousarray(near), 10)
    recall = float(np.mean([len(set(np.argsort(-exact[:, q])[:10]) & set(ids[q])) / 10 for q in range(len(near))]))
    return [
        {"what": f"index build over {n} vectors ({info['factory']}, {info['params']})", "seconds": build_s},
        {"what": "query: faiss search, k = 10", "ms_per_query": faiss_ms, "target_ms": 20, "recall_at_10": recall},
        {"what": "query: Collection.search with names (text embeddings cached by the backbone)", "ms_per_query": full_ms},
        {"what": "opened collection memory (RSS after open / after queries)", "rss_mb": opened, "rss_after_mb": after,
         "vectors_on_disk_mb": n * 512 * 4 / 2**20},
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--videos", type=int, default=1_000_000)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--decode", choices=col.RAY_DECODE, default="actor")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", choices=["engines", "million"], default=None)
    parser.add_argument("--note", default="", help="what to say of this run in the results (machine load, ...)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clip-lab-bench-collection-"))
    try:
        rows = engines(work, args.clips, args.model, args.workers, args.decode) if args.only != "million" else []
        rows += million(work, args.videos, args.model, args.queries) if args.only != "engines" else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    previous_path = RESULTS / "collection.json"
    previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
    if args.only:  # keep the other part's rows of the last full run
        is_engine = lambda row: "engine" in row["what"]  # noqa: E731
        rows = [r for r in previous.get("rows", []) if is_engine(r) != (args.only == "engines")] + rows
    path = report("collection", rows)
    # the runs before stay on record, newest first, each with what was said of it
    earlier = [{"note": previous.get("note", "the run before this one"), "rows": previous["rows"]}] if previous else []
    if "one_actor" in previous:
        earlier.append(previous["one_actor"])
    result = json.loads(path.read_text())
    result.update(note=args.note, earlier_runs=earlier + previous.get("earlier_runs", []))
    path.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
