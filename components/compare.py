"""One image, one label list, five methods side by side: the Compare tab's orchestration.

Each method runs through its own pipeline, unchanged:

- zero-shot heat map: `components.zeroshot.ZeroShotClassifier`
- LSeg (CLIP-backed): `components.lseg.LSeg`
- GroupViT (CLIP-backed): `components.groupvit.GroupViT`
- ViLD (the ViLD-image teacher): `components.vild.ViLD`
- DepthCLIP (the paper's layer4 path on its own ResNet): `components.depthclip.DepthCLIP`

What is shared, so the extra cost of a comparison is only each method's own image work:

- one CLIP backbone for the first four, so one text cache: a (label, template set) pair is encoded
  once per process, whichever method asks first; zero-shot with the "single" prompt and GroupViT
  use the same template set ("a photo of a {}."), so they share those embeddings outright;
- one dense pass: zero-shot, LSeg, GroupViT and ViLD's dense-CLIP proposals all call
  `backbone.dense(image, method, short_side)` with the same settings. `dense.SharedDense` wraps the
  backbone and computes that once per (pixels, method, resolution), keyed as every method's features
  are (components.features); the pipelines see an ordinary backbone and need no new argument;
- DepthCLIP runs on its own ResNet (the paper's RN50), whose words' embeddings that backbone caches.

Methods use different prompt templates (zero-shot: "single" or the 80 ImageNet prompts; LSeg: the
raw label; GroupViT: "a photo of a {}."; ViLD: its 63 prompts plus "background"), so the honest
promise is: each label is encoded once per template set, and a repeated comparison encodes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from components import dense
from components.dense import SharedDense
from components import depthclip as dc
from components import regions
from components.errors import InputError
from components.groupvit import GroupViT, GroupViTResult
from components.lseg import LSeg, LSegResult
from components.media import load_image, parse_labels
from components.vild import ViLD, ViLDResult
from components.zeroshot import ZeroShotClassifier, ZeroShotResult

METHODS = ("zeroshot", "lseg", "groupvit", "vild", "depthclip")
METHOD_NAMES = {
    "zeroshot": "CLIP zero-shot heat map",
    "lseg": "LSeg (CLIP-backed)",
    "groupvit": "GroupViT (CLIP-backed)",
    "vild": "ViLD (CLIP-backed teacher)",
    "depthclip": "DepthCLIP",
}
# Zero-shot here uses GroupViT's prompt by default, so the two share their text embeddings.
ZEROSHOT_TEMPLATES = "single"
VILD_MAX_PROPOSALS = 40  # regions ViLD embeds (2 crops each); its own tab's default is 60


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    message: str


@dataclass(frozen=True)
class CompareResult:
    """Every method's own result for one image and one label list.

    seconds: wall time of each method (in METHODS order of running); dense_passes: dense forwards
    actually computed (1 when the four CLIP methods share one); dense_reused: calls served from it;
    text_forwards: prompts this comparison sent through the shared backbone's text tower (0 when
    every label was seen before); depth_text_forwards: the same for DepthCLIP's own backbone."""

    image: Image.Image
    labels: tuple[str, ...]
    zeroshot: ZeroShotResult
    lseg: LSegResult
    groupvit: GroupViTResult
    vild: ViLDResult
    depth: dc.DepthResult
    seconds: dict
    dense_passes: int
    dense_reused: int
    text_forwards: int
    depth_text_forwards: int
    backbone: str
    depth_backbone: str
    notes: tuple[str, ...] = field(default=())


