"""CLIP4Clip's similarity: the paper's constants, meanP (the parameter-free calculator) and two
labelled parameter-free extensions (max over frames; text-conditioned softmax pooling), the softmax
over captions the paper's logit scale gives, and the frame of a video that best matches a text."""

from __future__ import annotations

import math

import numpy as np

from components.errors import InputError

MAX_FRAMES = 12  # frames per video (max_frames)
FRAME_RATE = 1.0  # frames sampled per second
MAX_WORDS = 32  # text tokens, start and end markers included
LOGIT_SCALE = math.exp(math.log(100.0))  # exp(ln 100)
POOL_TEMPERATURE = 100.0  # text-conditioned softmax pooling (extension): weights softmax(100 · cos)

SIMILARITIES = {
    "meanP": "meanP (faithful): mean of normalised frames",
    "max": "max over frames (extension)",
    "softmax": "text-conditioned softmax pooling (extension)",
}



def mean_pool(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """meanP: (V, F, D) frame features + (V, F) mask → (V, D) unit video features. Each frame is
    normalised, padding zeroed, the sum divided by the valid count (0 counted as 1), renormalised."""
    frames = np.asarray(frames, np.float32)
    mask = np.asarray(mask, np.float32)
    unit = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
    unit = unit * mask[..., None]
    count = mask.sum(axis=1, keepdims=True)
    count[count == 0] = 1.0
    video = unit.sum(axis=1) / count
    return video / np.maximum(np.linalg.norm(video, axis=-1, keepdims=True), 1e-12)


def similarity_matrix(text: np.ndarray, frames: np.ndarray, mask: np.ndarray, method: str = "meanP") -> np.ndarray:
    """(Q, V) cosine between Q unit text features and V videos of (F, D) frames with an (F,) mask."""
    text = np.asarray(text, np.float32)
    frames = np.asarray(frames, np.float32)
    mask = np.asarray(mask, bool)
    if method == "meanP":
        return text @ mean_pool(frames, mask).T
    unit = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
    per_frame = np.einsum("qd,vfd->qvf", text, unit)  # (Q, V, F)
    if method == "max":
        return np.where(mask[None], per_frame, -np.inf).max(axis=2)
    if method == "softmax":
        logits = np.where(mask[None], POOL_TEMPERATURE * per_frame, -np.inf)
        logits = logits - logits.max(axis=2, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=2, keepdims=True)  # (Q, V, F)
        pooled = np.einsum("qvf,vfd->qvd", weights, unit)
        norm = np.maximum(np.linalg.norm(pooled, axis=-1), 1e-12)
        return np.einsum("qvd,qd->qv", pooled, text) / norm
    raise InputError(f"Unknown similarity {method!r}; choose one of {', '.join(SIMILARITIES)}.")



def caption_probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over C captions of their (C,) logits (`LOGIT_SCALE` · cosine): how one video splits
    its belief between the captions given."""
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def best_frame(frame_scores: np.ndarray, times: np.ndarray) -> float:
    """The time in seconds of the frame whose cosine with the text is highest, from one video's (F,)
    `frame_scores` (NaN for padding) and its frames' `times`: the first frame when none has a score,
    0.0 when the best slot lies beyond the frames `times` knows."""
    scores = np.asarray(frame_scores, np.float64)
    best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
    return float(times[best]) if best < len(times) else 0.0
