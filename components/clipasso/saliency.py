"""CLIPasso's saliency initialisation: where the first strokes start.

saliency = (CLIP ViT attention from the class token to the patches, averaged over heads and all
layers, upsampled bicubically and min-max normalised) × (1 − XDoG edges). Start points are sampled
without replacement from exp(saliency / τ) over the pixels where it is positive (τ = 0.3); the other
three control points of a stroke are a random walk, each within ±0.025 (of the canvas side) of the
one before.

open_clip's blocks call nn.MultiheadAttention with need_weights=False, so the attention weights are
recomputed here from each block's own ln_1 and in_proj q/k projections while the tokens run through
the blocks unchanged (`vit_attention` checks the recomputation against the block's own output in
tests).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components.errors import InputError

# XDoG, as in the official code: D = G(σ) − γ·G(kσ); D < ε → 1, else 1 + tanh(φ·D); min-max; Otsu.
XDOG_GAMMA = 0.98
XDOG_PHI = 200.0
XDOG_EPS = -0.1
XDOG_SIGMA = 0.8
XDOG_K = 10.0
SOFTMAX_TEMP = 0.3  # τ of the start-point distribution
RANDOM_WALK = 0.025  # each further control point within ± this fraction of the canvas of the last
# What XDoG is given: the plain RGB image in [0, 1] (ours, the default: the ε and φ above are on that
# scale), or the CLIP-normalised image as the official code feeds it (values outside [0, 1]).
XDOG_INPUTS = ("image", "clip-normalised")


def vit_attention(visual, pixels: torch.Tensor) -> torch.Tensor:
    """Attention weights of every block of an open_clip ViT: (layers, N, heads, T, T), T = 1 + g·g.

    Runs the tower's own blocks; for each, the softmax(q·kᵀ/√d) its attention used is recomputed
    from the block's ln_1 and in_proj (q, k) weights, exactly as nn.MultiheadAttention computes it."""
    transformer = getattr(visual, "transformer", None)
    if transformer is None:
        raise InputError("The saliency map needs a ViT CLIP (its attention maps); this model is a ResNet.")
    if not getattr(transformer, "batch_first", True):
        raise InputError("The saliency map needs an open_clip 3.x ViT (batch-first blocks); pick ViT-B-32.")
    x = visual._embeds(pixels.to(visual.conv1.weight.dtype))
    maps = []
    for block in transformer.resblocks:
        maps.append(block_attention(block, x))
        x = block(x)
    return torch.stack(maps)


def block_attention(block, x: torch.Tensor) -> torch.Tensor:
    """(N, heads, T, T) attention weights of one open_clip ResidualAttentionBlock on tokens x (N, T, C)."""
    attn = block.attn
    h = block.ln_1(x)
    n, t, c = h.shape
    heads = attn.num_heads
    q, k = F.linear(h, attn.in_proj_weight[: 2 * c], attn.in_proj_bias[: 2 * c]).chunk(2, dim=-1)
    q = q.reshape(n, t, heads, -1).transpose(1, 2)
    k = k.reshape(n, t, heads, -1).transpose(1, 2)
    return ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(dim=-1)


def clip_attention_map(backbone, image: Image.Image, size: int) -> np.ndarray:
    """(size, size) attention of the class token to the patches, averaged over heads and all layers,
    upsampled bicubically to `size` and min-max normalised to [0, 1]. `image` is square."""
    visual = backbone.visual
    s = backbone.image_size
    pixels = _normalise(image.resize((s, s), Image.BICUBIC), backbone).to(backbone.device)
    with torch.no_grad():
        attention = vit_attention(visual, pixels)  # (L, 1, H, T, T)
    cls_to_patches = attention[:, 0, :, 0, 1:].float().mean(dim=(0, 1))  # (g·g,)
    grid = int(round(cls_to_patches.numel() ** 0.5))
    up = F.interpolate(cls_to_patches.reshape(1, 1, grid, grid).cpu(), size=(size, size), mode="bicubic",
                       align_corners=False)[0, 0]
    return _minmax(up.numpy()).astype(np.float32)