class Compare:
    """`Compare(backbone, depth_backbone)(image, labels) -> CompareResult`.

    backbone: the shared CLIP (zero-shot, LSeg, GroupViT, ViLD); depth_backbone: a CLIP ResNet for
    DepthCLIP's layer4 path (the paper's RN50).
    dense_method / short_side: the dense patch embeddings the CLIP methods share.
    zeroshot_templates: "single" (shared with GroupViT) or "imagenet80".
    lseg_logit_scale, groupvit_background_threshold, vild_score_threshold, vild_max_proposals,
    depth_short_side: each method's main knob, at its paper's default (ViLD's proposals capped lower
    than its own tab, to keep a five-method board quick).
    vild_region_embedding: "crops" (ViLD's 1x + 1.5x teacher) or "pooled" (each region pooled from the
    board's one shared dense pass, the Compare and ViLD tabs' CPU default)."""

    def __init__(
        self,
        backbone,
        depth_backbone,
        *,
        dense_method: str = dense.DEFAULT_METHOD,
        short_side: int | None = None,
        zeroshot_templates: str = ZEROSHOT_TEMPLATES,
        lseg_logit_scale: float | None = None,
        groupvit_background_threshold: float | None = None,
        vild_score_threshold: float | None = None,
        vild_max_proposals: int = VILD_MAX_PROPOSALS,
        vild_region_embedding: str = "crops",
        depth_short_side: int = dc.SHORT_SIDE,
    ):
        if dense_method not in dense.METHODS:
            raise InputError(f"Unknown dense method {dense_method!r}; choose one of: {', '.join(dense.METHODS)}")
        self.backbone = backbone
        self.depth_backbone = depth_backbone
        self.dense_method = dense_method
        self.short_side = short_side
        self.zeroshot_templates = zeroshot_templates
        lseg_kwargs = {} if lseg_logit_scale is None else {"logit_scale": lseg_logit_scale}
        groupvit_kwargs = {} if groupvit_background_threshold is None else {"background_threshold": groupvit_background_threshold}
        vild_kwargs = {} if vild_score_threshold is None else {"score_threshold": vild_score_threshold}
        self._settings = dict(lseg=lseg_kwargs, groupvit=groupvit_kwargs, vild=vild_kwargs)
        self.vild_max_proposals = int(vild_max_proposals)
        self.vild_region_embedding = regions.check_region_embedding(vild_region_embedding)
        # built now, so bad settings fail before any forward
        self._depth = dc.DepthCLIP(depth_backbone, short_side=depth_short_side)
        self._check = (
            LSeg(backbone, **lseg_kwargs),
            GroupViT(backbone, **groupvit_kwargs),
        )

    def __call__(self, image, labels: str | Sequence[str]) -> CompareResult:
        for step in self.run(image, labels):
            if isinstance(step, CompareResult):
                return step
        raise AssertionError("Compare.run ended without a result")

    def run(self, image, labels: str | Sequence[str]) -> Iterator[Progress | CompareResult]:
        """Yields a `Progress` before each method and the `CompareResult` last; stop iterating to
        stop between methods."""
        loaded = load_image(image)
        parsed = parse_labels(labels, count_tokens=self.backbone.count_tokens)
        picture, names = loaded.image, parsed.labels
        shared = SharedDense(self.backbone)
        common = dict(dense_method=self.dense_method, short_side=self.short_side)
        pipelines = {
            "zeroshot": lambda: ZeroShotClassifier(shared, templates=self.zeroshot_templates, **common)(picture, names),
            "lseg": lambda: LSeg(shared, **common, **self._settings["lseg"])(picture, names),
            "groupvit": lambda: GroupViT(shared, **common, **self._settings["groupvit"])(picture, names),
            "vild": lambda: ViLD(
                shared, max_proposals=self.vild_max_proposals, dense_method=self.dense_method,
                region_embedding=self.vild_region_embedding, **self._settings["vild"]
            )(picture, names),
            "depthclip": lambda: self._depth(picture),
        }
        text_before = self.backbone.text_forwards
        depth_text_before = self.depth_backbone.text_forwards
        results, seconds = {}, {}
        for done, name in enumerate(METHODS):
            yield Progress(done, len(METHODS), f"{METHOD_NAMES[name]}")
            start = time.perf_counter()
            results[name] = pipelines[name]()
            seconds[name] = time.perf_counter() - start
        notes = list(loaded.notes) + list(parsed.notes)
        if self.short_side not in (None, self.backbone.image_size):
            notes.append(
                f"ViLD's dense-CLIP proposals use the model's own resolution ({self.backbone.image_size} px), "
                "so they take a second dense pass."
            )
        yield CompareResult(
            image=picture,
            labels=names,
            zeroshot=results["zeroshot"],
            lseg=results["lseg"],
            groupvit=results["groupvit"],
            vild=results["vild"],
            depth=results["depthclip"],
            seconds=seconds,
            dense_passes=shared.computed,
            dense_reused=shared.reused,
            text_forwards=self.backbone.text_forwards - text_before,
            depth_text_forwards=self.depth_backbone.text_forwards - depth_text_before,
            backbone=self.backbone.describe(),
            depth_backbone=self.depth_backbone.describe(),
            notes=tuple(notes),
        )


@dataclass(frozen=True)
class Agreement:
    """How LSeg's and GroupViT's label maps of one image compare, pixel by pixel.

    same: share of pixels both give the same label (background counts as a label);
    per_label: (label, LSeg share, GroupViT share) for every label either one uses, background last."""

    same: float
    per_label: tuple[tuple[str, float, float], ...]


def agreement(lseg: LSegResult, groupvit: GroupViTResult) -> Agreement:
    """Compare two label maps over the same labels (index -1 = background in both)."""
    if lseg.label_map.shape != groupvit.label_map.shape or tuple(lseg.labels) != tuple(groupvit.classes):
        raise ValueError("LSeg and GroupViT results must come from the same image and labels")
    a, b = lseg.label_map, groupvit.label_map
    rows = []
    for index, name in [*enumerate(lseg.labels), (-1, "background")]:
        sa, sb = float((a == index).mean()), float((b == index).mean())
        if sa or sb:
            rows.append((name, sa, sb))
    return Agreement(same=float((a == b).mean()), per_label=tuple(rows))


def headline(result: CompareResult) -> dict:
    """Each method's headline numbers, small enough to read in a run record: the zero-shot ranking,
    LSeg's label shares, GroupViT's top classes, ViLD's kept boxes with their best category (not
    background: class 0 is skipped), and DepthCLIP's median depth in metres."""
    vild = result.vild
    return {
        "zeroshot": dict(result.zeroshot.ranking()),
        "lseg_shares": {label: float(share) for label, share in zip(result.lseg.labels, result.lseg.shares)},
        "groupvit_top_classes": [result.groupvit.classes[int(i)] for i in result.groupvit.top_classes],
        "vild_detections": [
            {"box": [round(float(v), 1) for v in vild.boxes[i]], "class": vild.classes[1 + int(np.argmax(vild.probs[i][1:]))]}
            for i in vild.keep
        ],
        "depth_median_m": float(np.nanmedian(result.depth.depth)),
    }
