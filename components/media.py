"""Validated loading of what people upload: images and label lists.

Everything here turns a bad input into `InputError` with a message a person can act on, and states
its limits as named constants so the UI can show them.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from components.errors import InputError

MAX_UPLOAD_MB = 25
MAX_DECODE_MEGAPIXELS = 40  # refused above this before decoding (decompression-bomb guard)
MAX_IMAGE_SIDE = 2048  # larger images are downscaled to this long side
MIN_IMAGE_SIDE = 16
MAX_LABELS = 100
IMAGE_FORMATS = "PNG, JPEG, WebP, BMP, GIF or TIFF"

# Our own guard (right after the header is read, before decoding) gives the clear message; PIL's
# own check, which fires inside Image.open, stays as a backstop far above it.
Image.MAX_IMAGE_PIXELS = MAX_DECODE_MEGAPIXELS * 10_000_000


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for a pipeline, with what was done to it on the way."""

    image: Image.Image
    name: str
    original_size: tuple[int, int]  # (width, height) as uploaded, after EXIF rotation
    notes: tuple[str, ...] = ()


def limits_text() -> str:
    return (
        f"Images: {IMAGE_FORMATS}, up to {MAX_UPLOAD_MB} MB and {MAX_DECODE_MEGAPIXELS} megapixels; "
        f"larger than {MAX_IMAGE_SIDE} px on a side is downscaled; at least {MIN_IMAGE_SIDE} px a side."
    )


def load_image(source, *, max_side: int = MAX_IMAGE_SIDE) -> LoadedImage:
    """Decode and validate an image: a path, bytes, a PIL image or an (H, W[, C]) array.

    Returns RGB, EXIF orientation applied, transparency composited on white, the first frame of an
    animation, downscaled (Lanczos) to `max_side` on its long side.
    """
    if source is None or (isinstance(source, (str, bytes)) and not source):
        raise InputError("Upload an image first, or pick one of the examples.")
    if isinstance(source, Image.Image):
        return _finish(source, "image", [], max_side)
    if isinstance(source, np.ndarray):
        return _finish(_from_array(source), "array", [], max_side)
    if isinstance(source, bytes):
        name, data = "upload", source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise InputError(f"{name} could not be found; upload it again.")
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"{name} is empty (0 bytes); upload the image again.")
        if size > MAX_UPLOAD_MB * 2**20:
            raise InputError(f"{name} is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
        data = path.read_bytes()
    else:
        raise InputError(f"Expected an image file, got {type(source).__name__}.")
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise InputError(f"The image is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
    return _decode(data, name, max_side)


def _decode(data: bytes, name: str, max_side: int) -> LoadedImage:
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_pixels(image.size, name)
            if getattr(image, "n_frames", 1) > 1:
                notes.append(f"{name} has {image.n_frames} frames; the first is used.")
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced scale when large
            image.load()
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        if isinstance(error, UnidentifiedImageError):
            raise InputError(f"{name} is not an image CLIP Lab can read; use {IMAGE_FORMATS}.") from None
        raise InputError(
            f"{name} is too large to decode safely (limit {MAX_DECODE_MEGAPIXELS} megapixels)."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InputError(f"{name} is damaged or truncated and cannot be decoded ({error}).") from None
    return _finish(image, name, notes, max_side)


def _check_pixels(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_DECODE_MEGAPIXELS * 1_000_000:
        raise InputError(
            f"{name} is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); the limit is "
            f"{MAX_DECODE_MEGAPIXELS} megapixels. Downscale it first."
        )


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InputError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}.")
    if array.size == 0:
        raise InputError("The image array is empty.")
    _check_pixels((array.shape[1], array.shape[0]), "The array")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError("The image array contains NaN or infinite values.")
        if values.max() <= 1.0:
            values = values * 255.0
        array = np.clip(values, 0, 255).round().astype(np.uint8)
    return Image.fromarray(array)


def _finish(image: Image.Image, name: str, notes: list[str], max_side: int) -> LoadedImage:
    _check_pixels(image.size, name)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not cost the picture
        notes.append(f"{name}: its EXIF orientation could not be read and was ignored.")
    rgb = _to_rgb(image)
    w, h = rgb.size
    if min(w, h) < MIN_IMAGE_SIDE:
        raise InputError(
            f"{name} is {w}×{h} pixels; give an image at least {MIN_IMAGE_SIDE} pixels on each side."
        )
    original = (w, h)
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
        notes.append(f"{name} was downscaled from {w}×{h} to {rgb.size[0]}×{rgb.size[1]} pixels.")
    return LoadedImage(rgb, name, original, tuple(notes))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        top = finite.max() if finite.size else 1.0
        image = Image.fromarray((np.clip(np.nan_to_num(values) / (top or 1.0), 0, 1) * 255).astype(np.uint8))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


# -- labels ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelList:
    labels: tuple[str, ...]
    notes: tuple[str, ...] = ()


_SEPARATORS = re.compile(r"[,;\n]+")


def parse_labels(
    text: str | Sequence[str] | None,
    *,
    max_labels: int = MAX_LABELS,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 60,
    separators: re.Pattern = _SEPARATORS,
) -> LabelList:
    """Split a label list on commas, semicolons and newlines; strip, drop empties and duplicates
    (case-insensitive, first kept). Labels whose tokens (per `count_tokens`) exceed `max_tokens`
    are cut at a word boundary with a note, so label plus prompt fits CLIP's 77-token context."""
    if text is None:
        raw: list[str] = []
    elif isinstance(text, str):
        raw = separators.split(text)
    else:
        raw = [str(t) for t in text]
    labels: list[str] = []
    seen: set[str] = set()
    notes: list[str] = []
    for item in raw:
        label = _clean(item)
        if not label or label.casefold() in seen:
            continue
        seen.add(label.casefold())
        labels.append(label)
    if not labels:
        raise InputError("Give at least one label, e.g. “cat, dog, car” (separate labels with commas).")
    if len(labels) > max_labels:
        raise InputError(
            f"You gave {len(labels)} labels; the limit here is {max_labels}. Remove some and try again."
        )
    if count_tokens is not None:
        for i, label in enumerate(labels):
            if count_tokens(label) > max_tokens:
                short = _truncate(label, count_tokens, max_tokens)
                notes.append(f"“{label[:40]}…” was cut to “{short}” to fit CLIP's text length.")
                labels[i] = short
    return LabelList(tuple(labels), tuple(notes))


_ZERO_WIDTH_JOINER = "\u200d"  # kept: it binds multi-part emoji


def _clean(item: str) -> str:
    """Control and invisible format characters (zero-width spaces, direction marks) removed,
    whitespace collapsed."""
    item = "".join(
        ch for ch in item if unicodedata.category(ch) not in ("Cc", "Cf") or ch == _ZERO_WIDTH_JOINER
    )
    item = " ".join(item.split())
    return item if item.strip(_ZERO_WIDTH_JOINER) else ""


def _truncate(label: str, count_tokens: Callable[[str], int], max_tokens: int) -> str:
    # every word is at least one token, so no more than max_tokens words can fit: start there, not
    # from a pasted page (dropping one word at a time from thousands re-tokenises it thousands of times)
    words = label.split()[:max_tokens]
    while len(words) > 1 and count_tokens(" ".join(words)) > max_tokens:
        words.pop()
    short = " ".join(words)
    while count_tokens(short) > max_tokens and len(short) > 1:  # one very long "word"
        short = short[: len(short) * 3 // 4]
    return short
