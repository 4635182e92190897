"""What tests share besides fixtures: the tiny open_clip models' names (their configs, in
tests/model_configs, are registered with open_clip on import) and small synthetic pictures.
Tests import these from here; conftest.py holds only fixtures and the session's set-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
open_clip.add_model_config(ROOT / "tests" / "model_configs")
TINY_VIT = "clip-lab-tiny-vit"
TINY_RN = "clip-lab-tiny-rn"


def solid(rgb, size=(64, 64)) -> Image.Image:
    return Image.new("RGB", size, tuple(rgb))


def halves(left_rgb, right_rgb, size=(128, 64)) -> Image.Image:
    """An image whose left half is one colour and right half another; size is (W, H)."""
    w, h = size
    array = np.zeros((h, w, 3), np.uint8)
    array[:, : w // 2] = left_rgb
    array[:, w // 2 :] = right_rgb
    return Image.fromarray(array)
