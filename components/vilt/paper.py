"""ViLT's numbers, from the paper (Kim, Son, Kim, ICML 2021) and its official checkpoint, and the
resize rule its processor applies; plus the one bounded cache the ViLT modules load through."""

from __future__ import annotations

import functools
import threading

VQA_CHECKPOINT = "dandelin/vilt-b32-finetuned-vqa"
HIDDEN_SIZE = 768  # ViT-B/32 width
NUM_LAYERS = 12
PATCH_SIZE = 32
SHORTER_EDGE = 384  # images: short side 384 …
LONGER_EDGE = int(1333 / 800 * SHORTER_EDGE)  # … long side ≤ 639 (Pixel-BERT's 800×1333 ratio), as ViltImageProcessor
MAX_TEXT_TOKENS = 40  # BERT tokens, [CLS] and [SEP] included (config.max_position_embeddings)
VQA_ANSWERS = 3129  # config.id2label of the VQA checkpoint
VQAV2_TEST_DEV = 71.26
# Visual-embedding cost quoted in the paper (Fig. 1), in ms, on the authors' hardware.
QUOTED_MS = {"region": 810.0, "grid": 45.0, "patch": 0.4}
QUOTED_LABELS = {
    "region": "region features (detector, UNITER-style)",
    "grid": "grid features (ResNet, Pixel-BERT)",
    "patch": "linear patch projection (ViLT)",
}
TOP_K = 5
# The official demo's word–patch alignment: IPOT on the final text and patch states (demo.py).
IPOT_BETA = 0.1
IPOT_ITERATIONS = 1000
IPOT_INNER = 1
ALIGNMENTS = ("attention", "ipot")
ATTENTION_LAYERS = ("all", "last")


def vilt_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) ViLT's processor resizes an image to: short side 384, long side ≤ 639,
    both rounded down to a multiple of 32 (ViltImageProcessor's rule)."""
    return fit(width, height, SHORTER_EDGE, LONGER_EDGE)


def fit(width: int, height: int, short_side: int, long_cap: int) -> tuple[int, int]:
    """(width, height) with the short side `short_side` and the long side ≤ `long_cap`, each rounded
    down to a multiple of the patch size (at least one patch)."""
    if width > height:
        new_h, new_w = short_side, width * short_side / height
    else:
        new_h, new_w = height * short_side / width, short_side
    if max(new_h, new_w) > long_cap:
        scale = long_cap / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    new_h, new_w = int(new_h + 0.5), int(new_w + 0.5)
    return max(PATCH_SIZE, new_w // PATCH_SIZE * PATCH_SIZE), max(PATCH_SIZE, new_h // PATCH_SIZE * PATCH_SIZE)


# -- the one bounded cache -------------------------------------------------------------------------
MAX_LOADED = 4  # official engines and timing modules kept at once (least recently used dropped first)
_loaded_lock = threading.Lock()


@functools.lru_cache(maxsize=MAX_LOADED)
def _cached(build, *key):
    return build(*key)


def loaded(build, *key):
    """`build(*key)`, made once and kept while among the MAX_LOADED most recently used (a
    `functools.lru_cache`). A build that raises is not kept: the next call tries again. Builds run one
    at a time, so two requests at once load a model once."""
    with _loaded_lock:
        return _cached(build, *key)


def clear_loaded() -> None:
    with _loaded_lock:
        _cached.cache_clear()
