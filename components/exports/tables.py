"""Rankings and evaluation figures as CSV: the tables a person opens in a spreadsheet or pandas.

Plain RFC 4180 CSV (Python's `csv`, UTF-8, a header row, one record a row), numbers written in
full precision (`repr` of the float, so a value read back is the value written). Each function
takes a result of `components.clip4clip` and returns the CSV text; `save` writes text to a fresh
file in a folder of its own (the tab offers that file as a download).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
import numpy as np

from components.exports import folders

RANKING_HEADER = ("rank", "video", "cosine", "logit", "best_moment_s", "best_frame")
METRICS_HEADER = ("direction", "R@1", "R@5", "R@10", "MdR", "MnR", "ranks")


def _number(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return "" if np.isnan(value) else repr(value)


def table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV text of `rows` under `header`: floats in full precision, None and NaN as empty cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_number(v) if isinstance(v, (float, np.floating)) or v is None else v for v in row])
    return out.getvalue()


def ranking_rows(names: Sequence[str], scores: Sequence[float], moments: Sequence[float | None],
                 frames: Sequence[int | None], logit_scale: float = 100.0) -> list[list]:
    """One row per hit, best first: rank, video, cosine, logit (scale · cosine), best moment (s) and
    the best frame's position among the video's sampled frames (empty when unknown)."""
    return [[rank, name, float(score), float(logit_scale * score), None if moment is None else float(moment),
             "" if frame is None else int(frame)]
            for rank, (name, score, moment, frame) in enumerate(zip(names, scores, moments, frames), 1)]


def ranking_csv(result, moments: Sequence[float | None], frames: Sequence[int | None] | None = None) -> str:
    """A text → video (or image → video) ranking (`TextToVideo`) with each hit's best moment."""
    frames = frames if frames is not None else [best_frame(row) for row in np.asarray(result.frame_scores, np.float64)]
    return table(RANKING_HEADER, ranking_rows(result.names, result.scores, moments, frames))


def collection_csv(result) -> str:
    """A collection search (`collection.CollectionSearch`): its hits with moments and durations."""
    header = (*RANKING_HEADER, "duration_s")
    rows = ranking_rows([h.name for h in result.hits], [h.score for h in result.hits],
                        [h.moment for h in result.hits], [h.frame for h in result.hits])
    return table(header, [[*row, hit.duration] for row, hit in zip(rows, result.hits)])


def best_frame(row: np.ndarray) -> int | None:
    """The position of a video's best-scoring sampled frame (None when no frame scored)."""
    return int(np.nanargmax(row)) if np.isfinite(row).any() else None


def metrics_csv(evaluation) -> str:
    """An `Evaluation`'s figures, one row per direction: R@1/5/10 (%), MdR, MnR, ranks recorded."""
    rows = []
    for direction, metrics in (("text → video", evaluation.text_to_video), ("video → text", evaluation.video_to_text)):
        rows.append([direction, float(metrics.R1), float(metrics.R5), float(metrics.R10), float(metrics.MdR),
                     float(metrics.MnR), len(metrics.ranks)])
    return table(METRICS_HEADER, rows)


def matrix_csv(evaluation) -> str:
    """An `Evaluation`'s captions × videos cosine matrix: a caption (and its video) a row, a video a column."""
    header = ["caption", "ground_truth", *evaluation.videos]
    rows = [[caption, evaluation.videos[int(owner)], *(float(v) for v in row)]
            for caption, owner, row in zip(evaluation.captions, evaluation.caption_video, evaluation.similarity)]
    return table(header, rows)


def save(text: str, name: str) -> str:
    """Write CSV text to `<fresh folder>/<name>.csv` and return the path (the name cleaned to a file name)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60] or "table"
    path = folders.answer_file("csv", f"{stem}.csv")
    path.write_text(text, encoding="utf-8")
    return str(path)
