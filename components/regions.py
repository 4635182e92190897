"""Image regions for CLIP: class-agnostic box proposals and CLIP embeddings of cropped regions.

Shared by the ViLD and GLIP tabs. Neither paper's region proposal network ships with CLIP, so the
boxes come from two sources that need no model file:

- selective search (Uijlings et al. 2013) from OpenCV contrib (`cv2.ximgproc`), on a downscaled
  copy of the image; its boxes come ranked, the first `max_boxes` are used;
- dense CLIP maps: every label's patch-similarity map (`backbone.dense`, components/dense.py) is
  scaled so its median is 0 and its maximum 1, thresholded, and each connected component's bounding
  box is a proposal. (The median stands for the background level: an object rarely covers half the
  image; scaling from the minimum instead puts the threshold inside the background and loosens boxes.)
  This is the CLIP-native source: it proposes where CLIP already sees a label.

Near-duplicates are removed with torchvision's NMS and the total is capped. A region is then embedded
as ViLD's image teacher does at inference (Gu et al. 2022, §3.2): the box cropped at 1× and 1.5×
(scaled about its centre, clamped to the image), each crop resized to the backbone's input, both
encoded in batches, the two unit embeddings summed and renormalised. On a CPU, where those 2·N
forwards are most of a run's time, a region can instead be pooled from one dense pass ("pooled",
`pooled_region_embeddings`): the mean of the dense CLIP patch embeddings inside the box (the map the
dense proposals already use), a CLIP-backed shortcut in the spirit of dense-feature detectors, not
ViLD's teacher.

Boxes are float (x0, y0, x1, y1) in pixels of the image given: pixel (i, j) covers [j, j+1) × [i, i+1),
so a box (0, 0, W, H) is the whole image and its area is (x1 - x0) · (y1 - y0).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components.errors import InputError

CROP_SCALES = (1.0, 1.5)  # ViLD-image: crops at 1× and 1.5× the box, embeddings summed
# How a region is embedded: ViLD's teacher (crops, 2 forwards a region) or pooled from one dense pass
REGION_EMBEDDINGS = ("crops", "pooled")
REGION_EMBEDDING_LABELS = {
    "crops": "ViLD's image teacher: each box cropped at 1× and 1.5× (two CLIP forwards a box; faithful)",
    "pooled": "one forward: each box pooled from the image's dense CLIP map (a CLIP-backed shortcut)",
}
SOURCES = ("selective_search", "dense")
SOURCE_LABELS = {"selective_search": "selective search (OpenCV)", "dense": "dense CLIP maps"}
MAX_PROPOSALS = 60  # regions embedded per image (2 crops each); the tab's Advanced raises it
MAX_PROPOSALS_LIMIT = 400
SELECTIVE_SEARCH_SIDE = 384  # long side of the copy selective search runs on (cost grows ~quadratically)
SELECTIVE_SEARCH_MODES = ("fast", "quality", "single")
DENSE_THRESHOLD = 0.5  # on the similarity map scaled median → 0, max → 1
DENSE_SIDE = 256  # long side the similarity maps are upsampled to before thresholding
DENSE_BOXES_PER_LABEL = 4
DEDUP_IOU = 0.9  # proposals overlapping an earlier one more than this are the same region
MIN_PROPOSAL_SIDE = 4  # pixels
MIN_IMAGE_SIDE = 16
BATCH_SIZE = 32
CV_THREADS = 2


@dataclass(frozen=True)
class Proposals:
    """Class-agnostic boxes, in priority order.

    boxes: (N, 4) float32 (x0, y0, x1, y1) in pixels of an image of `image_size` = (H, W).
    sources: (N,) index into `SOURCES` per box. labels: (N,) for dense boxes the index of the label
    whose map proposed it, -1 for selective search. found: how many each source gave before
    de-duplication and the cap. seconds: wall time spent proposing.
    """

    boxes: np.ndarray
    sources: np.ndarray
    labels: np.ndarray
    image_size: tuple[int, int]
    found: dict = field(default_factory=dict)
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.boxes)

    def source_names(self) -> list[str]:
        return [SOURCES[int(s)] for s in self.sources]


def check_image(image: Image.Image) -> Image.Image:
    """RGB image at least MIN_IMAGE_SIDE pixels a side, or InputError."""
    if not isinstance(image, Image.Image):
        raise InputError(f"Expected an image, got {type(image).__name__}.")
    w, h = image.size
    if min(w, h) < MIN_IMAGE_SIDE:
        raise InputError(
            f"The image is {w}×{h} pixels; regions need an image at least {MIN_IMAGE_SIDE} pixels on each side."
        )
    return image.convert("RGB")


# -- geometry --------------------------------------------------------------------------------------
def box_areas(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)


def scale_boxes(boxes: np.ndarray, scale: float, image_size: tuple[int, int]) -> np.ndarray:
    """Boxes scaled by `scale` about their centres, then clamped to an image of (H, W) pixels.

    A 1.5× box at a border is cut by the border, not shifted: its centre moves inwards."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = image_size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    out = np.concatenate([centre - half, centre + half], axis=1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # torchvision on first use: its import costs the page's start-up seconds (issue 20)
    from torchvision.ops import box_iou

    return box_iou(torch.as_tensor(a, dtype=torch.float32).reshape(-1, 4), torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)).numpy()


