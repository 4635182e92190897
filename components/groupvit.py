"""GroupViT: segmentation by grouping, labelled with text (Xu et al., CVPR 2022; METHODS.md §5).

GroupViT learns two grouping stages: 64 group tokens gather the 196 patches into 64 segments, then
8 group tokens gather those into 8. A token's assignment is a softmax over groups (hard Gumbel-softmax
in training, argmax at inference). Zero-shot segmentation chains the stage maps (pixels×64 · 64×8),
upsamples them bilinearly to the image, gives each pixel its argmax group, and labels each group by
its embedding's similarity to "a photo of a {}." texts, keeping only the image's top-5 classes;
a pixel is background when its score < min(0.95, the best group score) (0.35 for PASCAL Context).

Two engines share that labelling:

- `GroupViT(backbone)`: the CLIP-backed version. The tokens are CLIP's dense patch embeddings
  (components.dense); each stage's group centroids are initialised deterministically (stage 1: patches
  evenly spaced in raster order; stage 2: farthest-point sampling of the non-empty segments, largest
  first), refined for a few iterations by hard assignment (argmax over groups, or with Gumbel noise from
  a seeded generator, as in training) and member means, and the stage map is the soft assignment
  softmax(cos / assign_temperature) over groups. The stage-1 centroids are the segment embeddings
  that stage 2 groups; the final centroids are the group embeddings that get labels.
- `OfficialGroupViT`: NVIDIA's released weights through transformers' `GroupViTModel`, read only from
  the Hugging Face cache (never downloaded here), with the official rules (hard grouping, top-5,
  background threshold) applied to its grouping attentions, which transformers' own output skips.

Pay once, answer many times (components.features): either engine's `embed(image, classes)` runs the
network and the grouping and returns `GroupViTFeatures` (the stage maps, the group and image logits
against the classes); `GroupViT(...)(features)` labels them under that instance's background
threshold and top-k, with no forward and no grouping, whichever engine made them (a model built
with `backbone=None` can do only that).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components import dense
from components import precision as precisions
from components.errors import InputError, WeightsError
from components.features import Features, content_key, model_identity
from components.labelsets import LABEL_SETS
from components.lseg import upsampled_argmax
from components.media import load_image, parse_labels
from components.prompts import SINGLE

# -- GroupViT's constants ---------------------------------------------------------------------------
NUM_GROUP_TOKENS = (64, 8)  # group tokens of stage 1 and stage 2
TEMPLATES = SINGLE  # "a photo of a {}."
TOP_K = 5  # only the image's top-5 classes may label a group
BACKGROUND_THRESHOLD = 0.95
CONTEXT_BACKGROUND_THRESHOLD = 0.35  # PASCAL Context-style label sets
BACKGROUND_THRESHOLDS = {"pascal_voc_20": 0.95, "pascal_context_59": 0.35, "coco_80": 0.95}
MAX_LOGIT_SCALE = 100.0
OFFICIAL_MODEL = "nvidia/groupvit-gcc-yfcc"
# -- this CLIP-backed version's own settings --------------------------------------------------------
ITERATIONS = 3  # centroid refinements per stage
ASSIGN_TEMPERATURE = 0.05  # soft assignment: softmax over groups of cos / temperature
DISTINCT = 1e-6  # seeds closer than this (cosine distance) are one seed: the repeats stay empty
MAX_CLASSES = 160  # a preset (up to 80 classes) plus extra classes
BACKGROUND = "background"


def background_threshold_for(label_set: str | None) -> float:
    return BACKGROUND_THRESHOLDS.get(label_set or "", BACKGROUND_THRESHOLD)


@dataclass(frozen=True)
class Grouping:
    """What either engine's forward and grouping give for one image and C classes (fields as in
    `GroupViTResult`), before the labelling settings (background threshold, top-k) that need neither."""

    classes: tuple[str, ...]
    grid_size: tuple[int, int]
    image_size: tuple[int, int]
    stage_assignments: tuple[np.ndarray, ...]
    chained: np.ndarray
    stage1_map: np.ndarray
    group_map: np.ndarray
    group_embeddings: np.ndarray
    group_logits: np.ndarray
    image_logits: np.ndarray
    logit_scale: float
    engine: str
    settings: dict
    notes: tuple[str, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class GroupViTFeatures(Features, Grouping):
    """A `Grouping` keyed for the feature cache (components.features): `embed`'s return."""


