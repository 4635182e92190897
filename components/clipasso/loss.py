"""CLIPasso's loss: geometric (CLIP ResNet layer maps) + semantic (CLIP embedding) distance between
the sketch and the image, over augmented views shared by both.

Per step, views = `num_aug` augmented pairs + 1 clean pair. An augmentation is RandomPerspective
(distortion 0.5, p = 1, fill 0) then RandomResizedCrop(model size, scale (0.8, 0.8), ratio (1, 1)),
the same parameters for sketch and image, each seed's sketch its own draws; both are composed into one sampling grid, so each view
costs one bilinear grid_sample (torchvision resamples twice; the difference is sub-pixel).

    loss = Σ_l w_l · mean((F_l(sketch) − F_l(image))²) + w_fc · mean(1 − cos(E(sketch), E(image)))

with F_l the RN101 maps layer2 and layer3 (weights 1, the rest 0) and E the attention-pool output,
w_fc = 0.1. Image views run without autograd; the clean image view's features are computed once.
A ViT loss backbone (the app's quick mode) uses the token maps of its blocks instead ("block{i}").
"""

from __future__ import annotations

import copy
import threading
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from components import precision as precisions
from components.dense import resnet_stages

CONV_WEIGHTS = {"layer2": 1.0, "layer3": 1.0}  # torchvision naming; stem, layer1, layer4: 0
FC_WEIGHT = 0.1
NUM_AUG = 4
PERSPECTIVE_DISTORTION = 0.5
CROP_SCALE = 0.8


def default_conv_weights(backbone) -> dict[str, float]:
    """RN: layer2 + layer3 (the paper's). ViT: the blocks at one and two thirds of the depth."""
    if backbone.is_vit:
        depth = len(backbone.vit_blocks())
        return {f"block{max(0, depth // 3 - 1)}": 1.0, f"block{max(0, 2 * depth // 3 - 1)}": 1.0}
    return dict(CONV_WEIGHTS)


_fused: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_fused_lock = threading.Lock()


def fused_visual(backbone):
    """The backbone's ResNet tower with every BatchNorm folded into the convolution before it (eval
    mode: the same function, to float rounding) and no parameter gradients: one copy per backbone,
    made on first use, in channels-last layout. Folding saves the batch-norm passes, forward and
    backward, every step."""
    with _fused_lock:
        if backbone in _fused:
            return _fused[backbone]
        dtype = next(backbone.visual.parameters()).dtype
        visual = copy.deepcopy(backbone.visual).float().eval()  # folded in float32, then cast back (bf16)
        for module in visual.modules():
            children = module._modules
            for name in list(children):
                pair = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3", "0": "1"}.get(name)
                conv, bn = children[name], children.get(pair) if pair else None
                if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                    children[name] = fuse_conv_bn_eval(conv, bn)
                    children[pair] = torch.nn.Identity()
        visual.requires_grad_(False)
        # NHWC: oneDNN's and cuDNN's faster convolution layouts (~10 % per step, forward and backward, on a CPU)
        visual.to(dtype=dtype, memory_format=torch.channels_last)
        _fused[backbone] = visual
        return visual


