"""ViLD, CLIP-backed: open-vocabulary detection by scoring CLIP embeddings of cropped regions.

Gu et al., *Open-vocabulary Object Detection via Vision and Language Knowledge Distillation*, ICLR
2022. ViLD distils CLIP's image embeddings of cropped proposals (1× and 1.5× crops, embeddings summed
and normalised: the "ViLD-image" teacher) into a detector, and scores regions against CLIP text
embeddings of the category names with a learned background class. Its detector weights are not
CLIP's, so this module runs the teacher itself (METHODS.md §8): class-agnostic proposals
(components.regions: selective search and dense-CLIP boxes), each region embedded by CLIP from its
two crops, then the ViLD demo's scoring and filtering:

1. categories get the 63 ViLD prompts ("This is " before prompts starting with "a"/"the"); each
   prompt's embedding normalised, averaged, renormalised (prompt_engineering=False: the demo's single
   prompt); "background" is class 0;
2. p = softmax(100 · cos(region, class)) over background + categories;
3. in the demo's order (`nms_order="proposals"`, the default): NMS at IoU 0.6 (torchvision) over
   *all* proposals ranked by their proposal score — here the proposals' own order (dense-CLIP boxes
   first, each label's by mean similarity, then selective search's ranking), as the demo ranks by RPN
   objectness; then score ≥ SCORE_THRESHOLD and area > MIN_BOX_AREA px; the first 25 in proposal
   order; then ranked by score, and boxes whose best class is background dropped.
   `nms_order="score"` (the order CLIP Lab used before): background, score and area filters first,
   then NMS ranked by the detection score, at most 25.

One step is ours, not ViLD's (off with containment=0): a detection that contains a better-ranked
detection of its class is dropped, since nothing here regresses boxes (see CONTAINMENT).

Image-guided detection (`ViLD.match`, ours: the region–image counterpart of the scoring above, as
OWL-ViT's image-conditioned detection is of its text queries): the query image is embedded as a
region covering all of it, each proposal's region embedding is compared with it by cosine, and the
same filters run with that cosine as the score (≥ QUERY_THRESHOLD; every region is a candidate,
there is no background class to lose to), the same NMS, area, box-count and containment steps.
A cosine between two image embeddings is not on the scale of a region–text probability, hence its
own threshold. The dense-CLIP proposals follow the query embedding as they follow the labels.

The demo applies its 0.9 threshold to the RPN's objectness; selective search has no objectness, so
here it applies to the detection score. Every proposal's embedding and probabilities are kept in the
result: `ViLDResult.select(...)` re-filters with other thresholds without running CLIP again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from PIL import Image

from components import regions
from components.dense import SharedDense
from components.errors import InputError
from components.media import MAX_LABELS, parse_labels
from components.prompts import vild_templates

TEMPERATURE = 100.0  # softmax(100 · cos), ViLD-text's temperature
BACKGROUND = "background"  # class 0
NMS_IOU = 0.6  # ViLD demo: nms_threshold
SCORE_THRESHOLD = 0.9  # ViLD demo: min_rpn_score_thresh (applied here to the detection score)
MIN_BOX_AREA = 220  # ViLD demo: min_box_area, pixels
MAX_BOXES = 25  # ViLD demo: max_boxes_to_draw
# Not in ViLD (its box regression and RPN objectness tighten boxes): CLIP scores a loose box around an
# object as highly as the object's own box, so a detection that contains this fraction of a
# better-ranked detection of the same class is dropped. 0 turns it off.
CONTAINMENT = 0.9
MAX_CATEGORIES = MAX_LABELS
# "proposals": the demo's order, NMS over every proposal ranked by proposal order, then the filters;
# "score": filters first, then NMS ranked by the detection score
NMS_ORDERS = ("proposals", "score")
TOP_K = 3  # categories listed per box
NOTHING_DETECTED = "Nothing detected"
# Image-guided detection (ours): a region matches the query when cos(region, query) ≥ this
QUERY_THRESHOLD = 0.8
QUERY_LABEL = "query image"


def processed_name(name: str) -> str:
    """The ViLD demo's category clean-up: lower case, "_" → " ", "/" → " or ", no trailing dot."""
    return name.replace("_", " ").replace("/", " or ").lower().rstrip(".").strip() or name.lower()


