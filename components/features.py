"""Pay once, answer many times: one protocol and one cache for what a method's forward computes.

After segment-anything's `SamPredictor.set_image` / `predict`: a method that can answer again
without running its network splits its call in two,

    features = method.embed(input)          # the forward(s): a `Features` dataclass, keyed
    result = method(features, ...)          # the cheap rest, as often as settings change

and `method(input, ...)` stays the one-call form (it embeds, then answers). Every `Features` carries
`key`, the `content_key` of everything it depends on: the decoded pixels (never a file name or an
upload path), the model's identity and the settings that change the features; `method.features_key
(input)` gives that key without running anything.

One bounded cache, `CACHE`, holds features by key, least recently used dropped first (an entry and a
byte limit: `CLIP_LAB_FEATURE_ENTRIES`, `CLIP_LAB_FEATURE_MB`). `CACHE.embed(method, input)` answers
from it or embeds and keeps the result.

Processes: on a ZeroGPU Space a GPU call runs in a worker forked from the main process, and its
result comes back pickled. A handler returns the features it computed (in the run's kept state);
when a `Features` is unpickled, the receiving process's cache takes it in (`Features.__reduce__`). So
the caller — the main process — fills its own cache from what the worker returns, re-scores there
without a model, and workers forked later start with those features; features sent into a worker
with a call's arguments land in that worker's cache the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from components.errors import InputError

MAX_ENTRIES = int(os.environ.get("CLIP_LAB_FEATURE_ENTRIES", "64"))
MAX_BYTES = int(float(os.environ.get("CLIP_LAB_FEATURE_MB", "1024")) * 2**20)
DIGEST_SIZE = 16  # bytes of BLAKE2b: 128 bits, far beyond any chance collision


# -- keys --------------------------------------------------------------------------------------------
def content_key(*parts) -> str:
    """A hex digest of `parts`: PIL images by their decoded RGB pixels and size, arrays and tensors by
    dtype, shape and bytes, strings, bytes, numbers, None, and tuples, lists and dicts of those. Two
    parts that differ in type or boundary never hash alike ("ab", "c" ≠ "a", "bc")."""
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


def _feed(digest, part) -> None:
    def tagged(tag: bytes, data: bytes) -> None:
        digest.update(tag + len(data).to_bytes(8, "little"))
        digest.update(data)

    if isinstance(part, Image.Image):
        rgb = part if part.mode == "RGB" else part.convert("RGB")
        tagged(b"I", f"{rgb.size}".encode())
        tagged(b"P", rgb.tobytes())
    elif isinstance(part, torch.Tensor):
        _feed(digest, part.detach().cpu().numpy())
    elif isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        tagged(b"A", f"{array.dtype.str}{array.shape}".encode())
        tagged(b"B", array.tobytes())
    elif isinstance(part, (bytes, bytearray, memoryview)):
        tagged(b"Y", bytes(part))
    elif isinstance(part, str):
        tagged(b"S", part.encode())
    elif part is None or isinstance(part, (bool, int, float)):
        tagged(b"N", f"{type(part).__name__}:{part!r}".encode())
    elif isinstance(part, (tuple, list)):
        tagged(b"T", str(len(part)).encode())
        for item in part:
            _feed(digest, item)
    elif isinstance(part, Mapping):
        tagged(b"D", str(len(part)).encode())
        for name in sorted(part, key=str):
            _feed(digest, str(name))
            _feed(digest, part[name])
    else:
        raise TypeError(f"content_key cannot hash a {type(part).__name__}")


def model_identity(model) -> str:
    """What identifies a model's weights in a key: its `identity` when it has one; else its
    description ("model · weights · device · precision" for a ClipBackbone), which is enough for a
    pretrained tag (the same weights in every process); random, checkpoint or trained weights add a
    token of the instance, so two such models never share features."""
    model = getattr(model, "wrapped", model)  # a view of a backbone (dense.SharedDense) is that backbone
    identity = getattr(model, "identity", None)
    if isinstance(identity, str) and identity:
        return identity
    describe = getattr(model, "describe", None)
    name = describe() if callable(describe) else str(getattr(model, "weights", type(model).__name__))
    if str(getattr(model, "weights", "")).startswith("pretrained:"):
        return name
    token = vars(model).get("_features_token")
    if token is None:
        token = secrets.token_hex(8)
        vars(model)["_features_token"] = token
    return f"{name} · {token}"


# -- what a forward computed ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """The base of every method's features: `key` (a `content_key`) and the arrays the method's answer
    step reads. Subclasses are frozen dataclasses of numpy arrays / tensors and plain metadata."""

    key: str = field(default="", kw_only=True)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays and tensors it holds (nested tuples and features included)."""
        return sum(_nbytes(getattr(self, f.name)) for f in dataclasses.fields(self))

    def __reduce__(self):
        # Unpickled (a GPU worker's result reaching the main process, or kept features sent into a
        # worker): the receiving process's cache takes it in. See the module docstring.
        return _arrive, (type(self), {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _arrive(cls, values: dict) -> Features:
    features = cls(**values)
    if features.key:
        CACHE.put(features)
    return features


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, torch.Tensor):
        return int(value.element_size() * value.numel())
    if isinstance(value, Features):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


# -- the cache ---------------------------------------------------------------------------------------------
_caches: "weakref.WeakSet[FeatureCache]" = weakref.WeakSet()


class FeatureCache:
    """Features by key, least recently used dropped first, within `max_entries` and `max_bytes`.
    Thread-safe; a forked child gets a fresh lock (a lock another thread held at the fork would stay
    held there). `hits` / `misses` count `get`s, for tests and benchmarks."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("A feature cache keeps at least one entry and one byte")
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self._entries: OrderedDict[str, Features] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> Features | None:
        with self._lock:
            features = self._entries.get(key)
            if features is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return features

    def put(self, features: Features) -> Features:
        """Keep `features` under its key (the newest entry); returns it. Features larger than the
        whole byte limit are returned but not kept."""
        if not isinstance(features, Features) or not features.key:
            raise TypeError("Only keyed Features go in the feature cache")
        size = features.nbytes
        with self._lock:
            old = self._entries.pop(features.key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if size > self.max_bytes:
                return features
            self._entries[features.key] = features
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
        return features

    def embed(self, method, *inputs) -> Features:
        """`method.embed(*inputs)`, answered from the cache when `method.features_key(*inputs)` is in it."""
        return self.embed_or_reuse(method, *inputs)[0]

    def embed_or_reuse(self, method, *inputs) -> tuple[Features, bool]:
        """(features, whether they came from the cache) for `method.embed(*inputs)`."""
        key = method.features_key(*inputs)
        cached = self.get(key)
        if cached is not None:
            return cached, True
        features = method.embed(*inputs)
        assert features.key == key, f"{type(method).__name__}.embed keyed its features {features.key!r}, not {key!r}"
        return self.put(features), False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


def _after_fork_in_child() -> None:
    for cache in list(_caches):
        cache._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)

CACHE = FeatureCache()


def kept_features(kept, kind: type[Features], what: str) -> Features:
    """The features a re-score reads from a run's kept state (`kept` itself, or its "features"
    entry), or an InputError saying what to run first."""
    features = kept.get("features") if isinstance(kept, Mapping) else kept
    if not isinstance(features, kind):
        raise InputError(what)
    return features