def ranked_nms(boxes: np.ndarray, order: np.ndarray, iou: float) -> np.ndarray:
    """torchvision NMS over boxes taken in `order` (indices, best first): returns the kept indices,
    best first. Ranks instead of raw scores make ties (saturated probabilities) break as the caller
    decided."""
    from torchvision.ops import nms

    order = np.asarray(order, np.int64)
    if len(order) == 0:
        return order
    ranks = torch.arange(len(order), 0, -1, dtype=torch.float32)
    kept = nms(torch.as_tensor(np.asarray(boxes, np.float32)[order]), ranks, float(iou)).numpy()
    return order[kept]


def drop_containing(boxes: np.ndarray, order: np.ndarray, groups: np.ndarray, fraction: float) -> np.ndarray:
    """`order` (indices, best first) without each box that covers ≥ `fraction` of the area of an
    earlier kept box of the same group (class). fraction ≤ 0 keeps everything."""
    order = np.asarray(order, np.int64)
    if fraction <= 0 or len(order) < 2:
        return order
    b = np.asarray(boxes, np.float64)
    kept: list[int] = []
    for i in order:
        inside = False
        for j in kept:
            if groups[j] != groups[i]:
                continue
            w = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            h = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            area_j = box_areas(b[j])[0]
            if w > 0 and h > 0 and area_j > 0 and w * h >= fraction * area_j:
                inside = True
                break
        if not inside:
            kept.append(int(i))
    return np.asarray(kept, np.int64)


# -- proposals -------------------------------------------------------------------------------------
def selective_search(
    image: Image.Image, *, max_side: int = SELECTIVE_SEARCH_SIDE, mode: str = "fast", max_boxes: int | None = None
) -> np.ndarray:
    """(N, 4) float32 boxes from OpenCV's selective search, in its ranking, in pixels of `image`.

    The image is downscaled to `max_side` on its long side first; the ranking is made reproducible
    (see `_reproducible_rank`)."""
    if mode not in SELECTIVE_SEARCH_MODES:
        raise InputError(f"Unknown selective-search mode {mode!r}; choose one of {', '.join(SELECTIVE_SEARCH_MODES)}")
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    cv2.setNumThreads(CV_THREADS)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(np.ascontiguousarray(small[..., ::-1]))  # OpenCV wants BGR
    {"fast": search.switchToSelectiveSearchFast, "quality": search.switchToSelectiveSearchQuality,
     "single": search.switchToSingleStrategy}[mode]()
    rects = np.asarray(search.process(), np.float32).reshape(-1, 4)  # (x, y, w, h)
    rects = rects[_reproducible_rank(rects)]
    if max_boxes is not None:
        rects = rects[:max_boxes]
    sx, sy = w / small.shape[1], h / small.shape[0]
    boxes = np.stack([rects[:, 0] * sx, rects[:, 1] * sy, (rects[:, 0] + rects[:, 2]) * sx, (rects[:, 1] + rects[:, 3]) * sy], 1)
    return boxes.astype(np.float32)


