"""What both ViLT-tab engines return: the answers and the evidence behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class VQAResult:
    """Answers to one question about one image, with the evidence behind them.

    answers / scores: the top-k answers, best first; scores (k,) as named by `score_kind`.
    heat_keys / heat_maps: one (h, w) map per key: per question word (ViLT, word–patch alignment,
    each map sums to 1 over the patches) or per top answer (CLIP, cosine of each patch to the
    answer's prompt). Cell (i, j) covers rows i·H/h … (i+1)·H/h, columns j·W/w … of the image.
    image_size: (H, W) of the input image. candidates / candidate_scores / prompts: everything that
    was scored (CLIP: every candidate with its prompt and cosine; ViLT: the whole answer vocabulary
    with its probabilities, no prompts).
    """

    engine: str
    question: str
    answers: tuple[str, ...]
    scores: np.ndarray
    score_kind: str
    heat_keys: tuple[str, ...]
    heat_maps: np.ndarray
    heat_kind: str
    image_size: tuple[int, int]
    model: str
    candidates: tuple[str, ...] = ()
    candidate_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prompts: tuple[str, ...] = ()
    question_type: str = ""
    answer_group: str = ""
    notes: tuple[str, ...] = ()

    def ranking(self) -> list[tuple[str, float]]:
        return [(a, float(s)) for a, s in zip(self.answers, self.scores)]

    @property
    def top_answer(self) -> str:
        return self.answers[0]

    def heatmap(self, key: str | None = None) -> np.ndarray:
        """(H, W) map of `key` (default: the first key), upsampled bilinearly to the image's pixels."""
        index = self.heat_keys.index(key) if key is not None else 0
        grid = torch.from_numpy(np.ascontiguousarray(self.heat_maps[index], dtype=np.float32))
        up = F.interpolate(grid[None, None], size=self.image_size, mode="bilinear", align_corners=False)
        return up[0, 0].numpy()
