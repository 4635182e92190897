"""Pictures of image regions: boxes outlined on an image (the detection tabs' strips, the Compare
board's ViLD tile), each region's crops as CLIP sees them, and a phrase × region score matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from app.render import text as lettering
from components import regions

# Box colours of the how-it-works strips (the first two also mark the proposal sources: red, green).
STEP_PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
                (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40))
CROP_SIDE = 96  # pixels of each crop picture


def outline(
    image: Image.Image,
    boxes,
    labels: Sequence[str] = (),
    colours: Sequence[int] = (),
    *,
    palette: Sequence[tuple[int, int, int]] = STEP_PALETTE,
    width: int = 3,
    font_size: int | None = None,
    scale: float = 1.0,
    halo: bool = False,
) -> Image.Image:
    """A copy of `image` with (x0, y0, x1, y1) pixel boxes (times `scale`) outlined, box i in
    `palette[colours[i]]` (its index when no colour is given), and label i written just inside its
    top-left corner: in the box's colour, or with `halo` white on a black outline. The font is
    `font_size` pixels (default: a 40th of the picture's width, at least 12)."""
    picture = image.convert("RGB").copy()
    draw = ImageDraw.Draw(picture)
    font = lettering.font(font_size or max(12, picture.width // 40))
    labels, colours = list(labels), list(colours)
    for i, box in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale):
        colour = tuple(palette[(colours[i] if i < len(colours) else i) % len(palette)])
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=width)
        if i < len(labels) and labels[i]:
            where, words = (x0 + width + 1, y0 + width), lettering.plain(str(labels[i]))
            if halo:
                draw.text(where, words, fill="white", font=font, stroke_width=2, stroke_fill="black")
            else:
                draw.text(where, words, fill=colour, font=font)
    return picture


def crops(image: Image.Image, boxes, scales: Sequence[float] = regions.CROP_SCALES, side: int = CROP_SIDE) -> list[Image.Image]:
    """Each box's crops at each of `scales` (about the box's centre, cut at the image's border, as
    `components.regions` embeds them), resized to side × side: box by box, scale by scale."""
    size = (image.height, image.width)
    out = []
    for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        for scale in scales:
            x0, y0, x1, y1 = (int(round(v)) for v in regions.scale_boxes(box[None], scale, size)[0])
            out.append(image.crop((x0, y0, x1, y1)).resize((side, side), Image.BILINEAR))
    return out


def banded(matrix: Image.Image, min_height: int = 160) -> Image.Image:
    """A matrix picture with few rows stretched (nearest neighbour) to at least `min_height` pixels,
    so that each row reads as a band."""
    if matrix.height >= min_height:
        return matrix
    return matrix.resize((matrix.width, min_height), Image.NEAREST)
