"""ViLT's headline claim measured here: embedding an image as linear patches costs almost nothing
next to a CNN grid backbone or CLIP's whole image tower (the paper's Fig. 1)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from components.backbone import seeded_rng
from components.errors import InputError
from components.vilt.paper import HIDDEN_SIZE, LONGER_EDGE, PATCH_SIZE, QUOTED_MS, SHORTER_EDGE, fit, loaded

EMBEDDERS = ("patch", "grid", "clip")
EMBEDDER_LABELS = {
    "patch": "linear 32×32 patch projection (ViLT)",
    "grid": "CNN grid: ResNet-50 to layer4 (Pixel-BERT)",
    "clip": "CLIP's whole image tower",
}
GRID_SHORT_SIDES = (384, 800)  # ViLT's input size, or Pixel-BERT's 800 short side (long ≤ 1333)


@dataclass(frozen=True)
class EmbeddingTiming:
    """Median milliseconds, measured here, of each visual embedding of one image.

    kinds: EMBEDDERS; measured_ms (3,); input_sizes: (H, W) each was fed; output_shapes: what each
    produced (tokens × width, or C × h × w); quoted_ms: the paper's figures (other hardware)."""

    kinds: tuple[str, ...]
    labels: tuple[str, ...]
    measured_ms: np.ndarray
    input_sizes: tuple[tuple[int, int], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    device: str
    runs: int
    threads: int
    quoted_ms: dict = field(default_factory=lambda: dict(QUOTED_MS))

    def ratio(self, slow: str, fast: str = "patch") -> float:
        return float(self.measured_ms[self.kinds.index(slow)] / self.measured_ms[self.kinds.index(fast)])


def patch_projection(device: str = "cpu") -> torch.nn.Module:
    """ViLT's visual embedding: Conv2d(3 → 768, kernel 32, stride 32), seeded random weights."""
    return _embedder("patch", device)


def grid_backbone(device: str = "cpu") -> torch.nn.Module:
    """A ResNet-50 up to layer4 (stride 32, 2048 channels), seeded random weights: grid features
    as Pixel-BERT takes them. Speed does not depend on the weights."""
    return _embedder("grid", device)


def _embedder(kind: str, device: str) -> torch.nn.Module:
    return loaded(_build_embedder, kind, str(device))


def _build_embedder(kind: str, device: str) -> torch.nn.Module:
    with seeded_rng(0):  # built on the CPU, then moved
        if kind == "patch":
            module = torch.nn.Conv2d(3, HIDDEN_SIZE, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)
        else:
            from torchvision.models import resnet50

            net = resnet50(weights=None)
            module = torch.nn.Sequential(*list(net.children())[:-2])
    return module.eval().to(device)


def _resized_pixels(image: Image.Image, short_side: int, long_cap: int) -> torch.Tensor:
    """(1, 3, h, w) normalised to [-1, 1], resized as ViLT does for `short_side`=384 (the same
    rule scaled for Pixel-BERT's 800 / 1333)."""
    nw, nh = fit(*image.size, short_side, long_cap)
    array = np.asarray(image.convert("RGB").resize((nw, nh), Image.BICUBIC), np.float32) / 255.0
    return (torch.from_numpy(array).permute(2, 0, 1)[None] - 0.5) / 0.5


def _median_ms(fn, runs: int, warmup: int, device: str) -> float:
    cuda = str(device).startswith("cuda")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def time_visual_embeddings(
    image: Image.Image,
    backbone,
    runs: int = 3,
    warmup: int = 1,
    grid_short_side: int = SHORTER_EDGE,
    progress=None,
) -> EmbeddingTiming:
    """Time, on the backbone's device, the three ways to embed `image` for a V+L transformer:
    ViLT's linear patch projection and the ResNet-50 grid on the image resized as ViLT does
    (or, with grid_short_side=800, as Pixel-BERT does), and CLIP's whole image tower on CLIP's
    own view. Only the forward is timed, not resizing; each is the median of `runs` after `warmup`.
    `progress(fraction, description)`, if given, is called before each of the three."""
    if grid_short_side not in GRID_SHORT_SIDES:
        raise InputError(f"The grid input's short side must be one of {GRID_SHORT_SIDES}.")
    runs = max(1, int(runs))
    device = str(backbone.device)
    image = image.convert("RGB")
    vilt_pixels = _resized_pixels(image, SHORTER_EDGE, LONGER_EDGE).to(device)
    long_cap = LONGER_EDGE if grid_short_side == SHORTER_EDGE else 1333
    grid_pixels = vilt_pixels if grid_short_side == SHORTER_EDGE else _resized_pixels(image, grid_short_side, long_cap).to(device)
    clip_pixels = backbone.pixels([image])
    projection, grid = patch_projection(device), grid_backbone(device)
    shapes: dict[str, tuple[int, ...]] = {}

    def run_patch():
        with torch.inference_mode():
            out = projection(vilt_pixels).flatten(2).transpose(1, 2)  # (1, patches, 768)
        shapes["patch"] = tuple(out.shape[1:])

    def run_grid():
        with torch.inference_mode():
            out = grid(grid_pixels)  # (1, 2048, h/32, w/32)
        shapes["grid"] = tuple(out.shape[1:])

    def run_clip():
        out = backbone.encode_images(clip_pixels)
        shapes["clip"] = tuple(out.shape[1:])

    measured = []
    for step, (kind, fn) in enumerate(zip(EMBEDDERS, (run_patch, run_grid, run_clip))):
        if progress is not None:
            progress(step / len(EMBEDDERS), f"timing the {EMBEDDER_LABELS[kind]}")
        measured.append(_median_ms(fn, runs, warmup, device))
    return EmbeddingTiming(
        kinds=EMBEDDERS,
        labels=tuple(EMBEDDER_LABELS[k] for k in EMBEDDERS),
        measured_ms=np.array(measured),
        input_sizes=(
            tuple(vilt_pixels.shape[-2:]),
            tuple(grid_pixels.shape[-2:]),
            tuple(clip_pixels.shape[-2:]),
        ),
        output_shapes=tuple(shapes[k] for k in EMBEDDERS),
        device=device,
        runs=runs,
        threads=torch.get_num_threads(),
    )
