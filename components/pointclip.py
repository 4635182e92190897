"""PointCLIP: recognise a 3-D point cloud by showing CLIP depth maps of it (V1 and V2).

Zhang et al., *PointCLIP: Point Cloud Understanding by CLIP*, CVPR 2022 (V1), and Zhu et al.,
*PointCLIP V2: Prompting CLIP and GPT for Powerful 3D Open-world Learning*, ICCV 2023 (V2).
Zero-shot, no training: the cloud is projected into a few depth maps, CLIP's image tower embeds each
view, every view is compared with the text embeddings of "point cloud depth map of a {label}." (V2 on
the ModelNet40 / ScanObjectNN classes: the GPT-written prompt V2 published for each class and
backbone), and the views' cosine similarities are summed with one weight per view.

- V1 projection: rotate into 6 views, push the cloud 1.6 in front of the camera, perspective-project
  every point onto one pixel of a 128² map; a pixel holds the harmonic mean of the depths landing on
  it, background 0. The raw depths (about 0.6–2.6) go to CLIP, as in the official code.
- V2 "realistic" projection: 10 views (8 around, tilted 20°, and 2 poles, tilted 12°); quantise each
  view into an 8×112×112 grid (max of the depth values per cell), densify with a 7×7 max-pool, smooth
  with a 3×3 Gaussian, squeeze by max over depth, normalise and invert (white background).

The details follow the official code (METHODS.md §7). The views go through the image tower in one
batch; the result keeps each view's features and similarities, so changing the view weights
(`PointCLIPResult.reweight`) recomputes only the fusion, never the image tower.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from components.errors import InputError
from components.prompts import POINTCLIP, TemplateSet, get_template_set

PI = math.pi
IMAGE_SIZE = 224  # both papers feed CLIP 224² views (the backbone's own input size is used)
PROMPT = POINTCLIP.templates[0]  # "point cloud depth map of a {}."

# -- V1: perspective depth maps -----------------------------------------------------------------------
V1_VIEWS = (  # Euler angles (x, y, z) in radians; R = Rx·Ry·Rz, applied as p·Rᵀ
    (0.0, 0.0, PI / 2),
    (PI / 2, 0.0, PI / 2),
    (PI, 0.0, PI / 2),
    (3 * PI / 2, 0.0, PI / 2),
    (0.0, -PI / 2, PI / 2),
    (0.0, PI / 2, PI / 2),
)
V1_DEPTH_SHIFT = 1.6  # z' = z + 1.6 (official TRANS = -1.6, subtracted)
V1_RESOLUTION = 128
V1_EPSILON = 1e-12  # the official code's ε in x/(z'+ε) and in the harmonic-mean weights 1/(z'+ε)
V1_WEIGHTS = (1.0,) * 6  # zero-shot: every view counts once (searched over {0.25, 0.5, 0.75, 1})
# The camera sits on the −z' side looking along +z' (depth grows away from it); image up is +y.
V1_VIEW_NAMES = ("from −z", "from −x", "from +z", "from +x", "from above", "from below")

# -- V2: realistic projection ---------------------------------------------------------------------------
V2_VIEWS = (
    *(((2 * k + 1) * PI / 4, 0.0, PI / 2) for k in range(4)),  # four diagonal views
    *((k * PI / 2, 0.0, PI / 2) for k in range(4)),  # four axis views
    (0.0, -PI / 2, PI / 2),  # the poles
    (0.0, PI / 2, PI / 2),
)
V2_TILTS = ((0.0, PI / 9, 0.0),) * 8 + ((0.0, PI / 15, 0.0),) * 2  # 20° and 12°, a second rotation
V2_TRANSLATION = (-0.5, -0.5, -1.5)  # subtracted after both rotations (cancelled by the per-view centring)
V2_RESOLUTION = 112
V2_DEPTH = 8  # depth bins of the grid; values fill bins 1 … depth − 2
V2_OBJ_RATIO = 0.8  # x and y shrunk so the object keeps a margin in the image
V2_DEPTH_BIAS = 0.2  # so the farthest surface is not white
V2_MAXPOOL = (1, 7, 7)  # densify; stride 1, padding (0, 2, 2): 112 → 110
V2_MAXPOOL_PADDING = (0, 2, 2)
V2_GAUSSIAN_SIZE = 3  # smooth: 3×3 Gaussian, σ 3, normalised to sum 1; zero padding 1
V2_GAUSSIAN_SIGMA = 3.0
V2_BACKGROUND = 0.0  # empty grid cells (white after the inversion)
# Searched zero-shot view weights published with V2's code (zeroshot_cls/trainers/best_param.py), by
# dataset and CLIP backbone, views in V2_VIEWS' order. The same file's per-class GPT prompts ship as
# data in `pointclip_v2_prompts.json` (MIT; see V2_PROMPTS_FILE below).
V2_PUBLISHED_WEIGHTS = {
    "ModelNet40": {
        "RN50": (0.75, 0.75, 0.75, 0.75, 0.25, 0.5, 1.0, 1.0, 0.25, 0.25),
        "RN101": (0.75, 0.75, 0.75, 0.25, 0.5, 1.0, 0.75, 0.25, 0.25, 0.25),
        "ViT-B-16": (0.75, 0.75, 0.75, 0.25, 0.75, 1.0, 0.25, 1.0, 0.75, 0.25),
        "ViT-B-32": (0.75, 0.75, 0.75, 0.75, 0.25, 0.5, 0.5, 0.75, 0.5, 0.5),
    },
    "ScanObjectNN": {
        "RN50": (0.75, 0.75, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.25),
        "RN101": (0.5, 0.5, 0.5, 0.75, 0.5, 1.0, 1.0, 0.75, 0.25, 0.25),
        "ViT-B-16": (0.75, 0.75, 0.75, 0.5, 0.5, 1.0, 0.75, 1.0, 0.25, 0.25),
        "ViT-B-32": (0.75, 0.75, 0.75, 0.5, 0.75, 0.75, 0.5, 1.0, 0.5, 0.75),
    },
}
V2_WEIGHTS = V2_PUBLISHED_WEIGHTS["ModelNet40"]  # by backbone
# V2's GPT-written prompts, one per class, by dataset → backbone → class: the official
# `<dataset>_<backbone>_test_prompts` lists of best_param.py, extracted by
# assets/extract_pointclip_v2_prompts.py (licence and commit in assets/README.md). The official
# `Textual_Encoder.forward` (zeroshot_cls/trainers/zeroshot.py) tokenizes each class's one prompt,
# encodes it and normalises it — no template, no averaging — and so does `PointCLIP.text_features`.
V2_PROMPTS_FILE = Path(__file__).resolve().with_name("pointclip_v2_prompts.json")
V2_DEFAULT_WEIGHTS_FOR = "ViT-B-16"  # a backbone without published weights gets these
V2_DEFAULT_DATASET = "ModelNet40"  # ModelNet10 and a person's own labels get these
# The max over depth keeps the largest z', so the camera sits on the +z' side; image up is about +y.
V2_VIEW_NAMES = (
    "from +x+z, 20° up",
    "from +x−z, 20° up",
    "from −x−z, 20° up",
    "from −x+z, 20° up",
    "from +z, 20° up",
    "from +x, 20° up",
    "from −z, 20° up",
    "from −x, 20° up",
    "from below, 12° tilt",
    "from above, 12° tilt",
)


@dataclass(frozen=True)
class ProjectionPreset:
    """One projection as a small table of named numbers."""

    name: str  # "v1" or "v2"
    title: str
    angles: tuple[tuple[float, float, float], ...]
    tilts: tuple[tuple[float, float, float], ...] | None
    view_names: tuple[str, ...]
    map_size: int  # side of the native map before resizing to CLIP's input
    background: float

    @property
    def num_views(self) -> int:
        return len(self.angles)


PROJECTIONS = {
    "v1": ProjectionPreset(
        "v1", "V1: perspective depth maps (6 views)", V1_VIEWS, None, V1_VIEW_NAMES, V1_RESOLUTION, 0.0
    ),
    "v2": ProjectionPreset(
        "v2", "V2: realistic projection (10 views)", V2_VIEWS, V2_TILTS, V2_VIEW_NAMES, V2_RESOLUTION - 2, 1.0
    ),
}


def v2_weights_key(model_name: str = V2_DEFAULT_WEIGHTS_FOR, label_preset: str | None = None) -> tuple[str, str]:
    """(dataset, backbone) of the published V2 weights used for this backbone and label preset:
    ModelNet40 or ScanObjectNN by the preset (ModelNet40 for any other labels); the backbone's own
    set (an open_clip name, "-quickgelu" ignored), else ViT-B/16's."""
    dataset = label_preset if label_preset in V2_PUBLISHED_WEIGHTS else V2_DEFAULT_DATASET
    backbone = (model_name or "").removesuffix("-quickgelu")
    return dataset, backbone if backbone in V2_PUBLISHED_WEIGHTS[dataset] else V2_DEFAULT_WEIGHTS_FOR


