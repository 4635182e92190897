"""The on-disk video index: each video's frame embeddings cached by content hash, searched with faiss.

`VideoIndex` stores each video's frame embeddings on disk, keyed by the file's content hash + model +
weights, so nothing is encoded twice and the index survives a restart. Search runs through faiss:
exact inner product (`IndexFlatIP`) up to `EXACT_UP_TO` videos; beyond that an IVF index. Why 20 000:
a flat scan reads N·D floats per query — 20 000 × 512 × 4 B = 41 MB, a few ms on two CPU cores —
while at 100 000 it takes 12–30 ms (benchmarks/bench_video.py; two shared cores) and grows linearly —
past the 20 ms budget. IVF-Flat with √N lists and 16 probed lists scans ~5 % of the vectors
(< 1 ms at 100 000), needs only a k-means of a few seconds to build, keeps exact scores for the
vectors it visits, and takes new videos without retraining until the set doubles.

The cache's format, under a folder per model and weights: one `<key>-<sampling>.npz` per video
(frames, mask, times, thumbnail, duration, and the model that made them), written under a temporary
name and renamed into place; and `index-<sampling>.jsonl`, a journal of the indexed videos with one
line appended as each video's add finishes ("add" with key, name and source; "clear"). A process
killed in the middle of a batch therefore leaves every finished video in the journal and no partial
one (a torn last line is ignored; an embeddings file appears whole or not at all). Two visitors adding
at once append whole lines under one lock; a search sees the entries as they were before or after an
insertion, which happens under the same lock. At start, a damaged file — an unreadable or truncated
embeddings file, frames of the wrong shape, another model's embeddings, a journal line that does not
parse — is set aside (renamed `*.damaged`), listed in `VideoIndex.problems` for the tab to show, and
the journal is rewritten with the good entries only. An `index-<sampling>.json` manifest of an older
version is read once and folded into the journal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from components.clip4clip.metrics import multi_caption_metrics, retrieval_metrics
from components.clip4clip.results import Evaluation, IndexedVideo, IndexProgress, TextToVideo, VideoToText
from components.clip4clip.similarity import LOGIT_SCALE, MAX_FRAMES, SIMILARITIES, similarity_matrix
from components.clip4clip.texts import cap_text, parse_captions
from components.errors import InputError
from components.video import CLIP4CLIP_SAMPLING, SampledVideo, Sampling, content_hash, load_video

log = logging.getLogger(__name__)

EXACT_UP_TO = 20_000  # videos searched exactly; more → approximate (IVF), see the module docstring
IVF_PROBES = 16
SHORTLIST = 1_000  # extensions on an approximate index re-score this many meanP candidates exactly
THUMBNAIL_SIDE = 160
CACHE_ENV = "CLIP_LAB_VIDEO_CACHE"
VISITORS = "visitors"  # under a model's folder: one folder per visitor holding that visitor's journal


def default_cache_dir() -> Path:
    """$CLIP_LAB_VIDEO_CACHE, else <user cache dir>/clip-lab/video-index (XDG_CACHE_HOME or ~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clip-lab" / "video-index"



def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "model"


def _sampling_tag(sampling: Sampling) -> str:
    return f"{sampling.strategy}{sampling.frames}r{sampling.rate:g}"


class _Damaged(Exception):
    """A cache file that cannot be used, and why (in words for the page)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(reason)
        self.path, self.reason = path, reason


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
        owner: str = "",
    ):
        self.backbone = backbone
        self.owner = owner  # "" the shared index; else a visitor's own (its journal apart, the embeddings cache shared)
        self.sampling = sampling
        self.exact_up_to = exact_up_to
        self.persist = persist
        self.root = Path(cache_dir) if cache_dir else default_cache_dir()
        self.dir = self.folder_of(backbone, self.root)
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
        self.problems: list[str] = []  # what was found damaged at start, in words for the page
        if persist:
            self._load_journal()

    @staticmethod
    def folder_of(backbone, root: Path | None = None) -> Path:
        """The cache folder of one model and weights."""
        return (root or default_cache_dir()) / _slug(f"{backbone.model_name}__{backbone.weights}")

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
        self.refresh()
        return [e.name for e in self.entries]

    def entry(self, name_or_key: str) -> IndexedVideo:
        self.refresh()
        with self._lock:
            if name_or_key in self._by_key:
                return self.entries[self._by_key[name_or_key]]
            if name_or_key in self._names:
                return self.entries[self._names[name_or_key]]
        raise InputError(f"“{name_or_key}” is not in the index; add it first (indexed: {len(self)} videos).")

    # -- cache -------------------------------------------------------------------------------------
    def _cache_path(self, key: str) -> Path:
        return self.dir / f"{key}-{_sampling_tag(self.sampling)}.npz"

    def _model_id(self) -> str:
        return f"{self.backbone.model_name} · {self.backbone.weights} · {self.backbone.embed_dim}"

    def _read_cache(self, key: str, name: str, source: str) -> IndexedVideo | None:
        """The cached embeddings of one video, or None when there are none; a damaged file raises
        `_Damaged` with the reason."""
        path = self._cache_path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                entry = IndexedVideo(
                    key=key, name=name, frames=data["frames"].astype(np.float32), mask=data["mask"],
                    times=data["times"], thumbnail=data["thumbnail"], duration=float(data["duration"]),
                    source=source,
                )
                model = str(data["model"]) if "model" in data.files else None
        except Exception as error:  # truncated, not a zip, a missing array: every way a file can be damaged
            raise _Damaged(path, f"unreadable ({type(error).__name__})") from None
        if model is not None and model != self._model_id():
            raise _Damaged(path, "made by another model")
        frames = entry.frames
        if frames.ndim != 2 or frames.shape[1] != self.backbone.embed_dim or len(frames) == 0:
            raise _Damaged(path, f"frames of shape {tuple(frames.shape)}, not (frames, {self.backbone.embed_dim})")
        if not np.isfinite(frames).all():
            raise _Damaged(path, "frames that are not finite numbers")
        return entry

    def _cached(self, key: str, name: str, source: str) -> IndexedVideo | None:
        """`_read_cache`, a damaged file set aside (it is encoded again)."""
        try:
            return self._read_cache(key, name, source)
        except _Damaged as damaged:
            self._set_aside(damaged, name)
            return None

    def _set_aside(self, damaged: "_Damaged", name: str) -> None:
        aside = damaged.path.with_name(damaged.path.name + ".damaged")
        try:
            os.replace(damaged.path, aside)
        except OSError:
            pass
        log.warning("set aside the damaged file %s (%s) as %s", damaged.path, damaged.reason, aside.name)
        self.problems.append(f"the embeddings of “{name}” were damaged ({damaged.reason}) and were set aside: "
                             "add that video again")

    def _write_cache(self, entry: IndexedVideo) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._cache_path(entry.key)
        # a name of its own per writer: two visitors adding the same video never share a temporary file
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
        np.savez(
            tmp, frames=entry.frames, mask=entry.mask, times=entry.times, thumbnail=entry.thumbnail,
            duration=np.float64(entry.duration), model=np.array(self._model_id()),
        )
        os.replace(tmp, path)

    def _journal_path(self) -> Path:
        folder = self.dir / VISITORS / self.owner if self.owner else self.dir
        return folder / f"index-{_sampling_tag(self.sampling)}.jsonl"

    def include(self, entries: Sequence[IndexedVideo]) -> None:
        """Show `entries` (the shared examples) in this index too, without writing them to its journal."""
        with self._lock:
            for entry in entries:
                if entry.key not in self._by_key:
                    self._insert(entry)

    def _journal(self, record: dict) -> None:
        """Append one whole line to the journal (one write on an append-only file, under the lock)."""
        if not self.persist:
            return
        self._journal_path().parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self._journal_path(), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a writer was killed mid-line: start afresh
                    line = b"\n" + line
                os.write(fd, line)
            finally:
                os.close(fd)

    def _journal_items(self) -> tuple[list[dict], int]:
        """The journal's videos in order (after the last "clear"), and how many lines were damaged."""
        items: dict[str, dict] = {}
        damaged = 0
        legacy = self.dir / f"index-{_sampling_tag(self.sampling)}.json"
        if legacy.is_file() and not self.owner:  # an older version's manifest, read once
            try:
                for item in json.loads(legacy.read_text()):
                    items[item["key"]] = item
            except (OSError, ValueError, KeyError, TypeError):
                damaged += 1
        path = self._journal_path()
        data = path.read_bytes() if path.is_file() else b""
        self._read_to = (path.stat().st_ino if data else None, len(data))
        lines = data.splitlines()
        for line in lines:
            try:
                record = json.loads(line)
                if record.get("op") == "clear":
                    items.clear()
                elif record.get("op") == "add":
                    items[str(record["key"])] = {"key": str(record["key"]), "name": str(record["name"]),
                                                 "source": str(record.get("source", ""))}
                else:
                    raise ValueError(record)
            except (ValueError, KeyError, TypeError, AttributeError):
                damaged += 1
        return list(items.values()), damaged

    def _load_journal(self) -> None:
        if not self.dir.is_dir():
            return
        try:
            items, damaged_lines = self._journal_items()
        except OSError as error:
            self.problems.append(f"the index's journal could not be read ({type(error).__name__}); it starts empty")
            return
        if damaged_lines:
            lines = "1 line was" if damaged_lines == 1 else f"{damaged_lines} lines were"
            self.problems.append(f"{lines} of the index's journal could not be read and skipped (a run stopped "
                                 "mid-write leaves one)")
        for item in items:
            try:
                entry = self._read_cache(item["key"], item["name"], item.get("source", ""))
            except _Damaged as damaged:
                self._set_aside(damaged, item["name"])
                continue
            if entry is None:
                self.problems.append(f"the embeddings of “{item['name']}” are missing from the cache: add that video again")
                continue
            self._insert(entry)
        legacy = self.dir / f"index-{_sampling_tag(self.sampling)}.json"
        old_manifest = not self.owner and legacy.exists()  # a visitor's index never had one
        if damaged_lines or len(self.entries) != len(items) or old_manifest:
            self._rewrite_journal()
            if old_manifest:
                legacy.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Take in what other processes appended to the journal since this one read it (a ZeroGPU
        worker kept from before another worker's add; a second app process on the same cache): only
        whole lines, each applied as at start; a journal replaced since (rewritten at another start)
        is read again from its beginning."""
        path = self._journal_path()
        if not self.persist:
            return
        try:
            stat = path.stat()
        except OSError:
            return
        ino, offset = getattr(self, "_read_to", (None, 0))
        if ino != stat.st_ino:
            offset = 0
        if stat.st_size <= offset and ino == stat.st_ino:
            return
        with self._lock, open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
            whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next look
            self._read_to = (stat.st_ino, offset + len(whole))
            for line in whole.splitlines():
                try:
                    record = json.loads(line)
                    op = record.get("op")
                except (ValueError, AttributeError):
                    continue
                if op == "clear":
                    self._forget()
                elif op == "add" and record.get("key") not in self._by_key:
                    try:
                        entry = self._read_cache(str(record["key"]), str(record["name"]), str(record.get("source", "")))
                    except (_Damaged, KeyError):
                        continue
                    if entry is not None:
                        self._insert(entry)

    def _rewrite_journal(self) -> None:
        """The journal as the index holds it now, replaced in one rename."""
        if not self.persist:
            return
        self._journal_path().parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            text = "".join(json.dumps({"op": "add", "key": e.key, "name": e.name, "source": e.source},
                                      ensure_ascii=False) + "\n" for e in self.entries)
            tmp = self._journal_path().with_name(f".{self._journal_path().name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self._journal_path())
            self._read_to = (self._journal_path().stat().st_ino, len(text.encode("utf-8")))

    # -- adding ------------------------------------------------------------------------------------
    def _prepare(self, source, name: str | None):
        """Hash, look in the cache, else decode: runs in a worker thread ahead of the encoder."""
        key = content_hash(source)
        label = name or (Path(source).name if isinstance(source, (str, Path)) else f"images-{key[:8]}")
        source_text = str(source) if isinstance(source, (str, Path)) else ""
        if key in self._by_key:
            return key, label, source_text, self.entries[self._by_key[key]], None
        cached = self._cached(key, label, source_text)
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
                with self._lock:  # in the index and in the journal together: one video, whole
                    if key not in self._by_key:
                        entry = self._insert(entry)
                        self._journal({"op": "add", "key": entry.key, "name": entry.name, "source": entry.source})
                    else:
                        entry = self.entries[self._by_key[key]]
                yield IndexProgress(i + 1, len(sources), entry.name, cached, entry)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

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
            self._forget()
            self._journal({"op": "clear"})

    def _forget(self) -> None:
        with self._lock:
            self.entries.clear()
            self._by_key.clear()
            self._names.clear()
            self._faiss = None
            self._pooled = np.zeros((0, self.backbone.embed_dim), np.float32)

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
        self.refresh()
        query = " ".join((query or "").split())
        if not query:
            raise InputError("Type a text query, e.g. “a red video”.")
        if similarity not in SIMILARITIES:
            raise InputError(f"Unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}.")
        with self._lock:
            if not self.entries:
                raise InputError("The index is empty: add videos (or the bundled examples) first.")
            text, (capped,), notes = self.encode_queries([query])
        return self.search_vector(text, capped, k, similarity, notes)

    def search_image(self, image: Image.Image, k: int = 10, similarity: str = "meanP", label: str = "an image") -> TextToVideo:
        """The `k` videos that best match an example image (or a frame of another video): the image
        tower's unit embedding stands where the text's would, so each hit's best frame is the moment
        most like the picture."""
        self.refresh()
        if similarity not in SIMILARITIES:
            raise InputError(f"Unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}.")
        if not self.entries:
            raise InputError("The index is empty: add videos (or the bundled examples) first.")
        vector = self.backbone.encode_images([image]).numpy().astype(np.float32)
        return self.search_vector(vector, label, k, similarity)

    def search_vector(self, text: np.ndarray, capped: str, k: int = 10, similarity: str = "meanP",
                      notes: Sequence[str] = ()) -> TextToVideo:
        """`search` for a (1, D) unit query vector already made (a text's or an image's); `capped`
        names the query in the result."""
        with self._lock:
            if not self.entries:
                raise InputError("The index is empty: add videos (or the bundled examples) first.")
            k = max(1, min(int(k), len(self.entries)))
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
        entry = self._cached(key, name, str(video) if isinstance(video, (str, Path)) else "")
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
        self.refresh()
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
        self.refresh()
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