def parse_categories(categories: str | Sequence[str], max_categories: int = MAX_CATEGORIES, count_tokens=None):
    """Categories from ';' / ',' / newline separated text or a list: (names, notes). More than
    `max_categories` are cut to the first ones, with a note; none is an InputError."""
    if categories is None or (isinstance(categories, str) and not categories.strip()):
        raise InputError("Give at least one category, e.g. “cat; dog; person” (separate them with ';' or ',').")
    try:
        everything = parse_labels(categories, max_labels=10**9).labels
    except InputError:
        raise InputError("Give at least one category, e.g. “cat; dog; person” (separate them with ';' or ',').") from None
    everything = tuple(c for c in everything if processed_name(c) != BACKGROUND)
    if not everything:
        raise InputError("“background” is always class 0; name at least one other category.")
    notes = []
    if len(everything) > max_categories:
        notes.append(f"You gave {len(everything)} categories; the first {max_categories} are used.")
        everything = everything[:max_categories]
    parsed = parse_labels(list(everything), max_labels=max_categories, count_tokens=count_tokens)
    return parsed.labels, (*notes, *parsed.notes)


def text_embeddings(backbone, names: Sequence[str], prompt_engineering: bool = True) -> torch.Tensor:
    """(L, D) ViLD text classifier: each name's 63 prompts (or the single one without
    prompt_engineering; article by the name's first letter) encoded, normalised, averaged,
    renormalised; cached by the backbone per (template set, name)."""
    processed = [processed_name(n) for n in names]
    out = torch.zeros(len(names), backbone.embed_dim)
    sets = {vild_templates(p, prompt_engineering).name: vild_templates(p, prompt_engineering) for p in processed}
    for template_set in sets.values():
        rows = [i for i, p in enumerate(processed) if vild_templates(p, prompt_engineering) is template_set]
        out[rows] = backbone.text_classifier([processed[i] for i in rows], template_set)
    return out


