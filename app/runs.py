"""Reproducible runs: a JSON record of one tab run, and replaying it through the same handler.

A record holds the tab, the settings exactly as the handler received them, a SHA-256 of each input
file (files themselves are not stored: the person keeps them), the model choice and the weights that
answered, the numeric precision they ran at (fp32, bf16 or int8; `components.precision`), and the
scores the run produced. Feeding the record back (with the same files) through the tab's
`<tab>_replay` endpoint calls the same handler with the same settings at the same precision, so the
result is the same. A record without a precision was made before there was a choice: at fp32.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from components import precision as precisions
from components.exports import folders
from components.errors import InputError

RECORD_VERSION = 1
MAX_RECORD_BYTES = 2 * 2**20


def file_digest(path: str | None) -> str | None:
    if not path:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value):
    """JSON-safe copy: numpy scalars and arrays become numbers and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_record(
    tab: str,
    *,
    settings: Mapping,
    files: Mapping[str, str | None],
    model_choice: str,
    weights: str,
    scores,
    extra: Mapping | None = None,
) -> str:
    """Write the record of one run to a temporary JSON file and return its path (for gr.File).
    `extra` adds top-level facts a replay checks against (e.g. which videos an index held)."""
    record = {
        "clip_lab_record": RECORD_VERSION,
        "tab": tab,
        "model": model_choice,
        "weights": weights,
        "precision": precisions.recorded(),
        "settings": _plain(dict(settings)),
        "inputs": {name: {"name": Path(p).name if p else None, "sha256": file_digest(p)} for name, p in files.items()},
        "scores": _plain(scores),
    }
    for key, value in (extra or {}).items():
        assert key not in record, f"extra field {key!r} would overwrite the record's own"
        record[str(key)] = _plain(value)
    path = folders.answer_file("run", f"{tab}-run.json")
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return str(path)


def read_record(path: str | None, tab: str) -> dict:
    """Load and check a record for `tab`; every problem is an InputError that says what to do."""
    if not path:
        raise InputError("Upload a run record (the JSON this tab wrote) to replay it.")
    if Path(path).stat().st_size > MAX_RECORD_BYTES:
        raise InputError("That file is too large to be a CLIP Lab run record.")
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{Path(path).name} is not a CLIP Lab run record (not JSON).") from None
    if not isinstance(record, dict) or record.get("clip_lab_record") != RECORD_VERSION:
        raise InputError(f"{Path(path).name} is not a CLIP Lab run record of version {RECORD_VERSION}.")
    if record.get("tab") != tab:
        raise InputError(f"This record is from the “{record.get('tab')}” tab; replay it there.")
    return record


def recorded_settings(record: dict, files: Mapping[str, str | None], order: Sequence[str]) -> dict:
    """The settings named in `order` (names of settings or files) as the record holds them, the files
    taken from `files` after checking that each is the one the record was made with. The rest of the
    call (a replay, in its own worker context) runs at the record's precision."""
    inputs, settings = record.get("inputs"), record.get("settings")
    if not isinstance(inputs, dict) or not isinstance(settings, dict) or not isinstance(record.get("model"), str):
        raise InputError("This run record is incomplete (no inputs, settings or model); replay a record as the tab wrote it.")
    recorded_precision = record.get("precision", "fp32")
    if recorded_precision not in precisions.CONCRETE:
        raise InputError(f"This run record's precision, {str(recorded_precision)[:20]}, is not one of "
                         f"{', '.join(precisions.CONCRETE)}; replay a record as the tab wrote it.")
    missing = [name for name in order if name not in files and name not in settings]
    if missing:
        raise InputError(f"This run record lacks the setting(s) {', '.join(missing)}; replay a record as the tab wrote it.")
    for name, path in files.items():
        recorded = inputs.get(name) if isinstance(inputs.get(name), dict) else {}
        expected = recorded.get("sha256")
        if expected and not path:
            raise InputError(
                f"This record was made with the {name} {recorded.get('name')}; "
                "upload it beside the record to replay the run."
            )
        if expected and file_digest(path) != expected:
            raise InputError(
                f"The {name} given is not the one this record was made with "
                f"({recorded.get('name')}); upload that file to replay the run."
            )
    precisions.replay_at(recorded_precision)
    return {name: files[name] if name in files else settings[name] for name in order}


def replay(record: dict, files: Mapping[str, str | None], handler: Callable, order: Sequence[str]):
    """Call `handler` with the recorded settings in `order`, then the model choice."""
    recorded = recorded_settings(record, files, order)
    return handler(*(recorded[name] for name in order), record["model"])
