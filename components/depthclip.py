"""DepthCLIP: zero-shot monocular depth by asking CLIP how far away each patch is.

Zhang et al., *Can Language Understand Depth?*, ACM MM 2022 (METHODS.md §4). No training: depth is
turned into a classification over seven distance words, each tied to a depth bin in metres.

1. The image (and its mirror image, in one batch) goes through CLIP RN50's convolutional trunk; the
   layer4 map (2048 channels, 1/32 of the input) is taken *before* the attention pool.
2. Each location's 2048-vector is L2-normalised, then every second channel is kept (channels
   0, 2, 4, … — the official code's nearest 1-D interpolation at scale 0.5) to meet the 1024-d text
   embedding. There is no projection and no renormalisation afterwards.
3. The text side is "This object is {word}" for the seven words, one normalised embedding each.
4. logits = 100 · (feature · text) / 0.1 = 1000 · dot product; softmax over the words at every
   location; depth = Σ p · bin.
5. depth = 0.5 · (depth + flip(depth of the flipped image)); bilinear upsampling (align_corners=True)
   to the input's pixels.

Input normalisation: the official code feeds the network ImageNet's mean/std (its depth data loader),
not CLIP's; that is the default here ("imagenet") because it is what produced the paper's numbers.
CLIP's own mean/std ("clip") is offered; the means differ by < 0.005, but ImageNet's smaller std
makes the inputs 17–23 % larger than the ones CLIP was trained on.

Extension (not in the paper): `features="dense"` scores the training-free dense patch embeddings of
any CLIP (components.dense, e.g. a ViT) with the same words, bins and temperature.

Pay once, answer many times (components.features): `DepthCLIP.embed(image) -> DepthFeatures` runs
the image tower (steps 1–2, keyed by the pixels, the backbone and the view settings); `DepthCLIP(...)
(features)` applies that instance's words, bins and temperature (steps 3–5) with no image forward.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from components import dense
from components.errors import InputError
from components.features import Features, content_key, model_identity
from components.media import parse_labels
from components.prompts import DEPTHCLIP as TEMPLATES

# -- the paper's constants (official code) ---------------------------------------------------------
BACKBONE = ("RN50", "openai")
OBJECT = "object"  # the "{}" object word of "This {} is {}"
WORDS = ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
BINS = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)  # metres, in the order of WORDS
TEMPERATURE = 0.1
LOGIT_SCALE = 100.0  # fixed, not the model's learned scale: logits = 100 · dot / 0.1
CHANNEL_SCALE = 0.5  # layer4 channels → text width by nearest interpolation (keep 0, 2, 4, …)
FLIP = True
SHORT_SIDE = 416  # the official NYU input is 416×544 → a 13×17 layer4 map
RESNET_STRIDE = 32  # layer4 cells are 32×32 input pixels

NORMALIZATIONS = ("imagenet", "clip")
NORMALIZATION = "imagenet"  # the official code's choice (see the module docstring)
FEATURES = ("layer4", "dense")
FEATURE_LABELS = {
    "layer4": "ResNet layer4 map, attention pool skipped, every 2nd channel (the paper)",
    "dense": "dense patch embeddings (extension, any CLIP)",
}

# -- limits ----------------------------------------------------------------------------------------
MIN_WORDS, MAX_WORDS = 2, 20
MIN_SHORT_SIDE, MAX_SHORT_SIDE = 64, 768
MAX_ASPECT_RATIO = 4.0
MAX_BIN = 1000.0  # metres

# A pinhole camera for the 3-D relief when the image comes without calibration: NYU Depth v2's
# Kinect (focal 518.86 px at 640 px width, ≈ 63° horizontal field of view), scaled to the width.
NYU_FOCAL_PER_WIDTH = 518.8579 / 640


@dataclass(frozen=True)
class DepthFeatures(Features):
    """DepthCLIP's image side for one image (steps 1–2), before the words, bins and temperature.

    features: (V, h, w, D) the matched per-location features of each view (V = 2 with flip).
    image_size: (H, W) of the image; input_size: what the network saw; source / normalization: how.
    """

    features: np.ndarray
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    source: str
    normalization: str


@dataclass(frozen=True)
class DepthResult:
    """DepthCLIP's answer for one image.

    depth: (H, W) metres on the input image's pixels (flip-averaged, bilinear, align_corners=True).
    depth_grid: (h, w) metres per layer4 cell, flip-averaged; view_depths: (V, h, w) each view's depth
        before averaging (the flipped view already flipped back); V = 2 with flip, else 1.
    probs: (K, h, w) word probabilities per cell, flip-averaged the same way (depth_grid = Σ probs·bins).
    logits: (V, K, h, w) 1000 · dot products before the softmax (flipped view in its own orientation).
    features: (V, h, w, D) the matched per-location features that were scored (kept for `rescore`).
    image_size: (H, W) of the input image; input_size: (h·32, w·32) what the network saw.
    """

    depth: np.ndarray
    depth_grid: np.ndarray
    view_depths: np.ndarray
    probs: np.ndarray
    logits: np.ndarray
    features: np.ndarray
    words: tuple[str, ...]
    bins: np.ndarray
    temperature: float
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    flip: bool
    features_from: str
    normalization: str
    backbone: str

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.depth_grid.shape)

    def word_map(self, word: str | int) -> np.ndarray:
        """(H, W) probability of one word, upsampled like the depth."""
        index = word if isinstance(word, int) else self.words.index(word)
        return upsample(torch.from_numpy(self.probs[index]), self.image_size).numpy()

    def word_shares(self) -> list[tuple[str, float, float]]:
        """(word, bin, mean probability over the image) in the words' order."""
        return [(w, float(b), float(self.probs[i].mean())) for i, (w, b) in enumerate(zip(self.words, self.bins))]