def class_probabilities(cosine: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """(N, C) softmax over classes of temperature · cos, per region (row)."""
    return torch.softmax(temperature * torch.as_tensor(cosine, dtype=torch.float64), dim=-1).numpy()


def select_detections(
    boxes: np.ndarray,
    probs: np.ndarray,
    cosine: np.ndarray,
    *,
    score_threshold: float = SCORE_THRESHOLD,
    min_area: float = MIN_BOX_AREA,
    nms_iou: float = NMS_IOU,
    max_boxes: int = MAX_BOXES,
    containment: float = CONTAINMENT,
    nms_order: str = "proposals",
) -> np.ndarray:
    """Indices of the kept regions, best first, given (N, 1 + C) probabilities with background in
    column 0 and the boxes in proposal order.

    nms_order "proposals" (the ViLD demo's): NMS over all proposals ranked by proposal order; of those
    kept, score ≥ threshold and area > min_area; the first max_boxes in proposal order; ranked by
    score; best class background dropped. "score": best class not background, score ≥ threshold,
    area > min_area, then NMS ranked by score, at most max_boxes. Either way boxes containing a better
    same-class detection are dropped (`containment`, ours). Ranked by score; equal (saturated) scores
    are ordered by the best class's cosine."""
    probs = np.asarray(probs)
    if len(probs) == 0:
        _check_order(nms_order)
        return np.zeros(0, np.int64)
    best = probs.argmax(1)
    index = np.arange(len(probs))
    return _select(boxes, best, probs[index, best], np.asarray(cosine)[index, best], score_threshold=score_threshold,
                   min_area=min_area, nms_iou=nms_iou, max_boxes=max_boxes, containment=containment, nms_order=nms_order)


def select_matches(
    boxes: np.ndarray,
    similarity: np.ndarray,
    *,
    similarity_threshold: float = QUERY_THRESHOLD,
    min_area: float = MIN_BOX_AREA,
    nms_iou: float = NMS_IOU,
    max_boxes: int = MAX_BOXES,
    containment: float = CONTAINMENT,
    nms_order: str = "proposals",
) -> np.ndarray:
    """Indices of the regions that match a query image, best first, given their (N,) cosine with
    the query: `select_detections`' steps with the cosine as the score and every region a
    candidate (one class, no background)."""
    similarity = np.asarray(similarity, np.float64).reshape(-1)
    return _select(boxes, np.ones(len(similarity), np.int64), similarity, similarity,
                   score_threshold=similarity_threshold, min_area=min_area, nms_iou=nms_iou, max_boxes=max_boxes,
                   containment=containment, nms_order=nms_order)


def _check_order(nms_order: str) -> None:
    if nms_order not in NMS_ORDERS:
        raise InputError(f"Unknown NMS order {nms_order!r}; choose one of {', '.join(NMS_ORDERS)}.")


def _select(boxes, best, score, tie, *, score_threshold, min_area, nms_iou, max_boxes, containment, nms_order):
    """The filters of `select_detections` on each region's best class (0: background), its score and
    the tie-breaker of equal scores; shared by the region–text and region–image scorings."""
    _check_order(nms_order)
    if len(score) == 0:
        return np.zeros(0, np.int64)
    index = np.arange(len(score))
    passes = (score >= score_threshold) & (regions.box_areas(boxes) > min_area)
    if nms_order == "proposals":
        nmsed = np.sort(regions.ranked_nms(boxes, index, nms_iou))  # kept, back in proposal order
        valid = nmsed[passes[nmsed]][: int(max_boxes)]
        foreground = valid[best[valid] != 0]
        order = foreground[np.lexsort((-tie[foreground], -score[foreground]))]
        return regions.drop_containing(boxes, order, best, containment)
    candidates = np.flatnonzero((best != 0) & passes)
    order = candidates[np.lexsort((-tie[candidates], -score[candidates]))]
    kept = regions.ranked_nms(boxes, order, nms_iou)
    kept = regions.drop_containing(boxes, kept, best, containment)
    return kept[: int(max_boxes)]


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    label: str
    score: float
    top: tuple[tuple[str, float], ...]  # the TOP_K classes (background included) and probabilities
    region: int  # index into the result's proposals


@dataclass(frozen=True)
class ViLDResult:
    """classes: ("background", *categories). boxes (N, 4) every proposal (x0, y0, x1, y1) pixels;
    sources (N,) index into regions.SOURCES; embeddings (N, D) region embeddings; cosine, probs
    (N, 1 + C); keep (K,) indices of the detections, best first, under `settings`."""

    classes: tuple[str, ...]
    boxes: np.ndarray
    sources: np.ndarray
    embeddings: np.ndarray
    cosine: np.ndarray
    probs: np.ndarray
    keep: np.ndarray
    image_size: tuple[int, int]
    settings: dict
    proposal_seconds: float = 0.0
    scoring_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    found: dict = field(default_factory=dict)
    region_embedding: str = "crops"  # how the regions were embedded (regions.REGION_EMBEDDINGS)

    @property
    def categories(self) -> tuple[str, ...]:
        return self.classes[1:]

    def top_classes(self, region: int, k: int = TOP_K) -> tuple[tuple[str, float], ...]:
        order = np.argsort(-self.probs[region], kind="stable")[:k]
        return tuple((self.classes[i], float(self.probs[region, i])) for i in order)

    def showcase(self, n: int) -> list[int]:
        """Up to `n` regions worth showing, in this order: the detections (best first), the other
        proposals that look most like a category (not background), then the rest in proposal order."""
        foreground = np.flatnonzero(self.probs.argmax(1) != 0) if len(self.boxes) else np.zeros(0, np.int64)
        if len(foreground):
            foreground = foreground[np.argsort(-self.probs[foreground, 1:].max(1), kind="stable")]
        ordered = dict.fromkeys([*self.keep.tolist(), *foreground.tolist(), *range(len(self.boxes))])
        return [int(i) for i in ordered][:n]

    def detections(self) -> list[Detection]:
        out = []
        for i in self.keep:
            best = int(self.probs[i].argmax())
            out.append(
                Detection(tuple(float(v) for v in self.boxes[i]), self.classes[best], float(self.probs[i, best]), self.top_classes(i), int(i))
            )
        return out

    @property
    def message(self) -> str:
        """'' when something was detected, else why not, in words."""
        if len(self.keep):
            return ""
        if len(self.boxes) == 0:
            return f"{NOTHING_DETECTED}: no region proposals were found in this image."
        fg = int((self.probs.argmax(1) != 0).sum())
        if fg == 0:
            return f"{NOTHING_DETECTED}: every one of the {len(self.boxes)} proposals looks most like background."
        return (
            f"{NOTHING_DETECTED}: {fg} of {len(self.boxes)} proposals look like a category, but none passes the "
            f"score threshold {self.settings['score_threshold']:g} and minimum area {self.settings['min_area']:g} px. "
            "Lower them under Advanced."
        )

    def select(self, **settings) -> "ViLDResult":
        """The same regions re-filtered with other settings (score_threshold, min_area, nms_iou,
        max_boxes, containment, nms_order); no CLIP forward."""
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}")
        merged = {**self.settings, **settings}
        return replace(self, keep=select_detections(self.boxes, self.probs, self.cosine, **merged), settings=merged)