def default_view_weights(
    projection: str, model_name: str = V2_DEFAULT_WEIGHTS_FOR, label_preset: str | None = None
) -> tuple[float, ...]:
    """V1: all ones. V2: the published weights picked by `v2_weights_key(model_name, label_preset)`."""
    if get_projection(projection).name == "v1":
        return V1_WEIGHTS
    dataset, backbone = v2_weights_key(model_name, label_preset)
    return V2_PUBLISHED_WEIGHTS[dataset][backbone]


def shown_backbone(name: str) -> str:
    """ "ViT-B-16" → "ViT-B/16", as the papers write it."""
    return name.replace("ViT-B-", "ViT-B/")


def v2_weights_text(weights: Sequence[float], model_name: str, label_preset: str | None = None) -> str:
    """Which V2 view weights these are: the published set picked for this backbone and label preset,
    another published set they equal, or a person's own."""
    w = tuple(float(v) for v in weights)
    dataset, backbone = v2_weights_key(model_name, label_preset)
    picked = V2_PUBLISHED_WEIGHTS[dataset][backbone]
    if np.allclose(w, picked):
        why = []
        if backbone != (model_name or "").removesuffix("-quickgelu"):
            why.append(f"none are published for {model_name}")
        if dataset != label_preset:
            why.append("ModelNet40's serve labels other than the two presets")
        reason = f" ({'; '.join(why)})" if why else ""
        return f"V2 view weights published for {shown_backbone(backbone)} on {dataset}{reason}."
    for d, sets in V2_PUBLISHED_WEIGHTS.items():
        for b, published in sets.items():
            if len(published) == len(w) and np.allclose(w, published):
                return f"V2 view weights published for {shown_backbone(b)} on {d}."
    return "V2 view weights of your own (not a published set)."


