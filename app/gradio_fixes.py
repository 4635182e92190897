"""Work-arounds for bugs of the pinned Gradio that CLIP Lab's users would meet; each says its symptom.
Remove one when the Gradio pin moves past the bug."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import gradio
from gradio import processing_utils, queueing

log = logging.getLogger(__name__)
PATCHED_FOR = "6.31.0"  # the Gradio these work-arounds were written against and tested with


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


_gradio_validator_fn = queueing.create_validator_fn


def _validator_fn(fn):
    """Gradio 6.31 preprocesses a validator's inputs like the main function's; a value the
    preprocessing refuses (a choice outside a radio's list, sent through the API) then fails inside
    the queue's join and the client gets a bare "400 Bad Request" instead of Gradio's own message.
    A validator marked `raw_inputs` (app/admission.py: it only looks at whether inputs are empty)
    gets the payload as sent, so refused values reach the main function and its usual message."""
    block_fn = _gradio_validator_fn(fn)
    if getattr(fn.validator, "raw_inputs", False):
        block_fn.preprocess = False
    return block_fn


def _pop_returned_state(components, data) -> list:
    """Gradio 6.31's MCP server (`--mcp`) removes a tool's State outputs from its result by position;
    but on the queued path the result comes through gradio_client, which has already left them out,
    so every call of an endpoint with a State output failed with "pop index out of range" (each of
    CLIP Lab's runs keeps its result in one). Here they are removed only while the result still holds
    them, last first so the positions stay right."""
    from gradio.components import State

    data = list(data)
    if len(data) == len(components):
        for i in reversed([i for i, c in enumerate(components) if isinstance(c, State)]):
            data.pop(i)
    return data


def apply() -> None:
    """Apply the work-arounds to the Gradio they were written for; on another version, log that each
    must be checked again and leave Gradio as it is."""
    if gradio.__version__ != PATCHED_FOR:
        log.warning("gradio %s is not %s, for which app/gradio_fixes.py was written: its work-arounds are "
                    "not applied; check whether each bug is still there", gradio.__version__, PATCHED_FOR)
        return
    processing_utils.save_pil_to_cache = _atomic_save_pil_to_cache
    queueing.create_validator_fn = _validator_fn
    try:
        from gradio.mcp import GradioMCPServer
    except ImportError:  # gradio without its mcp extra: no MCP server to mend
        return
    GradioMCPServer.pop_returned_state = staticmethod(_pop_returned_state)
