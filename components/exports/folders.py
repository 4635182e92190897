"""Where an answer's files are written: one fresh folder per answer, under one parent of our own.

Gradio copies every file a handler returns into its own cache and serves that copy, so ours are only
needed until the answer has been sent. Folders older than `KEEP_S` are removed, at most once every
`SWEEP_EVERY_S` per process: a long-running Space does not fill its disk, and an answer does not pay
for a scan. The sweep looks only inside `root()`, never at the rest of the temporary directory (on a
busy machine that holds tens of thousands of other programs' entries; scanning it took 0.1 s an answer).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

PARENT = "clip-lab-answers"
KEEP_S = 3600  # an answer's files outlive its run by this long
SWEEP_EVERY_S = 60.0

_sweep_lock = threading.Lock()
_last_sweep = float("-inf")


def root() -> Path:
    """The parent of every answer folder, `<temporary directory>/clip-lab-answers` (created on use)."""
    parent = Path(tempfile.gettempdir()) / PARENT
    parent.mkdir(exist_ok=True)
    return parent


def answer_folder(prefix: str = "export") -> Path:
    """A fresh folder for one answer's files, named `<prefix>-<random>` (its path never reaches the page)."""
    parent = root()
    sweep(parent)
    return Path(tempfile.mkdtemp(prefix=f"{_safe(prefix)}-", dir=parent))


def answer_file(prefix: str, name: str) -> Path:
    """The path `<fresh answer folder>/<name>` (the file itself is the caller's to write)."""
    return answer_folder(prefix) / name


def sweep(parent: Path | None = None, *, now: float | None = None, force: bool = False) -> int:
    """Remove answer folders older than `KEEP_S`; returns how many. Runs at most once every
    `SWEEP_EVERY_S` unless `force`."""
    global _last_sweep
    now = time.time() if now is None else now
    with _sweep_lock:
        if not force and now - _last_sweep < SWEEP_EVERY_S:
            return 0
        _last_sweep = now
    removed = 0
    for old in (parent or root()).iterdir():
        try:
            if old.is_dir() and not old.is_symlink() and now - old.stat().st_mtime > KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
                removed += 1
        except OSError:  # another process removed it first
            pass
    return removed


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or "export"
