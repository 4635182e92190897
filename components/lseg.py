"""LSeg: language-driven semantic segmentation, CLIP-backed and training-free.

Li et al., ICLR 2022 (METHODS.md §6). LSeg embeds every pixel (a DPT decoder on ViT-L/16, trained)
and every label (the frozen CLIP text tower) in one space; a pixel's scores are the label
embeddings' cosines with it times a temperature, 1/0.07; each pixel takes its argmax label. Labels
are raw strings, comma-separated, with "other" as a catch-all ("dog, grass, other" in LSeg's demo).

Here the per-pixel embeddings are CLIP's own patch embeddings made dense without training
(components.dense: NACLIP by default), so this is a CLIP-backed version of LSeg's inference:

    cosine   (L, h, w)   = patch · label, both unit length            (one image forward, cached text)
    logits   (L, h, w)   = logit_scale · cosine, then optionally LSeg's spatial regulariser
    per pixel            = logits upsampled bilinearly to the image, softmax over labels, argmax
    background           = pixels whose winning probability < background_threshold (0 = off)

The spatial regulariser is LSeg's head block with a *fixed* 3×3 smoothing kernel shared by all
labels instead of a trained one: "depthwise" smooths each label's logit map; "bottleneck" also adds
back the maximum over labels (which matters only through the LeakyReLU between blocks).

Pay once, answer many times (components.features): `LSeg.embed(image, labels) -> LSegFeatures` runs
the image and text towers and keeps the patch cosines; `LSeg(...)(features)` scores them with that
instance's temperature, threshold and regulariser, with no forward (a model built with
`backbone=None` can do only that, e.g. a re-score in a process without the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components import dense
from components.errors import InputError
from components.features import Features, content_key, model_identity
from components.media import load_image, parse_labels
from components.prompts import TemplateSet, get_template_set
from components.zeroshot import scaled_short_side

# -- LSeg's constants --------------------------------------------------------------------------------
LOGIT_SCALE = 1 / 0.07  # LSeg's temperature: logits = cos / 0.07
TRAINING_FREE_LOGIT_SCALE = (40.0, 50.0)  # what NACLIP / ClearCLIP / SCLIP use instead
BACKGROUND_THRESHOLD = 0.0  # off: LSeg has no background rule, it relies on an "other" label
TRAINING_FREE_BACKGROUND_THRESHOLD = 0.1  # the training-free papers' probability threshold
DEMO_LABELS = ("dog", "grass", "other")  # LSeg's demo default
TEMPLATES = "raw"  # LSeg scores the raw label strings
REGULARISERS = ("none", "depthwise", "bottleneck")
BLOCK_DEPTH = 1
# The fixed smoothing kernel standing in for LSeg's trained 3×3 depthwise convolution.
SMOOTHING_KERNEL = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
LEAKY_RELU_SLOPE = 0.01  # LSeg's "lrelu" activation between head blocks
BACKGROUND = "background"
# Dense resolutions a run may ask for: name → (short side as a multiple of the model's input, inference).
RESOLUTIONS = {
    "1x": (1.0, "windows"),  # one model-sized window on the short side (the default)
    "1.5x": (1.5, "windows"),
    "2x": (2.0, "windows"),
    "papers": (dense.PAPERS_FACTOR, "windows"),  # NACLIP / ClearCLIP / SCLIP: 336, 224 windows, stride 112
    "single": (1.0, "single"),  # one pass over the whole image, interpolated position embeddings (NACLIP)
}
RESOLUTION = "1x"
_CHUNK = 16  # labels upsampled to full resolution at a time (bounds memory on large images)


@dataclass(frozen=True)
class LSegFeatures(Features):
    """What LSeg's forwards compute for one image and L labels, before any setting that re-scores.

    cosine: (L, h, w) cosine of each patch embedding with each label embedding.
    image_size: (H, W) of the image; dense_method / templates: how patches and labels were embedded.
    notes: what loading the image and the labels said (a downscale, a cut label).
    """

    labels: tuple[str, ...]
    cosine: np.ndarray
    image_size: tuple[int, int]
    dense_method: str
    templates: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LSegResult:
    """One image segmented against L labels.

    cosine: (L, h, w) cosine of each patch embedding with each label embedding (the expensive part).
    logits: (L, h, w) logit_scale · cosine after the spatial regulariser.
    label_map: (H, W) int index into `labels` per pixel, -1 for background.
    confidence: (H, W) the winning label's softmax probability per pixel.
    log_normaliser: (H, W) log Σ_l exp(upsampled logit_l), so any label's probability map is cheap.
    shares: (L,) fraction of the image's pixels each label wins; `background_share` the rest.
    """

    labels: tuple[str, ...]
    cosine: np.ndarray
    logits: np.ndarray
    label_map: np.ndarray
    confidence: np.ndarray
    log_normaliser: np.ndarray
    shares: np.ndarray
    background_share: float
    image_size: tuple[int, int]
    logit_scale: float
    background_threshold: float
    regulariser: str
    block_depth: int
    dense_method: str
    templates: str
    notes: tuple[str, ...] = ()

    def probability(self, label: str | int) -> np.ndarray:
        """(H, W) softmax probability of one label at every pixel."""
        index = label if isinstance(label, int) else self.labels.index(label)
        up = _upsample(torch.from_numpy(self.logits[index : index + 1]), self.image_size)[0]
        return torch.exp(up - torch.from_numpy(self.log_normaliser)).numpy()

    def probability_maps(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """(L, h, w) softmax probabilities of all labels with the logits upsampled to `size` (default
        the image's (H, W)); a small size gives cheap previews."""
        size = tuple(size or self.image_size)
        up = _upsample(torch.from_numpy(self.logits), size)
        return torch.softmax(up, dim=0).numpy()

    def mask(self, label: str | int) -> np.ndarray:
        """(H, W) bool: the pixels `label` wins ("background" for the background pixels)."""
        if label == BACKGROUND:
            return self.label_map == -1
        index = label if isinstance(label, int) else self.labels.index(label)
        return self.label_map == index

    def table(self) -> list[tuple[str, float]]:
        """(label, share of the image) in the order given, background last when there is any."""
        rows = [(label, float(share)) for label, share in zip(self.labels, self.shares)]
        if self.background_threshold > 0:
            rows.append((BACKGROUND, float(self.background_share)))
        return rows

    @property
    def features(self) -> LSegFeatures:
        """The features this result was scored from (unkeyed: rebuilt from the kept cosines)."""
        return LSegFeatures(labels=self.labels, cosine=self.cosine, image_size=self.image_size,
                            dense_method=self.dense_method, templates=self.templates, notes=self.notes)

    def rescore(self, **changes) -> "LSegResult":
        """`LSeg(None, **settings)(self.features)`: the same cosines scored with other settings
        (logit_scale, background_threshold, regulariser, block_depth), no forward."""
        unknown = set(changes) - {"logit_scale", "background_threshold", "regulariser", "block_depth"}
        if unknown:
            raise TypeError(f"rescore() got unknown settings: {', '.join(sorted(unknown))}")
        settings = dict(
            logit_scale=self.logit_scale,
            background_threshold=self.background_threshold,
            regulariser=self.regulariser,
            block_depth=self.block_depth,
        )
        settings.update(changes)
        return LSeg(None, **settings)(self.features)


class LSeg:
    """`LSeg(backbone)(image, labels) -> LSegResult`.

    logit_scale: the temperature multiplying cosines (LSeg 1/0.07; training-free papers 40–50).
    background_threshold: a pixel whose winning probability is below it is background (0 = off).
    regulariser: "none", "depthwise" or "bottleneck" (LSeg's spatial regularisation blocks, with a
        fixed smoothing kernel); block_depth: how many blocks.
    dense_method: how patch embeddings are made (components.dense.METHODS; NACLIP by default).
    templates: "raw" (the label string, as LSeg) or another template set, e.g. "imagenet80".
    short_side: dense resolution in pixels (the model's input size by default; the training-free
        papers' 336 for a 224-px model is `dense.papers_short_side(backbone)`).
    inference: "windows" (sliding windows, the default) or "single" (one pass with interpolated
        position embeddings, NACLIP's); see components.dense.
    """

    def __init__(
        self,
        backbone,
        logit_scale: float = LOGIT_SCALE,
        background_threshold: float = BACKGROUND_THRESHOLD,
        regulariser: str = "none",
        block_depth: int = BLOCK_DEPTH,
        dense_method: str = dense.DEFAULT_METHOD,
        templates: str | TemplateSet = TEMPLATES,
        short_side: int | None = None,
        inference: str = "windows",
    ):
        _check_settings(logit_scale, background_threshold, regulariser, block_depth)
        if inference not in dense.INFERENCE:
            raise InputError(f"Unknown dense inference {inference!r}; choose one of: {', '.join(dense.INFERENCE)}")
        self.inference = inference
        self.backbone = backbone
        self.logit_scale = float(logit_scale)
        self.background_threshold = float(background_threshold)
        self.regulariser = regulariser
        self.block_depth = int(block_depth)
        self.dense_method = dense_method
        self.templates = get_template_set(templates)
        self.short_side = short_side

    def __call__(self, image: Image.Image | LSegFeatures, labels: str | Sequence[str] | None = None) -> LSegResult:
        """image: a PIL image (or anything `components.media.load_image` reads) and labels: a list of
        label strings or one comma-separated string; or the `LSegFeatures` of an earlier `embed`
        (then no forward runs)."""
        features = image if isinstance(image, LSegFeatures) else self.embed(image, labels)
        scored = score(
            torch.from_numpy(features.cosine),
            features.image_size,
            logit_scale=self.logit_scale,
            background_threshold=self.background_threshold,
            regulariser=self.regulariser,
            block_depth=self.block_depth,
        )
        return LSegResult(
            labels=features.labels,
            cosine=features.cosine,
            image_size=features.image_size,
            dense_method=features.dense_method,
            templates=features.templates,
            notes=features.notes,
            **scored,
        )

    def features_key(self, image: Image.Image, labels: str | Sequence[str]) -> str:
        """The key of `embed(image, labels)`: the decoded pixels, the model, the parsed labels, the
        prompts and the dense settings (not the scoring settings, which need no forward)."""
        loaded = load_image(image)
        label_list = parse_labels(labels, count_tokens=self.backbone.count_tokens)
        return self._key(loaded.image, label_list.labels)

    def _key(self, image: Image.Image, labels: tuple[str, ...]) -> str:
        return content_key("lseg", image, model_identity(self.backbone), labels, self.templates.name,
                           self.dense_method, int(self.short_side or self.backbone.image_size), self.inference)

    def embed(self, image: Image.Image, labels: str | Sequence[str]) -> LSegFeatures:
        """The forwards: dense patch embeddings of the image, the labels' text embeddings (cached by
        the backbone), and their cosines."""
        loaded = load_image(image)
        label_list = parse_labels(labels, count_tokens=self.backbone.count_tokens)
        text = self.backbone.text_classifier(label_list.labels, self.templates)  # (L, D), cached
        if self.inference == "windows":
            dense_map = self.backbone.dense(loaded.image, self.dense_method, self.short_side)
        else:
            dense_map = self.backbone.dense(loaded.image, self.dense_method, self.short_side, inference=self.inference)
        return LSegFeatures(
            key=self._key(loaded.image, label_list.labels),
            labels=label_list.labels,
            cosine=dense_map.similarity(text).numpy(),  # (L, h, w)
            image_size=dense_map.image_size,
            dense_method=dense_map.method,
            templates=self.templates.name,
            notes=(*loaded.notes, *label_list.notes),
        )


def dense_input(backbone, resolution: str = RESOLUTION) -> dict:
    """`LSeg`'s `short_side` and `inference` for one of the named `RESOLUTIONS`."""
    if resolution not in RESOLUTIONS:
        raise InputError(f"Unknown dense resolution {resolution!r}; choose one of: {', '.join(RESOLUTIONS)}")
    factor, inference = RESOLUTIONS[resolution]
    return {"short_side": scaled_short_side(backbone, factor), "inference": inference}


# -- the steps, as plain functions ---------------------------------------------------------------------
def score(
    cosine: torch.Tensor,
    image_size: tuple[int, int],
    *,
    logit_scale: float = LOGIT_SCALE,
    background_threshold: float = BACKGROUND_THRESHOLD,
    regulariser: str = "none",
    block_depth: int = BLOCK_DEPTH,
) -> dict:
    """Patch cosines (L, h, w) → the per-pixel fields of an `LSegResult` at `image_size` (H, W)."""
    _check_settings(logit_scale, background_threshold, regulariser, block_depth)
    logits = regularise(float(logit_scale) * cosine.float(), regulariser, block_depth)
    label_map, best, log_normaliser = upsampled_argmax(logits, image_size)
    confidence = torch.exp(best - log_normaliser)
    if background_threshold > 0:
        label_map = torch.where(confidence < background_threshold, torch.full_like(label_map, -1), label_map)
    counts = torch.bincount(label_map.flatten() + 1, minlength=len(cosine) + 1).double()
    shares = (counts / counts.sum()).numpy()
    return dict(
        logits=logits.numpy(),
        label_map=label_map.numpy().astype(np.int32),
        confidence=confidence.numpy(),
        log_normaliser=log_normaliser.numpy(),
        shares=shares[1:],
        background_share=float(shares[0]),
        logit_scale=float(logit_scale),
        background_threshold=float(background_threshold),
        regulariser=regulariser,
        block_depth=int(block_depth),
    )


def regularise(logits: torch.Tensor, kind: str = "none", block_depth: int = BLOCK_DEPTH) -> torch.Tensor:
    """LSeg's spatial regularisation blocks on (L, h, w) logits, with the fixed smoothing kernel.

    Each block: "depthwise" x ← k * x per label; "bottleneck" x ← k * x + max_l x (the max taken
    before smoothing). A LeakyReLU follows every block but the last, as in LSeg's head.
    """
    if kind == "none" or block_depth == 0:
        return logits
    x = logits[:, None]  # (L, 1, h, w): the same 1→1 kernel for every label (depthwise)
    kernel = SMOOTHING_KERNEL.to(x)[None, None]
    for depth in range(block_depth):
        label_max = x.max(dim=0, keepdim=True).values
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
        if kind == "bottleneck":
            x = x + label_max
        if depth < block_depth - 1:
            x = F.leaky_relu(x, LEAKY_RELU_SLOPE)
    return x[:, 0]


def upsampled_argmax(
    maps: torch.Tensor, size: tuple[int, int], chunk: int = _CHUNK, logsumexp: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Upsample (K, h, w) maps bilinearly (align_corners=False) to size (H, W) and reduce over K
    without holding all K full-size maps: returns argmax (H, W) long, max (H, W) and
    logsumexp (H, W) (None when not asked for). Ties go to the lowest index, as torch.argmax."""
    best = torch.full(size, -torch.inf)
    index = torch.zeros(size, dtype=torch.long)
    log_normaliser = torch.full(size, -torch.inf) if logsumexp else None
    for start in range(0, len(maps), chunk):
        up = _upsample(maps[start : start + chunk], size)
        value, arg = up.max(dim=0)
        better = value > best
        index = torch.where(better, arg + start, index)
        best = torch.where(better, value, best)
        if logsumexp:
            log_normaliser = torch.logaddexp(log_normaliser, torch.logsumexp(up, dim=0))
    return index, best, log_normaliser


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps.float()[None], size=tuple(size), mode="bilinear", align_corners=False)[0]


def _check_settings(logit_scale, background_threshold, regulariser, block_depth) -> None:
    if not (np.isfinite(logit_scale) and 0 < logit_scale <= 1000):
        raise InputError(f"The temperature (logit scale) must be between 0 and 1000; got {logit_scale}.")
    if not (0 <= background_threshold <= 1):
        raise InputError(f"The background threshold is a probability in [0, 1]; got {background_threshold}.")
    if regulariser not in REGULARISERS:
        raise InputError(f"Unknown spatial regulariser {regulariser!r}; choose one of: {', '.join(REGULARISERS)}.")
    if not (0 <= int(block_depth) <= 8):
        raise InputError(f"The regulariser depth must be between 0 and 8 blocks; got {block_depth}.")