class DepthCLIP:
    """`DepthCLIP(backbone)(image) -> DepthResult`, with the paper's defaults.

    backbone: a ClipBackbone; CLIP RN50 for the paper's method (`features="layer4"`), any CLIP for
        the dense extension (`features="dense"`).
    words / bins: distance words (prompted "This object is {word}") and their depths in metres.
    temperature: logits = 100 · dot / temperature.
    flip: average with the mirrored image, as the official evaluation does.
    short_side: the image is resized so its short side is this many pixels, both sides rounded to
        multiples of 32 (layer4 path; the dense path works at the model's own input size).
    normalization: "imagenet" (the official code) or "clip" (CLIP's mean/std), layer4 path only.
    dense_method: which training-free dense method the extension uses (components.dense.METHODS).
    """

    def __init__(
        self,
        backbone,
        words: Sequence[str] = WORDS,
        bins: Sequence[float] = BINS,
        temperature: float = TEMPERATURE,
        flip: bool = FLIP,
        short_side: int = SHORT_SIDE,
        normalization: str = NORMALIZATION,
        features: str = "layer4",
        dense_method: str = dense.DEFAULT_METHOD,
    ):
        self.backbone = backbone
        self.words = tuple(words)
        self.bins = np.asarray(bins, dtype=np.float64)
        _check_words_and_bins(self.words, self.bins)
        if not np.isfinite(temperature) or temperature <= 0:
            raise InputError(f"The temperature must be a positive number (the paper's is {TEMPERATURE}); got {temperature}.")
        self.temperature = float(temperature)
        self.flip = bool(flip)
        if not MIN_SHORT_SIDE <= int(short_side) <= MAX_SHORT_SIDE:
            raise InputError(
                f"The input height must be between {MIN_SHORT_SIDE} and {MAX_SHORT_SIDE} pixels; got {short_side}."
            )
        self.short_side = int(short_side)
        if normalization not in NORMALIZATIONS:
            raise InputError(f"Unknown normalisation {normalization!r}; choose one of: {', '.join(NORMALIZATIONS)}")
        self.normalization = normalization
        if features not in FEATURES:
            raise InputError(f"Unknown feature source {features!r}; choose one of: {', '.join(FEATURES)}")
        if features == "layer4" and not backbone.is_resnet:
            raise InputError(
                f"DepthCLIP's layer4 features need a CLIP ResNet (the paper uses RN50); {backbone.model_name} "
                "has no ResNet tower. Use the dense-patch extension for this model."
            )
        if features == "layer4":
            pool = backbone.attention_pool
            channels = getattr(getattr(pool, "k_proj", None), "in_features", None)  # = layer4's channels
            if channels is not None:
                match_channels(torch.empty(0, channels), backbone.embed_dim)  # fail before any forward
        self.features = features
        if dense_method not in dense.METHODS:
            raise InputError(f"Unknown dense method {dense_method!r}; choose one of: {', '.join(dense.METHODS)}")
        self.dense_method = dense_method

    # -- 1–2: image features ---------------------------------------------------------------------
    def __call__(self, image: Image.Image | DepthFeatures) -> DepthResult:
        """Depth of a PIL image (any size within the aspect-ratio limit), or of the `DepthFeatures`
        of an earlier `embed` (no image forward; they must come from this backbone)."""
        features = image if isinstance(image, DepthFeatures) else self.embed(image)
        return self._score(torch.from_numpy(features.features), features.image_size, features.input_size,
                           features.source, features.normalization)

    def features_key(self, image: Image.Image) -> str:
        """The key of `embed(image)`: the pixels, the backbone and the settings the features depend
        on (the feature source, flip, the input height and normalisation or the dense method)."""
        view = (self.short_side, self.normalization) if self.features == "layer4" else (self.dense_method,)
        return content_key("depthclip", image, model_identity(self.backbone), self.features, self.flip, *view)

    def embed(self, image: Image.Image) -> DepthFeatures:
        """Steps 1–2: the image (and its mirror) through the network, matched to the text width."""
        image = image.convert("RGB")
        if self.features == "layer4":
            feats, input_size, source, normalization = self._layer4(image)
        else:
            feats, input_size, source, normalization = self._dense(image)
        return DepthFeatures(key=self.features_key(image), features=feats.numpy(), image_size=(image.size[1], image.size[0]),
                             input_size=tuple(input_size), source=source, normalization=normalization)

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """(V, 3, h·32, w·32) what the network sees: the resized, normalised image and, with flip,
        its mirror image."""
        from open_clip.constants import IMAGENET_MEAN, IMAGENET_STD  # imported on first use, as in `backbone`
        from torchvision.transforms.functional import normalize, to_tensor

        rw, rh = input_size(image.size, self.short_side)
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if self.normalization == "imagenet" else (self.backbone.mean, self.backbone.std)
        x = normalize(to_tensor(image.convert("RGB").resize((rw, rh), Image.BICUBIC)), mean, std)
        views = [x, x.flip(-1)] if self.flip else [x]
        return torch.stack(views)

    def _layer4(self, image: Image.Image):
        pixels = self.pixels(image)
        with torch.inference_mode():
            # The convolutional trunk only: DepthCLIP skips the attention pool.
            layer4 = self.backbone.resnet_stages(pixels.to(self.backbone.device))["layer4"]
        self.backbone.image_forwards += len(pixels)
        maps = F.normalize(layer4.float().permute(0, 2, 3, 1).cpu(), dim=-1)  # (V, h, w, C), unit length
        matched = match_channels(maps, self.backbone.embed_dim)  # (V, h, w, C/2), not renormalised
        source = f"{self.backbone.model_name} layer4 ({maps.shape[-1]} ch → every 2nd = {matched.shape[-1]})"
        return matched, tuple(pixels.shape[-2:]), source, self.normalization

    def _dense(self, image: Image.Image):
        views = [image, ImageOps.mirror(image)] if self.flip else [image]
        maps = [self.backbone.dense(view, self.dense_method) for view in views]
        feats = torch.stack([m.features for m in maps])  # (V, h, w, D), unit length
        source = f"{self.backbone.model_name} dense patches ({dense.METHOD_LABELS[maps[0].method]}; extension)"
        return feats, maps[0].resized_size, source, "clip"

    # -- 3–5: words, softmax, bins, flip average ----------------------------------------------------
    def rescore(self, result: DepthResult) -> DepthResult:
        """`self(features)` for the features `result` was scored from: this instance's words, bins and
        temperature, no image forward. (Its features must come from this backbone.)"""
        return self(DepthFeatures(features=result.features, image_size=result.image_size,
                                  input_size=result.input_size, source=result.features_from,
                                  normalization=result.normalization))

    def text_features(self) -> torch.Tensor:
        """(K, D) unit-length embeddings of "This object is {word}", cached by the backbone."""
        return self.backbone.text_classifier(self.words, TEMPLATES)

    def _score(self, feats: torch.Tensor, image_size, input_size, source: str, normalization: str) -> DepthResult:
        text = self.text_features()
        if feats.shape[-1] != text.shape[-1]:
            raise InputError(
                f"These features have {feats.shape[-1]} channels but {self.backbone.model_name}'s text "
                f"embeddings have {text.shape[-1]}; re-run the image with this model."
            )
        logits = depth_logits(feats, text, self.temperature)  # (V, K, h, w)
        probs = logits.softmax(dim=1)
        bins = torch.from_numpy(self.bins).float()
        view_depths = (probs * bins[None, :, None, None]).sum(1)  # (V, h, w)
        if len(feats) == 2:
            depth_grid = flip_average(view_depths[0], view_depths[1])
            mean_probs = flip_average(probs[0], probs[1])
            view_depths = torch.stack([view_depths[0], view_depths[1].flip(-1)])
        else:
            depth_grid, mean_probs = view_depths[0], probs[0]
        return DepthResult(
            depth=upsample(depth_grid, image_size).numpy(),
            depth_grid=depth_grid.numpy(),
            view_depths=view_depths.numpy(),
            probs=mean_probs.numpy(),
            logits=logits.numpy(),
            features=feats.numpy(),
            words=self.words,
            bins=self.bins.copy(),
            temperature=self.temperature,
            image_size=tuple(image_size),
            input_size=tuple(input_size),
            flip=len(feats) == 2,
            features_from=source,
            normalization=normalization,
            backbone=self.backbone.describe(),
        )