@dataclass(frozen=True)
class QueryResult:
    """Image-guided detection: the regions of an image that look like a query image.

    boxes (N, 4) every proposal (x0, y0, x1, y1) pixels; sources (N,) index into regions.SOURCES;
    embeddings (N, D) region embeddings; query (D,) the query image's embedding; similarity (N,)
    cos(region, query); keep (K,) indices of the matches, best first, under `settings`; query_name
    the query image's name (its category in an export)."""

    boxes: np.ndarray
    sources: np.ndarray
    embeddings: np.ndarray
    query: np.ndarray
    similarity: np.ndarray
    keep: np.ndarray
    image_size: tuple[int, int]
    settings: dict
    query_name: str = QUERY_LABEL
    proposal_seconds: float = 0.0
    scoring_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    found: dict = field(default_factory=dict)
    region_embedding: str = "crops"  # how the regions were embedded (regions.REGION_EMBEDDINGS)

    @property
    def label(self) -> str:
        return QUERY_LABEL

    @property
    def categories(self) -> tuple[str, ...]:
        return (QUERY_LABEL,)

    def top_classes(self, region: int, k: int = TOP_K) -> tuple[tuple[str, float], ...]:
        """The region's cosine with the query, as the one "class" it is scored against."""
        return ((QUERY_LABEL, float(self.similarity[region])),)

    def ranked(self, n: int) -> list[int]:
        """The `n` regions most like the query, best first (kept or not)."""
        return [int(i) for i in np.argsort(-self.similarity, kind="stable")[:n]]

    def showcase(self, n: int) -> list[int]:
        """Up to `n` regions worth showing: the matches (best first), then the others most like the query."""
        return [int(i) for i in dict.fromkeys([*self.keep.tolist(), *self.ranked(len(self.boxes))])][:n]

    def detections(self) -> list[Detection]:
        return [Detection(tuple(float(v) for v in self.boxes[i]), QUERY_LABEL, float(self.similarity[i]),
                          self.top_classes(int(i)), int(i)) for i in self.keep]

    @property
    def message(self) -> str:
        """'' when a region matched, else why not, in words."""
        if len(self.keep):
            return ""
        if len(self.boxes) == 0:
            return f"{NOTHING_DETECTED}: no region proposals were found in this image."
        best = int(np.argmax(self.similarity))
        return (f"{NOTHING_DETECTED}: the region most like the query image has cosine {self.similarity[best]:.3f}, "
                f"below the query threshold {self.settings['similarity_threshold']:g} (or smaller than the minimum "
                f"area {self.settings['min_area']:g} px). Lower them under Advanced.")

    def select(self, **settings) -> "QueryResult":
        """The same regions re-filtered with other settings (similarity_threshold, min_area, nms_iou,
        max_boxes, containment, nms_order); no CLIP forward."""
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}")
        merged = {**self.settings, **settings}
        return replace(self, keep=select_matches(self.boxes, self.similarity, **merged), settings=merged)


def query_embedding(backbone, query: Image.Image, crop_scales: Sequence[float] = regions.CROP_SCALES,
                    how: str = "crops", dense_method: str | None = None) -> torch.Tensor:
    """(D,) unit embedding of a query image, made as a region's is (`regions.embed_regions`, `how`):
    the box covering the whole image — cropped at `crop_scales` (a larger crop is clamped to the
    image, so it is the same picture) and resized to the backbone's input without keeping the aspect,
    the embeddings summed and renormalised; or pooled from the query's own dense map."""
    query = regions.check_image(query)
    w, h = query.size
    whole = np.array([[0, 0, w, h]], np.float32)
    return regions.embed_regions(backbone, query, whole, how, crop_scales, dense_method)[0]


