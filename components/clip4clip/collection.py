"""A collection: CLIP4Clip embeddings of a whole video library, in clip-retrieval's shard layout,
made on one process or as a Ray Data job, searched through a faiss index chosen for its size.

    python -m components.clip4clip.collection index SRC --out DIR [--engine local|ray]
        [--address ADDR] [--workers N] [--model ViT-B-16 --pretrained openai] [--memory 4GB]
    python -m components.clip4clip.collection build DIR [--memory 4GB] [--model M --pretrained P]
    python -m components.clip4clip.collection search DIR "a dog on a beach" [--image FILE] [-k 10]

SRC is a folder (walked recursively for video files) or a CSV whose `path` column (or first column)
lists videos, relative to the CSV's folder. Each video is sampled as CLIP4Clip samples it
(`components.video`'s per-second sampling: 1 frame/s, at most 12 picked uniformly), its frames embedded
by the chosen model, and pooled by meanP (`similarity.mean_pool`). DIR then holds, per shard n of
`SHARD_SIZE` videos (a shard's rows are its videos in the listing's order, unreadable ones left out):

    img_emb/img_emb_<n>.npy            (videos, D) float32 unit meanP vectors: clip-retrieval's file
    frame_emb/frame_emb_<n>.npy        (frames, D) float32 unit frame vectors, the shard's videos in turn
    metadata/metadata_<n>.parquet      one row per video: path (relative to SRC), duration, frame_times,
                                       frame_start / frame_count (rows of frame_emb), model, weights,
                                       embed_dim, sampling
    shards/shard_<n>.json              written last: the videos planned for the shard and those skipped
                                       (with why); a shard is finished when this matches the plan
    collection.json                    the model, weights, embedding size, sampling, root, shard count
    report.json                        the unreadable videos of the last run, and why
    index/videos.index, index.json     the faiss index over img_emb and how it was chosen (`build`)

Every file is written under a temporary name and renamed into place, so a run stopped anywhere keeps
every finished shard, and running the command again skips them. Embeddings made by clip-retrieval
itself (img_emb + metadata, no frame_emb, no collection.json) are searched too once `build` is told
which model made them (`--model`, `--pretrained`); their hits show no moment.

Engines: `local` embeds in this process (decoding the next video while the current one is encoded);
`ray` runs the same two steps as a Ray Data job, `map_batches` with an actor per worker holding the
model, on a local Ray (`ray.init(num_cpus=...)`) or an existing cluster (`--address`). Where the
decoding runs (`--decode`): on CPU actors each actor decodes its own batch (`actor`, the default
there: a video's decoded frames, megabytes of pixels, never cross Ray's object store, a hand-over that
cost a fifth of the throughput on 2 cores); for accelerator actors Ray Data `map` tasks decode on the
cluster's CPUs and hand the frames over (`tasks`, the default off the CPU: the accelerator does not
wait for the decoder). Every way calls the same `decode_video` and `embed_frames`, so they write the
same vectors.

Index (`choose_index`, the rule autofaiss follows, written with faiss' index factory): flat inner
product below `FLAT_UP_TO` videos (exact; a scan of 20 000 × 512 floats is a few ms); up to
`HNSW_UP_TO` an HNSW graph over the full vectors when it fits the memory budget; above that IVF over
√N lists with flat lists when the vectors fit the budget (exact scores for the lists visited), else
with product-quantised codes of the most bytes per vector that fit.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from components import video as videos
from components.clip4clip.similarity import LOGIT_SCALE, mean_pool
from components.clip4clip.texts import cap_text
from components.errors import InputError

FORMAT = "clip-lab collection 1"
MANIFEST = "collection.json"
REPORT = "report.json"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v", ".mpg", ".mpeg", ".ts", ".gif")
SHARD_SIZE = 1_000  # videos per shard
MAX_VIDEO_MB = 4_096  # an operator's library, not an upload: the app's upload limit does not apply
FLAT_UP_TO = 20_000  # videos searched exactly (flat); see the module docstring
HNSW_UP_TO = 200_000  # above this an HNSW build takes too long on a few cores: IVF
HNSW_M = 32
HNSW_EF_SEARCH = 128
IVF_PROBES = 16
IVF_TRAIN_PER_LIST = 64  # k-means sees this many vectors a list (faiss wants at least 39)
PQ_BYTES = (64, 48, 32, 16, 8)  # codes tried, largest first, when the vectors do not fit the budget
DEFAULT_MEMORY = 4 * 2**30
RAY_OBJECT_STORE = 200_000_000  # bytes: a local Ray on a small machine (with --decode tasks, decoded frames pass through it)
RAY_BATCH = 4  # videos per map_batches call
RAY_DECODE = ("actor", "tasks")  # where the Ray engine decodes (module docstring)
RAY_BLOCKS = 10_000  # most blocks of the Ray job's input (paths): a million videos go 100 to a block
COLLECTION_ENV = "CLIP_LAB_COLLECTION"


# -- what to index --------------------------------------------------------------------------------
def list_videos(source: str | Path) -> tuple[Path, list[str]]:
    """(root, paths relative to root) of the videos `source` names: a folder, walked recursively for
    files ending in `VIDEO_SUFFIXES` (sorted), or a CSV with a `path` column (else its first column;
    a header is optional), relative paths read from the CSV's folder."""
    source = Path(source).expanduser()
    if not source.exists():
        raise InputError(f"{source.name or source} does not exist: give a folder of videos or a CSV listing them.")
    if source.is_dir():
        root = source.resolve()
        paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        if not paths:
            raise InputError(f"{source.name} holds no video files ({', '.join(VIDEO_SUFFIXES)}).")
        return root, paths
    if source.suffix.lower() != ".csv":
        raise InputError(f"{source.name} is neither a folder nor a .csv list of videos.")
    root = source.resolve().parent
    try:
        rows = list(csv.reader(source.read_text(encoding="utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{source.name} could not be read as a UTF-8 CSV ({error}).") from None
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    column = 0
    if rows and any(cell.strip().lower() in ("path", "video", "file") for cell in rows[0]):
        header = [cell.strip().lower() for cell in rows[0]]
        column = next(header.index(n) for n in ("path", "video", "file") if n in header)
        rows = rows[1:]
    paths, seen = [], set()
    for row in rows:
        if column >= len(row) or not row[column].strip():
            continue
        path = Path(row[column].strip()).expanduser()
        path = (path if path.is_absolute() else root / path).resolve()
        text = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        if text not in seen:
            seen.add(text)
            paths.append(text)
    if not paths:
        raise InputError(f"{source.name} lists no videos (one path a row, in a `path` column or the first).")
    return root, paths


def plan_shards(paths: Sequence[str], shard_size: int = SHARD_SIZE) -> list[list[str]]:
    """The videos of each shard: the listing cut into runs of `shard_size`."""
    return [list(paths[i : i + shard_size]) for i in range(0, len(paths), shard_size)]


# -- sampling and embedding (shared by both engines) ---------------------------------------------
@dataclass(frozen=True)
class Decoded:
    """One video's CLIP4Clip frames: `pixels` (K, H, W, 3) uint8, `times` (K,) seconds, `duration` s."""

    pixels: np.ndarray
    times: np.ndarray
    duration: float


def decode_video(path: str | Path, sampling: videos.Sampling = videos.CLIP4CLIP_SAMPLING,
                 max_mb: float = MAX_VIDEO_MB) -> Decoded:
    """The frames CLIP4Clip samples from one file, through `components.video`'s sources and sampling
    (the same frames `load_video` gives; only the size limit is the library's, not the upload's)."""
    with videos.open_source(Path(path), max_mb=max_mb) as src:
        indices, _mask = sampling.pick(src.info.frame_count, src.info.fps)
        frames = src.fetch(indices)
        fps, duration = src.info.fps, src.info.duration
    first = frames[0].size
    frames = [f if f.size == first else f.resize(first) for f in frames]
    pixels = np.stack([np.asarray(f.convert("RGB"), np.uint8) for f in frames])
    return Decoded(pixels, np.asarray(indices, np.float64) / fps, float(duration))


def frame_at(path: str | Path, seconds: float, max_mb: float = MAX_VIDEO_MB) -> Image.Image:
    """The frame shown at `seconds` of a video file (a query "by a frame of another video", a hit's moment)."""
    path = Path(path)
    if not math.isfinite(float(seconds)) or seconds < 0:
        raise InputError(f"Give the frame's time as seconds from the start (got {seconds}).")
    with videos.open_source(path, max_mb=max_mb) as src:
        if seconds > src.info.duration:
            raise InputError(f"{path.name} lasts {src.info.duration:.1f} s; pick a time up to that.")
        index = min(src.info.frame_count - 1, int(round(seconds * src.info.fps)))
        return src.fetch([index])[0]


def embed_frames(backbone, decoded: Sequence[Decoded]) -> list[np.ndarray]:
    """Each video's (K, D) unit frame embeddings, all frames of `decoded` in one batched forward."""
    images = [Image.fromarray(p) for d in decoded for p in d.pixels]
    if not images:
        return []
    out = backbone.encode_images(images).numpy().astype(np.float32)
    counts = np.cumsum([0] + [len(d.pixels) for d in decoded])
    return [out[counts[i] : counts[i + 1]] for i in range(len(decoded))]


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {str(error)[:200]}"


def _try_decode(path: Path, sampling: videos.Sampling, max_mb: float) -> tuple[Decoded | None, str]:
    """(decoded, "") or (None, why): a person's library, so any unreadable file is listed and skipped."""
    try:
        return decode_video(path, sampling, max_mb), ""
    except Exception as error:
        return None, _reason(error)


# -- shards on disk -------------------------------------------------------------------------------
def _names(n: int) -> dict[str, str]:
    return {"img": f"img_emb/img_emb_{n}.npy", "frames": f"frame_emb/frame_emb_{n}.npy",
            "meta": f"metadata/metadata_{n}.parquet", "done": f"shards/shard_{n}.json"}


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array, np.float32))
    _atomic(path, write)


