"""What the video index answers with: an indexed video, a step of adding videos, text → video and
video → text rankings, and an evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from components.clip4clip.metrics import Metrics
from components.clip4clip.similarity import MAX_FRAMES, mean_pool


@dataclass(frozen=True)
class IndexedVideo:
    """One video in the index: `frames` (F, D) unit frame features, `mask` (MAX_FRAMES,), `times`
    (F,) seconds, `thumbnail` (h, w, 3) uint8, `key` the content hash."""

    key: str
    name: str
    frames: np.ndarray
    mask: np.ndarray
    times: np.ndarray
    thumbnail: np.ndarray
    duration: float
    source: str = ""

    @property
    def pooled(self) -> np.ndarray:
        return mean_pool(self.frames[None], np.ones((1, len(self.frames)), bool))[0]

    def padded(self, slots: int = MAX_FRAMES) -> tuple[np.ndarray, np.ndarray]:
        frames = np.zeros((slots, self.frames.shape[1]), np.float32)
        frames[: len(self.frames)] = self.frames[:slots]
        mask = np.zeros(slots, bool)
        mask[: len(self.frames)] = True
        return frames, mask


@dataclass(frozen=True)
class IndexProgress:
    done: int
    total: int
    name: str
    cached: bool
    entry: IndexedVideo | None = None
    skipped: str = ""  # why a video was not added (an InputError message), else ""


@dataclass(frozen=True)
class TextToVideo:
    """The `k` best videos for `query`: names/keys best first, `scores` cosine, `logits` 100·cosine,
    `frame_scores` (k, F) each frame's cosine with the query (NaN for padding)."""

    query: str
    similarity: str
    names: tuple[str, ...]
    keys: tuple[str, ...]
    scores: np.ndarray
    logits: np.ndarray
    frame_scores: np.ndarray
    approximate: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class VideoToText:
    """Captions ranked for one video: `order` best first, `scores` cosine in the order given.

    The evidence behind the scores: `frame_scores` (C, F) the cosine of each of the C captions (in
    the order given) with each of the video's F sampled frames, `times` (F,) those frames' times in
    seconds, `key` the video's content hash, and `thumbnails` the F sampled frames as small (h, w, 3)
    uint8 pictures when they were asked for and could be had (else ())."""

    video: str
    similarity: str
    captions: tuple[str, ...]
    scores: np.ndarray
    logits: np.ndarray
    order: np.ndarray
    notes: tuple[str, ...] = ()
    frame_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    key: str = ""
    thumbnails: tuple[np.ndarray, ...] = ()

    def ranking(self) -> list[tuple[str, float]]:
        return [(self.captions[i], float(self.scores[i])) for i in self.order]


@dataclass(frozen=True)
class Evaluation:
    """`similarity` (captions, videos) cosine of the pairs' captions (CSV order) with the unique videos
    (first-appearance order); caption i's ground truth is video `caption_video[i]` (one caption per
    video: the diagonal). `protocol`: "one caption per video" or "multi-caption" (see
    `multi_caption_metrics`)."""

    videos: tuple[str, ...]
    captions: tuple[str, ...]
    similarity: np.ndarray
    text_to_video: Metrics
    video_to_text: Metrics
    method: str
    notes: tuple[str, ...] = ()
    caption_video: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    protocol: str = "one caption per video"

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(video, caption) of every caption, in the CSV's order."""
        return tuple((self.videos[v], c) for v, c in zip(self.caption_video, self.captions))

