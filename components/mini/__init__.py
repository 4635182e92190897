"""CLIP Lab Mini: a small CLIP trained here on the generated world (`components.world`).

An ordinary open_clip model — a ViT-B-style image tower with 8-px patches at 64 px (an 8 × 8 patch
grid, so the dense tabs get real patches) and a fixed 2-D sin-cos position embedding, and a 4-layer
text tower — registered as an open_clip model config and trained with open_clip's own model code and
`ClipLoss` by `components/mini/train.py`.
Its weights ship in `assets/mini/` (fp16 safetensors, < 10 MB; the model card is beside them).

What it knows: the world's 8 colours, 8 shapes, 3 sizes, counts up to four, positions and simple
relations, DepthCLIP's distance words for its scenes, five actions in clips, and PointCLIP depth maps
of 12 solids. Photos are outside its world: for them the app needs OpenAI's weights.

A second Mini, `clip-lab-mini-rn` (`clip-lab-mini-rn.json`: the same text tower, with open_clip's
ModifiedResNet as image tower at 64 px), is in the picker too: a convolutional tower learns the
world's shapes far sooner than the ViT (the model card has the figures), but its last stage is a
2 × 2 map at 64 px, so the dense tabs get coarse maps from it. Each of the two judges the other's
CLIPasso sketches in the meaning benchmark: a tower the sketch's loss never used.
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL = "clip-lab-mini"  # the Mini the app falls back to: a ViT, so the dense tabs get real patches
RN_MODEL = "clip-lab-mini-rn"
SHIPPED = (MODEL, RN_MODEL)  # the Minis whose weights ship in assets/mini/, each in the model picker
TAG = "mini"  # the pretrained "tag" meaning the shipped weights
CONFIG_DIR = Path(__file__).resolve().parent
ROOT = CONFIG_DIR.parents[1]
WEIGHTS_DIR = ROOT / "assets" / "mini"


def weights(model: str = MODEL) -> Path:
    """The shipped weights file of the Mini `model` (its record and model card are beside it)."""
    return WEIGHTS_DIR / f"{model}.safetensors"


WEIGHTS = weights(MODEL)
_VISION = json.loads((CONFIG_DIR / f"{MODEL}.json").read_text())["vision_cfg"]
IMAGE_SIZE: int = _VISION["image_size"]  # the image tower's input side in pixels (training renders at it)
PATCH_SIZE: int = _VISION["patch_size"]
KNOWS = (
    "8 colours, 8 shapes, 3 sizes, counts up to four, positions and relations of flat shapes; "
    "distance words for its scenes; five actions in clips; depth maps of 12 solids"
)

_registered = False


def register():
    """open_clip, knowing Mini's model configs (idempotent). Every use of a Mini model name goes
    through it: open_clip would otherwise build a default tokenizer (77 tokens, not Mini's 32) for a
    name it does not know. open_clip is imported here, on first use, not when this package is: it
    brings torchvision and transformers, seconds the page's start-up should not pay."""
    global _registered
    import open_clip

    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True
    return open_clip