def _reproducible_rank(rects: np.ndarray, seed: int = 0) -> np.ndarray:
    """An order for selective search's boxes that is the same on every run.

    OpenCV ranks its regions by hierarchy level × a random number from a generator Python cannot
    seed, so its order (not its set of boxes) changes from call to call. Here the same set is ranked
    by a stand-in for the level (the box's area rank: initial segments are small) × a seeded random
    number, so small regions still tend to come first, as in OpenCV, but reproducibly."""
    if len(rects) == 0:
        return np.zeros(0, np.int64)
    canonical = np.lexsort(rects.T[::-1])  # by x, then y, w, h
    rects = rects[canonical]
    level = np.argsort(np.argsort(rects[:, 2] * rects[:, 3], kind="stable"), kind="stable") + 1
    key = level * np.random.default_rng(seed).random(len(rects))
    return canonical[np.argsort(key, kind="stable")]


def dense_boxes(
    similarity: np.ndarray,
    image_size: tuple[int, int],
    *,
    threshold: float = DENSE_THRESHOLD,
    per_label: int = DENSE_BOXES_PER_LABEL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes from (L, h, w) similarity maps covering an image of (H, W) pixels.

    Each map is scaled to (its median, its max) → (0, 1) and thresholded at `threshold`; each connected
    component (8-connected) gives its bounding box, best mean similarity first, at most `per_label`
    per label. Returns boxes (M, 4) in image pixels, label index (M,), mean scaled similarity (M,)."""
    similarity = np.asarray(similarity, np.float32)
    if similarity.ndim != 3:
        raise ValueError(f"similarity must be (L, h, w), got shape {similarity.shape}")
    H, W = image_size
    boxes, labels, scores = [], [], []
    for index, grid in enumerate(similarity):
        lo, hi = float(np.median(grid)), float(grid.max())
        if not np.isfinite([lo, hi]).all() or hi - lo < 1e-6:
            continue  # a flat map proposes nothing
        scaled = (grid - lo) / (hi - lo)
        gh, gw = scaled.shape
        count, components, stats, _ = cv2.connectedComponentsWithStats((scaled >= threshold).astype(np.uint8), connectivity=8)
        found = []
        for c in range(1, count):
            x, y, cw, ch = stats[c, :4]
            mean = float(scaled[components == c].mean())
            found.append((mean, [x * W / gw, y * H / gh, (x + cw) * W / gw, (y + ch) * H / gh]))
        found.sort(key=lambda item: -item[0])
        for mean, box in found[:per_label]:
            boxes.append(box)
            labels.append(index)
            scores.append(mean)
    return (
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(labels, np.int64),
        np.asarray(scores, np.float32),
    )


def dense_similarity(backbone, image: Image.Image, text: torch.Tensor, method: str | None = None, side: int = DENSE_SIDE) -> np.ndarray:
    """(L, h, w) cosine of the image's dense CLIP patch embeddings with L unit text embeddings,
    upsampled bilinearly so the long side is `side` (or the image's, if smaller)."""
    features = backbone.dense(image, method)
    maps = features.similarity(text.to(features.features.dtype))  # (L, gh, gw)
    H, W = features.image_size
    scale = min(1.0, side / max(H, W))
    size = (max(1, round(H * scale)), max(1, round(W * scale)))
    return F.interpolate(maps[None].float(), size=size, mode="bilinear", align_corners=False)[0].numpy()


def propose(
    image: Image.Image,
    *,
    backbone=None,
    text: torch.Tensor | None = None,
    sources: Sequence[str] = SOURCES,
    max_proposals: int = MAX_PROPOSALS,
    min_area: float = 0.0,
    selective_search_mode: str = "fast",
    selective_search_side: int = SELECTIVE_SEARCH_SIDE,
    dense_threshold: float = DENSE_THRESHOLD,
    dense_method: str | None = None,
    dedup_iou: float = DEDUP_IOU,
) -> Proposals:
    """Class-agnostic proposals for `image`: dense-CLIP boxes first (they follow the labels), then
    selective search, boxes smaller than `min_area` pixels or `MIN_PROPOSAL_SIDE` a side dropped,
    near-duplicates (IoU > `dedup_iou` with an earlier box) removed, at most `max_proposals` kept.

    The dense source needs `backbone` and `text`, the (L, D) unit embeddings of the labels."""
    start = time.perf_counter()
    image = check_image(image)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise InputError(f"Unknown proposal source {unknown[0]!r}; choose from {', '.join(SOURCES)}")
    if not sources:
        raise InputError("Choose at least one proposal source.")
    if not 1 <= int(max_proposals) <= MAX_PROPOSALS_LIMIT:
        raise InputError(f"The number of proposals must be between 1 and {MAX_PROPOSALS_LIMIT}; got {max_proposals}.")
    W, H = image.size
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []
    found = {}
    notes = []
    if "dense" in sources and backbone is not None and text is not None and len(text):
        try:
            maps = dense_similarity(backbone, image, text, dense_method)
        except InputError as error:  # e.g. a panorama too wide for CLIP windows: the other source goes on
            if len(sources) == 1:
                raise
            notes.append(f"Dense-CLIP proposals were skipped: {error}")
        else:
            boxes, labels, _ = dense_boxes(maps, (H, W), threshold=dense_threshold)
            parts.append((boxes, SOURCES.index("dense"), labels))
            found["dense"] = len(boxes)
    if "selective_search" in sources:
        boxes = selective_search(image, max_side=selective_search_side, mode=selective_search_mode)
        parts.append((boxes, SOURCES.index("selective_search"), np.full(len(boxes), -1, np.int64)))
        found["selective_search"] = len(boxes)
    boxes = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 4), np.float32)
    source = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts]) if parts else np.zeros(0, np.int64)
    labels = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)

    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    usable = np.flatnonzero((sides >= MIN_PROPOSAL_SIDE) & (box_areas(boxes) >= min_area))
    kept = np.sort(ranked_nms(boxes, usable, dedup_iou))[: int(max_proposals)]
    return Proposals(
        boxes=boxes[kept].astype(np.float32),
        sources=source[kept],
        labels=labels[kept],
        image_size=(H, W),
        found=found,
        seconds=time.perf_counter() - start,
        notes=tuple(notes),
    )