@functools.cache
def v2_prompt_table() -> dict[str, dict[str, dict[str, str]]]:
    """V2's published GPT prompts: dataset ("ModelNet40", "ScanObjectNN") → backbone (open_clip's
    "RN50", "RN101", "ViT-B-32", "ViT-B-16") → class → prompt. Read once, on first use."""
    return json.loads(V2_PROMPTS_FILE.read_text(encoding="utf-8"))["prompts"]


def v2_prompts(model_name: str, label_preset: str | None) -> dict[str, str] | None:
    """The published class → prompt map for this backbone ("-quickgelu" ignored) and label preset,
    or None where V2 published none (other labels, ModelNet10, other backbones)."""
    by_backbone = v2_prompt_table().get(label_preset or "")
    return (by_backbone or {}).get((model_name or "").removesuffix("-quickgelu"))


def v2_prompt_backbones() -> str:
    """ "RN50, RN101, ViT-B/32 and ViT-B/16": the backbones V2 published prompts for."""
    names = [shown_backbone(b) for b in next(iter(v2_prompt_table().values()))]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def get_projection(name: str | ProjectionPreset) -> ProjectionPreset:
    if isinstance(name, ProjectionPreset):
        return name
    try:
        return PROJECTIONS[str(name).lower()]
    except KeyError:
        raise InputError(f"Unknown projection {name!r}; choose one of {', '.join(PROJECTIONS)}.") from None


