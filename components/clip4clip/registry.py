"""One video index per backbone in the process, and which videos an index held when a run was made.

Every caller that asks for the index of the same (model, weights, device) gets the same `VideoIndex`
(its embeddings live in the on-disk cache, so a new process starts from what was indexed before).
A search's result depends on the videos the index held, so a run record keeps them by content hash
(`index_state`), and a replay says in a sentence how the index differs now (`index_difference`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from pathlib import Path

from components.clip4clip.index import VISITORS, VideoIndex

RECORD_INDEX_KEYS = 500  # a record lists the indexed videos' hashes up to this many (else only a digest)

_indexes: dict[tuple[str, str, str, str], VideoIndex] = {}
_indexes_lock = threading.Lock()
SHARED_ENV = "CLIP_LAB_SHARED_INDEX"  # "1": one index for every visitor (the operator's choice)
VISITOR_TTL_S = 24 * 3600  # a visitor's own videos are removed after this long unused
OWNER = re.compile(r"[0-9a-f]{8,64}|[0-9a-f-]{8,64}")  # our cookie ids; Gradio's session ids


def shared_index() -> bool:
    """Whether every visitor shares one index (CLIP_LAB_SHARED_INDEX=1 or `python app.py --shared-index`)."""
    return os.environ.get(SHARED_ENV, "") == "1"


def owner_of(visitor: str) -> str:
    """The index owner a visitor maps to: "" (the shared index) when the index is shared or the
    visitor has no id; else the id, checked to be one of ours (it names a folder)."""
    if shared_index() or not visitor:
        return ""
    if not OWNER.fullmatch(visitor):
        raise ValueError(f"not a visitor id: {visitor[:40]!r}")
    return visitor


def index_for(backbone, visitor: str = "") -> VideoIndex:
    """The index a visitor searches: their own (their uploads, plus the shared examples), or the
    shared one (examples; everyone's uploads when the index is shared). Embeddings live in one
    content-addressed cache per model, so an example is encoded once for everyone."""
    owner = owner_of(visitor)
    key = (backbone.model_name, backbone.weights, backbone.device, owner)
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = VideoIndex(backbone, owner=owner)
        index = _indexes[key]
    if owner:
        shared = index_for(backbone)
        index.include(shared.entries)  # the examples, for everyone
        _touch(index)
        expire_visitors(backbone)
    return index


def _touch(index: VideoIndex) -> None:
    folder = index._journal_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "last-used").touch()


def _visitor_folders(backbone) -> list[Path]:
    root = VideoIndex.folder_of(backbone) / VISITORS
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def expire_visitors(backbone, ttl_s: float = VISITOR_TTL_S, now: float | None = None) -> int:
    """Remove the visitors' indexes unused for `ttl_s` (their journals; the shared embeddings cache
    stays). Returns how many went."""
    now = time.time() if now is None else now
    gone = 0
    for folder in _visitor_folders(backbone):
        used = folder / "last-used"
        last = used.stat().st_mtime if used.exists() else folder.stat().st_mtime
        if now - last > ttl_s:
            forget_visitor(backbone, folder.name)
            gone += 1
    return gone


def forget_visitor(backbone, visitor: str) -> None:
    """Remove a visitor's own index: its journal folder and the process's copy."""
    owner = owner_of(visitor)
    if not owner:
        return
    with _indexes_lock:
        for key in [k for k in _indexes if k[:2] == (backbone.model_name, backbone.weights) and k[3] == owner]:
            del _indexes[key]
    shutil.rmtree(VideoIndex.folder_of(backbone) / VISITORS / owner, ignore_errors=True)


def indexes() -> list[VideoIndex]:
    """The indexes made so far in this process (tests, tools)."""
    with _indexes_lock:
        return list(_indexes.values())


def forget_indexes() -> None:
    """Drop every index of this process (the next `index_for` reads the cache folder afresh, e.g.
    after CLIP_LAB_VIDEO_CACHE changed); the cached embeddings stay on disk."""
    with _indexes_lock:
        _indexes.clear()


def index_state(index: VideoIndex) -> dict:
    """Which videos the index held, by content hash: part of a search's result. Up to
    `RECORD_INDEX_KEYS` videos it lists them (hash → name); always their count and a digest."""
    entries = [(e.key, e.name) for e in list(index.entries)]
    keys = sorted(key for key, _ in entries)
    state = {"videos": len(keys), "digest": hashlib.sha256("\n".join(keys).encode()).hexdigest()}
    if len(keys) <= RECORD_INDEX_KEYS:
        state["keys"] = {key: name for key, name in entries}
    return state


def index_difference(recorded: dict, now: dict) -> str:
    """A plain sentence when the index differs from the recorded one, else ""."""
    if recorded.get("digest") == now["digest"]:
        return ""
    text = f"The index differs from the recorded run ({recorded.get('videos', '?')} videos then, {now['videos']} now)"
    then_keys, now_keys = recorded.get("keys"), now.get("keys")
    if isinstance(then_keys, dict) and isinstance(now_keys, dict):
        missing = [then_keys[k] for k in then_keys if k not in now_keys]
        added = [now_keys[k] for k in now_keys if k not in then_keys]
        if missing:
            text += f"; missing now: {', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}"
        if added:
            text += f"; added since: {', '.join(added[:5])}{'…' if len(added) > 5 else ''}"
    return text + ", so the ranking may differ."
