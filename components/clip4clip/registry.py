"""One video index per backbone in the process, and which videos an index held when a run was made.

Every caller that asks for the index of the same (model, weights, device) gets the same `VideoIndex`
(its embeddings live in the on-disk cache, so a new process starts from what was indexed before).
A search's result depends on the videos the index held, so a run record keeps them by content hash
(`index_state`), and a replay says in a sentence how the index differs now (`index_difference`).
"""

from __future__ import annotations

import hashlib
import threading

from components.clip4clip.index import VideoIndex

RECORD_INDEX_KEYS = 500  # a record lists the indexed videos' hashes up to this many (else only a digest)

_indexes: dict[tuple[str, str, str], VideoIndex] = {}
_indexes_lock = threading.Lock()


def index_for(backbone) -> VideoIndex:
    """The process-wide index of one backbone (its embeddings live in the on-disk cache)."""
    key = (backbone.model_name, backbone.weights, backbone.device)
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = VideoIndex(backbone)
        return _indexes[key]


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
