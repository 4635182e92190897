"""CLIP4Clip's retrieval metrics, as its official code computes them: R@1/5/10 (%), median and mean
rank, with ties recorded, and the multi-caption protocol of its multi-sentence datasets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.errors import InputError


@dataclass(frozen=True)
class Metrics:
    """R@K in percent, median and mean rank (1-based), and every recorded 0-based rank. StdR: the
    standard deviation of the 1-based ranks, which the official multi-caption text → video metric
    reports (None where the official metric does not)."""

    R1: float
    R5: float
    R10: float
    MdR: float
    MnR: float
    ranks: np.ndarray
    StdR: float | None = None

    def as_row(self) -> dict:
        return {"R@1": self.R1, "R@5": self.R5, "R@10": self.R10, "MdR": self.MdR, "MnR": self.MnR}


def retrieval_metrics(sim: np.ndarray) -> Metrics:
    """CLIP4Clip's metrics for a square (queries × candidates) matrix whose diagonal holds the
    ground truths: rows sorted by score descending; every sorted position whose score equals the
    ground truth's is recorded as a rank (ties add several); R@K = 100·#(rank < K)/#ranks."""
    x = np.asarray(sim, np.float64)
    if x.ndim != 2 or x.shape[0] != x.shape[1] or x.shape[0] == 0:
        raise InputError(f"Retrieval metrics need a square, non-empty similarity matrix; got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise InputError("The similarity matrix holds NaN or infinite values.")
    sorted_neg = np.sort(-x, axis=1)
    ground_truth = np.diag(-x)[:, None]
    ranks = np.nonzero(sorted_neg - ground_truth == 0)[1]
    n = len(ranks)
    return Metrics(
        R1=100.0 * float(np.sum(ranks == 0)) / n,
        R5=100.0 * float(np.sum(ranks < 5)) / n,
        R10=100.0 * float(np.sum(ranks < 10)) / n,
        MdR=float(np.median(ranks)) + 1,
        MnR=float(np.mean(ranks)) + 1,
        ranks=ranks,
    )


def multi_caption_metrics(sim: np.ndarray, caption_video: np.ndarray) -> tuple[Metrics, Metrics]:
    """The official multi-sentence metrics (CLIP4Clip main_task_retrieval.py + metrics.py) of a
    (captions × videos) matrix whose caption i belongs to video caption_video[i]; every video has at
    least one caption. Returns (text → video, video → text).

    The captions are grouped per video into a (videos, most captions, videos) tensor padded with −inf.
    Text → video (`tensor_text_to_video_metrics`): for each caption slot a videos × videos matrix;
    ranks by double argsort (descending; ties by column order), the ground truth on the diagonal,
    padding dropped; MdR = the lower median (torch.median) + 1, MnR = mean + 1, StdR = std of rank + 1.
    Video → text (`tensor_video_to_text_sim`): entry (j, i) = the best score of video i's captions
    for video j, then the one-caption metrics (`retrieval_metrics`, ties recorded)."""
    x = np.asarray(sim, np.float64)
    owner = np.asarray(caption_video)
    if x.ndim != 2 or x.size == 0 or owner.shape != (x.shape[0],):
        raise InputError(f"Multi-caption metrics need a (captions × videos) matrix and one video per caption; "
                         f"got {x.shape} and {owner.shape}.")
    if not np.isfinite(x).all():
        raise InputError("The similarity matrix holds NaN or infinite values.")
    n_videos = x.shape[1]
    groups = [np.flatnonzero(owner == v) for v in range(n_videos)]
    if any(len(g) == 0 for g in groups) or owner.min() < 0 or owner.max() >= n_videos:
        raise InputError("Every video of the evaluation needs at least one caption.")
    width = max(len(g) for g in groups)
    tensor = np.full((n_videos, width, n_videos), -np.inf)
    for v, g in enumerate(groups):
        tensor[v, : len(g)] = x[g]
    # text → video: slot-major stack of videos × videos matrices; the rank of column v in row v
    stacked = tensor.transpose(1, 0, 2)
    first = np.argsort(-stacked, axis=-1, kind="stable")
    second = np.argsort(first, axis=-1, kind="stable")
    ranks = np.diagonal(second, axis1=1, axis2=2).reshape(-1)  # (slot, video) order
    valid = np.isfinite(np.diagonal(tensor, axis1=0, axis2=2).reshape(-1))
    ranks = ranks[valid]
    n = len(ranks)
    text_to_video = Metrics(
        R1=100.0 * float(np.sum(ranks < 1)) / n,
        R5=100.0 * float(np.sum(ranks < 5)) / n,
        R10=100.0 * float(np.sum(ranks < 10)) / n,
        MdR=float(np.sort(ranks)[(n - 1) // 2]) + 1,  # torch.median: the lower middle value
        MnR=float(np.mean(ranks + 1)),
        ranks=ranks,
        StdR=float(np.std(ranks + 1)),
    )
    # video → text: the best caption of each video, rows = query videos
    video_to_text = retrieval_metrics(tensor.max(axis=1).T)
    return text_to_video, video_to_text