# -- the formula, piece by piece (tested one by one) ------------------------------------------------
def is_resnet(visual) -> bool:
    return all(hasattr(visual, name) for name in ("stem", "layer4", "attnpool"))


def match_channels(maps: torch.Tensor, embed_dim: int) -> torch.Tensor:
    """(..., C) → (..., C/2): the official nearest 1-D interpolation at scale 0.5 along channels,
    i.e. channels 0, 2, 4, …; no renormalisation. Needs C = 2 · embed_dim (RN50: 2048 → 1024)."""
    channels = maps.shape[-1]
    if channels != round(embed_dim / CHANNEL_SCALE):
        raise InputError(
            f"DepthCLIP matches a layer4 map to the text embedding by keeping every second channel, "
            f"which needs twice as many channels as the embedding (RN50: 2048 → 1024); this model's "
            f"layer4 has {channels} channels for a {embed_dim}-d embedding. Use RN50, or the dense "
            "extension for other models."
        )
    return maps[..., ::2]


def depth_logits(feats: torch.Tensor, text: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """(V, h, w, D) features · (K, D) text → (V, K, h, w) logits = 100 · dot / temperature."""
    return torch.einsum("vhwd,kd->vkhw", feats.float(), text.float()) * (LOGIT_SCALE / temperature)


def depth_from_logits(logits: torch.Tensor, bins: Sequence[float] = BINS) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., K, h, w) logits → depth (..., h, w) = Σ softmax_K(logits) · bin, and the probabilities."""
    probs = logits.softmax(dim=-3)
    b = torch.as_tensor(np.asarray(bins, dtype=np.float32))
    return (probs * b[:, None, None]).sum(-3), probs


def flip_average(a: torch.Tensor, a_of_flipped: torch.Tensor) -> torch.Tensor:
    """0.5 · (a + flip(a of the flipped image)), flipping the last (width) axis."""
    return 0.5 * (a + a_of_flipped.flip(-1))


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) → (..., H, W), bilinear with align_corners=True as the official evaluation."""
    lead = maps.shape[:-2]
    flat = maps.reshape(-1, 1, *maps.shape[-2:]).float()
    up = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=True)
    return up.reshape(*lead, *size)


