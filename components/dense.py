"""Training-free dense CLIP: patch embeddings in the joint image-text space.

CLIP is trained on one embedding per image; its patch tokens are not aligned with text. A family of
training-free methods fixes that by changing only the last ViT block (METHODS.md §6):

- NACLIP (default): attention softmax(k·kᵀ·d^-½ + Gaussian neighbourhood bias, σ = 5 patches); the
  residual and the FFN are dropped.
- ClearCLIP: attention softmax(q·qᵀ·d^-½); residual and FFN dropped.
- SCLIP: attention softmax(q·qᵀ·d^-½) + softmax(k·kᵀ·d^-½); residual and FFN kept.
- MaskCLIP: the value path only (each token attends to itself); residual and FFN kept.
- vanilla: the block unchanged, for comparison.

Every patch token then goes through `ln_post` and `proj`, as the class token does. For ResNet towers,
the layer4 map goes through the attention pool's value path (v_proj, c_proj) at every location.

Two ways to cover an image (`inference`):
- "windows" (default): open_clip does not interpolate position embeddings, so images are resized
  (short side `short_side`, both sides multiples of the patch size) and cut into model-sized windows
  with a stride of half a window; overlapping patch embeddings are averaged. All windows, plus CLIP's
  standard centre-crop view when it is not one of them, run as one batch, and the unmodified last
  block gives each view's global embedding from the same pass, so a caller gets the image embedding
  for free. The training-free papers' own setting (NACLIP, ClearCLIP, SCLIP: short side 336, 224
  windows, stride 112 for a 224-px ViT-B/16) is `short_side=papers_short_side(backbone)`.
- "single": the whole resized image, any aspect ratio, in one pass, with the position embeddings
  interpolated bicubically as NACLIP's `interpolate_pos_encoding` does (scale factor (n + 0.1) / √N
  per side, the "+0.1" trick) and NACLIP's Gaussian neighbourhood over the rectangular patch grid;
  CLIP's standard view runs as a second forward for the global embedding.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from components.errors import InputError
from components.backbone import patch_size, resnet_stages  # noqa: F401  (dense.patch_size / resnet_stages: older imports)
from components.features import FeatureCache, Features, content_key, model_identity

METHODS = ("naclip", "clearclip", "sclip", "maskclip", "vanilla")
DEFAULT_METHOD = "naclip"
METHOD_LABELS = {
    "naclip": "NACLIP (neighbourhood attention)",
    "clearclip": "ClearCLIP (q·q attention)",
    "sclip": "SCLIP (q·q + k·k attention)",
    "maskclip": "MaskCLIP (value path)",
    "vanilla": "vanilla CLIP (unchanged)",
}
NACLIP_SIGMA = 5.0  # patches
INFERENCE = ("windows", "single")
PAPERS_FACTOR = 1.5  # NACLIP / ClearCLIP / SCLIP: short side 336 = 1.5 × the 224-px input, windows 224, stride 112
POS_OFFSET = 0.1  # NACLIP's (and DINO's) interpolate_pos_encoding: scale factor (n + 0.1) / √N
MAX_ASPECT_RATIO = 6.0
MAX_WINDOWS = 64


@dataclass(frozen=True)
class DenseFeatures(Features):
    """Unit-length patch embeddings covering the whole image.

    features: (h, w, D) float32; cell (i, j) covers rows i·H/h … (i+1)·H/h and columns j·W/w …
    (j+1)·W/w of the original image of `image_size` = (H, W) pixels.
    global_embedding: (D,) CLIP's embedding of the standard centre-crop view of the image.
    key: `features_key` of the pixels, the model and the dense settings (components.features).
    """

    features: torch.Tensor
    global_embedding: torch.Tensor
    image_size: tuple[int, int]
    resized_size: tuple[int, int]
    patch_size: int
    windows: int
    method: str

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.features.shape[:2])

    def similarity(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(L, h, w) cosine similarity of every patch to each of L unit-length embeddings (L, D)."""
        return torch.einsum("hwd,ld->lhw", self.features, embeddings.to(self.features.dtype))

    def to_pixels(self, maps: torch.Tensor) -> torch.Tensor:
        """Upsample (..., h, w) maps bilinearly to (..., H, W), the original image's pixels."""
        lead = maps.shape[:-2]
        flat = maps.reshape(-1, 1, *maps.shape[-2:]).float()
        up = F.interpolate(flat, size=self.image_size, mode="bilinear", align_corners=False)
        return up.reshape(*lead, *self.image_size)


def papers_short_side(backbone) -> int:
    """The training-free papers' short side for this backbone: 1.5 × its input, a multiple of the
    patch size (336 for a 224-px ViT-B/16; with 224 windows at stride 112)."""
    patch = patch_size(backbone.model.visual)
    return max(backbone.image_size, round(backbone.image_size * PAPERS_FACTOR / patch) * patch)