# -- geometry -----------------------------------------------------------------------------------------
def euler_to_matrix(angles) -> torch.Tensor:
    """(V, 3) Euler angles (x, y, z) → (V, 3, 3) rotations R = Rx(x)·Ry(y)·Rz(z), float32."""
    a = torch.as_tensor(np.asarray(angles, np.float64)).reshape(-1, 3)
    x, y, z = a[:, 0], a[:, 1], a[:, 2]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], 1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], 1).view(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], 1).view(-1, 3, 3)
    return (rx @ ry @ rz).float()


def rotate(points: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """(N, 3) points and (V, 3, 3) rotations → (V, 3, N): row v holds the x, y and z of p·R_vᵀ."""
    n_views = matrices.shape[0]
    return (matrices.reshape(n_views * 3, 3) @ points.T).view(n_views, 3, -1)


def project_v1(points) -> torch.Tensor:
    """PointCLIP V1: (N, 3) points → (6, 128, 128) depth maps (harmonic mean per pixel, background 0)."""
    return v1_depth_maps(rotate(_points_tensor(points), euler_to_matrix(V1_VIEWS)))


def v1_depth_maps(views: torch.Tensor, resolution: int = V1_RESOLUTION) -> torch.Tensor:
    """(V, 3, N) rotated points → (V, R, R) maps. Official details: z' = z + 1.6; u = x/z', v = y/z';
    row = ceil((u+1)·R/2 − 0.5) (rows from x), col likewise from v; a point counts when row, col are
    in [0, R−1] and z' ≥ 0; pixel = Σ z'/(z'+ε) ÷ Σ 1/(z'+ε); empty pixels exactly 0."""
    n_views = views.shape[0]
    depth = views[:, 2] + V1_DEPTH_SHIFT
    inverse = 1 / (depth + V1_EPSILON)  # u and v below divide by z'+ε as the official code does
    row = torch.ceil((views[:, 0] / (depth + V1_EPSILON) + 1) * resolution / 2 - 0.5)
    col = torch.ceil((views[:, 1] / (depth + V1_EPSILON) + 1) * resolution / 2 - 0.5)
    inside = (row >= 0) & (row <= resolution - 1) & (col >= 0) & (col <= resolution - 1) & (depth >= 0)
    weight = inverse.mul_(inside)
    weighted = depth.mul_(weight)
    pixel = torch.where(inside, row.mul_(resolution).add_(col), 0.0)  # outside points: pixel 0, weight 0
    pixel += (torch.arange(n_views, dtype=pixel.dtype) * resolution * resolution).unsqueeze(1)
    pixel = pixel.long().view(-1)
    cells = n_views * resolution * resolution
    total_weight = torch.zeros(cells).index_add_(0, pixel, weight.view(-1))
    total_value = torch.zeros(cells).index_add_(0, pixel, weighted.view(-1))
    total_weight[total_weight == 0] = 1.0
    return total_value.div_(total_weight).view(n_views, resolution, resolution)


def v2_matrices() -> torch.Tensor:
    """(10, 3, 3): each view's first rotation followed by its tilt, p·R1ᵀ·R2ᵀ = p·(R2·R1)ᵀ."""
    return euler_to_matrix(V2_TILTS) @ euler_to_matrix(V2_VIEWS)


def project_v2(points) -> torch.Tensor:
    """PointCLIP V2: (N, 3) points → (10, 110, 110) images in [0, 1], white (1) background."""
    views = rotate(_points_tensor(points), v2_matrices())
    views -= torch.tensor(V2_TRANSLATION).view(1, 3, 1)
    return v2_squeeze(v2_smooth(v2_densify(v2_grid(views))))


def v2_grid(views: torch.Tensor, resolution: int = V2_RESOLUTION, depth: int = V2_DEPTH) -> torch.Tensor:
    """(V, 3, N) rotated points → (V, depth, R, R) grid. Per view: centre on the bounding-box
    midpoint, divide by the largest side, ×2, x and y ×0.8; row = ceil((x+1)/2·R), col from y, both
    clipped to [1, R−2]; zc = ((z+1)/2 + 0.2)/1.2·(depth−2), bin = ceil(zc) (before clipping), value =
    zc clipped to [1, depth−2]; each cell keeps the max of its values (scatter-max), empty cells 0."""
    n_views = views.shape[0]
    low, high = views.amin(dim=2, keepdim=True), views.amax(dim=2, keepdim=True)
    centre = (high + low) / 2
    extent = (high - low).amax(dim=1, keepdim=True)
    p = (views - centre).div_(extent).mul_(2.0)
    p[:, :2].mul_(V2_OBJ_RATIO)
    row = (p[:, 0] + 1).div_(2).mul_(resolution).ceil_().clamp_(1, resolution - 2)
    col = (p[:, 1] + 1).div_(2).mul_(resolution).ceil_().clamp_(1, resolution - 2)
    zc = (p[:, 2] + 1).div_(2).add_(V2_DEPTH_BIAS).div_(1 + V2_DEPTH_BIAS).mul_(depth - 2)
    z_bin = torch.ceil(zc).clamp_(0, depth - 1)  # in range for any finite cloud; the clamp guards indexing
    value = zc.clamp_(1, depth - 2)
    cells = depth * resolution * resolution
    # integer-valued floats, exact in float32 up to 2**24 cells
    index = z_bin.mul_(resolution * resolution).add_(row.mul_(resolution)).add_(col)
    index += (torch.arange(n_views, dtype=index.dtype) * cells).unsqueeze(1)
    grid = torch.full((n_views * cells,), V2_BACKGROUND)
    grid.scatter_reduce_(0, index.long().view(-1), value.reshape(-1), reduce="amax", include_self=True)
    return grid.view(n_views, depth, resolution, resolution)


def v2_densify(grid: torch.Tensor) -> torch.Tensor:
    """3-D max-pool (1, 7, 7), stride 1, padding (0, 2, 2): (V, D, R, R) → (V, D, R−2, R−2).

    Computed as a running max of shifted slices, rows then columns (a max is separable). Padding with
    0 instead of −∞ changes nothing: grid values are ≥ 0 and every window holds real cells. The
    numbers are those of torch's max_pool3d, several times faster on a CPU."""
    pad = V2_MAXPOOL_PADDING[1]
    size = V2_MAXPOOL[1]
    padded = F.pad(grid, (pad, pad, pad, pad))
    out_h, out_w = padded.shape[-2] - size + 1, padded.shape[-1] - size + 1
    rows = padded[..., 0:out_h, :].clone()
    for k in range(1, size):
        torch.maximum(rows, padded[..., k : k + out_h, :], out=rows)
    out = rows[..., 0:out_w].clone()
    for k in range(1, size):
        torch.maximum(out, rows[..., k : k + out_w], out=out)
    return out


def gaussian_kernel(size: int = V2_GAUSSIAN_SIZE, sigma: float = V2_GAUSSIAN_SIGMA) -> torch.Tensor:
    """(size, size) Gaussian exp(−(i² + j²)/2σ²) on integer offsets from the centre, summing to 1."""
    offsets = np.arange(size, dtype=np.float32) - size // 2
    one_d = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = torch.from_numpy(np.outer(one_d, one_d).astype(np.float32))
    return kernel / kernel.sum()


def v2_smooth(grid: torch.Tensor) -> torch.Tensor:
    """3×3 Gaussian (σ 3) on every depth slice, zero padding 1: the shape is kept. Computed as a
    weighted sum of shifted slices (the same numbers as conv3d with a (1, 3, 3) kernel, up to
    float rounding), much faster than a one-channel convolution on a CPU."""
    kernel = gaussian_kernel()
    size = kernel.shape[0]
    pad = size // 2
    padded = F.pad(grid, (pad, pad, pad, pad))
    h, w = grid.shape[-2:]
    out = torch.zeros_like(grid)
    for i in range(size):
        for j in range(size):
            out.add_(padded[..., i : i + h, j : j + w], alpha=float(kernel[i, j]))
    return out


def v2_squeeze(grid: torch.Tensor) -> torch.Tensor:
    """(V, D, H, W) → (V, H, W): max over depth, divide by the image's own max, 1 − value."""
    image = grid.amax(dim=1)
    top = image.amax(dim=(1, 2), keepdim=True)
    return image.div_(top).neg_().add_(1)


def to_clip_input(maps: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """(V, H, W) maps → (V, 3, size, size): repeated to 3 channels, bilinear with align_corners=True.
    No CLIP mean/std normalisation: the official code feeds these values to the image tower as they are."""
    maps = torch.as_tensor(maps, dtype=torch.float32)
    resized = F.interpolate(maps.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=True)
    return resized.repeat(1, 3, 1, 1)  # the channels are equal: resize one, then repeat


def project(points, projection: str | ProjectionPreset = "v2") -> torch.Tensor:
    """(N, 3) points → (V, S, S) native maps of the chosen projection (V1 128², V2 110²)."""
    preset = get_projection(projection)
    return project_v1(points) if preset.name == "v1" else project_v2(points)


def _points_tensor(points) -> torch.Tensor:
    array = torch.as_tensor(np.asarray(points, dtype=np.float32))
    if array.ndim != 2 or array.shape[1] != 3:
        raise InputError(f"A point cloud is an (N, 3) array of x y z; got shape {tuple(array.shape)}.")
    if array.shape[0] == 0:
        raise InputError("The point cloud has no points.")
    if not torch.isfinite(array).all():
        raise InputError("The point cloud has NaN or infinite coordinates; load it with components.pointclouds.")
    if bool((array == array[0]).all()):
        raise InputError("The point cloud is degenerate: all its points are at the same place.")
    return array


# -- the pipeline -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointCLIPResult:
    """labels in the order given. V views, L labels, D embedding size.

    maps: (V, S, S) native projections (V1: depth, 0 = empty; V2: [0, 1], 1 = background).
    view_features: (V, D) unit-length image embeddings of the views.
    view_similarity: (V, L) cosine similarity of each view with each label's text embedding.
    view_weights: (V,); logits (L,) = Σ_v w_v · view_similarity[v] (the official zero-shot logit up to
    a constant factor); probs (L,) = softmax(logit_scale · logits / √V), the official code's scale.
    prompts: per label, V2's GPT prompt that was encoded for it; empty when a template ran
    (`templates` names it). prompts_note: which prompts ran and why, in words.
    """

    labels: tuple[str, ...]
    projection: str
    view_names: tuple[str, ...]
    maps: np.ndarray
    view_features: np.ndarray
    view_similarity: np.ndarray
    view_weights: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    logit_scale: float
    templates: str
    num_points: int
    prompts: tuple[str, ...] = ()
    prompts_note: str = ""

    def reweight(self, weights: Sequence[float]) -> "PointCLIPResult":
        """The same views fused with other weights: no image or text forward."""
        w = check_weights(weights, len(self.view_names))
        logits, probs = fuse(self.view_similarity, w, self.logit_scale)
        return replace(self, view_weights=w, logits=logits, probs=probs)

    def ranking(self) -> list[tuple[str, float]]:
        return [(self.labels[i], float(self.probs[i])) for i in self.label_order()]

    def label_order(self, n: int | None = None) -> np.ndarray:
        """Label indices by fused score, best first (ties in label order); the first `n` if given."""
        return np.argsort(-self.logits, kind="stable")[:n]

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.logits))]

    def view_top_labels(self) -> list[tuple[str, float]]:
        """Per view, the label it matches best alone and that cosine."""
        best = self.view_similarity.argmax(axis=1)
        return [(self.labels[i], float(self.view_similarity[v, i])) for v, i in enumerate(best)]


