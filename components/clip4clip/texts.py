"""Captions and (video, caption) pairs as a person gives them: capped at CLIP4Clip's 32 tokens, one
caption per line, pairs from a small CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from components.clip4clip.similarity import MAX_WORDS
from components.errors import InputError
from components.media import parse_labels

MAX_EVAL_PAIRS = 1_000
MAX_CAPTIONS = 200
_NEVER = re.compile(r"(?!)")


def cap_text(backbone, text: str) -> tuple[str, tuple[str, ...]]:
    """The caption cut at a word boundary to `MAX_WORDS` tokens (markers included), with a note."""
    result = parse_labels([text], count_tokens=backbone.count_tokens, max_tokens=MAX_WORDS, separators=_NEVER)
    return result.labels[0], result.notes


def parse_captions(text: str | Sequence[str]) -> list[str]:
    """One caption per line (commas belong to captions)."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    captions = [" ".join(line.split()) for line in lines if line and line.strip()]
    if not captions:
        raise InputError("Give at least one caption, one per line.")
    if len(captions) > MAX_CAPTIONS:
        raise InputError(f"You gave {len(captions)} captions; the limit is {MAX_CAPTIONS}.")
    return captions


def parse_pairs(data: str | bytes | Path) -> list[tuple[str, str]]:
    """(video name, caption) rows from a CSV with columns video, caption (a header row is optional)."""
    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and len(data) < 1024 and Path(data).is_file()):
        path = Path(data)
        if not path.is_file():
            raise InputError(f"{path.name} could not be found; upload it again.")
        if path.stat().st_size > 5 * 2**20:
            raise InputError(f"{path.name} is larger than 5 MB; a pairs file should be small.")
        data = path.read_bytes()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("The CSV is not UTF-8 text; save it as UTF-8 CSV with columns video, caption.") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(data)) if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise InputError(f"The CSV could not be read ({error}).") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["video", "caption"]:
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise InputError(f"CSV row {number} needs two columns, video and caption; got {row!r:.80}.")
        pairs.append((row[0].strip(), " ".join(row[1].split())))
    if len(pairs) < 2:
        raise InputError("Evaluation needs at least two (video, caption) rows.")
    if len(pairs) > MAX_EVAL_PAIRS:
        raise InputError(f"The CSV has {len(pairs)} pairs; the limit is {MAX_EVAL_PAIRS}.")
    return pairs