def features_key(backbone, image: Image.Image, method: str | None = None, short_side: int | None = None,
                 inference: str = "windows") -> str:
    """The key of `dense_features(backbone, image, method, short_side, inference)`: the image's pixels,
    the model and the dense settings (None = the defaults, so equal settings give equal keys)."""
    return content_key("dense", image, model_identity(backbone), method or DEFAULT_METHOD,
                       int(short_side or backbone.image_size), inference)


def dense_features(backbone, image: Image.Image, method: str = DEFAULT_METHOD, short_side: int | None = None,
                   inference: str = "windows"):
    """Dense patch embeddings of a PIL image through `backbone` (a `ClipBackbone`); `inference`
    "windows" (sliding windows) or "single" (one pass, interpolated position embeddings)."""
    features = _dense_features(backbone, image, method, short_side, inference)
    return dataclasses.replace(features, key=features_key(backbone, image, method, short_side, inference))


def _dense_features(backbone, image: Image.Image, method: str, short_side: int | None, inference: str):
    if method not in METHODS:
        raise InputError(f"Unknown dense method {method!r}; choose one of: {', '.join(METHODS)}")
    if inference not in INFERENCE:
        raise InputError(f"Unknown dense inference {inference!r}; choose one of: {', '.join(INFERENCE)}")
    visual = backbone.model.visual
    image = image.convert("RGB")
    size = backbone.image_size
    patch = patch_size(visual)
    short_side = short_side or size
    if short_side < size or short_side % patch:
        raise InputError(f"The dense resolution must be a multiple of {patch} and at least {size} pixels")
    W, H = image.size
    if max(W, H) / min(W, H) > MAX_ASPECT_RATIO:
        raise InputError(
            f"The image is {W}×{H} pixels; images more than {MAX_ASPECT_RATIO:g} times wider than tall "
            "(or taller than wide) cannot be cut into CLIP windows. Crop it first."
        )
    scale = short_side / min(W, H)
    rw, rh = (max(size, round(W * scale / patch) * patch), max(size, round(H * scale / patch) * patch))
    resized = _normalised(image.resize((rw, rh), Image.BICUBIC), backbone)
    if inference == "single":
        return _single_pass(backbone, image, resized, method)
    tops, lefts = _window_starts(rh, size), _window_starts(rw, size)
    if len(tops) * len(lefts) > MAX_WINDOWS:
        raise InputError(f"That resolution needs {len(tops) * len(lefts)} CLIP windows; the limit is {MAX_WINDOWS}")
    views = [resized[:, t : t + size, l : l + size] for t in tops for l in lefts]
    standard = backbone.pixels([image])[0]
    standard_index = next((i for i, v in enumerate(views) if torch.equal(v, standard)), None)
    if standard_index is None:
        views.append(standard)
        standard_index = len(views) - 1

    batch = torch.stack(views).to(backbone.device)
    with torch.inference_mode():
        if hasattr(visual, "transformer"):
            patches, pooled = _vit_dense(visual, batch, method)
        elif hasattr(visual, "attnpool"):
            patches, pooled = _resnet_dense(visual, batch)
            method = "maskclip"  # a ResNet has no last attention block to modify: value path only
        elif hasattr(visual, "forward_dense"):  # any other tower may provide its own dense forward
            patches, pooled = visual.forward_dense(batch)
        else:
            raise InputError(
                f"Dense maps need a CLIP ViT or ResNet image tower; this model's is a {type(visual).__name__}. "
                "Pick one of the listed CLIP models."
            )
    backbone.image_forwards += len(views)
    patches = F.normalize(patches.float(), dim=-1).cpu()  # (N, g, g, D)
    grid = patches.shape[1]
    stride = size // grid  # pixels per patch cell in the resized image
    canvas = torch.zeros(rh // stride, rw // stride, patches.shape[-1])
    counts = torch.zeros(rh // stride, rw // stride, 1)
    for index, (t, l) in enumerate((t, l) for t in tops for l in lefts):
        canvas[t // stride : t // stride + grid, l // stride : l // stride + grid] += patches[index]
        counts[t // stride : t // stride + grid, l // stride : l // stride + grid] += 1
    features = F.normalize(canvas / counts, dim=-1)
    return DenseFeatures(
        features=features,
        global_embedding=F.normalize(pooled[standard_index].float().cpu(), dim=-1),
        image_size=(H, W),
        resized_size=(rh, rw),
        patch_size=stride,
        windows=len(tops) * len(lefts),
        method=method,
    )


def _single_pass(backbone, image: Image.Image, resized: torch.Tensor, method: str) -> DenseFeatures:
    """The whole resized image in one forward (position embeddings interpolated), and CLIP's standard
    view in a second one for the global embedding."""
    visual = backbone.model.visual
    standard = backbone.pixels([image])
    with torch.inference_mode():
        if hasattr(visual, "transformer"):
            patches, _ = _vit_dense(visual, resized[None].to(backbone.device), method)
            _, pooled = _vit_dense(visual, standard.to(backbone.device), method)
        elif hasattr(visual, "attnpool"):
            patches, _ = _resnet_dense(visual, resized[None].to(backbone.device), pool=False)  # any size
            pooled = visual.attnpool(resnet_stages(visual, standard.to(backbone.device))["layer4"])
            method = "maskclip"
        elif hasattr(visual, "forward_dense"):
            patches, _ = visual.forward_dense(resized[None].to(backbone.device))
            _, pooled = visual.forward_dense(standard.to(backbone.device))
        else:
            raise InputError(
                f"Dense maps need a CLIP ViT or ResNet image tower; this model's is a {type(visual).__name__}. "
                "Pick one of the listed CLIP models."
            )
    backbone.image_forwards += 2
    features = F.normalize(patches[0].float().cpu(), dim=-1)  # (gh, gw, D)
    rh, rw = resized.shape[-2:]
    return DenseFeatures(
        features=features,
        global_embedding=F.normalize(pooled[0].float().cpu(), dim=-1),
        image_size=(image.size[1], image.size[0]),
        resized_size=(rh, rw),
        patch_size=rh // features.shape[0],
        windows=1,
        method=method,
    )


def position_embedding(visual, grid_h: int, grid_w: int) -> torch.Tensor:
    """(1 + gh·gw, C) position embeddings for a gh × gw patch grid, as NACLIP's
    interpolate_pos_encoding makes them: the class position unchanged; the √N × √N patch positions
    resized bicubically with scale factors ((gh + 0.1)/√N, (gw + 0.1)/√N) (align_corners False). The
    model's own grid gets its own embeddings unchanged."""
    pe = visual.positional_embedding
    n = pe.shape[0] - 1
    side = math.isqrt(n)
    if (grid_h, grid_w) == (side, side):
        return pe
    patch = pe[1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch = F.interpolate(patch, scale_factor=((grid_h + POS_OFFSET) / side, (grid_w + POS_OFFSET) / side),
                          mode="bicubic")
    if patch.shape[-2:] != (grid_h, grid_w):
        raise InputError(f"Position embeddings could not be resized to a {grid_h}×{grid_w} grid.")
    patch = patch.permute(0, 2, 3, 1).reshape(grid_h * grid_w, -1)
    return torch.cat([pe[:1].float(), patch]).to(pe.dtype)


def _embeds(visual, pixels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """open_clip's VisionTransformer._embeds for any grid: patches, class token, the position
    embeddings of `position_embedding`, patch dropout, ln_pre. Returns the tokens and (gh, gw)."""
    x = visual.conv1(pixels)  # (N, width, gh, gw)
    grid = tuple(x.shape[-2:])
    side = math.isqrt(visual.positional_embedding.shape[0] - 1)
    if grid == (side, side):
        return visual._embeds(pixels), grid
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.reshape(1, 1, -1).expand(x.shape[0], -1, -1).to(x.dtype)
    x = torch.cat([cls, x], dim=1)
    x = x + position_embedding(visual, *grid).to(x.dtype)
    x = visual.patch_dropout(x)
    return visual.ln_pre(x), grid


def _window_starts(length: int, window: int) -> list[int]:
    stride = window // 2
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def _normalised(image: Image.Image, backbone) -> torch.Tensor:
    # torchvision on first use: its import costs the page's start-up seconds (issue 20)
    from torchvision.transforms.functional import normalize, to_tensor

    return normalize(to_tensor(image), backbone.mean, backbone.std)


# -- ViT -------------------------------------------------------------------------------------------
def _vit_dense(visual, pixels: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, g, g, D) projected patch tokens after the modified last block, and (N, D) pooled
    embeddings from the unmodified block, in one pass through the shared trunk."""
    transformer = visual.transformer
    if not getattr(transformer, "batch_first", True) or getattr(visual, "attn_pool", None) is not None:
        raise InputError(
            "Dense maps need a standard CLIP ViT (class-token pooling); this model pools with attention. "
            "Pick one of the listed CLIP models."
        )
    x, grid = _embeds(visual, pixels)
    *trunk, last = transformer.resblocks
    for block in trunk:
        x = block(x)
    pooled, _ = visual._pool(last(x))
    if visual.proj is not None:
        pooled = pooled @ visual.proj
    patches = last_block(last, x, method, grid)[:, 1:]
    patches = visual.ln_post(patches)
    if visual.proj is not None:
        patches = patches @ visual.proj
    return patches.reshape(len(pixels), *grid, -1), pooled


def last_block(block, x: torch.Tensor, method: str, grid: int | tuple[int, int]) -> torch.Tensor:
    """The last ViT block, modified by `method`. x: (N, 1 + gh·gw, C) tokens, class token first;
    grid: g or (gh, gw)."""
    if method == "vanilla":
        return block(x)
    q, k, v = _heads(block, block.ln_1(x))
    scale = q.shape[-1] ** -0.5
    if method == "naclip":
        logits = (k @ k.transpose(-2, -1)) * scale
        logits[..., 1:, 1:] += gaussian_window(grid, NACLIP_SIGMA).to(logits)
        attended = logits.softmax(-1) @ v
    elif method == "clearclip":
        attended = ((q @ q.transpose(-2, -1)) * scale).softmax(-1) @ v
    elif method == "sclip":
        attention = ((q @ q.transpose(-2, -1)) * scale).softmax(-1) + ((k @ k.transpose(-2, -1)) * scale).softmax(-1)
        attended = attention @ v
    elif method == "maskclip":
        attended = v
    else:
        raise InputError(f"Unknown dense method {method!r}")
    out = block.attn.out_proj(_merge_heads(attended))
    if method in ("naclip", "clearclip"):
        return out  # no residual, no FFN
    x = x + block.ls_1(out)
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _heads(block, x: torch.Tensor):
    attn = block.attn
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    n, t, _ = x.shape
    heads = attn.num_heads
    return [p.reshape(n, t, heads, -1).transpose(1, 2) for p in qkv.chunk(3, dim=-1)]


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    n, heads, t, d = x.shape
    return x.transpose(1, 2).reshape(n, t, heads * d)


def gaussian_window(grid: int | tuple[int, int], sigma: float) -> torch.Tensor:
    """(gh·gw, gh·gw) NACLIP bias exp(-‖pᵢ - pⱼ‖² / 2σ²) between patch positions, row-major, on a
    square (g) or rectangular (gh, gw) grid (NACLIP's window spans the whole grid, so this is its
    conv-built addition without the class row and column)."""
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], dim=1).float()
    return torch.exp(-torch.cdist(pos, pos).pow(2) / (2 * sigma**2))


# -- ResNet ----------------------------------------------------------------------------------------
def _resnet_dense(visual, pixels: torch.Tensor, pool: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, h, w, D) value-path embeddings of layer4, and (N, D) attention-pooled embeddings (pool=True;
    the pool's position embeddings need the model's input size)."""
    layer4 = resnet_stages(visual, pixels)["layer4"]
    pooled = visual.attnpool(layer4) if pool else None
    tokens = layer4.flatten(2).transpose(1, 2)  # (N, h·w, C)
    pool = visual.attnpool
    patches = pool.c_proj(pool.v_proj(tokens))
    g = layer4.shape[-1]
    return patches.reshape(len(pixels), layer4.shape[-2], g, -1), pooled


# -- one dense pass for several pipelines ------------------------------------------------------------
class SharedDense:
    """A `ClipBackbone` whose `dense(image, method, short_side)` answers from a feature cache.

    The Compare tab runs four pipelines on one image; each calls `backbone.dense` as usual, and the
    first call's features (keyed by `features_key`: pixels, model, method, resolution) answer the
    rest. The cache is a `components.features.FeatureCache` of the comparison's own (one run, one
    dense pass: the status counts what this comparison computed). Everything else (text cache,
    encoders, counters, attributes) is the wrapped backbone's own. `computed` counts the dense passes
    actually run, `reused` the calls answered from the cache."""

    def __init__(self, backbone, cache: FeatureCache | None = None):
        object.__setattr__(self, "_backbone", backbone)
        object.__setattr__(self, "_cache", cache if cache is not None else FeatureCache(max_entries=8))
        object.__setattr__(self, "computed", 0)
        object.__setattr__(self, "reused", 0)

    def __getattr__(self, name):
        return getattr(self._backbone, name)

    def __setattr__(self, name, value):
        # Counters a pipeline bumps (image_forwards += n) must land on the real backbone.
        if name in ("computed", "reused"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._backbone, name, value)

    @property
    def wrapped(self):
        return self._backbone

    def features_key(self, image: Image.Image, method: str | None = None, short_side: int | None = None) -> str:
        return features_key(self._backbone, image, method, short_side)

    def embed(self, image: Image.Image, method: str | None = None, short_side: int | None = None) -> DenseFeatures:
        return self._backbone.dense(image, method, short_side)

    def dense(self, image: Image.Image, method: str | None = None, short_side: int | None = None):
        features, reused = self._cache.embed_or_reuse(self, image, method, short_side)
        if reused:
            self.reused += 1
        else:
            self.computed += 1
        return features
