"""A toy oracle CLIP whose embeddings encode simple visual facts, so meaning can be asserted exactly.

Embedding axes (D = 8):
    0-2  chroma: a pixel's RGB minus its grey level (red → (2, -1, -1)/3)
    3    light: brightness in [0, 1]
    4    dark: 1 - brightness
    5    bias: a small constant on images, 1 on texts that name nothing known
    6-7  free for words added by a test (e.g. shape words)

Images: every patch embeds its mean colour; the global embedding embeds the whole view's mean colour.
Texts: the sum of the vectors of the known words found in the prompt (longest phrase first), so
"a photo of a red thing." embeds as "red". Add words with `OracleClip.with_words({...})`.

The oracle is a model, not a backbone: it is wrapped in the real `ClipBackbone`, so caching, prompt
ensembles and dense plumbing run exactly as in the app.
"""

from __future__ import annotations

import math

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transform import image_transform

from components.backbone import ClipBackbone

DIM = 8
BIAS = 5
IMAGE_BIAS = 0.05


def _chroma(rgb):
    r, g, b = rgb
    grey = (r + g + b) / 3
    return [r - grey, g - grey, b - grey]


def _vec(*values) -> list[float]:
    v = [0.0] * DIM
    for i, x in enumerate(values):
        v[i] = float(x)
    return v


COLOUR_WORDS: dict[str, list[float]] = {
    "red": _vec(*_chroma((1, 0, 0))),
    "green": _vec(*_chroma((0, 1, 0))),
    "blue": _vec(*_chroma((0, 0, 1))),
    "yellow": _vec(*_chroma((1, 1, 0))),
    "cyan": _vec(*_chroma((0, 1, 1))),
    "magenta": _vec(*_chroma((1, 0, 1))),
    "bright": _vec(0, 0, 0, 1),
    "white": _vec(0, 0, 0, 1),
    "dark": _vec(0, 0, 0, 0, 1),
    "black": _vec(0, 0, 0, 0, 1),
}


class OracleVisual(torch.nn.Module):
    """Patch embeddings from mean patch colour; implements the `forward_dense` protocol of
    `components.dense`."""

    def __init__(self, mean, std, image_size: int = 64, patch_size: int = 8):
        super().__init__()
        self.image_size = image_size
        self.patch_size = patch_size
        self.output_dim = DIM
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def embed_colours(self, rgb: torch.Tensor) -> torch.Tensor:
        """(..., 3) colours in [0, 1] → (..., D) unnormalised embeddings."""
        grey = rgb.mean(-1, keepdim=True)
        out = torch.zeros(*rgb.shape[:-1], DIM, dtype=rgb.dtype, device=rgb.device)
        out[..., 0:3] = rgb - grey
        out[..., 3] = grey[..., 0]
        out[..., 4] = 1 - grey[..., 0]
        out[..., BIAS] = IMAGE_BIAS
        return out

    def _rgb(self, pixels):
        return (pixels * self.std + self.mean).clamp(0, 1)

    def forward(self, pixels):
        return self.embed_colours(self._rgb(pixels).mean(dim=(2, 3)))

    def forward_dense(self, pixels):
        rgb = F.avg_pool2d(self._rgb(pixels), self.patch_size)  # (N, 3, g, g)
        return self.embed_colours(rgb.permute(0, 2, 3, 1)), self.forward(pixels)


class OracleClip(torch.nn.Module):
    words: dict[str, list[float]] = COLOUR_WORDS

    def __init__(self, tokenizer, mean, std, image_size: int = 64, patch_size: int = 8):
        super().__init__()
        self.visual = OracleVisual(mean, std, image_size, patch_size)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(100.0)))
        # Longest phrases first, so "extremely close" is not also read as "close".
        phrases = sorted(self.words, key=lambda w: -len(tokenizer.encode(w)))
        self._phrases = [(torch.tensor(tokenizer.encode(p)), torch.tensor(self.words[p])) for p in phrases]

    @classmethod
    def with_words(cls, extra: dict[str, list[float]]):
        """A subclass that also knows `extra` words (vectors of length D)."""
        return type("OracleClipPlus", (cls,), {"words": {**cls.words, **extra}})

    def encode_image(self, pixels, normalize: bool = False):
        out = self.visual(pixels)
        return F.normalize(out, dim=-1) if normalize else out

    def encode_text(self, tokens, normalize: bool = False):
        rows = []
        for row in tokens.tolist():
            used = [False] * len(row)
            vec = torch.zeros(DIM)
            for ids, phrase_vec in self._phrases:
                n = len(ids)
                for start in range(len(row) - n + 1):
                    if not any(used[start : start + n]) and row[start : start + n] == ids.tolist():
                        vec += phrase_vec
                        used[start : start + n] = [True] * n
            if vec.abs().sum() == 0:
                vec[BIAS] = 1.0
            rows.append(vec)
        out = torch.stack(rows).to(tokens.device)
        return F.normalize(out, dim=-1) if normalize else out


def oracle_backbone(extra_words: dict[str, list[float]] | None = None, image_size: int = 64) -> ClipBackbone:
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    preprocess = image_transform(image_size, is_train=False, mean=mean, std=std)
    cls = OracleClip.with_words(extra_words) if extra_words else OracleClip
    model = cls(tokenizer.tokenizer if hasattr(tokenizer, "tokenizer") else tokenizer, mean, std, image_size)
    return ClipBackbone(model, preprocess, tokenizer, model_name="oracle", weights="oracle (test)")