class ViLD:
    """`ViLD(backbone)(image, categories) -> ViLDResult`, the ViLD-image teacher with ViLD's scoring;
    `ViLD(backbone).match(image, query_image) -> QueryResult`, image-guided detection with the same
    region embeddings and filters.

    Settings use the demo's names and defaults: nms_threshold 0.6, score threshold 0.9, min_box_area
    220 px, max_boxes_to_draw 25, temperature 100, prompt_engineering (63 templates; off: the single
    "This is a photo of a {}."). Proposal settings go to `regions.propose`."""

    def __init__(
        self,
        backbone,
        *,
        temperature: float = TEMPERATURE,
        nms_threshold: float = NMS_IOU,
        score_threshold: float = SCORE_THRESHOLD,
        min_box_area: float = MIN_BOX_AREA,
        max_boxes_to_draw: int = MAX_BOXES,
        containment: float = CONTAINMENT,
        nms_order: str = "proposals",
        crop_scales: Sequence[float] = regions.CROP_SCALES,
        region_embedding: str = "crops",
        max_categories: int = MAX_CATEGORIES,
        prompt_engineering: bool = True,
        query_threshold: float = QUERY_THRESHOLD,
        **proposal_settings,
    ):
        # pooled regions come from the dense map the dense proposals computed: one pass per image
        self.backbone = SharedDense(backbone) if region_embedding == "pooled" else backbone
        self.query_threshold = query_threshold
        self.prompt_engineering = prompt_engineering
        self.temperature = temperature
        self.settings = dict(
            score_threshold=score_threshold,
            min_area=min_box_area,
            nms_iou=nms_threshold,
            max_boxes=max_boxes_to_draw,
            containment=containment,
            nms_order=nms_order,
        )
        if nms_order not in NMS_ORDERS:
            raise InputError(f"Unknown NMS order {nms_order!r}; choose one of {', '.join(NMS_ORDERS)}.")
        self.crop_scales = tuple(crop_scales)
        self.region_embedding = regions.check_region_embedding(region_embedding)
        self.max_categories = max_categories
        self.proposal_settings = proposal_settings

    def embed(self, image, boxes) -> torch.Tensor:
        """(N, D) region embeddings as this detector makes them (`regions.embed_regions`)."""
        return regions.embed_regions(self.backbone, image, boxes, self.region_embedding, self.crop_scales,
                                     self.proposal_settings.get("dense_method"))

    def __call__(self, image, categories: str | Sequence[str], proposals: regions.Proposals | None = None) -> ViLDResult:
        image = regions.check_image(image)
        names, notes = parse_categories(categories, self.max_categories, self.backbone.count_tokens)
        classes = (BACKGROUND, *names)
        text = text_embeddings(self.backbone, classes, self.prompt_engineering)  # (1 + C, D), cached
        if proposals is None:
            # regions below the area filter are never shown, so they are not embedded either
            settings = {"min_area": self.settings["min_area"], **self.proposal_settings}
            proposals = regions.propose(image, backbone=self.backbone, text=text[1:], **settings)
        start = time.perf_counter()
        embeddings = self.embed(image, proposals.boxes)
        cosine = (embeddings @ text.T).numpy().astype(np.float64) if len(embeddings) else np.zeros((0, len(classes)))
        probs = class_probabilities(cosine, self.temperature)
        keep = select_detections(proposals.boxes, probs, cosine, **self.settings)
        return ViLDResult(
            classes=classes,
            boxes=proposals.boxes,
            sources=proposals.sources,
            embeddings=embeddings.numpy(),
            cosine=cosine,
            probs=probs,
            keep=keep,
            image_size=proposals.image_size,
            settings=dict(self.settings),
            proposal_seconds=proposals.seconds,
            scoring_seconds=time.perf_counter() - start,
            notes=(*notes, *proposals.notes),
            found=dict(proposals.found),
            region_embedding=self.region_embedding,
        )

    def match(self, image, query, proposals: regions.Proposals | None = None, query_name: str = QUERY_LABEL) -> QueryResult:
        """Image-guided detection: the regions of `image` whose embeddings match `query`'s (a PIL
        image), by cosine, filtered as detections are (`select_matches`). Dense-CLIP proposals come
        from the query embedding's patch-similarity map."""
        image = regions.check_image(image)
        if not isinstance(query, Image.Image):
            raise InputError(f"The query must be an image, got {type(query).__name__}.")
        target = query_embedding(self.backbone, query, self.crop_scales, self.region_embedding,
                                 self.proposal_settings.get("dense_method"))  # (D,)
        if proposals is None:
            settings = {"min_area": self.settings["min_area"], **self.proposal_settings}
            proposals = regions.propose(image, backbone=self.backbone, text=target[None], **settings)
        start = time.perf_counter()
        embeddings = self.embed(image, proposals.boxes)
        similarity = (embeddings @ target).numpy().astype(np.float64) if len(embeddings) else np.zeros(0)
        settings = {k: v for k, v in self.settings.items() if k != "score_threshold"}
        settings = {"similarity_threshold": self.query_threshold, **settings}
        return QueryResult(
            boxes=proposals.boxes,
            sources=proposals.sources,
            embeddings=embeddings.numpy(),
            query=target.numpy(),
            similarity=similarity,
            keep=select_matches(proposals.boxes, similarity, **settings),
            image_size=proposals.image_size,
            settings=settings,
            query_name=query_name,
            proposal_seconds=proposals.seconds,
            scoring_seconds=time.perf_counter() - start,
            notes=tuple(proposals.notes),
            found=dict(proposals.found),
            region_embedding=self.region_embedding,
        )