def xdog(image: np.ndarray, *, gamma=XDOG_GAMMA, phi=XDOG_PHI, eps=XDOG_EPS, sigma=XDOG_SIGMA, k=XDOG_K) -> np.ndarray:
    """Official CLIPasso XDoG (`XDoG_` in models/painter_params.py) of an (H, W, 3) RGB or (H, W) grey
    float image: 1 = background, 0 = edge or dark.

    RGB goes to grey as the official code does it, scikit-image's `rgb2gray` on the floats (Rec. 709:
    0.2125 R + 0.7154 G + 0.0721 B; not PIL's 8-bit Rec. 601 "L"); D = G(σ) − γ·G(kσ) with scipy's
    gaussian_filter; D < ε → 1, else 1 + tanh(φ·D); min-max normalised; Otsu-binarised (≥ t → 1).
    See `xdog_input` for the two inputs it is given."""
    image = np.asarray(image, dtype=np.float64)
    # scipy and scikit-image on first use: their imports cost the page's start-up (issue 20)
    from scipy.ndimage import gaussian_filter
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu

    grey = rgb2gray(image) if image.ndim == 3 else image
    d = gaussian_filter(grey, sigma) - gamma * gaussian_filter(grey, sigma * k)
    e = np.where(d < eps, 1.0, 1.0 + np.tanh(phi * d))
    e = _minmax(e)
    if np.ptp(e) == 0:
        return np.ones_like(e, dtype=np.float32)
    return (e >= threshold_otsu(e)).astype(np.float32)


def xdog_input(image: Image.Image, backbone, which: str = "image") -> np.ndarray:
    """(H, W, 3) float64 image XDoG runs on: "image" = the RGB values in [0, 1]; "clip-normalised" =
    (x − mean) / std with the saliency CLIP's statistics, as the official code feeds XDoG."""
    if which not in XDOG_INPUTS:
        raise InputError(f"The XDoG input must be one of {', '.join(XDOG_INPUTS)} (got {which!r}).")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    if which == "image":
        return rgb
    return (rgb - np.asarray(backbone.mean, dtype=np.float64)) / np.asarray(backbone.std, dtype=np.float64)


def saliency_map(attention: np.ndarray, edges_xdog: np.ndarray) -> np.ndarray:
    """attention × (1 − XDoG): high where CLIP looks and there is an edge."""
    return (attention * (1.0 - edges_xdog)).astype(np.float32)


def start_distribution(saliency: np.ndarray, temperature: float = SOFTMAX_TEMP) -> np.ndarray:
    """exp(x/τ) / Σ over pixels where x > 0; 0 elsewhere. Flat, sums to 1."""
    x = np.asarray(saliency, dtype=np.float64).reshape(-1)
    positive = x > 0
    if not positive.any():
        raise InputError("The saliency map is empty (no edges where CLIP attends); try an image with a clear object.")
    weights = np.where(positive, np.exp((x - x[positive].max()) / temperature), 0.0)
    return weights / weights.sum()


def sample_starts(probs: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct flat pixel indices drawn without replacement from `probs`."""
    available = int((probs > 0).sum())
    if count > available:
        raise InputError(f"Only {available} salient pixels for {count} strokes; use fewer strokes or another image.")
    return rng.choice(probs.size, size=count, replace=False, p=probs)


def initial_strokes(
    saliency: np.ndarray, count: int, rng: np.random.Generator, temperature: float = SOFTMAX_TEMP,
    walk: float = RANDOM_WALK,
) -> np.ndarray:
    """(count, 4, 2) control points (x, y) in pixels: a sampled start, then a random walk of 3 points."""
    h, w = saliency.shape
    index = sample_starts(start_distribution(saliency, temperature), count, rng)
    ys, xs = np.divmod(index, w)
    start = np.stack([(xs + 0.5) / w, (ys + 0.5) / h], axis=1)  # normalised
    steps = rng.uniform(-walk, walk, size=(count, 3, 2))
    points = np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, axis=1)], axis=1)
    return (points * np.array([w, h])).astype(np.float32)


def _normalise(image: Image.Image, backbone) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(backbone.mean).view(3, 1, 1)
    std = torch.tensor(backbone.std).view(3, 1, 1)
    return ((x - mean) / std)[None]


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
