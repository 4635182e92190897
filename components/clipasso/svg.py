"""SVG export and import of stroke sketches, through svgpathtools.

One `<path d="M … C …">` per stroke: black, stroke-width 3 (px of the canvas), round caps and joins,
no fill — what CLIPasso's official code saves.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from components.clipasso.rasterizer import STROKE_WIDTH, render


def _path(stroke: np.ndarray):
    # svgpathtools on first use, here and below: its import costs the page's start-up (issue 20)
    from svgpathtools import CubicBezier, Path

    p = [complex(float(x), float(y)) for x, y in stroke]
    return Path(CubicBezier(*p))


def to_svg(strokes: np.ndarray, size: int, width: float = STROKE_WIDTH) -> str:
    """SVG text of strokes (N, 4, 2) (x, y) control points in pixels on a size × size canvas."""
    strokes = np.asarray(strokes, dtype=np.float64)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">',
        f'<rect width="{size}" height="{size}" fill="white"/>',
    ]
    for stroke in strokes:
        lines.append(
            f'<path d="{_path(stroke).d()}" fill="none" stroke="black" stroke-width="{width:g}" '
            'stroke-linecap="round" stroke-linejoin="round" stroke-opacity="1"/>'
        )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def from_svg(text: str) -> np.ndarray:
    """Control points (N, 4, 2) of the cubic strokes in an SVG written by `to_svg` (one cubic per path)."""
    from svgpathtools import CubicBezier, parse_path, svgstr2paths

    paths, attributes = svgstr2paths(text)
    strokes = []
    for path, attrs in zip(paths, attributes):
        if "d" not in attrs:
            continue
        for segment in parse_path(attrs["d"]):
            if isinstance(segment, CubicBezier):
                strokes.append([[z.real, z.imag] for z in segment.bpoints()])
    return np.asarray(strokes, dtype=np.float64).reshape(-1, 4, 2)


def svg_size(text: str) -> int:
    match = re.search(r'width="([0-9.]+)"', text)
    return int(float(match.group(1))) if match else 224


def to_png_array(strokes: np.ndarray, size: int, scale: int = 2, width: float = STROKE_WIDTH) -> np.ndarray:
    """(size·scale, size·scale) uint8 greyscale raster of the strokes, rendered at `scale`× with 2×2
    supersampling (the PNG download)."""
    control = torch.as_tensor(np.asarray(strokes), dtype=torch.float32) * scale
    with torch.no_grad():
        paper = render(control, size * scale, width=width * scale, supersample=2)
    return (paper.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
