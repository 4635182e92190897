"""DepthCLIP's pictures: each word's probability on the image and on the network's cells, the cell
grid on a fixed colour scale, the ground truth beside the median-scaled prediction, and the pairs a
slider compares (prediction | ground truth, prediction | photo).

Depth is drawn in viridis and probabilities in magma: perceptually uniform maps whose lightness rises
steadily (dark = near or unlikely, light = far or likely), so they read the same to a visitor who
cannot tell red from green, and in greyscale."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from app import render
from app.render import text as lettering

GALLERY_SIDE = 384  # long side of each word's probability picture


def word_gallery(image: Image.Image, result) -> list[tuple[Image.Image, str]]:
    """Each word's probability (0–1, magma) over the image, captioned with its bin and mean probability."""
    items = []
    for word, bin_m, share in result.word_shares():
        picture = render.overlay(image, result.word_map(word), alpha=0.6, vmin=0.0, vmax=1.0, cmap="magma")
        picture.thumbnail((GALLERY_SIDE, GALLERY_SIDE))
        items.append((picture, f"{word} → {bin_m:.2f} m · mean p {share:.0%}"))
    return items


def word_grids(result, columns: int = 3) -> Image.Image:
    """Every word's probability on the network's cell grid (0–1, one shared scale), tiled with the
    word and its bin under each."""
    tiles = []
    font = lettering.font(20)
    for i, (word, bin_m) in enumerate(zip(result.words, result.bins)):
        grid = cells(result.probs[i], 0.0, 1.0, "magma", 200)
        tile = Image.new("RGB", (max(grid.width, 180), grid.height + 48), "white")
        tile.paste(grid, (0, 0))
        draw = ImageDraw.Draw(tile)
        draw.text((3, grid.height + 2), word, fill="black", font=font)
        draw.text((3, grid.height + 24), f"{bin_m:g} m", fill="black", font=font)
        tiles.append(tile)
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    tw, th = tiles[0].size
    out = Image.new("RGB", (cols * (tw + 4), rows * (th + 4)), "white")
    for n, tile in enumerate(tiles):
        out.paste(tile, ((n % cols) * (tw + 4), (n // cols) * (th + 4)))
    return out


def cells(values: np.ndarray, vmin: float, vmax: float, cmap: str, side: int) -> Image.Image:
    """A (h, w) grid on a fixed colour scale, cell by cell (nearest neighbour), about `side` px on its
    long side."""
    colours = render.colorize(values, vmin=vmin, vmax=vmax, cmap=cmap)
    scale = max(1, side // max(values.shape))
    return Image.fromarray(colours.astype(np.uint8)).resize((values.shape[1] * scale, values.shape[0] * scale), Image.NEAREST)


def truth_picture(truth: np.ndarray, prediction: np.ndarray, comparison) -> Image.Image:
    """The ground truth beside the prediction times the comparison's median scale, on the truth's
    range (metres; black = unknown)."""
    lo, hi = float(np.nanmin(truth)), float(np.nanmax(truth))
    return render.depth_pair_image(truth, prediction * comparison.scale, lo, hi, "metres")


DEPTH_MAP = "viridis"  # perceptually uniform; dark = near, light = far


def slider_with_truth(truth: np.ndarray, prediction: np.ndarray, comparison, side: int = 1024) -> tuple[Image.Image, Image.Image]:
    """(prediction × the comparison's median scale, ground truth), one size and one colour scale —
    the truth's range in metres (black = unknown) — for a slider."""
    lo, hi = float(np.nanmin(truth)), float(np.nanmax(truth))
    return (_depth_picture(prediction * comparison.scale, lo, hi, side), _depth_picture(truth, lo, hi, side))


def slider_with_photo(image: Image.Image, depth: np.ndarray, vmin: float, vmax: float, side: int = 1024) -> tuple[Image.Image, Image.Image]:
    """(depth from vmin to vmax metres, the photo), one size, for a slider."""
    picture = _depth_picture(depth, vmin, vmax, side)
    return picture, image.convert("RGB").resize(picture.size, Image.BILINEAR)


def _depth_picture(depth: np.ndarray, vmin: float, vmax: float, side: int) -> Image.Image:
    picture = Image.fromarray(render.colorize(depth, vmin, vmax, DEPTH_MAP))
    return render.thumbnail(picture, side) if max(picture.size) > side else picture
