"""Turning result objects into what Gradio shows: overlays, colour maps, charts, tables.

Tabs call these; no model math happens here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

# Anchor colours of matplotlib's "turbo"-like and "viridis" maps, interpolated to 256 entries.
_ANCHORS = {
    "viridis": ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
    "turbo": ["#30123b", "#4662d7", "#36aaf9", "#1ae4b6", "#72fe5e", "#c8ef34", "#faba39", "#f66b19", "#ca2a04", "#7a0403"],
    "magma": ["#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f", "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"],
}

# Distinct colours for labels in segmentation legends and boxes.
PALETTE = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40),
    (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
    (128, 128, 128), (255, 225, 25),
]


def colormap(name: str = "turbo") -> np.ndarray:
    """(256, 3) uint8 lookup table."""
    anchors = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS[name]], float)
    x = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def colorize(values: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "turbo") -> np.ndarray:
    """(H, W) floats → (H, W, 3) uint8 through a colour map; NaN shows as black."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if vmin is None and finite.size else (vmin if vmin is not None else 0.0)
    hi = float(finite.max()) if vmax is None and finite.size else (vmax if vmax is not None else 1.0)
    scaled = np.clip((np.nan_to_num(values, nan=lo) - lo) / ((hi - lo) or 1.0), 0, 1)
    out = colormap(cmap)[(scaled * 255).round().astype(np.int64)]
    out[~np.isfinite(values)] = 0
    return out


def overlay(image: Image.Image, values: np.ndarray, alpha: float = 0.55, vmin=None, vmax=None, cmap="turbo") -> Image.Image:
    """Blend a colour-mapped (H, W) map over an RGB image of the same size."""
    colours = Image.fromarray(colorize(values, vmin, vmax, cmap)).resize(image.size, Image.BILINEAR)
    return Image.blend(image.convert("RGB"), colours, alpha)


def with_colorbar(image: Image.Image, vmin: float, vmax: float, caption: str = "", cmap: str = "turbo") -> Image.Image:
    """Append a vertical colour bar with its end values (and a caption) to the right of an image."""
    w, h = image.size
    bar_w, pad, text_w = max(12, h // 25), 8, 90
    canvas = Image.new("RGB", (w + pad + bar_w + text_w, h), "white")
    canvas.paste(image.convert("RGB"), (0, 0))
    column = colormap(cmap)[::-1]  # top = high
    bar = Image.fromarray(np.repeat(column[:, None, :], bar_w, axis=1)).resize((bar_w, h - 20))
    canvas.paste(bar, (w + pad, 10))
    draw = ImageDraw.Draw(canvas)
    font = _font(max(11, h // 30))
    draw.text((w + pad + bar_w + 4, 6), f"{vmax:.3g}", fill="black", font=font)
    draw.text((w + pad + bar_w + 4, h - 24), f"{vmin:.3g}", fill="black", font=font)
    if caption:
        draw.text((w + pad + bar_w + 4, h // 2 - 8), caption, fill="black", font=font)
    return canvas


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow
        return ImageFont.load_default()


def probability_bars(ranking: Sequence[tuple[str, float]], title: str = "", top_k: int = 15) -> go.Figure:
    """Horizontal bar chart of (label, probability), best on top."""
    top = list(ranking)[:top_k][::-1]
    fig = go.Figure(
        go.Bar(
            x=[p for _, p in top],
            y=[l for l, _ in top],
            orientation="h",
            text=[f"{p:.1%}" for _, p in top],
            textposition="auto",
            marker_color="#4662d7",
        )
    )
    fig.update_layout(
        title=title,
        xaxis=dict(range=[0, 1], tickformat=".0%"),
        height=max(220, 40 + 28 * len(top)),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
    )
    return fig


def label_dict(ranking: Sequence[tuple[str, float]]) -> dict[str, float]:
    """What gr.Label takes."""
    return {label: float(p) for label, p in ranking}