def features(backbone, pixels: torch.Tensor, layers) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Layer maps named in `layers` and the final (un-normalised) embedding of normalised pixels."""
    if backbone.is_vit:
        x = backbone.vit_tokens(pixels)
        maps = {}
        for i, block in enumerate(backbone.vit_blocks()):
            x = block(x)
            if f"block{i}" in layers:
                maps[f"block{i}"] = x
        return maps, backbone.vit_embedding(x)
    visual = fused_visual(backbone)
    stages = resnet_stages(visual, pixels)
    return {k: stages[k] for k in layers}, visual.attnpool(stages["layer4"])


def perspective_coeffs(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The 8 coefficients of the homography taking `end` points to `start` points (as torchvision's
    perspective uses them: an output pixel at x looks up the input at H(x))."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((sx, sy), (ex, ey)) in enumerate(zip(start, end)):
        a[2 * i] = [ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey]
        a[2 * i + 1] = [0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey]
        b[2 * i], b[2 * i + 1] = sx, sy
    return np.linalg.solve(a, b)


def augmentation_params(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 11) parameters of RandomPerspective(0.5, p=1) then RandomResizedCrop(scale (0.8, 0.8),
    ratio (1, 1)) on a size × size image, drawn as torchvision draws them: the 8 homography
    coefficients (output → input of the perspective), then the crop's top, left and side in pixels."""
    w = h = size
    hw, hh = w // 2, h // 2
    dx, dy = int(PERSPECTIVE_DISTORTION * hw) + 1, int(PERSPECTIVE_DISTORTION * hh) + 1
    side = int(round(np.sqrt(CROP_SCALE * w * h)))
    start = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    rows = []
    for _ in range(count):
        r = lambda hi: int(rng.integers(0, hi))  # noqa: E731
        end = np.array([
            [r(dx), r(dy)], [w - 1 - r(dx), r(dy)], [w - 1 - r(dx), h - 1 - r(dy)], [r(dx), h - 1 - r(dy)],
        ], float)
        coeffs = perspective_coeffs(start, end)
        top, left = r(h - side + 1), r(w - side + 1)
        rows.append([*coeffs, top, left, side])
    return np.asarray(rows, dtype=np.float64).reshape(count, 11)


def grids_from_params(params: torch.Tensor, size: int, out: int) -> torch.Tensor:
    """(A, out, out, 2) grid_sample grids (align_corners=False) of augmentation parameters (A, 11):
    output pixel centre → its place in the crop of the warped image → the input pixel it reads."""
    c, top, left, side = params[:, :8], params[:, 8], params[:, 9], params[:, 10]
    t = torch.arange(out, device=params.device, dtype=params.dtype) + 0.5
    scale = (side / out)[:, None]
    xs = left[:, None] + t * scale - 0.5  # (A, out), pixel-index coordinates
    ys = top[:, None] + t * scale - 0.5
    gx, gy = xs[:, None, :], ys[:, :, None]  # broadcast to (A, out, out)
    k = [c[:, i, None, None] for i in range(8)]
    den = k[6] * gx + k[7] * gy + 1
    ix = (k[0] * gx + k[1] * gy + k[2]) / den
    iy = (k[3] * gx + k[4] * gy + k[5]) / den
    return torch.stack([(ix + 0.5) / size * 2 - 1, (iy + 0.5) / size * 2 - 1], dim=-1)


def augmentation_grids(count: int, size: int, out: int, rng: np.random.Generator, device, dtype=torch.float32) -> torch.Tensor:
    """(count, out, out, 2) grids of `count` fresh augmentations."""
    params = torch.as_tensor(augmentation_params(count, size, rng), device=device)
    return grids_from_params(params, size, out).to(dtype)


def identity_grid(size: int, out: int, device, dtype=torch.float32) -> torch.Tensor:
    t = (torch.arange(out, device=device, dtype=dtype) + 0.5) / out * 2 - 1
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


