"""CLIP4Clip: text–video retrieval with CLIP (Luo et al. 2022), zero-shot with meanP, over a video index.

The paper's parameter-free path, as its official code runs it:
1. Frames: one per second; more than `max_frames` = 12 → 12 picked uniformly; shorter videos are
   padded, with a mask.
2. Text capped at 32 tokens (start and end markers included).
3. meanP: L2-normalise each frame feature, zero the padding, divide the sum by the number of valid
   frames (0 counted as 1), normalise again; score = logit_scale · text·video with logit scale
   exp(ln 100) = 100.
4. Metrics: per query, rank = 0-based position of the ground truth after sorting scores descending;
   R@K = % of ranks < K; median rank = median + 1; mean rank = mean + 1; video→text uses the
   transposed matrix. Tied scores: every sorted position whose score equals the ground truth's is
   recorded, so a tie adds several ranks (and the percentages are over all recorded ranks).
   A set where a video has several captions is scored as the official code scores its multi-sentence
   datasets (`multi_caption_metrics`): text → video ranks each caption over the unique videos
   (`tensor_text_to_video_metrics`: double argsort, torch's lower median + 1, mean + 1, rank std);
   video → text takes, for each video, the best of each other video's captions
   (`tensor_video_to_text_sim`), then the metrics above.

Labelled extensions (parameter-free, not in the paper): `max` — the best single frame's cosine;
`softmax` — text-conditioned softmax pooling: frames weighted by softmax(100 · cos(text, frame)), the
weighted mean renormalised, then cosine with the text.

`VideoIndex` stores each video's frame embeddings on disk, keyed by the file's content hash + model +
weights, so nothing is encoded twice and the index survives a restart. Search runs through faiss:
exact inner product (`IndexFlatIP`) up to `EXACT_UP_TO` videos; beyond that an IVF index. Why 20 000:
a flat scan reads N·D floats per query — 20 000 × 512 × 4 B = 41 MB, a few ms on two CPU cores —
while at 100 000 it takes 12–30 ms (benchmarks/bench_video.py; two shared cores) and grows linearly —
past the 20 ms budget. IVF-Flat with √N lists and 16 probed lists scans ~5 % of the vectors
(< 1 ms at 100 000), needs only a k-means of a few seconds to build, keeps exact scores for the
vectors it visits, and takes new videos without retraining until the set doubles.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from components.errors import InputError
from components.media import parse_labels
from components.video import CLIP4CLIP_SAMPLING, SampledVideo, Sampling, content_hash, load_video

log = logging.getLogger(__name__)

MAX_FRAMES = 12  # frames per video (max_frames)
FRAME_RATE = 1.0  # frames sampled per second
MAX_WORDS = 32  # text tokens, start and end markers included
LOGIT_SCALE = math.exp(math.log(100.0))  # exp(ln 100)
POOL_TEMPERATURE = 100.0  # text-conditioned softmax pooling (extension): weights softmax(100 · cos)

EXACT_UP_TO = 20_000  # videos searched exactly; more → approximate (IVF), see the module docstring
IVF_PROBES = 16
SHORTLIST = 1_000  # extensions on an approximate index re-score this many meanP candidates exactly
MAX_EVAL_PAIRS = 1_000
MAX_CAPTIONS = 200
THUMBNAIL_SIDE = 160
CACHE_ENV = "CLIP_LAB_VIDEO_CACHE"

SIMILARITIES = {
    "meanP": "meanP (faithful): mean of normalised frames",
    "max": "max over frames (extension)",
    "softmax": "text-conditioned softmax pooling (extension)",
}


def default_cache_dir() -> Path:
    """$CLIP_LAB_VIDEO_CACHE, else <user cache dir>/clip-lab/video-index (XDG_CACHE_HOME or ~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clip-lab" / "video-index"


# -- similarity calculators --------------------------------------------------------------------------
def mean_pool(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """meanP: (V, F, D) frame features + (V, F) mask → (V, D) unit video features. Each frame is
    normalised, padding zeroed, the sum divided by the valid count (0 counted as 1), renormalised."""
    frames = np.asarray(frames, np.float32)
    mask = np.asarray(mask, np.float32)
    unit = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
    unit = unit * mask[..., None]
    count = mask.sum(axis=1, keepdims=True)
    count[count == 0] = 1.0
    video = unit.sum(axis=1) / count
    return video / np.maximum(np.linalg.norm(video, axis=-1, keepdims=True), 1e-12)


def similarity_matrix(text: np.ndarray, frames: np.ndarray, mask: np.ndarray, method: str = "meanP") -> np.ndarray:
    """(Q, V) cosine between Q unit text features and V videos of (F, D) frames with an (F,) mask."""
    text = np.asarray(text, np.float32)
    frames = np.asarray(frames, np.float32)
    mask = np.asarray(mask, bool)
    if method == "meanP":
        return text @ mean_pool(frames, mask).T
    unit = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
    per_frame = np.einsum("qd,vfd->qvf", text, unit)  # (Q, V, F)
    if method == "max":
        return np.where(mask[None], per_frame, -np.inf).max(axis=2)
    if method == "softmax":
        logits = np.where(mask[None], POOL_TEMPERATURE * per_frame, -np.inf)
        logits = logits - logits.max(axis=2, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=2, keepdims=True)  # (Q, V, F)
        pooled = np.einsum("qvf,vfd->qvd", weights, unit)
        norm = np.maximum(np.linalg.norm(pooled, axis=-1), 1e-12)
        return np.einsum("qvd,qd->qv", pooled, text) / norm
    raise InputError(f"Unknown similarity {method!r}; choose one of {', '.join(SIMILARITIES)}.")


# -- metrics -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    """R@K in percent, median and mean rank (1-based), and every recorded 0-based rank. StdR: the
    standard deviation of the 1-based ranks, which the official multi-caption text → video metric
    reports (None where the official metric does not)."""

    R1: float
    R5: float
    R10: float
    MdR: float
    MnR: float
    ranks: np.ndarray
    StdR: float | None = None

    def as_row(self) -> dict:
        return {"R@1": self.R1, "R@5": self.R5, "R@10": self.R10, "MdR": self.MdR, "MnR": self.MnR}


def retrieval_metrics(sim: np.ndarray) -> Metrics:
    """CLIP4Clip's metrics for a square (queries × candidates) matrix whose diagonal holds the
    ground truths: rows sorted by score descending; every sorted position whose score equals the
    ground truth's is recorded as a rank (ties add several); R@K = 100·#(rank < K)/#ranks."""
    x = np.asarray(sim, np.float64)
    if x.ndim != 2 or x.shape[0] != x.shape[1] or x.shape[0] == 0:
        raise InputError(f"Retrieval metrics need a square, non-empty similarity matrix; got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise InputError("The similarity matrix holds NaN or infinite values.")
    sorted_neg = np.sort(-x, axis=1)
    ground_truth = np.diag(-x)[:, None]
    ranks = np.nonzero(sorted_neg - ground_truth == 0)[1]
    n = len(ranks)
    return Metrics(
        R1=100.0 * float(np.sum(ranks == 0)) / n,
        R5=100.0 * float(np.sum(ranks < 5)) / n,
        R10=100.0 * float(np.sum(ranks < 10)) / n,
        MdR=float(np.median(ranks)) + 1,
        MnR=float(np.mean(ranks)) + 1,
        ranks=ranks,
    )


def multi_caption_metrics(sim: np.ndarray, caption_video: np.ndarray) -> tuple[Metrics, Metrics]:
    """The official multi-sentence metrics (CLIP4Clip main_task_retrieval.py + metrics.py) of a
    (captions × videos) matrix whose caption i belongs to video caption_video[i]; every video has at
    least one caption. Returns (text → video, video → text).

    The captions are grouped per video into a (videos, most captions, videos) tensor padded with −inf.
    Text → video (`tensor_text_to_video_metrics`): for each caption slot a videos × videos matrix;
    ranks by double argsort (descending; ties by column order), the ground truth on the diagonal,
    padding dropped; MdR = the lower median (torch.median) + 1, MnR = mean + 1, StdR = std of rank + 1.
    Video → text (`tensor_video_to_text_sim`): entry (j, i) = the best score of video i's captions
    for video j, then the one-caption metrics (`retrieval_metrics`, ties recorded)."""
    x = np.asarray(sim, np.float64)
    owner = np.asarray(caption_video)
    if x.ndim != 2 or x.size == 0 or owner.shape != (x.shape[0],):
        raise InputError(f"Multi-caption metrics need a (captions × videos) matrix and one video per caption; "
                         f"got {x.shape} and {owner.shape}.")
    if not np.isfinite(x).all():
        raise InputError("The similarity matrix holds NaN or infinite values.")
    n_videos = x.shape[1]
    groups = [np.flatnonzero(owner == v) for v in range(n_videos)]
    if any(len(g) == 0 for g in groups) or owner.min() < 0 or owner.max() >= n_videos:
        raise InputError("Every video of the evaluation needs at least one caption.")
    width = max(len(g) for g in groups)
    tensor = np.full((n_videos, width, n_videos), -np.inf)
    for v, g in enumerate(groups):
        tensor[v, : len(g)] = x[g]
    # text → video: slot-major stack of videos × videos matrices; the rank of column v in row v
    stacked = tensor.transpose(1, 0, 2)
    first = np.argsort(-stacked, axis=-1, kind="stable")
    second = np.argsort(first, axis=-1, kind="stable")
    ranks = np.diagonal(second, axis1=1, axis2=2).reshape(-1)  # (slot, video) order
    valid = np.isfinite(np.diagonal(tensor, axis1=0, axis2=2).reshape(-1))
    ranks = ranks[valid]
    n = len(ranks)
    text_to_video = Metrics(
        R1=100.0 * float(np.sum(ranks < 1)) / n,
        R5=100.0 * float(np.sum(ranks < 5)) / n,
        R10=100.0 * float(np.sum(ranks < 10)) / n,
        MdR=float(np.sort(ranks)[(n - 1) // 2]) + 1,  # torch.median: the lower middle value
        MnR=float(np.mean(ranks + 1)),
        ranks=ranks,
        StdR=float(np.std(ranks + 1)),
    )
    # video → text: the best caption of each video, rows = query videos
    video_to_text = retrieval_metrics(tensor.max(axis=1).T)
    return text_to_video, video_to_text


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexedVideo:
    """One video in the index: `frames` (F, D) unit frame features, `mask` (MAX_FRAMES,), `times`
    (F,) seconds, `thumbnail` (h, w, 3) uint8, `key` the content hash."""

    key: str
    name: str
    frames: np.ndarray
    mask: np.ndarray
    times: np.ndarray
    thumbnail: np.ndarray
    duration: float
    source: str = ""

    @property
    def pooled(self) -> np.ndarray:
        return mean_pool(self.frames[None], np.ones((1, len(self.frames)), bool))[0]

    def padded(self, slots: int = MAX_FRAMES) -> tuple[np.ndarray, np.ndarray]:
        frames = np.zeros((slots, self.frames.shape[1]), np.float32)
        frames[: len(self.frames)] = self.frames[:slots]
        mask = np.zeros(slots, bool)
        mask[: len(self.frames)] = True
        return frames, mask


@dataclass(frozen=True)
class IndexProgress:
    done: int
    total: int
    name: str
    cached: bool
    entry: IndexedVideo | None = None
    skipped: str = ""  # why a video was not added (an InputError message), else ""


@dataclass(frozen=True)
class TextToVideo:
    """The `k` best videos for `query`: names/keys best first, `scores` cosine, `logits` 100·cosine,
    `frame_scores` (k, F) each frame's cosine with the query (NaN for padding)."""

    query: str
    similarity: str
    names: tuple[str, ...]
    keys: tuple[str, ...]
    scores: np.ndarray
    logits: np.ndarray
    frame_scores: np.ndarray
    approximate: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class VideoToText:
    """Captions ranked for one video: `order` best first, `scores` cosine in the order given.

    The evidence behind the scores: `frame_scores` (C, F) the cosine of each of the C captions (in
    the order given) with each of the video's F sampled frames, `times` (F,) those frames' times in
    seconds, `key` the video's content hash, and `thumbnails` the F sampled frames as small (h, w, 3)
    uint8 pictures when they were asked for and could be had (else ())."""

    video: str
    similarity: str
    captions: tuple[str, ...]
    scores: np.ndarray
    logits: np.ndarray
    order: np.ndarray
    notes: tuple[str, ...] = ()
    frame_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    key: str = ""
    thumbnails: tuple[np.ndarray, ...] = ()

    def ranking(self) -> list[tuple[str, float]]:
        return [(self.captions[i], float(self.scores[i])) for i in self.order]


@dataclass(frozen=True)
class Evaluation:
    """`similarity` (captions, videos) cosine of the pairs' captions (CSV order) with the unique videos
    (first-appearance order); caption i's ground truth is video `caption_video[i]` (one caption per
    video: the diagonal). `protocol`: "one caption per video" or "multi-caption" (see
    `multi_caption_metrics`)."""

    videos: tuple[str, ...]
    captions: tuple[str, ...]
    similarity: np.ndarray
    text_to_video: Metrics
    video_to_text: Metrics
    method: str
    notes: tuple[str, ...] = ()
    caption_video: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    protocol: str = "one caption per video"

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(video, caption) of every caption, in the CSV's order."""
        return tuple((self.videos[v], c) for v, c in zip(self.caption_video, self.captions))


# -- captions and pairs ------------------------------------------------------------------------------
_NEVER = re.compile(r"(?!)")


def cap_text(backbone, text: str) -> tuple[str, tuple[str, ...]]:
    """The caption cut at a word boundary to `MAX_WORDS` tokens (markers included), with a note."""
    result = parse_labels([text], count_tokens=backbone.count_tokens, max_tokens=MAX_WORDS, separators=_NEVER)
    return result.labels[0], result.notes


def parse_captions(text: str | Sequence[str]) -> list[str]:
    """One caption per line (commas belong to captions)."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    captions = [" ".join(line.split()) for line in lines if line and line.strip()]
    if not captions:
        raise InputError("Give at least one caption, one per line.")
    if len(captions) > MAX_CAPTIONS:
        raise InputError(f"You gave {len(captions)} captions; the limit is {MAX_CAPTIONS}.")
    return captions


def parse_pairs(data: str | bytes | Path) -> list[tuple[str, str]]:
    """(video name, caption) rows from a CSV with columns video, caption (a header row is optional)."""
    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and len(data) < 1024 and Path(data).is_file()):
        path = Path(data)
        if not path.is_file():
            raise InputError(f"{path.name} could not be found; upload it again.")
        if path.stat().st_size > 5 * 2**20:
            raise InputError(f"{path.name} is larger than 5 MB; a pairs file should be small.")
        data = path.read_bytes()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("The CSV is not UTF-8 text; save it as UTF-8 CSV with columns video, caption.") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(data)) if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise InputError(f"The CSV could not be read ({error}).") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["video", "caption"]:
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise InputError(f"CSV row {number} needs two columns, video and caption; got {row!r:.80}.")
        pairs.append((row[0].strip(), " ".join(row[1].split())))
    if len(pairs) < 2:
        raise InputError("Evaluation needs at least two (video, caption) rows.")
    if len(pairs) > MAX_EVAL_PAIRS:
        raise InputError(f"The CSV has {len(pairs)} pairs; the limit is {MAX_EVAL_PAIRS}.")
    return pairs


# -- the on-disk cache -------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "model"


def _sampling_tag(sampling: Sampling) -> str:
    return f"{sampling.strategy}{sampling.frames}r{sampling.rate:g}"


def _thumbnail(image: Image.Image) -> np.ndarray:
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return np.asarray(thumb, np.uint8)


class VideoIndex:
    """Videos → frame embeddings (cached on disk) → faiss over their meanP features.

    `add(sources)` is a generator yielding `IndexProgress` per video (stop it to stop the work);
    decoding of the next video overlaps the encoding of the current one. `search(query)` ranks
    videos for a text, `captions(video, captions)` ranks texts for a video, `evaluate(pairs)`
    computes CLIP4Clip's metrics. With `persist`, the list of indexed videos is kept beside the
    embeddings and reloaded on the next start.
    """

    def __init__(
        self,
        backbone,
        cache_dir: str | Path | None = None,
        *,
        sampling: Sampling = CLIP4CLIP_SAMPLING,
        exact_up_to: int = EXACT_UP_TO,
        persist: bool = True,
    ):
        self.backbone = backbone
        self.sampling = sampling
        self.exact_up_to = exact_up_to
        self.persist = persist
        self.root = Path(cache_dir) if cache_dir else default_cache_dir()
        self.dir = self.root / _slug(f"{backbone.model_name}__{backbone.weights}")
        log.info("video index of %s: embeddings cached in %s", backbone.describe(), self.dir)
        self.entries: list[IndexedVideo] = []
        self._by_key: dict[str, int] = {}
        self._names: dict[str, int] = {}
        self._pooled = np.zeros((0, backbone.embed_dim), np.float32)
        self._faiss = None
        self._faiss_size = 0
        self._trained_size = 0
        self._lock = threading.RLock()
        self.encoded_videos = 0  # videos that needed the image tower (not from the cache)
        if persist:
            self._load_manifest()

    # -- facts -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    @property
    def approximate(self) -> bool:
        return len(self.entries) > self.exact_up_to

    def describe(self) -> str:
        kind = f"approximate (IVF, {IVF_PROBES} probes)" if self.approximate else "exact (flat inner product)"
        # shown in the page: says that a cache exists, not where (server paths go to the log)
        return f"{len(self)} video{'s' if len(self) != 1 else ''} · {kind} search · embeddings cached on disk"

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def entry(self, name_or_key: str) -> IndexedVideo:
        with self._lock:
            if name_or_key in self._by_key:
                return self.entries[self._by_key[name_or_key]]
            if name_or_key in self._names:
                return self.entries[self._names[name_or_key]]
        raise InputError(f"“{name_or_key}” is not in the index; add it first (indexed: {len(self)} videos).")

    # -- cache -------------------------------------------------------------------------------------
    def _cache_path(self, key: str) -> Path:
        return self.dir / f"{key}-{_sampling_tag(self.sampling)}.npz"

    def _read_cache(self, key: str, name: str, source: str) -> IndexedVideo | None:
        path = self._cache_path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return IndexedVideo(
                    key=key, name=name, frames=data["frames"].astype(np.float32), mask=data["mask"],
                    times=data["times"], thumbnail=data["thumbnail"], duration=float(data["duration"]),
                    source=source,
                )
        except (OSError, ValueError, KeyError) as error:  # a damaged cache file is re-encoded
            log.warning("ignoring damaged cache file %s: %s", path, error)
            return None

    def _write_cache(self, entry: IndexedVideo) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._cache_path(entry.key)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp, frames=entry.frames, mask=entry.mask, times=entry.times, thumbnail=entry.thumbnail,
            duration=np.float64(entry.duration),
        )
        os.replace(tmp, path)

    def _manifest(self) -> Path:
        return self.dir / f"index-{_sampling_tag(self.sampling)}.json"

    def _load_manifest(self) -> None:
        path = self._manifest()
        if not path.is_file():
            return
        try:
            items = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable index manifest %s: %s", path, error)
            return
        for item in items:
            entry = self._read_cache(item["key"], item["name"], item.get("source", ""))
            if entry is not None:
                self._insert(entry)

    def _save_manifest(self) -> None:
        if not self.persist:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        items = [{"key": e.key, "name": e.name, "source": e.source} for e in self.entries]
        tmp = self._manifest().with_suffix(".tmp")
        tmp.write_text(json.dumps(items, indent=0))
        os.replace(tmp, self._manifest())

    # -- adding ------------------------------------------------------------------------------------
    def _prepare(self, source, name: str | None):
        """Hash, look in the cache, else decode: runs in a worker thread ahead of the encoder."""
        key = content_hash(source)
        label = name or (Path(source).name if isinstance(source, (str, Path)) else f"images-{key[:8]}")
        source_text = str(source) if isinstance(source, (str, Path)) else ""
        if key in self._by_key:
            return key, label, source_text, self.entries[self._by_key[key]], None
        cached = self._read_cache(key, label, source_text)
        if cached is not None:
            return key, label, source_text, cached, None
        return key, label, source_text, None, load_video(source, self.sampling)

    def encode(self, sampled: SampledVideo, key: str, name: str, source: str = "") -> IndexedVideo:
        frames = self.backbone.encode_images(list(sampled.frames)).numpy().astype(np.float32)
        middle = sampled.frames[len(sampled.frames) // 2]
        return IndexedVideo(
            key=key, name=name, frames=frames, mask=sampled.mask, times=sampled.times,
            thumbnail=_thumbnail(middle), duration=sampled.info.duration, source=source,
        )

    def add(self, sources: Sequence, names: Sequence[str] | None = None) -> Iterator[IndexProgress]:
        """Add videos (paths or lists of images); yields after each. A bad video is skipped with its
        message in `IndexProgress.skipped` so one broken file does not stop a batch."""
        sources = list(sources)
        names = list(names) if names is not None else [None] * len(sources)
        if not sources:
            raise InputError("Choose at least one video to add.")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-lab-decode")
        try:
            future = executor.submit(self._prepare, sources[0], names[0])
            for i in range(len(sources)):
                try:
                    key, label, source_text, entry, sampled = future.result()
                    error = ""
                except InputError as exc:
                    key = label = source_text = entry = sampled = None
                    error = str(exc)
                if i + 1 < len(sources):  # decode the next video while this one encodes
                    future = executor.submit(self._prepare, sources[i + 1], names[i + 1])
                if error:
                    yield IndexProgress(i + 1, len(sources), str(names[i] or sources[i])[-80:], False, None, error)
                    continue
                cached = entry is not None
                if entry is None:
                    entry = self.encode(sampled, key, label, source_text)
                    self.encoded_videos += 1
                    self._write_cache(entry)
                if key not in self._by_key:
                    entry = self._insert(entry)
                else:
                    entry = self.entries[self._by_key[key]]
                yield IndexProgress(i + 1, len(sources), entry.name, cached, entry)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            self._save_manifest()

    def add_all(self, sources: Sequence, names: Sequence[str] | None = None) -> list[IndexProgress]:
        return list(self.add(sources, names))

    def add_embeddings(self, keys: Sequence[str], names: Sequence[str], frames: Sequence[np.ndarray]) -> None:
        """Insert precomputed (F, D) unit frame features (benchmarks, tests); not written to disk."""
        blank = np.zeros((1, 1, 3), np.uint8)
        new = []
        for key, name, f in zip(keys, names, frames):
            f = np.asarray(f, np.float32)
            new.append(IndexedVideo(key, name, f, np.ones(len(f), bool), np.arange(len(f), dtype=float), blank, float(len(f))))
        with self._lock:
            for e in new:
                self._insert(e)

    def _insert(self, entry: IndexedVideo) -> IndexedVideo:
        with self._lock:
            if entry.key in self._by_key:
                return self.entries[self._by_key[entry.key]]
            name, n = entry.name, 2
            while name in self._names:
                name, n = f"{entry.name} ({n})", n + 1
            if name != entry.name:
                entry = IndexedVideo(entry.key, name, entry.frames, entry.mask, entry.times, entry.thumbnail, entry.duration, entry.source)
            self._by_key[entry.key] = len(self.entries)
            self._names[name] = len(self.entries)
            self.entries.append(entry)
            return entry

    def remove_all(self) -> None:
        """Forget every video (cached embeddings stay on disk, so re-adding costs nothing)."""
        with self._lock:
            self.entries.clear()
            self._by_key.clear()
            self._names.clear()
            self._faiss = None
            self._pooled = np.zeros((0, self.backbone.embed_dim), np.float32)
            self._save_manifest()

    # -- faiss -------------------------------------------------------------------------------------
    def _search_index(self):
        """The faiss index over meanP features, brought up to date (incrementally where it can)."""
        import faiss

        with self._lock:
            n = len(self.entries)
            if self._faiss is not None and self._faiss_size == n:
                return self._faiss
            if len(self._pooled) > n:  # the index was cleared since
                self._pooled, self._faiss = self._pooled[:0], None
            if len(self._pooled) < n:  # entries only ever append: pool the new ones
                fresh = np.stack([e.pooled for e in self.entries[len(self._pooled) :]]).astype(np.float32)
                self._pooled = np.concatenate([self._pooled, fresh])
            dim = self._pooled.shape[1]
            approximate = n > self.exact_up_to
            if self._faiss is None or self._faiss_size > n:
                can_extend = False
            elif approximate:  # an IVF index takes new vectors until the set doubles since training
                can_extend = isinstance(self._faiss, faiss.IndexIVFFlat) and n <= 2 * self._trained_size
            else:
                can_extend = isinstance(self._faiss, faiss.IndexFlatIP)
            if can_extend:
                self._faiss.add(np.ascontiguousarray(self._pooled[self._faiss_size : n]))
            elif approximate:
                lists = max(1, min(int(round(math.sqrt(n))), n // 39))  # faiss wants ≥ 39 points a list
                quantizer = faiss.IndexFlatIP(dim)
                index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
                index.train(self._pooled)
                index.add(self._pooled)
                index.nprobe = IVF_PROBES
                self._quantizer = quantizer  # the index points into it: keep it alive
                self._faiss, self._trained_size = index, n
            else:
                index = faiss.IndexFlatIP(dim)
                if n:
                    index.add(np.ascontiguousarray(self._pooled))
                self._faiss = index
            self._faiss_size = n
            return self._faiss

    # -- queries -----------------------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
        capped, notes = [], []
        for text in texts:
            short, note = cap_text(self.backbone, text)
            capped.append(short)
            notes.extend(note)
        return self.backbone.encode_texts(capped).numpy().astype(np.float32), tuple(capped), tuple(notes)

    def _padded(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        dim = self.backbone.embed_dim
        frames = np.zeros((len(indices), MAX_FRAMES, dim), np.float32)
        mask = np.zeros((len(indices), MAX_FRAMES), bool)
        for row, i in enumerate(indices):
            f = self.entries[i].frames[:MAX_FRAMES]
            frames[row, : len(f)] = f
            mask[row, : len(f)] = True
        return frames, mask

    def search(self, query: str, k: int = 10, similarity: str = "meanP") -> TextToVideo:
        """The `k` videos that best match `query` under `similarity` (meanP through faiss; the
        extensions score every frame exactly, over a meanP shortlist when the index is approximate)."""
        query = " ".join((query or "").split())
        if not query:
            raise InputError("Type a text query, e.g. “a red video”.")
        if similarity not in SIMILARITIES:
            raise InputError(f"Unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}.")
        with self._lock:
            if not self.entries:
                raise InputError("The index is empty: add videos (or the bundled examples) first.")
            k = max(1, min(int(k), len(self.entries)))
            text, (capped,), notes = self.encode_queries([query])
            notes = list(notes)
            index = self._search_index()
            approximate = self.approximate
            if similarity == "meanP":
                scores, ids = index.search(text, k)
                keep = ids[0] >= 0
                ids, scores = ids[0][keep], scores[0][keep]
            else:
                if approximate:
                    _, shortlist = index.search(text, min(len(self.entries), max(SHORTLIST, k)))
                    candidates = [int(i) for i in shortlist[0] if i >= 0]
                    notes.append(f"{SIMILARITIES[similarity]} re-scored the {len(candidates)} best meanP candidates.")
                else:
                    candidates = list(range(len(self.entries)))
                all_scores = []
                for start in range(0, len(candidates), 2048):
                    chunk = candidates[start : start + 2048]
                    frames, mask = self._padded(chunk)
                    all_scores.append(similarity_matrix(text, frames, mask, similarity)[0])
                all_scores = np.concatenate(all_scores)
                top = np.argsort(-all_scores, kind="stable")[:k]
                ids, scores = np.asarray(candidates)[top], all_scores[top]
            frames, mask = self._padded(ids)
            unit = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
            frame_scores = np.where(mask, unit @ text[0], np.nan)
            entries = [self.entries[int(i)] for i in ids]
        if approximate:
            notes.append(f"Approximate search: the index holds more than {self.exact_up_to} videos.")
        return TextToVideo(
            query=capped, similarity=similarity, names=tuple(e.name for e in entries), keys=tuple(e.key for e in entries),
            scores=np.asarray(scores, np.float32), logits=LOGIT_SCALE * np.asarray(scores, np.float32),
            frame_scores=frame_scores, approximate=approximate, notes=tuple(notes),
        )

    def video_entry(self, video) -> IndexedVideo:
        """An indexed video by name or key, or a new file / image list (encoded through the cache,
        not added to the index)."""
        return self._resolve(video)[0]

    def _resolve(self, video) -> tuple[IndexedVideo, SampledVideo | None, object]:
        """`video_entry`, plus the frames decoded on the way (None when the embeddings came from the
        index or the cache) and the file or images just hashed to the entry's key (else None)."""
        if isinstance(video, IndexedVideo):
            return video, None, None
        if isinstance(video, str) and not Path(video).is_file():
            return self.entry(video), None, None
        key = content_hash(video)
        if key in self._by_key:
            return self.entries[self._by_key[key]], None, video
        name = Path(video).name if isinstance(video, (str, Path)) else "images"
        entry = self._read_cache(key, name, str(video) if isinstance(video, (str, Path)) else "")
        sampled = None
        if entry is None:
            sampled = load_video(video, self.sampling)
            entry = self.encode(sampled, key, name)
            self.encoded_videos += 1
            self._write_cache(entry)
        return entry, sampled, video

    def frame_thumbnails(self, entry: IndexedVideo, *, sampled: SampledVideo | None = None, source=None) -> tuple[np.ndarray, ...]:
        """The entry's sampled frames as small (h, w, 3) uint8 pictures (before CLIP's resize and
        crop): from `sampled` if given, else decoded again with the index's sampling (no image tower)
        from `source` — a file or image list already known to hash to `entry.key` — or from the
        entry's own file when it is still there with the same content. () when neither can be had:
        the index caches embeddings and one thumbnail, not frames."""
        if sampled is None:
            if source is None:
                source = entry.source
                try:
                    if not source or not Path(source).is_file() or content_hash(source) != entry.key:
                        return ()
                except InputError:
                    return ()
            try:
                sampled = load_video(source, self.sampling)
            except InputError:
                return ()
        pictures = tuple(_thumbnail(frame) for frame in sampled.frames)
        return pictures if len(pictures) == len(entry.frames) else ()

    def captions(
        self, video, captions: Sequence[str], similarity: str = "meanP", *, thumbnails: bool = False
    ) -> VideoToText:
        """Rank `captions` for one video (video → text). The result carries each frame's cosine
        with each caption; with `thumbnails`, also the sampled frames as pictures (`frame_thumbnails`)."""
        captions = parse_captions(captions)
        entry, sampled, source = self._resolve(video)
        text, capped, notes = self.encode_queries(captions)
        frames, mask = entry.padded()
        scores = similarity_matrix(text, frames[None], mask[None], similarity)[:, 0]
        valid = frames[mask]
        unit = valid / np.maximum(np.linalg.norm(valid, axis=-1, keepdims=True), 1e-12)
        pictures = self.frame_thumbnails(entry, sampled=sampled, source=source) if thumbnails else ()
        return VideoToText(
            video=entry.name, similarity=similarity, captions=tuple(captions), scores=scores,
            logits=LOGIT_SCALE * scores, order=np.argsort(-scores, kind="stable"), notes=notes,
            frame_scores=text @ unit.T, times=np.asarray(entry.times[: len(valid)], np.float64), key=entry.key,
            thumbnails=pictures[: len(valid)],
        )

    def evaluate(self, pairs: Sequence[tuple[str, str]], similarity: str = "meanP") -> Evaluation:
        """CLIP4Clip's metrics over (video name, caption) pairs of indexed videos: the similarity
        matrix is captions × unique videos. One caption per video: the square matrix and
        `retrieval_metrics` both ways, as the official code scores MSR-VTT. A video with several
        captions: the official multi-sentence protocol (`multi_caption_metrics`)."""
        pairs = list(pairs)
        if len(pairs) < 2:
            raise InputError("Evaluation needs at least two (video, caption) pairs.")
        missing = sorted({v for v, _ in pairs if v not in self._by_key and v not in self._names})
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise InputError(
                f"{len(missing)} video(s) of the CSV are not in the index: {shown}. Add them first "
                "(names must match the indexed names)."
            )
        per_pair = [self.entry(v) for v, _ in pairs]
        unique: dict[str, IndexedVideo] = {}  # by content: two names of one file are one video
        for e in per_pair:
            unique.setdefault(e.key, e)
        keys = list(unique)
        if len(keys) < 2:
            raise InputError("Evaluation needs at least two different videos.")
        entries = list(unique.values())
        owner = np.array([keys.index(e.key) for e in per_pair])
        text, capped, notes = self.encode_queries([c for _, c in pairs])
        frames = np.stack([e.padded()[0] for e in entries])
        mask = np.stack([e.padded()[1] for e in entries])
        sim = similarity_matrix(text, frames, mask, similarity)
        notes = list(notes)
        counts = Counter(owner.tolist())
        if len(owner) > len(keys):
            protocol = "multi-caption"
            t2v, v2t = multi_caption_metrics(sim, owner)
            several = sum(1 for c in counts.values() if c > 1)
            notes.append(
                f"{several} video(s) have several captions: scored with CLIP4Clip's official multi-caption "
                "protocol (text → video over the unique videos, lower median; video → text by each "
                "video's best caption)."
            )
        else:
            protocol = "one caption per video"
            t2v, v2t = retrieval_metrics(sim), retrieval_metrics(sim.T)
        return Evaluation(
            videos=tuple(e.name for e in entries), captions=tuple(capped), similarity=sim,
            text_to_video=t2v, video_to_text=v2t, method=similarity, notes=tuple(notes),
            caption_video=owner, protocol=protocol,
        )
