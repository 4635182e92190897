"""CLIP zero-shot classification, with the patch-level evidence behind it.

Radford et al. 2021: a label becomes a classifier weight by embedding prompts ("a photo of a {}.")
with the text tower; the image's class probabilities are softmax(logit_scale · cos(image, label)).
The heat map scores every patch embedding (components.dense) against the same label embeddings, so a
person sees *where* CLIP finds each label. Image and patch embeddings come from one pass.

`compare_references` scores the image against a few reference images the same way (cosine, then
softmax of logit_scale · cosine over them), their image embeddings standing where label
embeddings stand: "which of these pictures is this most like?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from components import dense
from components.errors import InputError
from components.prompts import TemplateSet, get_template_set

DEFAULT_TEMPLATES = "imagenet80"
TEMPLATE_CHOICES = ("single", "imagenet80")
RESOLUTIONS = (1.0, 1.5, 2.0)  # heat-map short side as a multiple of the model's input (1 = one window)


def scaled_short_side(backbone, factor: float = 1.0) -> int:
    """The dense map's short side in pixels for `factor` × the model's input size, rounded to a
    multiple of the patch size and never below the input size (1.0: one model-sized window)."""
    patch = backbone.patch_size
    return max(backbone.image_size, round(backbone.image_size * float(factor) / patch) * patch)


@dataclass(frozen=True)
class ZeroShotResult:
    """labels in the order given; probs (L,) sum to 1; similarity (L,) cosine image·label;
    patch_similarity (L, h, w) cosine patch·label; image_size (H, W) of the input image."""

    labels: tuple[str, ...]
    probs: np.ndarray
    similarity: np.ndarray
    patch_similarity: np.ndarray
    image_size: tuple[int, int]
    templates: str
    dense_method: str
    logit_scale: float

    def ranking(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")
        return [(self.labels[i], float(self.probs[i])) for i in order]

    @property
    def top_label(self) -> str:
        return self.ranking()[0][0]

    def heatmap(self, label: str | None = None) -> np.ndarray:
        """(H, W) cosine similarity of `label` (default: the top label), upsampled bilinearly from
        the patch grid to the image's pixels."""
        index = self.labels.index(label if label is not None else self.top_label)
        grid = torch.from_numpy(self.patch_similarity[index])
        up = torch.nn.functional.interpolate(
            grid[None, None], size=self.image_size, mode="bilinear", align_corners=False
        )
        return up[0, 0].numpy()


class ZeroShotClassifier:
    """`ZeroShotClassifier(backbone)(image, labels) -> ZeroShotResult`.

    templates: "single" ("a photo of a {}.") or "imagenet80" (CLIP's 80-prompt ensemble).
    dense_method: how patch embeddings are made (components.dense.METHODS).
    short_side: resolution of the dense map (the model's input size by default).
    """

    def __init__(
        self,
        backbone,
        templates: str | TemplateSet = DEFAULT_TEMPLATES,
        dense_method: str = dense.DEFAULT_METHOD,
        short_side: int | None = None,
    ):
        self.backbone = backbone
        self.templates = get_template_set(templates)
        self.dense_method = dense_method
        self.short_side = short_side

    def __call__(self, image: Image.Image, labels: Sequence[str]) -> ZeroShotResult:
        text = self.backbone.text_classifier(labels, self.templates)  # (L, D), cached
        patches = self.backbone.dense(image, self.dense_method, self.short_side)
        similarity = text @ patches.global_embedding
        probs = torch.softmax(self.backbone.logit_scale * similarity, dim=0)
        return ZeroShotResult(
            labels=tuple(labels),
            probs=probs.numpy(),
            similarity=similarity.numpy(),
            patch_similarity=patches.similarity(text).numpy(),
            image_size=patches.image_size,
            templates=self.templates.name,
            dense_method=patches.method,
            logit_scale=self.backbone.logit_scale,
        )


# -- reference images: the image compared with a few others, as with labels (issue 21) ---------------
MAX_REFERENCES = 8  # reference images per comparison: a few to compare with, not a gallery to search


@dataclass(frozen=True)
class ReferenceResult:
    """names: the reference images' names, in the order given; similarity (R,) cos(image,
    reference); probs (R,) softmax(logit_scale · cos) over the references, as labels are scored."""

    names: tuple[str, ...]
    similarity: np.ndarray
    probs: np.ndarray
    logit_scale: float

    def ranking(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")
        return [(self.names[i], float(self.probs[i])) for i in order]


def compare_references(backbone, image: Image.Image, references: Sequence[Image.Image],
                       names: Sequence[str] | None = None) -> ReferenceResult:
    """The image against each reference image: both embedded by CLIP's image tower as a label-free
    classifier would embed them (CLIP's standard view: short side resized, centre crop), in one
    batch; cos(image, reference) and softmax(logit_scale · cos) over the references, the same
    formula as over labels, with reference embeddings in place of text ones."""
    if not references:
        raise InputError("Give at least one reference image to compare with.")
    if len(references) > MAX_REFERENCES:
        raise InputError(f"You gave {len(references)} reference images; the limit is {MAX_REFERENCES}.")
    names = tuple(names) if names is not None else tuple(f"reference {i}" for i in range(1, len(references) + 1))
    assert len(names) == len(references), f"one name per reference: {len(names)} names, {len(references)} images"
    embeddings = backbone.encode_images([image, *references])  # (1 + R, D), unit length
    similarity = embeddings[1:] @ embeddings[0]
    probs = torch.softmax(backbone.logit_scale * similarity.double(), dim=0)
    return ReferenceResult(names=names, similarity=similarity.numpy().astype(np.float64), probs=probs.numpy(),
                           logit_scale=backbone.logit_scale)