# -- region embeddings -----------------------------------------------------------------------------
def crop_pixels(backbone, image: Image.Image | torch.Tensor, boxes: np.ndarray, scale: float = 1.0) -> torch.Tensor:
    """(N, 3, S, S) backbone inputs: each box scaled by `scale` (clamped to the image), cropped and
    resized to the backbone's S×S input (aspect not kept, as a crop-and-resize does), normalised.

    `image` is a PIL image or `image_tensor(backbone, image)`. Crops are bilinear samples of the
    full-resolution image (torchvision's roi_align, which averages several samples per output pixel
    when it shrinks, so large boxes are not aliased)."""
    from torchvision.ops import roi_align

    pixels = image if isinstance(image, torch.Tensor) else image_tensor(backbone, image)
    boxes = scale_boxes(boxes, scale, tuple(pixels.shape[-2:]))
    size = backbone.image_size
    if len(boxes) == 0:
        return torch.zeros(0, 3, size, size)
    rois = torch.cat([torch.zeros(len(boxes), 1), torch.as_tensor(boxes)], dim=1)
    return roi_align(pixels, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def default_region_embedding(device: str) -> str:
    """The tabs' default: "pooled" on a CPU, where the crops' forwards dominate a run's time; ViLD's
    "crops" on a GPU, where they are cheap."""
    return "crops" if str(device).startswith("cuda") else "pooled"


def check_region_embedding(how: str) -> str:
    if how not in REGION_EMBEDDINGS:
        raise InputError(f"Unknown region embedding {how!r}; choose one of: {', '.join(REGION_EMBEDDINGS)}.")
    return how


def image_tensor(backbone, image: Image.Image) -> torch.Tensor:
    """(1, 3, H, W) float image normalised with the backbone's mean and std."""
    from torchvision.transforms.functional import normalize, pil_to_tensor

    pixels = pil_to_tensor(image.convert("RGB")).float().div_(255)
    return normalize(pixels, backbone.mean, backbone.std)[None]


def region_crops(backbone, image: Image.Image, boxes: np.ndarray, scales: Sequence[float] = CROP_SCALES) -> torch.Tensor:
    """(len(scales)·N, 3, S, S): all boxes at the first scale, then all at the second, ..."""
    pixels = image_tensor(backbone, image)
    return torch.cat([crop_pixels(backbone, pixels, boxes, s) for s in scales])


def region_embeddings(
    backbone, image: Image.Image, boxes: np.ndarray, scales: Sequence[float] = CROP_SCALES, batch_size: int = BATCH_SIZE
) -> torch.Tensor:
    """(N, D) unit region embeddings: the normalised sum of the unit CLIP embeddings of each box's
    crops at `scales` (ViLD-image: 1× and 1.5×). Crops are made and encoded `batch_size` boxes at a
    time (one forward of len(scales)·batch_size crops), so memory stays bounded."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return torch.zeros(0, backbone.embed_dim)
    pixels = image_tensor(backbone, image)
    out = []
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start : start + batch_size]
        crops = torch.cat([crop_pixels(backbone, pixels, chunk, s) for s in scales])
        encoded = backbone.encode_images(crops, batch_size=len(crops)).reshape(len(scales), len(chunk), -1)
        out.append(F.normalize(encoded.sum(0), dim=-1))
    return torch.cat(out)


def pooled_region_embeddings(backbone, image: Image.Image, boxes: np.ndarray, method: str | None = None) -> torch.Tensor:
    """(N, D) unit region embeddings from one dense pass: each box's mean of the image's unit dense
    patch embeddings (`backbone.dense(image, method)`, cached, so the dense proposals' pass is reused),
    renormalised. The mean is torchvision's roi_align over the (D, h, w) map with one output cell and
    its adaptive sampling (about one bilinear sample per patch the box covers; a box smaller than a
    patch is its centre's bilinear sample)."""
    from torchvision.ops import roi_align

    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return torch.zeros(0, backbone.embed_dim)
    features = backbone.dense(image, method)
    grid = features.features.permute(2, 0, 1)[None].float()  # (1, D, h, w)
    (H, W), (h, w) = features.image_size, features.grid_size
    to_grid = torch.tensor([w / W, h / H, w / W, h / H])  # pixel boxes → patch-cell coordinates
    rois = torch.cat([torch.zeros(len(boxes), 1), torch.as_tensor(boxes) * to_grid], dim=1)
    pooled = roi_align(grid, rois, output_size=(1, 1), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    return F.normalize(pooled.flatten(1), dim=-1)


def embed_regions(backbone, image: Image.Image, boxes: np.ndarray, how: str = "crops",
                  scales: Sequence[float] = CROP_SCALES, method: str | None = None) -> torch.Tensor:
    """(N, D) unit region embeddings, `how` one of `REGION_EMBEDDINGS`: "crops" (`region_embeddings`
    at `scales`) or "pooled" (`pooled_region_embeddings` from the `method` dense map)."""
    if check_region_embedding(how) == "pooled":
        return pooled_region_embeddings(backbone, image, boxes, method)
    return region_embeddings(backbone, image, boxes, scales)
