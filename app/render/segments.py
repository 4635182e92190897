"""Segmentation pictures shared by the tabs that label every pixel: the annotated overlay with its
legend colours, the label map painted in those same colours, and pictures that carry their labels as
text on the regions (a colour is never the only way to tell two labels apart: a visitor who cannot
tell the colours apart reads the names)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from app import render
from app.render import text as lettering

BACKGROUND = "background"
PLACEMENT_SIDE = 256  # long side of the grid on which each region's label is placed


def annotated(image: Image.Image, label_map: np.ndarray, names: Sequence[str], side: int):
    """What gr.AnnotatedImage shows for a (H, W) label map (index into `names`, -1 background) on the
    image at long side `side`: ((picture, [(mask, name)]), {name: legend colour}), labels present only."""
    shown = render.thumbnail(image, side)
    annotations = render.segment_annotations(render.resize_label_map(label_map, shown.size), names)
    colours = {name: render.palette_hex(i) for i, (_, name) in enumerate(annotations)}
    return (shown, annotations), colours


def in_legend_colours(label_map: np.ndarray, names: Sequence[str], annotations, image: Image.Image) -> Image.Image:
    """The label map painted on `image` in the overlay legend's colours (which follow the labels
    present, as its color_map does); background grey; each label's name written on its region."""
    legend = {names.index(name): i for i, (_, name) in enumerate(annotations)}
    lookup = np.array([legend.get(i, -1) for i in range(len(names))] + [-1])
    painted = render.palette_image(lookup[render.resize_label_map(label_map, image.size)], image)
    tags = {i: (str(names[i]), render.PALETTE[n % len(render.PALETTE)]) for i, n in legend.items()}
    tags[-1] = (BACKGROUND, (128, 128, 128))
    return tag_regions(painted, label_map, tags)


def legend_colours(names: Sequence[str], colours: dict[str, str]) -> list[str]:
    """One "#rrggbb" per name, in `names` order: the overlay legend's colour for the names it shows,
    the palette's next colours (after those) for the names no pixel took, so an export's palette
    agrees with the overlay a person saw."""
    spare = (render.palette_hex(len(colours) + n) for n in range(len(names)))
    return [colours[name] if name in colours else next(spare) for name in names]


def labelled_overlay(image: Image.Image, label_map: np.ndarray, names: Sequence[str], colours: dict[str, str],
                     side: int, alpha: float = 0.55) -> tuple[Image.Image, Image.Image]:
    """(overlay, photo), the same size (long side `side`), for a slider comparing them: the label map
    in the legend's `colours` (background grey) blended over the photo, each label's name written on
    its largest region in a box of its colour."""
    photo = render.thumbnail(image, side).convert("RGB")
    shown = render.resize_label_map(label_map, photo.size)
    lookup = np.array([render.PALETTE[0]] * len(names) + [(128, 128, 128)], np.uint8)
    for i, name in enumerate(names):
        if name in colours:
            lookup[i] = _rgb(colours[name])
    painted = Image.fromarray(lookup[np.where(shown < 0, len(names), shown)])
    overlay = Image.blend(photo, painted, alpha)
    tags = {i: (str(name), _rgb(colours[name])) for i, name in enumerate(names) if name in colours}
    tags[-1] = (BACKGROUND, (128, 128, 128))
    return tag_regions(overlay, label_map, tags), photo


def numbered_groups(group_map: np.ndarray, image: Image.Image | None, captions: dict[int, str] | None = None,
                    max_side: int = 768) -> Image.Image:
    """`render.palette_image` of a group map, each group's number (and its caption, e.g. the class it
    took) written on its largest region in a box of the group's colour: the number is the table's."""
    picture = render.palette_image(group_map, image, max_side=max_side)
    tags = {}
    for g in np.unique(group_map).tolist():
        if g < 0:
            continue
        colour = render.PALETTE[g % len(render.PALETTE)]
        caption = (captions or {}).get(g)
        tags[g] = (f"{g} {caption}" if caption else str(g), colour)
    return tag_regions(picture, group_map, tags)


def tag_regions(picture: Image.Image, label_map: np.ndarray, tags: dict[int, tuple[str, tuple[int, int, int]]],
                min_radius: float = 0.012) -> Image.Image:
    """A copy of `picture` with, for each index of `label_map` in `tags`, its text in a box of its
    colour at the point of its region farthest from the region's edge (regions too thin to hold a
    tag — inscribed radius under `min_radius` of the long side — are left untagged)."""
    out = picture.convert("RGB").copy()
    grid = render.thumbnail(Image.new("L", (label_map.shape[1], label_map.shape[0])), PLACEMENT_SIDE).size
    small = render.resize_label_map(np.asarray(label_map), grid)
    scale = out.width / grid[0]
    font = lettering.font(max(12, max(out.size) // 48))
    draw = ImageDraw.Draw(out)
    for index, (text, colour) in tags.items():
        mask = (small == index).astype(np.uint8)
        if not mask.any():
            continue
        distance = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
        if distance[y, x] < min_radius * max(grid):
            continue
        _tag(draw, font, lettering.plain(text), (x + 0.5) * scale, (y + 0.5) * scale, colour, out.size)
    return out


def _tag(draw: ImageDraw.ImageDraw, font, text: str, cx: float, cy: float, colour, size) -> None:
    """`text` centred on (cx, cy), in a box filled with `colour`, ink black or white by its lightness,
    kept inside the picture."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h, pad = right - left, bottom - top, 3
    x0 = min(max(0, cx - w / 2 - pad), max(0, size[0] - w - 2 * pad - 1))
    y0 = min(max(0, cy - h / 2 - pad), max(0, size[1] - h - 2 * pad - 1))
    draw.rectangle([x0, y0, x0 + w + 2 * pad, y0 + h + 2 * pad], fill=tuple(colour), outline="black")
    light = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] > 140
    draw.text((x0 + pad - left, y0 + pad - top), text, fill="black" if light else "white", font=font)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    text = hex_colour.lstrip("#")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
