"""Maps a person can take elsewhere: label maps as indexed PNGs with a legend, depth as 16-bit PNG and `.npy`.

Label maps (LSeg, GroupViT): an indexed PNG (PIL mode "P", 8 bits) whose pixel values *are* the class
indices of the label map — class `i` of `names` is the value `i`, background (`-1` in the label map) is
`BACKGROUND_INDEX` (255, the "void" value PASCAL VOC's PNGs use) — and whose palette holds each class's
colour, so an image viewer shows the colours and `np.asarray(Image.open(path))` gives the indices back.
A legend JSON beside it names each index: label, colour, pixel count and share.

Depth (DepthCLIP): a 16-bit greyscale PNG of millimetres (`round(metres × 1000)`, clipped to
`DEPTH_MM_RANGE` = 1–65 535 mm, 0 where there is no depth), the `.npy` of the metres themselves
(float32, NaN where there is no depth; read it with `np.load(path, allow_pickle=False)`), and a JSON
legend saying the unit, the scale, the clipping range and how many pixels were clipped.

UI-free: numpy and PIL only; the tabs hand over the arrays and offer the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

BACKGROUND_INDEX = 255  # the PNG value of background pixels (-1 in a label map)
BACKGROUND_COLOUR = (128, 128, 128)  # grey, as the overlays draw background
MAX_CLASSES = BACKGROUND_INDEX  # classes 0–254 fit in 8 bits beside the background value
MM_PER_METRE = 1000
DEPTH_MM_RANGE = (1, 65535)  # what a 16-bit PNG holds; 0 is kept for "no depth"
NO_DEPTH = 0
LEGEND_FORMAT = "clip-lab-label-map/1"
DEPTH_FORMAT = "clip-lab-depth/1"


@dataclass(frozen=True)
class LabelMapFiles:
    """The two files of one label map: the indexed PNG and its legend JSON (paths)."""

    png: str
    legend: str

    @property
    def paths(self) -> list[str]:
        return [self.png, self.legend]


@dataclass(frozen=True)
class DepthFiles:
    """The three files of one depth map: 16-bit PNG (mm), `.npy` (metres) and the legend JSON (paths)."""

    png: str
    npy: str
    legend: str

    @property
    def paths(self) -> list[str]:
        return [self.png, self.npy, self.legend]


# -- label maps ----------------------------------------------------------------------------------
def rgb(colour) -> tuple[int, int, int]:
    """A colour as an (r, g, b) tuple of 0–255 ints, from "#rrggbb" or a triple."""
    if isinstance(colour, str):
        text = colour.lstrip("#")
        assert re.fullmatch(r"[0-9a-fA-F]{6}", text), f"expected a colour '#rrggbb', got {colour!r}"
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
    r, g, b = (int(c) for c in colour)
    assert all(0 <= c <= 255 for c in (r, g, b)), f"expected 0–255 channels, got {colour!r}"
    return r, g, b


def hex_of(colour) -> str:
    return "#%02x%02x%02x" % rgb(colour)


def indexed_label_map(label_map: np.ndarray, names: Sequence[str], colours: Sequence) -> Image.Image:
    """A (H, W) int label map (index into `names`, -1 background) as a PIL mode "P" image: pixel
    value = class index, `BACKGROUND_INDEX` for background; palette entry i = colours[i]."""
    label_map = np.asarray(label_map)
    assert label_map.ndim == 2, f"expected a (H, W) label map, got shape {label_map.shape}"
    assert len(colours) == len(names), f"expected one colour per class ({len(names)}), got {len(colours)}"
    if len(names) > MAX_CLASSES:
        raise ValueError(f"an indexed PNG holds at most {MAX_CLASSES} classes beside the background; got {len(names)}")
    if label_map.size and (label_map.max() >= len(names) or label_map.min() < -1):
        raise ValueError(f"label map values must lie in -1…{len(names) - 1} (got {label_map.min()}…{label_map.max()})")
    values = np.where(label_map < 0, BACKGROUND_INDEX, label_map).astype(np.uint8)
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colours)] = [rgb(c) for c in colours]
    palette[BACKGROUND_INDEX] = BACKGROUND_COLOUR
    picture = Image.fromarray(values)  # mode "L"; putpalette makes it "P" with the same values
    picture.putpalette(palette.ravel().tolist())
    return picture


def label_map_legend(label_map: np.ndarray, names: Sequence[str], colours: Sequence, *, png: str = "",
                     source: str = "") -> dict:
    """The legend of an indexed label-map PNG: each class index with its label, colour, pixel count
    and share of the image, then the background's."""
    label_map = np.asarray(label_map)
    counts = np.bincount(label_map.ravel() + 1, minlength=len(names) + 1) if label_map.size else np.zeros(len(names) + 1, int)
    total = max(1, int(label_map.size))
    classes = [{"index": i, "label": str(name), "colour": hex_of(colours[i]), "pixels": int(counts[i + 1]),
                "share": round(int(counts[i + 1]) / total, 6)} for i, name in enumerate(names)]
    return {
        "format": LEGEND_FORMAT,
        "image": png,
        "source": source,
        "how_to_read": "The PNG is indexed (palette, 8 bits): each pixel's value is its class index below; "
                       f"{BACKGROUND_INDEX} is background. In Python: numpy.asarray(PIL.Image.open(png)).",
        "width": int(label_map.shape[1]) if label_map.ndim == 2 else 0,
        "height": int(label_map.shape[0]) if label_map.ndim == 2 else 0,
        "classes": classes,
        "background": {"index": BACKGROUND_INDEX, "label": "background", "colour": hex_of(BACKGROUND_COLOUR),
                       "pixels": int(counts[0]), "share": round(int(counts[0]) / total, 6)},
    }


