"""Work-arounds for bugs of the pinned Gradio that CLIP Lab's users would meet; each says its symptom.
Remove one when the Gradio pin moves past the bug."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils


def _atomic_save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio 6.31's save_pil_to_cache rewrites the cached file in place on every call. The path is
    the hash of the picture's bytes, so two requests that return the same picture (two visitors
    running the same example) write one file while it is being sent to the first: the download
    breaks with "Too little data for declared Content-Length" (seen under load). Here the file is
    written once, under a temporary name, and renamed into place."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    if not target.exists():
        handle, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(staging, target)
    return str(target)


def apply() -> None:
    processing_utils.save_pil_to_cache = _atomic_save_pil_to_cache