def check_weights(weights: Sequence[float], num_views: int) -> np.ndarray:
    w = np.asarray(list(weights), dtype=np.float64).reshape(-1)
    if len(w) != num_views:
        raise InputError(f"Give one weight per view: {num_views} weights, got {len(w)}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError("View weights must be finite numbers ≥ 0.")
    if not (w > 0).any():
        raise InputError("Give at least one view a weight above 0.")
    return w.astype(np.float32)


def fuse(view_similarity: np.ndarray, weights: np.ndarray, logit_scale: float):
    """(V, L) cosines and (V,) weights → logits Σ_v w_v·cos_v (L,) and probs softmax(scale·logits/√V)."""
    sim = torch.as_tensor(np.asarray(view_similarity, np.float32))
    w = torch.as_tensor(np.asarray(weights, np.float32))
    logits = (w[:, None] * sim).sum(0)
    probs = torch.softmax(logit_scale * logits / math.sqrt(sim.shape[0]), dim=0)
    return logits.numpy(), probs.numpy()


class PointCLIP:
    """`PointCLIP(backbone, projection="v2")(points, labels) -> PointCLIPResult`.

    projection: "v1" (6 perspective depth maps) or "v2" (10 realistic projections).
    view_weights: one per view; default V1 all ones, V2 the published set for the backbone and the
    label preset (`label_preset` "ModelNet40" or "ScanObjectNN"; ModelNet40's for other labels,
    ViT-B/16's when the backbone has none of its own).
    templates: the prompt, PointCLIP's "point cloud depth map of a {}." by default.
    gpt_prompts: in V2, on the ModelNet40 / ScanObjectNN labels with one of V2's four backbones and
    the default prompt, encode V2's published GPT prompt of each class instead (the faithful V2);
    anything else — a person's own labels or prompt, ModelNet10, another backbone, V1 — runs the
    template. `prompts_note(labels)` says which.
    points: (N, 3), centred and inside the unit sphere (components.pointclouds.load_point_cloud).
    """

    def __init__(
        self,
        backbone,
        projection: str = "v2",
        view_weights: Sequence[float] | None = None,
        templates: str | TemplateSet = POINTCLIP,
        label_preset: str | None = None,
        gpt_prompts: bool = True,
    ):
        self.backbone = backbone
        self.gpt_prompts = gpt_prompts
        self.preset = get_projection(projection)
        self.label_preset = label_preset
        if view_weights is None:
            view_weights = default_view_weights(self.preset.name, backbone.model_name, label_preset)
        self.view_weights = check_weights(view_weights, self.preset.num_views)
        self.templates = get_template_set(templates)

    @property
    def weights_note(self) -> str:
        if self.preset.name == "v1":
            return "V1 zero-shot weights: every view 1." if np.allclose(self.view_weights, 1) else "V1 view weights of your own."
        return v2_weights_text(self.view_weights, self.backbone.model_name, self.label_preset)

    def gpt_prompts_for(self, labels: Sequence[str]) -> tuple[str, ...] | None:
        """V2's published prompt of each label, or None where the template runs instead."""
        if not self.gpt_prompts or self.preset.name != "v2" or self.templates != POINTCLIP:
            return None
        published = v2_prompts(self.backbone.model_name, self.label_preset)
        if published is None or any(label not in published for label in labels):
            return None
        return tuple(published[label] for label in labels)

    def prompts_note(self, labels: Sequence[str]) -> str:
        """Which prompts run for these labels, and why."""
        prompt = self.templates.templates[0] if len(self.templates) == 1 else None
        if self.templates != POINTCLIP:
            ran = f"your prompt “{prompt}”" if prompt else f"the templates “{self.templates.name}”"
        else:
            ran = f"V1's “{PROMPT}”"
        if self.preset.name == "v1":
            return f"Prompt: {ran} for every label."
        gpt = self.gpt_prompts_for(labels)
        if gpt is not None:
            backbone = self.backbone.model_name.removesuffix("-quickgelu")
            return (f"Prompts: V2's GPT-written prompt of each class, published for {shown_backbone(backbone)} "
                    f"on {self.label_preset} (e.g. {labels[0]}: “{gpt[0].strip()}”).")
        backbone = (self.backbone.model_name or "").removesuffix("-quickgelu")
        if self.label_preset not in v2_prompt_table():
            why = "V2's GPT prompts exist only for the ModelNet40 and ScanObjectNN presets' classes"
        elif backbone not in v2_prompt_table()[self.label_preset]:
            why = f"V2 published GPT prompts for {v2_prompt_backbones()} only, not {self.backbone.model_name}"
        elif self.templates != POINTCLIP:
            why = "a prompt of your own replaces V2's GPT prompts"
        else:
            why = "V2's GPT prompts are switched off"
        return f"Prompt: {ran} for every label ({why})."

    def text_features(self, labels: Sequence[str]) -> tuple[torch.Tensor, tuple[str, ...]]:
        """(L, D) unit-length text embeddings, and the GPT prompts encoded (empty when the template ran).
        GPT prompts: one prompt per class, encoded and normalised, as the official
        `Textual_Encoder.forward` (zeroshot_cls/trainers/zeroshot.py) does — its repeat over the views
        and joint normalisation equal per-view unit vectors ÷ √V, the scale `fuse` applies."""
        gpt = self.gpt_prompts_for(labels)
        if gpt is not None:
            return self.backbone.encode_texts(gpt), gpt  # cached per string
        return self.backbone.text_classifier(labels, self.templates), ()  # cached per (label, templates)

    def project(self, points) -> torch.Tensor:
        """(N, 3) → (V, S, S) native maps."""
        return project(points, self.preset)

    def encode_views(self, maps: torch.Tensor) -> torch.Tensor:
        """(V, S, S) maps → (V, D) unit-length features, all views in one batch."""
        images = to_clip_input(maps, self.backbone.image_size)
        return self.backbone.encode_images(images, batch_size=max(32, len(images)))

    def __call__(self, points, labels: Sequence[str]) -> PointCLIPResult:
        labels = tuple(labels)
        if not labels:
            raise InputError("Give at least one label, e.g. “chair, table, lamp”.")
        maps = self.project(points)
        text, gpt = self.text_features(labels)  # (L, D), cached
        features = self.encode_views(maps)  # (V, D)
        similarity = (features @ text.T).numpy()  # (V, L)
        logit_scale = self.backbone.logit_scale
        logits, probs = fuse(similarity, self.view_weights, logit_scale)
        return PointCLIPResult(
            labels=labels,
            projection=self.preset.name,
            view_names=self.preset.view_names,
            maps=maps.numpy(),
            view_features=features.numpy(),
            view_similarity=similarity,
            view_weights=self.view_weights,
            logits=logits,
            probs=probs,
            logit_scale=logit_scale,
            templates=f"pointclip-v2-gpt:{self.label_preset}" if gpt else self.templates.name,
            num_points=int(np.asarray(points).shape[0]),
            prompts=gpt,
            prompts_note=self.prompts_note(labels),
        )


def prompt_templates(prompt: str | None) -> TemplateSet:
    """A one-template set from a person's prompt; it must hold one "{}" where the label goes."""
    prompt = " ".join((prompt or "").split())
    if not prompt or prompt == PROMPT:
        return POINTCLIP
    if prompt.count("{}") != 1:
        raise InputError(f"The prompt must contain “{{}}” exactly once, where the label goes (got “{prompt[:80]}”).")
    return TemplateSet(f"pointclip-custom:{prompt}", (prompt,), "a prompt typed in the PointCLIP tab")
