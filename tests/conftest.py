"""Shared fixtures: tiny random open_clip models, the toy oracle backbone, one app for the session.

Tests run offline on the CPU: no fixture downloads anything. Names and pictures tests share are in
testkit.py (its import registers the tiny configs of tests/model_configs with open_clip).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Never reach for the network from a test, whatever the machine can do.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# No warm-up runs in the background of a test's app (app/warmup.py): counters start from nothing.
os.environ.setdefault("CLIP_LAB_WARM_UP", "0")
# Never read or write the person's own video-index cache.
os.environ.setdefault("CLIP_LAB_VIDEO_CACHE", tempfile.mkdtemp(prefix="clip-lab-test-video-index-"))

from testkit import TINY_RN, TINY_VIT, halves, solid  # noqa: E402,F401  (registers the tiny configs; old imports)


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


@pytest.fixture(scope="session")
def ctx():
    """An AppContext on the tiny test model, for calling tab handlers directly (no server)."""
    from app.context import AppContext, Settings

    return AppContext(Settings(TINY_VIT, "random", "cpu"))


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
