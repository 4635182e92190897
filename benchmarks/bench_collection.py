"""CLIP4Clip collections: the Ray engine's embedding throughput against the single-process local
engine on the same machine and cores, and a collection of 1 000 000 stored videos — faiss index
build time, query latency, memory of the opened (memory-mapped) collection.

Targets (issue 22): Ray ≥ 0.9× the local engine's videos/s (what is measured is the engine's
overhead: both call the same decode and encode); a query over 1 000 000 stored vectors ≤ 20 ms.

    .venv/bin/python benchmarks/bench_collection.py [--clips 24] [--videos 1000000] [--model ViT-B-32]

Full-size architecture on random weights (speed does not depend on them). The 1 000 000 vectors are
random unit vectors written as clip-retrieval writes its embeddings (img_emb + metadata), so the
index is the one `build_index` picks for that size and the default 4 GiB budget.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, report

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


def engines(work: Path, n_clips: int, model: str, workers: int) -> list[dict]:
    src = clips(work / "clips", n_clips)
    make = col.backbone_factory(model, "random", "cpu")
    make()  # load once here, so neither engine pays the first load from disk
    rows = []
    started = time.perf_counter()
    local = col.index_collection(src, work / "local", make_backbone=make, shard_size=8, progress=False)
    local_s = time.perf_counter() - started

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), object_store_memory=col.RAY_OBJECT_STORE, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    ray_start_s = time.perf_counter() - started
    try:
        started = time.perf_counter()
        job = col.index_collection(src, work / "ray", engine="ray", workers=workers, make_backbone=make,
                                   shard_size=8, progress=False)
        ray_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    same = all(np.allclose(np.load(work / "local" / f"img_emb/img_emb_{n}.npy"),
                           np.load(work / "ray" / f"img_emb/img_emb_{n}.npy"), atol=1e-5)
               for n in range(len(list((work / "local" / "img_emb").glob("*.npy")))))
    rows.append({"what": f"local engine, {n_clips} clips × 12 frames", "seconds": local_s,
                 "videos_per_s": local.embedded / local_s, "cores": os.cpu_count()})
    rows.append({"what": f"ray engine ({workers} actors; ray.init {ray_start_s:.1f} s not counted)", "seconds": ray_s,
                 "videos_per_s": job.embedded / ray_s, "cores": os.cpu_count(),
                 "ratio_to_local": (job.embedded / ray_s) / (local.embedded / local_s), "same_vectors": same})
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
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", choices=["engines", "million"], default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clip-lab-bench-collection-"))
    try:
        rows = engines(work, args.clips, args.model, args.workers) if args.only != "million" else []
        rows += million(work, args.videos, args.model, args.queries) if args.only != "engines" else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.only:  # keep the other part's rows of the last full run
        import json

        from common import RESULTS

        previous = RESULTS / "collection.json"
        kept = json.loads(previous.read_text())["rows"] if previous.is_file() else []
        is_engine = lambda row: "engine" in row["what"]  # noqa: E731
        rows = [r for r in kept if is_engine(r) != (args.only == "engines")] + rows
    report("collection", rows)


if __name__ == "__main__":
    main()
