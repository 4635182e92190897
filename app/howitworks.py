"""The "How it works" strip every method tab shows: the method's pipeline in 3–5 steps, each step a
picture made from the *current run's* own intermediates, with one plain caption.

A tab adds `strip = how_it_works()` to its outputs and returns `steps((image, caption), ...)` from the
same handler that makes its main output, so the strip never re-runs anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from app.render import colormap
from app.render.boxes import STEP_PALETTE, outline  # noqa: F401  (STEP_PALETTE: the strips' box colours)
from app.render.text import font as _font
from app.render.text import plain as _plain_text
from app.render import text as lettering

STEP_SIZE = 320  # pixels on the long side of each step picture


def how_it_works(label: str = "How it works — this run, step by step") -> gr.Gallery:
    with gr.Accordion("How it works", open=True, elem_classes=["how-it-works"]):
        return gr.Gallery(
            label=label,
            columns=5,
            height=260,
            object_fit="contain",
            allow_preview=True,
            elem_classes=["how-it-works-strip"],
        )


def steps(*pairs: tuple[Image.Image, str]) -> list[tuple[Image.Image, str]]:
    """Numbered (picture, caption) pairs for the strip's gallery; the caption is also printed under
    each picture, so it shows on a projector and in exported screenshots."""
    out = []
    for i, (image, caption) in enumerate(pairs, start=1):
        text = f"{i}. {caption}"
        out.append((_captioned(_fit(image), text), text))
    return out


def _captioned(image: Image.Image, text: str) -> Image.Image:
    return lettering.captioned(image, text, max(image.width, 260))


def _fit(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    scale = STEP_SIZE / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    return image


def bars_picture(labels: Sequence[str], values: Sequence[float], title: str = "", vmax: float | None = None) -> Image.Image:
    """A small horizontal bar chart drawn as a picture (for evidence that is numbers, not pixels)."""
    labels, values = list(labels)[:8], [float(v) for v in list(values)[:8]]
    width, row = STEP_SIZE, 28
    height = 36 + row * max(1, len(labels))
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    font = _font(14)
    draw.text((8, 6), _plain_text(title), fill="black", font=font)
    top = max(vmax if vmax is not None else max(values, default=1.0), 1e-9)
    low = min(0.0, min(values, default=0.0))
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 32 + i * row
        length = int((width - 170) * (value - low) / ((top - low) or 1.0))  # room for the number
        draw.rectangle([120, y + 4, 120 + max(1, length), y + row - 6], fill=(70, 98, 215))
        draw.text((8, y + 5), _plain_text(label)[:16], fill="black", font=font)
        draw.text((124 + length, y + 5), f"{value:.2f}", fill="black", font=font)
    return picture


def grid_picture(values: np.ndarray, cmap: str = "viridis") -> Image.Image:
    """A coarse (h, w) grid shown cell by cell (nearest neighbour), e.g. a patch-similarity map."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.nanmin(values), np.nanmax(values)
    scaled = np.clip((values - lo) / ((hi - lo) or 1.0), 0, 1)
    colours = colormap(cmap)[(np.nan_to_num(scaled) * 255).round().astype(int)]
    scale = max(1, STEP_SIZE // max(values.shape))
    return Image.fromarray(colours.astype(np.uint8)).resize((values.shape[1] * scale, values.shape[0] * scale), Image.NEAREST)


# -- helpers added for the ViLD, GLIP, ViLT and PointCLIP strips -------------------------------------
def boxes_picture(image: Image.Image, boxes, labels: Sequence[str] = (), colours: Sequence[int] = (), width: int = 3) -> Image.Image:
    """`image` with (x0, y0, x1, y1) pixel boxes outlined (colour index per box from STEP_PALETTE) and
    an optional label written just inside each box's top-left corner (`app.render.boxes.outline`)."""
    return outline(image, boxes, labels, colours, width=width)


def text_picture(title: str, lines: Sequence[str], highlight: Sequence[bool] = ()) -> Image.Image:
    """Short lines of text as a picture (e.g. the prompts or phrases a step produced); highlighted
    lines are drawn in blue."""
    font, small = _font(15), _font(14)
    lines = [_plain_text(str(line)) for line in list(lines)[:10]]
    width = STEP_SIZE
    picture = Image.new("RGB", (width, 34 + 22 * max(1, len(lines))), "white")
    draw = ImageDraw.Draw(picture)
    draw.text((8, 6), _plain_text(title), fill="black", font=font)
    highlight = list(highlight)
    for n, line in enumerate(lines):
        if small.getlength(line) > width - 16:
            while line and small.getlength(line + "...") > width - 16:
                line = line[:-1]
            line += "..."
        colour = (40, 70, 200) if n < len(highlight) and highlight[n] else (40, 40, 40)
        draw.text((12, 32 + 22 * n), line, fill=colour, font=small)
    return picture


def mosaic_picture(images: Sequence[Image.Image], columns: int = 5, gap: int = 4) -> Image.Image:
    """Equal-size tiles (each fitted into a square) in a grid on white, in order."""
    images = [image.convert("RGB") for image in images]
    if not images:
        return Image.new("RGB", (STEP_SIZE, STEP_SIZE // 4), "white")
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    tile = max(16, (STEP_SIZE * 2 - gap * (columns - 1)) // columns)
    picture = Image.new("RGB", (columns * tile + gap * (columns - 1), rows * tile + gap * (rows - 1)), "white")
    for n, image in enumerate(images):
        fitted = image.copy()
        if max(fitted.size) > tile:
            fitted.thumbnail((tile, tile), Image.LANCZOS)
        elif max(fitted.size) < tile:
            scale = tile / max(fitted.size)
            fitted = fitted.resize((max(1, round(fitted.width * scale)), max(1, round(fitted.height * scale))), Image.NEAREST)
        r, c = divmod(n, columns)
        picture.paste(fitted, (c * (tile + gap) + (tile - fitted.width) // 2, r * (tile + gap) + (tile - fitted.height) // 2))
    return picture