@dataclass(frozen=True)
class GroupViTResult(Grouping):
    """Grouping and labelling of one image.

    stage_assignments: per stage, the soft assignment (tokens, groups), rows summing to 1: stage 1
        maps the h·w patches (row-major) to K1 segments, stage 2 maps the K1 segments to K2 groups.
    chained: (h·w, K2) = stage 1 · stage 2, the pixels' final group assignment on the patch grid.
    stage1_map, group_map: (H, W) argmax segment / group per pixel after bilinear upsampling.
    group_logits: (K2, C) logit_scale · cos(group embedding, class text).
    image_logits: (C,) logit_scale · cos(image embedding, class text).
    image_probs: (C,) softmax over classes of the image embedding's logits; top_classes its top-k.
    affinity: (K2, C) softmax over the top-k classes × softmax over all classes (official rule).
    group_classes: (K2,) each group's best class; group_scores (K2,) its affinity.
    label_map: (H, W) class index per pixel, -1 for background; applied_threshold = min(threshold,
        affinity.max()), the background rule actually used.
    """

    image_probs: np.ndarray
    top_classes: np.ndarray
    affinity: np.ndarray
    group_classes: np.ndarray
    group_scores: np.ndarray
    label_map: np.ndarray
    background_threshold: float
    applied_threshold: float
    top_k: int

    @property
    def num_groups(self) -> tuple[int, ...]:
        return tuple(a.shape[1] for a in self.stage_assignments)

    def visible_groups(self) -> list[int]:
        """Final groups that win at least one pixel, in index order."""
        return [int(g) for g in np.unique(self.group_map)]

    def group_shares(self) -> np.ndarray:
        """(K2,) fraction of the image's pixels each final group wins."""
        counts = np.bincount(self.group_map.ravel(), minlength=self.chained.shape[1])
        return counts / counts.sum()

    def class_shares(self) -> list[tuple[str, float]]:
        """(class, share of pixels) for every class that wins pixels, background included."""
        counts = np.bincount(self.label_map.ravel() + 1, minlength=len(self.classes) + 1)
        total = counts.sum()
        rows = [(self.classes[i - 1], counts[i] / total) for i in range(1, len(counts)) if counts[i]]
        if counts[0]:
            rows.append((BACKGROUND, counts[0] / total))
        return [(name, float(share)) for name, share in rows]

    @property
    def features(self) -> GroupViTFeatures:
        """The features these labels were made from (unkeyed: rebuilt from the result's fields)."""
        return GroupViTFeatures(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Grouping)})

    def relabel(self, background_threshold: float | None = None, top_k: int | None = None) -> "GroupViTResult":
        """`GroupViT(None, ...)(self.features)`: the same groups labelled under another threshold or
        top-k, no forward and no grouping."""
        threshold = self.background_threshold if background_threshold is None else background_threshold
        k = self.top_k if top_k is None else top_k
        return label(self.features, threshold, k)


# -- the grouping steps, as plain functions ---------------------------------------------------------
def spaced_indices(n: int, k: int) -> torch.Tensor:
    """k of n token indices evenly spaced in raster order (all n when n ≤ k): stage 1's seeds."""
    if n <= k:
        return torch.arange(n)
    return torch.round(torch.linspace(0, n - 1, k)).long()


