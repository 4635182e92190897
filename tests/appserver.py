"""Launch the real `demo` in-process on a free local port for app and browser tests."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# DepthCLIP (its tab and the Compare board) loads the paper's RN50; tests swap in a tiny ResNet.
TINY_DEPTHCLIP = {"CLIP_LAB_DEPTHCLIP_MODEL": "clip-lab-tiny-rn-depth", "CLIP_LAB_DEPTHCLIP_PRETRAINED": "random"}


@contextmanager
def environment(values: dict):
    """Set environment variables for the block, restoring the previous values afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def running_demo(model: str = "clip-lab-tiny-vit", pretrained: str = "random"):
    """Yield (demo, url) with the app's own launch settings, on a tiny model; closed afterwards."""
    os.environ["CLIP_LAB_MODEL"] = model
    os.environ["CLIP_LAB_PRETRAINED"] = pretrained
    os.environ["CLIP_LAB_DEVICE"] = "cpu"
    import app

    entry = app.entry_module()
    demo = entry.demo
    demo.clip_lab.start_loading()
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **entry.launch_kwargs(),
    )
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
