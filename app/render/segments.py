"""Segmentation pictures shared by the tabs that label every pixel: the annotated overlay with its
legend colours, and the label map painted in those same colours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from app import render


def annotated(image: Image.Image, label_map: np.ndarray, names: Sequence[str], side: int):
    """What gr.AnnotatedImage shows for a (H, W) label map (index into `names`, -1 background) on the
    image at long side `side`: ((picture, [(mask, name)]), {name: legend colour}), labels present only."""
    shown = render.thumbnail(image, side)
    annotations = render.segment_annotations(render.resize_label_map(label_map, shown.size), names)
    colours = {name: render.palette_hex(i) for i, (_, name) in enumerate(annotations)}
    return (shown, annotations), colours


def in_legend_colours(label_map: np.ndarray, names: Sequence[str], annotations, image: Image.Image) -> Image.Image:
    """The label map painted on `image` in the overlay legend's colours (which follow the labels
    present, as its color_map does); background grey."""
    legend = {names.index(name): i for i, (_, name) in enumerate(annotations)}
    lookup = np.array([legend.get(i, -1) for i in range(len(names))] + [-1])
    return render.palette_image(lookup[render.resize_label_map(label_map, image.size)], image)
