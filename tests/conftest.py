"""Shared fixtures: tiny random open_clip models and the toy oracle backbone.

Tests run offline on the CPU: no fixture downloads anything. The tiny configs live in
tests/model_configs and are registered with open_clip under the names below.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import open_clip
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Never reach for the network from a test, whatever the machine can do.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Never read or write the person's own video-index cache.
os.environ.setdefault("CLIP_LAB_VIDEO_CACHE", tempfile.mkdtemp(prefix="clip-lab-test-video-index-"))

open_clip.add_model_config(ROOT / "tests" / "model_configs")
TINY_VIT = "clip-lab-tiny-vit"
TINY_RN = "clip-lab-tiny-rn"


@pytest.fixture(scope="session")
def tiny_vit():
    from components.backbone import load_backbone

    return load_backbone(TINY_VIT, "random", "cpu")


@pytest.fixture(scope="session")
def tiny_rn():
    from components.backbone import load_backbone

    return load_backbone(TINY_RN, "random", "cpu")


@pytest.fixture()
def oracle():
    from oracle import oracle_backbone

    return oracle_backbone()


def solid(rgb, size=(64, 64)) -> Image.Image:
    return Image.new("RGB", size, tuple(rgb))


def halves(left_rgb, right_rgb, size=(128, 64)) -> Image.Image:
    """An image whose left half is one colour and right half another; size is (W, H)."""
    w, h = size
    array = np.zeros((h, w, 3), np.uint8)
    array[:, : w // 2] = left_rgb
    array[:, w // 2 :] = right_rgb
    return Image.fromarray(array)


@pytest.fixture(scope="session")
def app_server():
    """One running app for the whole session, on the tiny test model (DepthCLIP on a tiny ResNet):
    (demo, url). Tests that need the app as it starts, or other settings, launch their own."""
    from appserver import TINY_DEPTHCLIP, environment, running_demo

    with environment(TINY_DEPTHCLIP), running_demo() as (demo, url):
        yield demo, url


@pytest.fixture(scope="session")
def app_client(app_server):
    """A gradio_client on the session's app."""
    from gradio_client import Client

    return Client(app_server[1], verbose=False)