class SketchLoss:
    """The CLIPasso loss against one target image, for a batch of sketches (one per seed).

    target: (3, S, S) in [0, 1] on the canvas. Call with sketches (B, S, S) in [0, 1] (grey) and the
    grids of this step's augmentations (A, out, out, 2) shared by every sketch in the batch."""

    def __init__(self, backbone, target: torch.Tensor, *, conv_weights=None, fc_weight: float = FC_WEIGHT,
                 autocast: torch.dtype | None = None):
        # The gradient needs a differentiable tower: bf16 (weights cast) is, int8's quantised Linear
        # layers are not (autograd passes nothing through them): an int8 backbone's fp32 copy runs here.
        if not precisions.gradient_sound(getattr(backbone, "precision", "fp32")):
            backbone = backbone.at_precision("fp32")
        self.backbone = backbone
        self.dtype = next(backbone.visual.parameters()).dtype
        self.device = backbone.device
        self.out = backbone.image_size
        self.weights = {k: float(v) for k, v in (conv_weights or default_conv_weights(backbone)).items() if v}
        self.fc_weight = float(fc_weight)
        self.mean = torch.tensor(backbone.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(backbone.std, device=self.device).view(1, 3, 1, 1)
        self.target = target.to(self.device)[None]
        self.size = target.shape[-1]
        self.autocast = autocast
        self._clean_grid = identity_grid(self.size, self.out, self.device)
        with torch.no_grad():
            self.clean_target = self._features(self._sample(self.target, self.clean_grid()))

    def params(self, count: int, rng: np.random.Generator) -> torch.Tensor:
        """(count, 11) augmentation parameters on the device (see augmentation_params)."""
        return torch.as_tensor(augmentation_params(count, self.size, rng), device=self.device)

    def grids(self, params: torch.Tensor) -> torch.Tensor:
        """(..., 11) parameters → (..., out, out, 2) grids: (A, 11) views shared by every sketch, or
        (B, A, 11) views of each sketch's own (each seed's own draws)."""
        lead = params.shape[:-1]
        return grids_from_params(params.reshape(-1, 11), self.size, self.out).float().reshape(*lead, self.out, self.out, 2)

    def clean_grid(self) -> torch.Tensor:
        return self._clean_grid

    def _sample(self, images: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) in [0, 1], grids (A, out, out, 2) shared or (B, A, out, out, 2) per image
        → (B·A, 3, out, out) normalised, ordered batch-major. Outside the image is filled with 0 (black),
        as torchvision's fill=0."""
        b, a = images.shape[0], grids.shape[-4]
        x = images[:, None].expand(b, a, *images.shape[1:]).reshape(b * a, *images.shape[1:])
        g = (grids if grids.dim() == 5 else grids[None]).expand(b, a, *grids.shape[-3:]).reshape(b * a, *grids.shape[-3:])
        views = F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        return ((views - self.mean) / self.std).to(self.dtype)

    def _features(self, pixels):
        device_type = torch.device(self.device).type
        # no cast cache: each weight is used once per call, and a cache would outlive a CUDA graph capture
        with torch.autocast(device_type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None,
                            cache_enabled=False):
            maps, final = features(self.backbone, pixels, tuple(self.weights))
        return {k: v.float() for k, v in maps.items()}, final.float()

    def __call__(self, sketches: torch.Tensor, grids: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        """Loss per sketch (B,), and its parts (B,) by name. grids None → the clean pair only; grids
        (A, out, out, 2) → the same A views for every sketch; (B, A, out, out, 2) → each sketch its own
        A views (the image is then seen through every sketch's views: B·A target views, no autograd)."""
        b = sketches.shape[0]
        rgb = sketches[:, None].expand(b, 3, *sketches.shape[1:])
        own = grids is not None and grids.dim() == 5
        if grids is None:
            all_grids = self.clean_grid()
        elif own:
            all_grids = torch.cat([grids, self.clean_grid()[None].expand(b, *self.clean_grid().shape)], dim=1)
        else:
            all_grids = torch.cat([grids, self.clean_grid()])
        a = all_grids.shape[-4]
        sketch_maps, sketch_final = self._features(self._sample(rgb, all_grids))
        if grids is None:
            target_maps, target_final = self.clean_target
            rows = 1
        else:
            with torch.no_grad():
                flat = grids.reshape(-1, *grids.shape[-3:])  # (B·A or A, out, out, 2)
                aug_maps, aug_final = self._features(self._sample(self.target, flat))
            clean_maps, clean_final = self.clean_target
            rows = b if own else 1

            def join(aug, clean):  # (rows·A, ...) augmented + (1, ...) clean → (rows·(A+1), ...)
                aug = aug.reshape(rows, -1, *aug.shape[1:])
                clean = clean[None].expand(rows, *clean.shape)
                return torch.cat([aug, clean], dim=1).reshape(-1, *aug.shape[2:])

            target_maps = {k: join(aug_maps[k], clean_maps[k]) for k in aug_maps}
            target_final = join(aug_final, clean_final)
        parts = {}
        total = torch.zeros(b, device=sketches.device)
        for name, weight in self.weights.items():
            s = sketch_maps[name].reshape(b, a, -1)
            t = target_maps[name].reshape(rows, a, -1)
            parts[name] = (s - t).square().mean(dim=(1, 2))
            total = total + weight * parts[name]
        cos = F.cosine_similarity(sketch_final.reshape(b, a, -1), target_final.reshape(rows, a, -1), dim=-1)
        parts["semantic"] = (1 - cos).mean(dim=1)
        total = total + self.fc_weight * parts["semantic"]
        return total, parts
