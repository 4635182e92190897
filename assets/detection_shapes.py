"""Generate assets/detection_shapes.png: coloured shapes on a light table, for the ViLD and GLIP tabs,
and assets/detection_query.png: another red square (tilted, on white), ViLD's image-guided example.

Deterministic (fixed seed); rebuild with `python assets/detection_shapes.py`. Made here, CC0.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).with_suffix(".png")
QUERY_OUT = Path(__file__).with_name("detection_query.png")
SIZE = (480, 320)  # width, height


def make() -> Image.Image:
    rng = np.random.default_rng(7)
    w, h = SIZE
    base = np.full((h, w, 3), 236, np.float32) + rng.normal(0, 3, (h, w, 1))  # light paper grain
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 150, 170), fill=(214, 39, 40))  # red square
    draw.ellipse((200, 40, 310, 150), fill=(31, 90, 200))  # blue circle
    draw.polygon([(360, 280), (470, 280), (415, 180)], fill=(44, 160, 44))  # green triangle
    draw.rectangle((90, 220, 280, 290), fill=(250, 200, 30))  # yellow rectangle
    return image.filter(ImageFilter.GaussianBlur(0.6))


def make_query() -> Image.Image:
    """A red square of another size and tilt, on white: the thing to find, not a crop of the scene."""
    image = Image.new("RGB", (160, 160), (250, 250, 250))
    square = Image.new("RGBA", (90, 90), (200, 30, 36, 255)).rotate(12, expand=True, resample=Image.BICUBIC)
    image.paste(square, ((160 - square.width) // 2, (160 - square.height) // 2), square)
    return image.filter(ImageFilter.GaussianBlur(0.6))


if __name__ == "__main__":
    make().save(OUT, optimize=True)
    make_query().save(QUERY_OUT, optimize=True)
    print(f"wrote {OUT} and {QUERY_OUT}")