def farthest_point_indices(
    tokens: torch.Tensor, weights: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """k seed indices among tokens with weight > 0: the heaviest first, then each the token farthest
    (in cosine distance) from the seeds chosen so far; ties to the lowest index. When fewer than k
    distinct tokens exist, the rest repeat the first seed and are marked inactive.
    Returns (indices (k,), active (k,) bool)."""
    candidates = torch.nonzero(weights > 0).flatten()
    if len(candidates) == 0:
        candidates = torch.arange(len(tokens))
    first = candidates[torch.argmax(weights[candidates])]
    chosen, active = [int(first)], [True]
    distance = 1 - tokens[candidates] @ tokens[first]
    for _ in range(k - 1):
        pick = int(torch.argmax(distance))
        if distance[pick] <= DISTINCT:
            chosen.append(int(first))
            active.append(False)
            continue
        chosen.append(int(candidates[pick]))
        active.append(True)
        distance = torch.minimum(distance, 1 - tokens[candidates] @ tokens[candidates[pick]])
    return torch.tensor(chosen), torch.tensor(active)


def distinct(seeds: torch.Tensor) -> torch.Tensor:
    """(K,) bool: each seed that differs from every earlier one (cosine distance > DISTINCT)."""
    close = (1 - seeds @ seeds.T) <= DISTINCT
    earlier = torch.tril(close, diagonal=-1)
    return ~earlier.any(dim=1)


def group_tokens(
    tokens: torch.Tensor,
    centroids: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    iterations: int = ITERATIONS,
    assign_temperature: float = ASSIGN_TEMPERATURE,
    gumbel: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One grouping stage. tokens (N, D) and initial centroids (K, D), unit length.

    Each iteration assigns every token to one group (argmax over groups of cos / temperature, plus
    Gumbel noise when `gumbel`) and moves each non-empty group's centroid to the (weighted) mean of
    its members. Returns the soft assignment (N, K) = softmax over groups of cos / temperature
    against the final centroids, and those centroids (K, D). Inactive groups (`active` False: seeds
    that repeat another) take no tokens."""
    weights = torch.ones(len(tokens)) if weights is None else weights.float()
    mask = torch.zeros(len(centroids)) if active is None else torch.where(active, 0.0, -torch.inf)
    for _ in range(iterations):
        logits = tokens @ centroids.T / assign_temperature + mask
        if gumbel:
            uniform = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
            logits = logits - torch.log(-torch.log(uniform))
        hard = F.one_hot(logits.argmax(dim=1), len(centroids)).float() * weights[:, None]  # (N, K)
        mass = hard.sum(dim=0)
        means = F.normalize(hard.T @ tokens, dim=-1)
        centroids = torch.where((mass > 0)[:, None], means, centroids)
    soft = torch.softmax(tokens @ centroids.T / assign_temperature + mask, dim=1)
    return soft, centroids


def chain(*assignments: torch.Tensor) -> torch.Tensor:
    """Compose stage maps: (N, K1) · (K1, K2) · … → (N, K_last)."""
    out = assignments[0]
    for a in assignments[1:]:
        out = out @ a
    return out


def assignment_argmax(assignment: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """(H, W) argmax group of an assignment (h·w, K), upsampled bilinearly (align_corners=False)
    before the argmax, as the official code does.

    Rows sum to 1, so every upsampled pixel's groups also sum to 1 and its best group has at least
    1/K: a group whose largest value anywhere on the grid is below 1/K can never win a pixel and is
    skipped (exact, and most of the work on large images)."""
    k = assignment.shape[1]
    candidates = torch.nonzero(assignment.max(dim=0).values >= 1.0 / k).flatten()
    maps = assignment[:, candidates].T.reshape(-1, *grid)
    index, _, _ = upsampled_argmax(maps, size, logsumexp=False)
    return candidates[index]


def label_groups(group_logits: torch.Tensor, image_logits: torch.Tensor, top_k: int = TOP_K) -> dict:
    """The official labelling of K groups against C classes.

    group_logits (K, C) and image_logits (C,) are logit_scale · cosines. Only the image's top-k
    classes (by softmax of image_logits) may label a group: affinity = softmax over classes of the
    group logits with the other classes masked out, times the unmasked softmax."""
    image_probs = torch.softmax(image_logits.float(), dim=-1)
    k = min(int(top_k), len(image_probs))
    top = torch.topk(image_probs, k).indices
    keep = torch.zeros_like(image_probs, dtype=torch.bool)
    keep[top] = True
    masked = group_logits.float().masked_fill(~keep, float("-inf"))
    affinity = torch.softmax(masked, dim=-1) * torch.softmax(group_logits.float(), dim=-1)
    scores, classes = affinity.max(dim=-1)
    return dict(image_probs=image_probs, top_classes=top, affinity=affinity, group_classes=classes, group_scores=scores)


def label_pixels(group_map: torch.Tensor, affinity: torch.Tensor, threshold: float = BACKGROUND_THRESHOLD):
    """(H, W) group per pixel → (H, W) class per pixel, -1 where background.

    A pixel's class scores are its group's row of `affinity`; it is background when its best score
    < min(threshold, affinity.max()). Returns (label_map, applied threshold)."""
    applied = min(float(threshold), float(affinity.max()))
    rows = affinity[group_map.long()]  # (H, W, C)
    best, classes = rows.max(dim=-1)
    return torch.where(best < applied, torch.full_like(classes, -1), classes), applied


def _labelling_fields(scores: dict, labels, threshold: float, top_k: int) -> dict:
    label_map, applied = labels
    return dict(
        image_probs=scores["image_probs"].numpy(),
        top_classes=scores["top_classes"].numpy(),
        affinity=scores["affinity"].numpy(),
        group_classes=scores["group_classes"].numpy(),
        group_scores=scores["group_scores"].numpy(),
        label_map=label_map.numpy().astype(np.int32),
        background_threshold=float(threshold),
        applied_threshold=applied,
        top_k=int(top_k),
    )


def _check_settings(num_group_tokens, iterations, assign_temperature, background_threshold, top_k):
    if len(num_group_tokens) != 2 or not all(1 <= int(k) <= 256 for k in num_group_tokens):
        raise InputError(f"Give two stages of 1–256 groups each; got {tuple(num_group_tokens)}.")
    if not 0 <= int(iterations) <= 50:
        raise InputError(f"Refinement iterations must be 0–50; got {iterations}.")
    if not (math.isfinite(assign_temperature) and assign_temperature > 0):
        raise InputError(f"The assignment temperature must be positive; got {assign_temperature}.")
    if not 0 <= background_threshold <= 1:
        raise InputError(f"The background threshold is a score in [0, 1]; got {background_threshold}.")
    if int(top_k) < 1:
        raise InputError(f"Keep at least the top-1 class; got top-k = {top_k}.")


def _classes(labels, count_tokens=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    parsed = parse_labels(labels, max_labels=MAX_CLASSES, count_tokens=count_tokens)
    return parsed.labels, parsed.notes


def _grouped(
    *, key, classes, notes, grid, image_size, a1, a2, group_embeddings, image_embedding, text, logit_scale,
    engine, settings,
) -> GroupViTFeatures:
    h, w = grid
    chained = chain(a1, a2)  # (h·w, K2)
    stage1_map = assignment_argmax(a1, (h, w), image_size)
    group_map = assignment_argmax(chained, (h, w), image_size)
    group_logits = logit_scale * group_embeddings @ text.T  # (K2, C)
    image_logits = logit_scale * text @ image_embedding  # (C,)
    return GroupViTFeatures(
        key=key,
        classes=tuple(classes),
        grid_size=(h, w),
        image_size=tuple(image_size),
        stage_assignments=(a1.numpy(), a2.numpy()),
        chained=chained.numpy(),
        stage1_map=stage1_map.numpy().astype(np.int32),
        group_map=group_map.numpy().astype(np.int32),
        group_embeddings=group_embeddings.numpy(),
        group_logits=group_logits.numpy(),
        image_logits=image_logits.numpy(),
        logit_scale=float(logit_scale),
        engine=engine,
        settings=settings,
        notes=tuple(notes),
    )


def label(features: GroupViTFeatures, background_threshold: float = BACKGROUND_THRESHOLD,
          top_k: int = TOP_K) -> GroupViTResult:
    """The official labelling of grouped features (either engine's): the image's top-k classes may
    name a group; a pixel is background below min(threshold, best group score)."""
    _check_settings(NUM_GROUP_TOKENS, 0, 1.0, background_threshold, top_k)
    scores = label_groups(torch.from_numpy(features.group_logits), torch.from_numpy(features.image_logits), top_k)
    labels = label_pixels(torch.from_numpy(features.group_map), scores["affinity"], background_threshold)
    grouped = {f.name: getattr(features, f.name) for f in dataclasses.fields(Grouping)}
    return GroupViTResult(**grouped, **_labelling_fields(scores, labels, background_threshold, top_k))


# -- the CLIP-backed engine -------------------------------------------------------------------------
class GroupViT:
    """`GroupViT(backbone)(image, classes) -> GroupViTResult`, grouping CLIP's patch embeddings.

    num_group_tokens: groups of stage 1 and stage 2 (GroupViT: 64 then 8).
    iterations: centroid refinements per stage; assign_temperature: of the soft stage maps.
    gumbel, seed: add Gumbel noise to the hard assignments while refining (GroupViT's training
        rule) from a generator seeded with `seed`; off by default (argmax, GroupViT's inference).
    background_threshold: 0.95, or 0.35 for PASCAL Context-style sets; top_k: 5.
    dense_method, short_side: how and at what resolution patch embeddings are made.
    """

    def __init__(
        self,
        backbone,
        num_group_tokens: Sequence[int] = NUM_GROUP_TOKENS,
        iterations: int = ITERATIONS,
        assign_temperature: float = ASSIGN_TEMPERATURE,
        gumbel: bool = False,
        seed: int = 0,
        background_threshold: float = BACKGROUND_THRESHOLD,
        top_k: int = TOP_K,
        dense_method: str = dense.DEFAULT_METHOD,
        short_side: int | None = None,
    ):
        _check_settings(num_group_tokens, iterations, assign_temperature, background_threshold, top_k)
        self.backbone = backbone
        self.num_group_tokens = tuple(int(k) for k in num_group_tokens)
        self.iterations = int(iterations)
        self.assign_temperature = float(assign_temperature)
        self.gumbel = bool(gumbel)
        self.seed = int(seed)
        self.background_threshold = float(background_threshold)
        self.top_k = int(top_k)
        self.dense_method = dense_method
        self.short_side = short_side

    def __call__(self, image: Image.Image | GroupViTFeatures, classes: str | Sequence[str] | None = None) -> GroupViTResult:
        """Group and label an image against classes; or label the `GroupViTFeatures` of an earlier
        `embed` (either engine's) under this instance's threshold and top-k, with no forward."""
        features = image if isinstance(image, GroupViTFeatures) else self.embed(image, classes)
        return label(features, self.background_threshold, self.top_k)

    def features_key(self, image: Image.Image, classes: str | Sequence[str]) -> str:
        """The key of `embed(image, classes)`: pixels, model, classes and the grouping settings."""
        loaded = load_image(image)
        return self._key(loaded.image, _classes(classes, self.backbone.count_tokens)[0])

    def _key(self, image: Image.Image, classes: tuple[str, ...]) -> str:
        return content_key("groupvit", image, model_identity(self.backbone), classes, self.num_group_tokens,
                           self.iterations, self.assign_temperature, self.gumbel, self.seed, self.dense_method,
                           int(self.short_side or self.backbone.image_size))

    def embed(self, image: Image.Image, classes: str | Sequence[str]) -> GroupViTFeatures:
        """The forwards and the grouping: dense patch embeddings, two grouping stages, and the group
        and image logits against the classes' texts (cached by the backbone)."""
        loaded = load_image(image)
        class_names, label_notes = _classes(classes, self.backbone.count_tokens)
        text = self.backbone.text_classifier(class_names, TEMPLATES)  # (C, D), cached
        features = self.backbone.dense(loaded.image, self.dense_method, self.short_side)
        h, w = features.grid_size
        tokens = features.features.reshape(h * w, -1)
        a1, a2, group_embeddings = self.group(tokens)
        k1, k2 = self.num_group_tokens
        notes = list(loaded.notes) + list(label_notes)
        if h * w < k1:
            notes.append(f"The image has {h * w} patches, fewer than {k1} stage-1 groups: one group per patch.")
        return _grouped(
            key=self._key(loaded.image, class_names),
            classes=class_names,
            notes=notes,
            grid=(h, w),
            image_size=features.image_size,
            a1=a1,
            a2=a2,
            group_embeddings=group_embeddings,
            image_embedding=features.global_embedding,
            text=text,
            logit_scale=min(self.backbone.logit_scale, MAX_LOGIT_SCALE),
            engine="clip",
            settings=dict(
                num_group_tokens=self.num_group_tokens,
                iterations=self.iterations,
                assign_temperature=self.assign_temperature,
                gumbel=self.gumbel,
                seed=self.seed,
                dense_method=features.method,
                backbone=self.backbone.describe(),
            ),
        )

    def group(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unit-length patch embeddings (N, D) → stage-1 map (N, K1), stage-2 map (K1, K2) and the
        K2 group embeddings."""
        k1, k2 = self.num_group_tokens
        generator = torch.Generator().manual_seed(self.seed)
        common = dict(
            iterations=self.iterations,
            assign_temperature=self.assign_temperature,
            gumbel=self.gumbel,
            generator=generator,
        )
        seeds = tokens[spaced_indices(len(tokens), k1)]
        a1, segments = group_tokens(tokens, seeds, active=distinct(seeds), **common)
        mass = torch.bincount(a1.argmax(dim=1), minlength=len(segments)).float()
        indices, active = farthest_point_indices(segments, mass, k2)
        a2, groups = group_tokens(segments, segments[indices], weights=mass, active=active, **common)
        return a1, a2, groups


# -- the official engine ----------------------------------------------------------------------------
def official_weights_cached(model_id: str = OFFICIAL_MODEL, cache_dir: str | None = None) -> bool:
    """Whether the official weights are in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(model_id, "config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        return False
    return any(
        isinstance(try_to_load_from_cache(model_id, name, cache_dir=cache_dir), str)
        for name in ("model.safetensors", "pytorch_model.bin")
    )


def unavailable_message(model_id: str = OFFICIAL_MODEL) -> str:
    return (
        f"The official GroupViT weights ({model_id}) are not in this machine's Hugging Face cache, "
        "and CLIP Lab never downloads at run time. To use them, on a machine with internet run "
        f"`python -c \"from transformers import GroupViTModel; GroupViTModel.from_pretrained('{model_id}')\"` "
        "and bring its Hugging Face cache (HF_HOME) here. The CLIP-backed engine works without them."
    )


def load_official(
    model_id: str = OFFICIAL_MODEL, cache_dir: str | None = None, device: str = "auto", precision: str | None = None
) -> "OfficialGroupViT":
    """The official engine from the local Hugging Face cache only; WeightsError when not there.
    `precision` None: the process's (`components.precision.active`, a replay's inside a replay)."""
    from components.backbone import resolve_device

    resolved = resolve_device(device)
    return _load_official(model_id, cache_dir, resolved, precisions.resolve(precision or precisions.active(), resolved))


@functools.lru_cache(maxsize=1)
def _load_official(model_id: str, cache_dir: str | None, device: str, precision: str) -> "OfficialGroupViT":
    from transformers import GroupViTModel

    from components.backbone import without_paths

    if not official_weights_cached(model_id, cache_dir):
        raise WeightsError(unavailable_message(model_id))
    try:
        model = GroupViTModel.from_pretrained(model_id, local_files_only=True, cache_dir=cache_dir)
    except (OSError, ValueError) as error:
        raise WeightsError(f"{unavailable_message(model_id)} ({without_paths(str(error).splitlines()[0])[:200]})") from None
    return OfficialGroupViT(model, weights=f"pretrained:{model_id}", device=device, precision=precision)


class OfficialGroupViT:
    """GroupViT's own network (transformers `GroupViTModel`) with the official inference rules.

    The image is resized to the model's square input; its two grouping attentions (soft assignments
    over groups) are chained, resized to the image and arg-maxed; the projected group tokens are
    labelled with `label_groups` / `label_pixels`, as `GroupViT` does. Text goes through CLIP's BPE
    tokenizer (open_clip's copy, the same vocabulary), so no tokenizer files are needed.
    """

    MEAN = (0.48145466, 0.4578275, 0.40821073)
    STD = (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, model, weights: str = "", device: str = "cpu", precision: str = "fp32"):
        import open_clip

        # fp32 / bf16 / int8 (components.precision), applied once here; pixels are cast to match
        self.precision = precisions.resolve(precision, str(device))
        self.dtype = precisions.DTYPES[self.precision]
        self.model = precisions.apply_engine(model.eval().to(device), self.precision)
        self.device = device
        self.weights = weights or "random (untrained)"
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        self.patch_size = int(vision.patch_size)
        self.context_length = int(model.config.text_config.max_position_embeddings)
        self._tokenizer = open_clip.get_tokenizer("ViT-B-16", context_length=self.context_length)
        self._text_cache: dict[str, torch.Tensor] = {}

    def count_tokens(self, text: str) -> int:
        return int((self._tokenizer([text])[0] != 0).sum())

    def encode_texts(self, classes: Sequence[str]) -> torch.Tensor:
        """(C, D) unit-length embeddings of "a photo of a {}." for each class, cached."""
        missing = [c for c in dict.fromkeys(classes) if c not in self._text_cache]
        if missing:
            ids = self._tokenizer(TEMPLATES.fill(c)[0] for c in missing).to(self.device)
            with torch.inference_mode():
                out = self.model.get_text_features(input_ids=ids, attention_mask=(ids != 0).long())
            emb = F.normalize(out.pooler_output.float().cpu(), dim=-1)
            self._text_cache.update(zip(missing, emb))
        return torch.stack([self._text_cache[c] for c in classes])

    def __call__(
        self,
        image: Image.Image | GroupViTFeatures,
        classes: str | Sequence[str] | None = None,
        background_threshold: float = BACKGROUND_THRESHOLD,
        top_k: int = TOP_K,
    ) -> GroupViTResult:
        """Group and label an image against classes (or label the features of an earlier `embed`)."""
        _check_settings(NUM_GROUP_TOKENS, 0, 1.0, background_threshold, top_k)
        features = image if isinstance(image, GroupViTFeatures) else self.embed(image, classes)
        return label(features, background_threshold, top_k)

    def describe(self) -> str:
        """"official GroupViT · weights", with the precision where it is not fp32."""
        at = "" if self.precision == "fp32" else f" · {precisions.LABELS[self.precision]}"
        return f"official GroupViT · {self.weights}{at}"

    @property
    def identity(self) -> str:
        """What identifies this network in a features key (components.features)."""
        if self.weights.startswith("random"):
            return model_identity(self.model) + ("" if self.precision == "fp32" else f" · {self.precision}")
        return self.describe()

    def features_key(self, image: Image.Image, classes: str | Sequence[str]) -> str:
        loaded = load_image(image)
        return content_key("groupvit-official", loaded.image, self.identity, _classes(classes, self.count_tokens)[0])

    def embed(self, image: Image.Image, classes: str | Sequence[str]) -> GroupViTFeatures:
        """GroupViT's own forward and its grouping attentions, with the group and image logits."""
        loaded = load_image(image)
        class_names, label_notes = _classes(classes, self.count_tokens)
        text = self.encode_texts(class_names)
        size = self.image_size
        pixels = torch.from_numpy(
            np.asarray(loaded.image.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
        ).permute(2, 0, 1)
        pixels = (pixels - torch.tensor(self.MEAN)[:, None, None]) / torch.tensor(self.STD)[:, None, None]
        with torch.inference_mode():
            out = self.model.vision_model(pixels[None].to(self.device, self.dtype), output_attentions=True, return_dict=True)
            projection = self.model.visual_projection
            groups = projection(out.last_hidden_state.reshape(-1, out.last_hidden_state.shape[-1]))
            image_embedding = projection(out.pooler_output)[0]
            logit_scale = min(float(self.model.logit_scale.exp()), MAX_LOGIT_SCALE)
        attentions = [a[0].float().cpu() for a in out.attentions]  # (groups, tokens) per stage
        if not attentions:
            raise WeightsError("These GroupViT weights have no grouping stage; use nvidia/groupvit-gcc-yfcc.")
        # Stage 1 assigns patches to K1 groups; any later stages chain on, so a2 is their product
        # (K1, K_last): one stage more or less than the released two-stage model still chains exactly.
        a1 = attentions[0].T  # (h·w, K1)
        a2 = torch.eye(a1.shape[1])
        for stage in attentions[1:]:
            a2 = a2 @ stage.T
        grid = size // self.patch_size
        return _grouped(
            key=content_key("groupvit-official", loaded.image, self.identity, class_names),
            classes=class_names,
            notes=[*loaded.notes, *label_notes, f"The image was resized to {size}×{size} for GroupViT."],
            grid=(grid, grid),
            image_size=(loaded.image.size[1], loaded.image.size[0]),
            a1=a1,
            a2=a2,
            group_embeddings=F.normalize(groups.float().cpu(), dim=-1),
            image_embedding=F.normalize(image_embedding.float().cpu(), dim=-1),
            text=text,
            logit_scale=logit_scale,
            engine="official",
            settings=dict(weights=self.weights, num_group_tokens=(a1.shape[1], a2.shape[1]), precision=self.precision),
        )


def preset_classes(name: str | None) -> tuple[str, ...]:
    """The classes of a label-set preset (components.labelsets), or none for "" / None."""
    if not name:
        return ()
    if name not in LABEL_SETS:
        raise InputError(f"Unknown label set {name!r}; choose one of: {', '.join(LABEL_SETS)}.")
    return LABEL_SETS[name].classes