def _save_json(path: Path, data) -> None:
    _atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8"))


def shard_finished(out: Path, n: int, planned: Sequence[str]) -> bool:
    """Whether shard `n` is on disk whole and holds the videos `planned` (a resumed run skips it)."""
    names = _names(n)
    try:
        done = json.loads((out / names["done"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return done.get("paths") == list(planned) and all((out / names[k]).is_file() for k in ("img", "frames", "meta"))


@dataclass(frozen=True)
class Embedded:
    """One video of a shard: its path (relative to the root), frames (K, D), times (K,), duration."""

    path: str
    frames: np.ndarray
    times: np.ndarray
    duration: float


def write_shard(out: Path, n: int, planned: Sequence[str], embedded: Sequence[Embedded],
                skipped: Sequence[tuple[str, str]], manifest: dict) -> None:
    """Shard `n`: meanP vectors, frame vectors, parquet metadata, then the marker that it is whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = int(manifest["embed_dim"])
    order = {p: i for i, p in enumerate(planned)}
    embedded = sorted(embedded, key=lambda e: order[e.path])
    frames = [e.frames for e in embedded]
    pooled = (np.stack([mean_pool(f[None], np.ones((1, len(f)), bool))[0] for f in frames])
              if frames else np.zeros((0, dim), np.float32))
    counts = [len(f) for f in frames]
    starts = np.cumsum([0] + counts)[:-1].tolist()
    names = _names(n)
    _save_npy(out / names["frames"], np.concatenate(frames) if frames else np.zeros((0, dim), np.float32))
    _save_npy(out / names["img"], pooled)
    sampling = manifest["sampling"]
    table = pa.table({
        "path": pa.array([e.path for e in embedded], pa.string()),
        "duration": pa.array([e.duration for e in embedded], pa.float64()),
        "frame_times": pa.array([[float(t) for t in e.times] for e in embedded], pa.list_(pa.float64())),
        "frame_start": pa.array(starts, pa.int64()),
        "frame_count": pa.array(counts, pa.int32()),
        "model": pa.array([manifest["model"]] * len(embedded), pa.string()),
        "weights": pa.array([manifest["weights"]] * len(embedded), pa.string()),
        "embed_dim": pa.array([dim] * len(embedded), pa.int32()),
        "sampling": pa.array([f"{sampling['strategy']}{sampling['frames']}r{sampling['rate']:g}"] * len(embedded),
                             pa.string()),
    })
    _atomic(out / names["meta"], lambda tmp: pq.write_table(table, tmp))
    _save_json(out / names["done"], {"paths": list(planned), "videos": len(embedded),
                                     "skipped": [{"path": p, "reason": r} for p, r in skipped]})


def _manifest_for(backbone_info: dict, root: Path, sampling: videos.Sampling, shard_size: int) -> dict:
    return {"format": FORMAT, "made_by": "clip-lab", **backbone_info,
            "sampling": {"strategy": sampling.strategy, "frames": sampling.frames, "rate": sampling.rate},
            "root": str(root), "shard_size": shard_size}


def _check_same(old: dict, new: dict, out: Path) -> None:
    for key, what in (("model", "model"), ("weights", "weights"), ("embed_dim", "embedding size"),
                      ("sampling", "frame sampling"), ("shard_size", "shard size")):
        if old.get(key) != new.get(key):
            raise InputError(
                f"{out.name} already holds a collection made with another {what} ({old.get(key)!r}, not "
                f"{new.get(key)!r}); choose another --out folder, or the collection's own settings.")


# -- engines --------------------------------------------------------------------------------------
@dataclass
class Report:
    """What a run did: videos planned, embedded and skipped (path, why), shards written and kept."""

    engine: str
    videos: int = 0
    embedded: int = 0
    skipped: list = field(default_factory=list)
    shards_written: int = 0
    shards_kept: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        text = [f"{self.embedded} videos embedded ({self.engine}, {self.seconds:.1f} s); "
                f"{self.shards_written} shard(s) written, {self.shards_kept} already finished and kept."]
        text += [f"skipped {path}: {reason}" for path, reason in self.skipped]
        return text


def backbone_factory(model: str, pretrained: str, device: str = "cpu") -> Callable[[], object]:
    """A picklable maker of the backbone (Ray ships it to each worker, which loads the model once)."""
    from components.backbone import load_backbone

    return functools.partial(load_backbone, model, pretrained, device, fallback_to_random=False)


def _backbone_info(backbone) -> dict:
    return {"model": backbone.model_name, "weights": backbone.weights, "embed_dim": int(backbone.embed_dim)}


def _progress(total: int, enabled: bool, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with huggingface_hub
        return None
    return tqdm(total=total, desc=desc, unit="video", disable=not enabled, file=sys.stderr)


def index_collection(
    source: str | Path, out: str | Path, *, engine: str = "local", address: str | None = None,
    workers: int = 1, make_backbone: Callable[[], object] | None = None, model: str = "ViT-B-16",
    pretrained: str = "openai", device: str = "cpu", shard_size: int = SHARD_SIZE,
    sampling: videos.Sampling = videos.CLIP4CLIP_SAMPLING, cpus: int | None = None,
    object_store_memory: int = RAY_OBJECT_STORE, progress: bool = True, max_mb: float = MAX_VIDEO_MB,
    decode: str | None = None,
) -> Report:
    """Embed the videos `source` lists into shards under `out` (see the module docstring); finished
    shards are kept. `make_backbone` (picklable, for Ray) defaults to loading `model` · `pretrained`.
    `decode` (Ray only): "actor" or "tasks"; by default "actor" on the CPU, "tasks" on an accelerator."""
    if engine not in ("local", "ray"):
        raise InputError(f"Unknown engine {engine!r}: choose local or ray.")
    decode = decode or ("actor" if str(device) == "cpu" else "tasks")
    if decode not in RAY_DECODE:
        raise InputError(f"Unknown place to decode {decode!r}: choose actor or tasks.")
    if not 1 <= int(workers) <= 1024:
        raise InputError(f"Give between 1 and 1024 workers (got {workers}).")
    if not 1 <= int(shard_size) <= 10_000_000:
        raise InputError(f"Give a shard size of at least 1 video (got {shard_size}).")
    started = time.perf_counter()
    root, paths = list_videos(source)
    out = Path(out).expanduser()
    make_backbone = make_backbone or backbone_factory(model, pretrained, device)
    backbone = make_backbone()  # here too: the manifest names the model, and the local engine uses it
    manifest = _manifest_for(_backbone_info(backbone), root, sampling, int(shard_size))
    if (out / MANIFEST).is_file():
        try:
            old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(f"{out.name}/{MANIFEST} is damaged; choose another --out folder.") from None
        _check_same(old, manifest, out)
    plan = plan_shards(paths, int(shard_size))
    manifest.update(shards=len(plan))
    out.mkdir(parents=True, exist_ok=True)
    _save_json(out / MANIFEST, manifest)
    report = Report(engine=engine, videos=len(paths))
    pending = [n for n, planned in enumerate(plan) if not shard_finished(out, n, planned)]
    report.shards_kept = len(plan) - len(pending)
    for n in range(len(plan)):
        if n not in pending:
            done = json.loads((out / _names(n)["done"]).read_text(encoding="utf-8"))
            report.skipped += [(s["path"], s["reason"]) for s in done.get("skipped", [])]
    bar = _progress(sum(len(plan[n]) for n in pending), progress, f"embedding ({engine})")
    try:
        if pending:
            runner = _run_local if engine == "local" else _run_ray
            kwargs = dict(backbone=backbone) if engine == "local" else dict(
                make_backbone=make_backbone, address=address, workers=int(workers), cpus=cpus,
                object_store_memory=object_store_memory, decode=decode, device=str(device))
            for n, embedded, skipped in runner(root, plan, pending, sampling, max_mb, bar, **kwargs):
                write_shard(out, n, plan[n], embedded, skipped, manifest)
                report.shards_written += 1
                report.embedded += len(embedded)
                report.skipped += list(skipped)
    finally:
        if bar is not None:
            bar.close()
    manifest.update(videos=sum(json.loads((out / _names(n)["done"]).read_text())["videos"] for n in range(len(plan))))
    _save_json(out / MANIFEST, manifest)
    report.seconds = time.perf_counter() - started
    _save_json(out / REPORT, {"engine": engine, "videos": report.videos, "embedded": report.embedded,
                              "seconds": round(report.seconds, 3),
                              "skipped": [{"path": p, "reason": r} for p, r in report.skipped]})
    return report


def _run_local(root, plan, pending, sampling, max_mb, bar, *, backbone) -> Iterator:
    """One process: the next video decodes in a thread while the current one is encoded."""
    def decode(rel):
        return _try_decode(root / rel, sampling, max_mb)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-lab-collection") as pool:
        for n in pending:
            embedded, skipped = [], []
            futures = [pool.submit(decode, rel) for rel in plan[n][:2]]
            for i, rel in enumerate(plan[n]):
                decoded, reason = futures[i].result()
                if i + 2 < len(plan[n]):
                    futures.append(pool.submit(decode, plan[n][i + 2]))
                futures[i] = None
                if decoded is None:
                    skipped.append((rel, reason))
                else:
                    (frames,) = embed_frames(backbone, [decoded])
                    embedded.append(Embedded(rel, frames, decoded.times, decoded.duration))
                if bar is not None:
                    bar.update(1)
            yield n, embedded, skipped


# The Ray job's steps. Module-level, so Ray pickles them by reference (workers import this module).
def ray_decode(row: dict, root: str, sampling: tuple, max_mb: float) -> dict:
    """Ray `map` step (`--decode tasks`): one video's sampled frames as bytes (a task; no model)."""
    out = {"shard": row["shard"], "slot": row["slot"], "path": row["path"], "pixels": b"", "shape": [0, 0, 0, 0],
           "times": b"", "duration": 0.0, "error": ""}
    decoded, out["error"] = _try_decode(Path(root) / row["path"], videos.Sampling(*sampling), max_mb)
    if decoded is not None:
        out.update(pixels=decoded.pixels.tobytes(), shape=list(decoded.pixels.shape),
                   times=decoded.times.tobytes(), duration=decoded.duration)
    return out


class RayEmbedder:
    """Ray `map_batches` step: an actor holding the model embeds a batch of videos — decoded by the
    `map` tasks before it, or, given `decode` (root, sampling, max_mb), decoded here from their paths."""

    def __init__(self, make_backbone, threads: int = 1, decode: dict | None = None):
        import torch

        torch.set_num_threads(max(1, int(threads)))
        self.backbone = make_backbone()
        self.decode = decode

    def _decoded(self, batch: dict) -> tuple[list[Decoded | None], list[str], list[str]]:
        """Each row's video (None where it could not be read), its error, its times as bytes."""
        if self.decode is None:  # frames from the decode tasks
            decoded = [None if error else Decoded(
                np.frombuffer(batch["pixels"][i], np.uint8).reshape(tuple(int(v) for v in batch["shape"][i])),
                np.frombuffer(batch["times"][i], np.float64), float(batch["duration"][i]))
                for i, error in enumerate(batch["error"])]
            return decoded, list(batch["error"]), list(batch["times"])
        root, sampling = Path(self.decode["root"]), videos.Sampling(*self.decode["sampling"])
        decoded, errors = zip(*(_try_decode(root / rel, sampling, self.decode["max_mb"]) for rel in batch["path"]))
        return list(decoded), list(errors), [b"" if d is None else d.times.tobytes() for d in decoded]

    def __call__(self, batch: dict) -> dict:
        decoded, errors, times = self._decoded(batch)
        rows = [i for i, d in enumerate(decoded) if d is not None]
        frames = dict(zip(rows, embed_frames(self.backbone, [decoded[i] for i in rows])))
        empty = np.zeros((0, 0), np.float32)
        return {
            "shard": np.asarray(batch["shard"]), "slot": np.asarray(batch["slot"]),
            "path": np.asarray(batch["path"], dtype=object), "error": np.asarray(errors, dtype=object),
            "frames": np.asarray([frames.get(i, empty).tobytes() for i in range(len(errors))], dtype=object),
            "count": np.asarray([len(frames.get(i, empty)) for i in range(len(errors))]),
            "times": np.asarray(times, dtype=object),
            "duration": np.asarray([0.0 if d is None else d.duration for d in decoded], np.float64),
        }


def ray_resources(workers: int, cpus: float | None, local: bool = True,
                  decode: str = "actor") -> tuple[float, float, int]:
    """(CPUs an actor asks for, CPUs a decode task asks for, torch threads an actor runs). With decode
    tasks the actors leave half a CPU to them, so reading and decoding are always schedulable; actors
    that decode their own batches share all of it. On a local Ray the actors' torch threads share out
    the machine's cores (as the local engine's encoder shares them with its decoding thread); on a
    cluster an actor runs as many threads as CPUs it holds."""
    total = float(cpus or os.cpu_count() or 1)
    decode_cpus = 0.5 if decode == "tasks" else 0.0
    actor_cpus = min(1.0, max(0.1, (total - decode_cpus) / workers))
    threads = max(1, int(round(total / workers))) if local else max(1, int(actor_cpus))
    return actor_cpus, decode_cpus, threads


def actor_request(device: str, actor_cpus: float) -> dict:
    """What a model actor asks Ray for: a CUDA actor one GPU, alone (Ray Data calls asking for both
    CPUs and GPUs experimental), so it is placed where a GPU is free; a CPU actor its CPUs."""
    return {"num_gpus": 1} if str(device).startswith("cuda") else {"num_cpus": actor_cpus}


def _run_ray(root, plan, pending, sampling, max_mb, bar, *, make_backbone, address, workers, cpus,
             object_store_memory, decode, device="cpu") -> Iterator:
    import ray

    started_here = False
    # a loaded machine starts Ray's agents slowly; the raylet's default wait for them (15 s) is too short
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    if not ray.is_initialized():
        here = str(Path(__file__).resolve().parents[2])  # the repo: workers import components from it
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
        if address:
            ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False)
        else:
            os.environ["PYTHONPATH"] = path  # the local node's workers inherit the environment
            ray.init(num_cpus=int(cpus or os.cpu_count() or 1), object_store_memory=int(object_store_memory),
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        started_here = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts videos
        context.print_on_execution_start = False
        if address:
            total = ray.cluster_resources().get("CPU", 1)
        else:
            total = cpus or os.cpu_count() or 1
        actor_cpus, decode_cpus, threads = ray_resources(workers, total, local=not address, decode=decode)
        rows = [{"shard": n, "slot": i, "path": rel} for n in pending for i, rel in enumerate(plan[n])]
        where = dict(root=str(root), sampling=(sampling.strategy, sampling.frames, sampling.rate), max_mb=max_mb)
        # blocks of one actor batch, so an actor's next input is ready before it asks (blocks of 9 videos
        # left the actors idle 2-3 s each on 2 cores), up to RAY_BLOCKS blocks for a large collection
        blocks = max(1, min(math.ceil(len(rows) / RAY_BATCH), RAY_BLOCKS))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        if decode == "tasks":
            dataset = dataset.map(ray_decode, fn_kwargs=where, num_cpus=decode_cpus)
        dataset = dataset.map_batches(
            RayEmbedder, fn_constructor_kwargs=dict(make_backbone=make_backbone, threads=threads,
                                                    decode=where if decode == "actor" else None),
            batch_size=RAY_BATCH, compute=ray.data.ActorPoolStrategy(size=workers), batch_format="numpy",
            **actor_request(device, actor_cpus))
        waiting = {n: len(plan[n]) for n in pending}
        gathered: dict[int, tuple[list, list]] = {n: ([], []) for n in pending}
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(batch["shard"])):
                n, rel, error = int(batch["shard"][i]), str(batch["path"][i]), str(batch["error"][i])
                if error:
                    gathered[n][1].append((rel, error))
                else:
                    frames = np.frombuffer(batch["frames"][i], np.float32).reshape(int(batch["count"][i]), -1)
                    gathered[n][0].append(Embedded(rel, frames, np.frombuffer(batch["times"][i], np.float64),
                                                   float(batch["duration"][i])))
                waiting[n] -= 1
                if bar is not None:
                    bar.update(1)
                if waiting[n] == 0:  # a shard is written as soon as its last video is back
                    embedded, skipped = gathered.pop(n)
                    order = {p: j for j, p in enumerate(plan[n])}
                    yield n, embedded, sorted(skipped, key=lambda s: order[s[0]])
    finally:
        if started_here:
            ray.shutdown()


# -- the faiss index ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexChoice:
    """A faiss index factory string, the search parameters it wants, its expected bytes, and why."""

    factory: str
    params: str
    bytes: int
    why: str


def choose_index(n: int, dim: int, memory: int = DEFAULT_MEMORY) -> IndexChoice:
    """The index for `n` vectors of `dim` floats within `memory` bytes (see the module docstring)."""
    flat = n * dim * 4
    if n < FLAT_UP_TO:
        return IndexChoice("Flat", "", flat, f"{n} videos < {FLAT_UP_TO}: exact search")
    hnsw = flat + n * HNSW_M * 2 * 4
    if n <= HNSW_UP_TO and hnsw <= memory:
        return IndexChoice(f"HNSW{HNSW_M},Flat", f"efSearch={HNSW_EF_SEARCH}", hnsw,
                           f"{n} videos ≤ {HNSW_UP_TO} and the graph fits {memory / 2**30:.1f} GiB: HNSW")
    lists = max(1, int(round(math.sqrt(n))))
    if flat * 1.05 <= memory:
        return IndexChoice(f"IVF{lists},Flat", f"nprobe={IVF_PROBES}", flat,
                           f"{n} videos; the vectors fit {memory / 2**30:.1f} GiB: IVF over {lists} lists, flat")
    for m in PQ_BYTES:
        if dim % m == 0 and n * (m + 8) * 1.05 <= memory:
            return IndexChoice(f"IVF{lists},PQ{m}", f"nprobe={IVF_PROBES}", n * (m + 8),
                               f"{n} videos; {flat / 2**30:.1f} GiB of vectors exceed {memory / 2**30:.1f} GiB: "
                               f"IVF over {lists} lists with {m}-byte codes")
    raise InputError(f"{n} videos of {dim} floats do not fit {memory / 2**20:.0f} MB even as 8-byte codes; "
                     "give a larger --memory.")


def _shard_numbers(folder: Path, sub: str, prefix: str, suffix: str) -> list[int]:
    numbers = []
    for path in (folder / sub).glob(f"{prefix}*{suffix}"):
        middle = path.name[len(prefix) : -len(suffix)]
        if middle.isdigit():
            numbers.append(int(middle))
    return sorted(numbers)


def _weights_of(pretrained: str) -> str:
    """The weights string a backbone reports for an open_clip `pretrained` argument."""
    from components.backbone import RANDOM_WEIGHTS

    if pretrained == "random":
        return RANDOM_WEIGHTS
    if Path(pretrained).suffix in (".pt", ".bin", ".safetensors", ".pth") or os.sep in pretrained:
        return f"checkpoint:{Path(pretrained).name}"
    return f"pretrained:{pretrained}"


def build_index(folder: str | Path, *, memory: int = DEFAULT_MEMORY, model: str | None = None,
                pretrained: str | None = None) -> dict:
    """Build the faiss index over a collection's meanP vectors and save it beside them. A folder of
    clip-retrieval embeddings (no collection.json) needs `model` and `pretrained`: the person names
    the model that made them (recorded in collection.json; the app checks it against its own)."""
    import faiss

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder.name or folder} is not a folder of embeddings.")
    manifest_path = folder / MANIFEST
    numbers = _shard_numbers(folder, "img_emb", "img_emb_", ".npy")
    if not numbers:
        raise InputError(f"{folder.name} holds no img_emb/img_emb_<n>.npy files: index videos into it first.")
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        numbers = [n for n in numbers if n < manifest.get("shards", len(numbers))]
    else:  # clip-retrieval's own output
        if not model or not pretrained:
            raise InputError(f"{folder.name} holds embeddings made by another tool (no {MANIFEST}); name the "
                             "model that made them with --model and --pretrained.")
        manifest = {"format": FORMAT, "made_by": "clip-retrieval", "model": model, "weights": _weights_of(pretrained),
                    "embed_dim": None, "shards": max(numbers) + 1, "root": ""}
    arrays = [np.load(folder / f"img_emb/img_emb_{n}.npy", mmap_mode="r", allow_pickle=False) for n in numbers]
    dims = {a.shape[1] for a in arrays if a.ndim == 2 and len(a)}
    if len(dims) != 1 or any(a.ndim != 2 for a in arrays):
        raise InputError(f"{folder.name}'s embedding files disagree in shape ({sorted(dims)}).")
    (dim,) = dims
    if manifest.get("embed_dim") not in (None, dim):
        raise InputError(f"{folder.name}'s vectors have {dim} dimensions, not the {manifest['embed_dim']} its model gives.")
    manifest["embed_dim"] = dim
    vectors = np.ascontiguousarray(np.concatenate([np.asarray(a, np.float32) for a in arrays]))
    norms = np.linalg.norm(vectors, axis=1)
    if not np.isfinite(vectors).all():
        raise InputError(f"{folder.name}'s embeddings hold numbers that are not finite.")
    if len(vectors) and np.abs(norms - 1).max() > 1e-3:  # clip-retrieval normalises; be sure
        vectors /= np.maximum(norms, 1e-12)[:, None]
    choice = choose_index(len(vectors), dim, memory)
    started = time.perf_counter()
    index = faiss.index_factory(dim, choice.factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        lists = faiss.extract_index_ivf(index).nlist
        sample = min(len(vectors), lists * IVF_TRAIN_PER_LIST)
        pick = np.random.default_rng(0).choice(len(vectors), sample, replace=False) if sample < len(vectors) else slice(None)
        index.train(vectors[pick])
    index.add(vectors)
    seconds = time.perf_counter() - started
    (folder / "index").mkdir(exist_ok=True)
    _atomic(folder / "index" / "videos.index", lambda tmp: faiss.write_index(index, str(tmp)))
    info = {"factory": choice.factory, "params": choice.params, "why": choice.why, "videos": int(len(vectors)),
            "dim": int(dim), "bytes": int(choice.bytes), "memory_budget": int(memory), "build_s": round(seconds, 3),
            "shards": [int(len(a)) for a in arrays]}
    _save_json(folder / "index" / "index.json", info)
    manifest["shards"] = max(numbers) + 1
    _save_json(manifest_path, manifest)
    return info


# -- opening and searching ------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One video found: `name` (its path relative to the collection's root), cosine `score`, the
    best moment (`moment` seconds and `frame` its position among the sampled frames; None for
    embeddings without frames), `frame_scores` (K,) each sampled frame's cosine with the query."""

    rank: int
    id: int
    name: str
    score: float
    moment: float | None
    frame: int | None
    duration: float | None
    frame_scores: np.ndarray
    frame_times: np.ndarray


@dataclass(frozen=True)
class CollectionSearch:
    query: str
    kind: str  # "text" or "image"
    hits: tuple[Hit, ...]
    approximate: bool
    notes: tuple[str, ...] = ()

    @property
    def logits(self) -> np.ndarray:
        return LOGIT_SCALE * np.asarray([h.score for h in self.hits], np.float32)


class Collection:
    """A collection opened read-only: vectors memory-mapped from the shards, metadata as Arrow
    tables, the faiss index memory-mapped when it is there and up to date (else an exact scan)."""

    def __init__(self, folder: str | Path):
        import pyarrow.parquet as pq

        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise InputError("The collection folder does not exist (check --collection).")
        manifest_path = self.folder / MANIFEST
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        except ValueError:
            raise InputError(f"The collection's {MANIFEST} is damaged; run the index command again.") from None
        numbers = _shard_numbers(self.folder, "img_emb", "img_emb_", ".npy")
        if "shards" in self.manifest:
            numbers = [n for n in numbers if n < int(self.manifest["shards"])]
        if not numbers:
            raise InputError("The collection holds no img_emb/img_emb_<n>.npy files: index videos into it first.")
        self.vectors, self.frames, self.meta = [], [], []
        for n in numbers:
            try:
                vectors = np.load(self.folder / f"img_emb/img_emb_{n}.npy", mmap_mode="r", allow_pickle=False)
                frames_path = self.folder / f"frame_emb/frame_emb_{n}.npy"
                frames = np.load(frames_path, mmap_mode="r", allow_pickle=False) if frames_path.is_file() else None
                meta_path = self.folder / f"metadata/metadata_{n}.parquet"
                meta = pq.read_table(meta_path) if meta_path.is_file() else None
            except (OSError, ValueError) as error:
                raise InputError(f"Shard {n} of the collection is damaged ({type(error).__name__}); index it again.") from None
            if vectors.ndim != 2 or (meta is not None and meta.num_rows != len(vectors)):
                raise InputError(f"Shard {n} of the collection is damaged (its vectors and metadata disagree).")
            self.vectors.append(vectors)
            self.frames.append(frames)
            self.meta.append(meta)
        self.offsets = np.cumsum([0] + [len(v) for v in self.vectors])
        dims = {v.shape[1] for v in self.vectors if len(v)}
        self.dim = dims.pop() if len(dims) == 1 else int(self.manifest.get("embed_dim") or 0)
        self.model = self.manifest.get("model")
        self.weights = self.manifest.get("weights")
        self.made_by = self.manifest.get("made_by", "clip-retrieval")
        self.root = Path(self.manifest["root"]) if self.manifest.get("root") else None
        self.index, self.index_info = self._open_index()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _open_index(self):
        import faiss

        path, info_path = self.folder / "index" / "videos.index", self.folder / "index" / "index.json"
        if not path.is_file() or not info_path.is_file():
            return None, {}
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except (OSError, ValueError, RuntimeError):
            return None, {"stale": "the faiss index could not be read; searched exactly instead"}
        if index.ntotal != len(self) or index.d != self.dim:
            return None, {"stale": "the faiss index is older than the shards (run `build` again); searched exactly"}
        if info.get("params"):
            faiss.ParameterSpace().set_index_parameters(index, info["params"])
        return index, info

    # -- facts ------------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line for the page: size, model, index, without any server path."""
        kind = self.index_info.get("factory", "exact scan") if self.index is not None else "exact scan"
        made = "" if self.made_by == "clip-lab" else f" · made by {self.made_by} (no moments)"
        return (f"{len(self)} video{'s' if len(self) != 1 else ''} · {self.model or 'model not named'} · "
                f"{self.weights or '?'} · {self.dim}-d · {kind}{made}")

    def check(self, backbone) -> None:
        """Raise a clear `InputError` unless the collection was made by `backbone`'s model and weights."""
        if not self.model:
            raise InputError("The collection does not say which model made it (embeddings from another tool): name "
                             "it with `python -m components.clip4clip.collection build DIR --model M --pretrained P`.")
        mine = f"{backbone.model_name} · {backbone.weights} ({backbone.embed_dim}-d)"
        theirs = f"{self.model} · {self.weights} ({self.dim}-d)"
        if int(backbone.embed_dim) != int(self.dim):
            raise InputError(f"The collection's vectors are {self.dim}-d, made with {theirs}; the app runs {mine}. "
                             "Pick the collection's model in the model picker (or start the app with it).")
        if backbone.model_name != self.model or backbone.weights != self.weights:
            raise InputError(f"The collection was embedded with {theirs}; the app runs {mine}, whose vectors mean "
                             "something else. Pick the collection's model, or index the collection with this one.")

    def locate(self, i: int) -> tuple[int, int]:
        shard = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return shard, int(i - self.offsets[shard])

    def name(self, i: int) -> str:
        """A video's name for the page: its path relative to the collection's root (never a server path)."""
        shard, row = self.locate(i)
        meta = self.meta[shard]
        if meta is not None:
            for column in ("path", "image_path", "url", "caption"):
                if column in meta.column_names:
                    value = str(meta.column(column)[row].as_py())
                    path = Path(value)
                    if column == "url" or not path.is_absolute():
                        return value
                    try:
                        return path.resolve().relative_to(self.folder.resolve()).as_posix()
                    except ValueError:
                        return path.name
        return f"video #{i}"

    def file_of(self, i: int) -> Path | None:
        """The video's file when it is still at hand (for its moment's frame), else None."""
        shard, row = self.locate(i)
        meta = self.meta[shard]
        if meta is None or "path" not in meta.column_names or self.root is None:
            return None
        path = self.root / str(meta.column("path")[row].as_py())
        return path if path.is_file() else None

    def _frames_of(self, i: int) -> tuple[np.ndarray, np.ndarray, float | None]:
        shard, row = self.locate(i)
        meta, frames = self.meta[shard], self.frames[shard]
        duration = None
        if meta is not None and "duration" in meta.column_names:
            duration = float(meta.column("duration")[row].as_py())
        if frames is None or meta is None or "frame_start" not in meta.column_names:
            return np.zeros((0, self.dim), np.float32), np.zeros(0), duration
        start, count = int(meta.column("frame_start")[row].as_py()), int(meta.column("frame_count")[row].as_py())
        times = np.asarray(meta.column("frame_times")[row].as_py(), np.float64)
        return np.asarray(frames[start : start + count], np.float32), times, duration

    # -- queries ----------------------------------------------------------------------------------
    def encode_query(self, backbone, text: str | None = None, image: Image.Image | None = None):
        """(1, D) unit query, its text as searched, its kind and notes: a text, else an image."""
        text = " ".join((text or "").split())
        if image is not None:
            return backbone.encode_images([image]).numpy().astype(np.float32), "an image", "image", ()
        if not text:
            raise InputError("Type a text query, or give an image (or a frame of a video) to search by.")
        capped, notes = cap_text(backbone, text)
        return backbone.encode_texts([capped]).numpy().astype(np.float32), capped, "text", tuple(notes)

    def search(self, backbone, text: str | None = None, image: Image.Image | None = None, k: int = 10) -> CollectionSearch:
        """The `k` videos whose meanP vector best matches the query, each with its best moment."""
        self.check(backbone)
        if len(self) == 0:
            raise InputError("The collection is empty.")
        query, shown, kind, notes = self.encode_query(backbone, text, image)
        k = max(1, min(int(k), len(self)))
        notes = list(notes)
        if self.index is not None:
            scores, ids = self.index.search(query, k)
            keep = ids[0] >= 0
            ids, scores = ids[0][keep], scores[0][keep]
            approximate = self.index_info.get("factory", "Flat") != "Flat"
        else:
            if self.index_info.get("stale"):
                notes.append(self.index_info["stale"])
            scores = np.concatenate([np.asarray(v, np.float32) @ query[0] for v in self.vectors])
            ids = np.argsort(-scores, kind="stable")[:k]
            scores, approximate = scores[ids], False
        if approximate:
            notes.append(f"Approximate search ({self.index_info['factory']}, {self.index_info.get('params', '')}).")
        hits = []
        for rank, (i, score) in enumerate(zip(ids, scores), 1):
            frames, times, duration = self._frames_of(int(i))
            if len(frames):
                per_frame = frames @ query[0]
                best = int(np.argmax(per_frame))
                moment, frame = float(times[best]) if best < len(times) else 0.0, best
            else:
                per_frame, moment, frame = np.zeros(0, np.float32), None, None
            hits.append(Hit(rank, int(i), self.name(int(i)), float(score), moment, frame, duration, per_frame, times))
        if hits and hits[0].moment is None:
            notes.append("These embeddings carry no frames (made by another tool): the hits show no moment.")
        return CollectionSearch(shown, kind, tuple(hits), approximate, tuple(notes))

    def moment_picture(self, hit: Hit) -> Image.Image | None:
        """The frame at a hit's best moment, decoded from the video when its file is at hand."""
        path = self.file_of(hit.id)
        if path is None or hit.moment is None:
            return None
        try:
            return frame_at(path, min(hit.moment, hit.duration or hit.moment))
        except InputError:
            return None


@functools.lru_cache(maxsize=4)
def _opened(folder: str, stamp: tuple) -> Collection:
    return Collection(folder)


def open_collection(folder: str | Path) -> Collection:
    """The collection at `folder`, opened once per process (again when its manifest or index changes)."""
    folder = Path(folder).expanduser()
    stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0
                  for p in (folder / MANIFEST, folder / "index" / "index.json"))
    return _opened(str(folder), stamp)


def configured() -> str:
    """The collection the operator opened ($CLIP_LAB_COLLECTION, set by `python app.py --collection DIR`), or ""."""
    return os.environ.get(COLLECTION_ENV, "").strip()


# -- command line ---------------------------------------------------------------------------------
def _bytes(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
    text = text.strip().upper().replace("IB", "B")
    number = text.rstrip("KMGTB")
    try:
        return int(float(number) * units[text[len(number):]])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4GB, 512MB)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.clip4clip.collection",
                                     description="CLIP4Clip embeddings of a video library, in clip-retrieval's layout")
    sub = parser.add_subparsers(dest="command", required=True)
    index = sub.add_parser("index", help="embed the videos of a folder or CSV into shards")
    index.add_argument("source", help="a folder of videos, or a CSV listing them (a `path` column)")
    index.add_argument("--out", required=True, help="the collection folder (resumable: finished shards are kept)")
    index.add_argument("--engine", choices=["local", "ray"], default="local")
    index.add_argument("--address", default=None, help="an existing Ray cluster (e.g. ray://head:10001 or auto)")
    index.add_argument("--workers", type=int, default=1, help="Ray actors, each holding the model")
    index.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    index.add_argument("--decode", choices=RAY_DECODE, default=None,
                       help="Ray: decode in each model actor (default on CPU) or in map tasks (default on an accelerator)")
    index.add_argument("--model", default="ViT-B-16")
    index.add_argument("--pretrained", default="openai", help="open_clip tag, a checkpoint file, or random")
    index.add_argument("--device", default="cpu")
    index.add_argument("--shard-size", type=int, default=SHARD_SIZE)
    index.add_argument("--memory", type=_bytes, default=DEFAULT_MEMORY, help="the faiss index's budget (e.g. 4GB)")
    index.add_argument("--no-build", action="store_true", help="write the shards only")
    build = sub.add_parser("build", help="(re)build the faiss index of a collection, or of clip-retrieval's embeddings")
    build.add_argument("folder")
    build.add_argument("--memory", type=_bytes, default=DEFAULT_MEMORY)
    build.add_argument("--model", default=None, help="for clip-retrieval's embeddings: the model that made them")
    build.add_argument("--pretrained", default=None)
    search = sub.add_parser("search", help="search a collection from the command line")
    search.add_argument("folder")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--image", default=None, help="search by this image instead")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--model", default=None, help="default: the collection's")
    search.add_argument("--pretrained", default=None)
    search.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.command == "index":
            report = index_collection(args.source, args.out, engine=args.engine, address=args.address,
                                      workers=args.workers, model=args.model, pretrained=args.pretrained,
                                      device=args.device, shard_size=args.shard_size, cpus=args.cpus,
                                      decode=args.decode)
            print("\n".join(report.lines()))
            if not args.no_build:
                info = build_index(args.out, memory=args.memory)
                print(f"index: {info['factory']} over {info['videos']} videos ({info['why']}), {info['build_s']} s")
        elif args.command == "build":
            info = build_index(args.folder, memory=args.memory, model=args.model, pretrained=args.pretrained)
            print(f"index: {info['factory']} over {info['videos']} videos ({info['why']}), {info['build_s']} s")
        else:
            from components.backbone import load_backbone
            from components.media import load_image

            collection = Collection(args.folder)
            backbone = load_backbone(args.model or collection.model, args.pretrained or _pretrained_of(collection.weights),
                                     args.device, fallback_to_random=False)
            image = load_image(args.image).image if args.image else None
            result = collection.search(backbone, args.query, image, args.k)
            for hit in result.hits:
                moment = f" · best moment {hit.moment:.1f} s" if hit.moment is not None else ""
                print(f"{hit.rank:3d}. {hit.score:.4f}  {hit.name}{moment}")
            for note in result.notes:
                print(f"note: {note}")
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _pretrained_of(weights: str | None) -> str:
    weights = weights or ""
    if weights.startswith("pretrained:"):
        return weights.split(":", 1)[1]
    if weights.startswith("random"):
        return "random"
    raise InputError(f"Name the collection's weights with --pretrained (it records {weights!r}).")


if __name__ == "__main__":
    sys.exit(main())