def write_label_map(label_map: np.ndarray, names: Sequence[str], colours: Sequence, folder: str | Path,
                    stem: str = "labels", *, source: str = "") -> LabelMapFiles:
    """Write `<stem>.png` (indexed, pixel value = class index) and `<stem>-legend.json` into `folder`."""
    folder, stem = Path(folder), _safe(stem)
    png, legend = folder / f"{stem}.png", folder / f"{stem}-legend.json"
    info = PngInfo()
    info.add_text("Description", f"Label map: pixel value = class index, {BACKGROUND_INDEX} = background; "
                                 f"the names are in {legend.name}.")
    if source:
        info.add_text("Source", source)
    indexed_label_map(label_map, names, colours).save(png, pnginfo=info)
    legend.write_text(json.dumps(label_map_legend(label_map, names, colours, png=png.name, source=source),
                                 indent=2, ensure_ascii=False), encoding="utf-8")
    return LabelMapFiles(str(png), str(legend))


def read_label_map(path: str | Path) -> np.ndarray:
    """An indexed label-map PNG back as a (H, W) int32 label map, background -1."""
    with Image.open(path) as picture:
        if picture.mode != "P":
            raise ValueError(f"{Path(path).name} is not an indexed (palette) PNG but mode {picture.mode}")
        values = np.asarray(picture).astype(np.int32)
    return np.where(values == BACKGROUND_INDEX, -1, values)


# -- depth ---------------------------------------------------------------------------------------
def depth_millimetres(depth_m: np.ndarray) -> tuple[np.ndarray, dict]:
    """(H, W) metres → (H, W) uint16 millimetres, rounded and clipped to `DEPTH_MM_RANGE`, `NO_DEPTH`
    where the depth is not finite; with the counts of pixels clipped below, above and missing."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    assert depth_m.ndim == 2, f"expected a (H, W) depth map in metres, got shape {depth_m.shape}"
    finite = np.isfinite(depth_m)
    mm = np.where(finite, np.round(depth_m * MM_PER_METRE), 0.0)
    lo, hi = DEPTH_MM_RANGE
    counts = {"below": int(np.count_nonzero(finite & (mm < lo))), "above": int(np.count_nonzero(finite & (mm > hi))),
              "missing": int(np.count_nonzero(~finite))}
    out = np.clip(mm, lo, hi).astype(np.uint16)
    out[~finite] = NO_DEPTH
    return out, counts


def depth_legend(depth_m: np.ndarray, clipped: dict, *, png: str = "", npy: str = "", source: str = "") -> dict:
    """What the depth files hold: the unit, the scale, the clipping range, the depth's own range."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    finite = depth_m[np.isfinite(depth_m)]
    lo, hi = DEPTH_MM_RANGE
    return {
        "format": DEPTH_FORMAT,
        "source": source,
        "png": {"file": png, "unit": "millimetre", "dtype": "uint16", "metres_per_unit": 1 / MM_PER_METRE,
                "rounding": "nearest millimetre", "clipped_to_mm": [lo, hi], "no_depth_value": NO_DEPTH,
                "pixels_clipped_below": clipped["below"], "pixels_clipped_above": clipped["above"],
                "how_to_read": "metres = numpy.asarray(PIL.Image.open(png)) / 1000 (0 = no depth)"},
        "npy": {"file": npy, "unit": "metre", "dtype": "float32", "no_depth_value": "NaN",
                "how_to_read": "numpy.load(npy, allow_pickle=False)"},
        "width": int(depth_m.shape[1]),
        "height": int(depth_m.shape[0]),
        "depth_m": {"min": round(float(finite.min()), 6) if finite.size else None,
                    "max": round(float(finite.max()), 6) if finite.size else None},
        "pixels_without_depth": clipped["missing"],
    }


def write_depth(depth_m: np.ndarray, folder: str | Path, stem: str = "depth", *, source: str = "") -> DepthFiles:
    """Write `<stem>-mm.png` (16-bit millimetres), `<stem>-m.npy` (float32 metres) and
    `<stem>-legend.json` into `folder`."""
    folder, stem = Path(folder), _safe(stem)
    png, npy, legend = folder / f"{stem}-mm.png", folder / f"{stem}-m.npy", folder / f"{stem}-legend.json"
    mm, clipped = depth_millimetres(depth_m)
    lo, hi = DEPTH_MM_RANGE
    info = PngInfo()
    info.add_text("Description", f"Depth in millimetres (16-bit, {lo}-{hi} mm, {NO_DEPTH} = no depth); "
                                 f"metres = value / {MM_PER_METRE}.")
    if source:
        info.add_text("Source", source)
    Image.fromarray(mm).save(png, pnginfo=info)  # uint16 → mode "I;16" → a 16-bit greyscale PNG
    np.save(npy, np.asarray(depth_m, dtype=np.float32), allow_pickle=False)
    legend.write_text(json.dumps(depth_legend(depth_m, clipped, png=png.name, npy=npy.name, source=source),
                                 indent=2, ensure_ascii=False), encoding="utf-8")
    return DepthFiles(str(png), str(npy), str(legend))


def read_depth_png(path: str | Path) -> np.ndarray:
    """A 16-bit millimetre depth PNG back as (H, W) float32 metres, NaN where it holds no depth."""
    with Image.open(path) as picture:
        mm = np.asarray(picture).astype(np.float32)
    return np.where(mm == NO_DEPTH, np.nan, mm / MM_PER_METRE).astype(np.float32)


def _safe(stem: str) -> str:
    """A file-name stem of letters, digits, dots, dashes and underscores only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(stem)).strip("-.") or "export"