def input_size(size: tuple[int, int], short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """(width, height) the network sees: short side `short_side`, both sides multiples of 32."""
    W, H = size
    if max(W, H) / min(W, H) > MAX_ASPECT_RATIO:
        raise InputError(
            f"The image is {W}×{H} pixels; DepthCLIP here takes images at most {MAX_ASPECT_RATIO:g} times "
            "wider than tall (or taller than wide). Crop it first."
        )
    scale = short_side / min(W, H)
    side = lambda n: max(RESNET_STRIDE, round(n * scale / RESNET_STRIDE) * RESNET_STRIDE)  # noqa: E731
    return side(W), side(H)


# -- words and bins from text -----------------------------------------------------------------------
def parse_words(text: str | Sequence[str]) -> tuple[str, ...]:
    """Distance words, comma/semicolon/newline separated, in order (nearest first)."""
    try:
        words = parse_labels(text, max_labels=MAX_WORDS).labels
    except InputError as error:
        if "at least one" in str(error):
            raise InputError(f"Give the distance words, nearest first, e.g. “{', '.join(WORDS)}”.") from None
        raise InputError(f"Give at most {MAX_WORDS} distance words.") from None
    if len(words) < MIN_WORDS:
        raise InputError(f"Give at least {MIN_WORDS} distance words, so there is something to choose between.")
    return words


_NUMBER_SEPARATORS = re.compile(r"[,;\s]+")


def parse_bins(text: str | Sequence[float]) -> tuple[float, ...]:
    """Depth bins in metres from "1.00, 1.50, …" (commas, semicolons or spaces)."""
    if isinstance(text, str):
        items = [t for t in _NUMBER_SEPARATORS.split(text.strip()) if t]
        try:
            values = tuple(float(t) for t in items)
        except ValueError:
            bad = next(t for t in items if not _is_number(t))
            raise InputError(f"“{bad[:20]}” is not a number; give the depth bins in metres, e.g. “{_bins_text(BINS)}”.") from None
    else:
        values = tuple(float(v) for v in text)
    if not values:
        raise InputError(f"Give one depth bin (metres) per word, e.g. “{_bins_text(BINS)}”.")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _bins_text(bins) -> str:
    return ", ".join(f"{b:.2f}" for b in bins)


def _check_words_and_bins(words: tuple[str, ...], bins: np.ndarray) -> None:
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        raise InputError(f"Give between {MIN_WORDS} and {MAX_WORDS} distance words; got {len(words)}.")
    if any(not isinstance(w, str) or not w.strip() for w in words):
        raise InputError("A distance word is empty; give words such as “close” or “far”.")
    if bins.ndim != 1 or len(bins) != len(words):
        raise InputError(f"Give exactly one depth bin per word: {len(words)} words but {bins.size} bins.")
    if not np.isfinite(bins).all() or (bins <= 0).any() or (bins > MAX_BIN).any():
        raise InputError(f"Depth bins must be positive numbers of metres, at most {MAX_BIN:g}.")


# -- a 3-D view: lift pixels with a pinhole camera ----------------------------------------------------
def lift_to_points(
    depth: np.ndarray,
    focal: float | None = None,
    principal: tuple[float, float] | None = None,
    max_points: int = 12_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-project a (H, W) depth map (metres) through a pinhole camera:
    X = (u - cx)·Z/f, Y = (v - cy)·Z/f, Z = depth. focal in pixels (default: NYU's Kinect scaled to
    the width), principal point (cx, cy) in pixels (default: the centre). Pixels are taken on a
    regular grid of at most `max_points`; non-finite depths are skipped.
    Returns points (N, 3) and the rows (N,) and columns (N,) they came from."""
    H, W = depth.shape
    f = float(focal) if focal else NYU_FOCAL_PER_WIDTH * W
    cx, cy = principal if principal else ((W - 1) / 2, (H - 1) / 2)
    step = max(1, int(np.ceil(np.sqrt(H * W / max_points))))
    rows, cols = np.mgrid[0:H:step, 0:W:step]
    rows, cols = rows.ravel(), cols.ravel()
    z = depth[rows, cols].astype(np.float64)
    keep = np.isfinite(z)
    rows, cols, z = rows[keep], cols[keep], z[keep]
    points = np.stack([(cols - cx) * z / f, (rows - cy) * z / f, z], axis=1)
    return points, rows, cols


# -- ground truth: a calibrated stereo pair (Middlebury) ----------------------------------------------
@dataclass(frozen=True)
class StereoCalibration:
    """Middlebury's calibration: depth = focal · baseline / (disparity + doffs)."""

    focal_px: float
    baseline_mm: float
    doffs_px: float
    cx: float
    cy: float


# scikit-image's `stereo_motorcycle` (Middlebury 2014, downsampled 4×), as its docstring gives it.
MOTORCYCLE = StereoCalibration(focal_px=994.978, baseline_mm=193.001, doffs_px=31.086, cx=311.193, cy=254.877)


def disparity_to_depth(disparity: np.ndarray, calibration: StereoCalibration = MOTORCYCLE) -> np.ndarray:
    """(H, W) disparity in pixels → depth in metres; NaN where the disparity is unknown (NaN/inf)."""
    d = np.asarray(disparity, dtype=np.float64)
    known = np.isfinite(d) & (d + calibration.doffs_px > 0)
    depth = np.full(d.shape, np.nan)
    depth[known] = calibration.focal_px * calibration.baseline_mm / 1000.0 / (d[known] + calibration.doffs_px)
    return depth


@dataclass(frozen=True)
class StereoReference:
    """A photo whose depth is known: the left view of a calibrated stereo pair and its disparity map
    (.npy or .npz), e.g. scikit-image's Middlebury motorcycle."""

    left: str  # path of the left view (the photo a person runs)
    disparity: str  # path of its disparity map, in pixels
    calibration: StereoCalibration = MOTORCYCLE


@functools.lru_cache(maxsize=2)
def _reference_arrays(reference: StereoReference) -> tuple[np.ndarray, np.ndarray]:
    """The reference's left view as (H, W, 3) uint8 pixels and its depth in metres (NaN unknown)."""
    pixels = np.asarray(Image.open(reference.left).convert("RGB"))
    return pixels, disparity_to_depth(load_disparity(reference.disparity), reference.calibration)


def reference_depth(image: Image.Image, reference: StereoReference) -> np.ndarray | None:
    """(H, W) ground-truth depth in metres when `image` is exactly the reference's left view (the
    same size and pixels, however it was uploaded); None for any other image."""
    pixels, truth = _reference_arrays(reference)
    if image.size != (pixels.shape[1], pixels.shape[0]) or not np.array_equal(np.asarray(image), pixels):
        return None
    return truth


def relief_points(image: Image.Image, depth: np.ndarray, calibration: StereoCalibration | None = None,
                  max_points: int = 12_000) -> tuple[np.ndarray, np.ndarray]:
    """The depth map lifted through a pinhole camera (`lift_to_points`): points (N, 3) in metres and
    their pixels' colours (N, 3) uint8. The camera is the calibration's when given (focal, principal
    point), else NYU's Kinect scaled to the width."""
    camera = {} if calibration is None else dict(focal=calibration.focal_px, principal=(calibration.cx, calibration.cy))
    points, rows, cols = lift_to_points(depth, max_points=max_points, **camera)
    return points, np.asarray(image.convert("RGB"))[rows, cols]


def load_disparity(path: str | Path) -> np.ndarray:
    """A disparity map from .npy or .npz (its first array), never unpickled."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"{Path(path).name} is not a readable .npy/.npz disparity map ({error}).") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if not data.files:
                raise InputError(f"{Path(path).name} holds no arrays.")
            data = data[data.files[0]]
    array = np.asarray(data, dtype=np.float64)
    if array.ndim == 3:  # (H, W, C) copies of one map: one channel is enough
        array = array[..., 0]
    if array.ndim != 2:
        raise InputError(f"A disparity map must be (H, W); got shape {array.shape}.")
    return array


@dataclass(frozen=True)
class DepthComparison:
    """Prediction vs ground truth on the pixels whose truth is known. Scale-invariant numbers: the
    prediction is first multiplied by `scale` = median(truth) / median(prediction)."""

    valid_pixels: int
    scale: float
    delta1: float  # share of pixels with max(p/t, t/p) < 1.25, after median scaling
    delta2: float  # … < 1.25²
    delta3: float  # … < 1.25³
    abs_rel: float  # mean |p - t| / t, after median scaling
    spearman: float  # rank correlation (no scaling needed); NaN when either map is constant
    raw_delta1: float  # δ1 without scaling: DepthCLIP's metres taken literally
    flat_delta1: float  # δ1 of a flat map at median(truth): the score that needs no picture at all


def compare_depth(prediction: np.ndarray, truth: np.ndarray) -> DepthComparison:
    if prediction.shape != truth.shape:
        raise InputError(f"Prediction {prediction.shape} and ground truth {truth.shape} differ in size.")
    valid = np.isfinite(truth) & (truth > 0) & np.isfinite(prediction) & (prediction > 0)
    if not valid.any():
        raise InputError("The ground truth has no known depth to compare with.")
    p, t = prediction[valid].astype(np.float64), truth[valid].astype(np.float64)
    scale = float(np.median(t) / np.median(p))
    ratio = np.maximum(p * scale / t, t / (p * scale))
    raw = np.maximum(p / t, t / p)
    return DepthComparison(
        valid_pixels=int(valid.sum()),
        scale=scale,
        delta1=float((ratio < 1.25).mean()),
        delta2=float((ratio < 1.25**2).mean()),
        delta3=float((ratio < 1.25**3).mean()),
        abs_rel=float((np.abs(p * scale - t) / t).mean()),
        spearman=spearman(p, t),
        raw_delta1=float((raw < 1.25).mean()),
        flat_delta1=float((np.maximum(np.median(t) / t, t / np.median(t)) < 1.25).mean()),
    )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts - 1) / 2.0)[inverse]
