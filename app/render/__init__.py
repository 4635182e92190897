"""Turning result objects into what Gradio shows: overlays, colour maps, charts, tables.

Tabs call these; no model math happens here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from app.render import text as lettering

# Anchor colours of matplotlib's "viridis" (the default: perceptually uniform, readable with colour-blindness),
# "magma" and a "turbo"-like map, interpolated to 256 entries.
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


@functools.lru_cache(maxsize=None)
def _colormap(name: str) -> np.ndarray:
    anchors = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS[name]], float)
    x = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    table = np.stack([np.interp(t, x, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)
    table.flags.writeable = False  # shared by every call
    return table


def colormap(name: str = "viridis") -> np.ndarray:
    """(256, 3) uint8 lookup table (built once per name)."""
    return _colormap(name)


def colorize(values: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "viridis") -> np.ndarray:
    """(H, W) floats → (H, W, 3) uint8 through a colour map; NaN shows as black."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    everywhere = bool(finite.all())
    known = values if everywhere else values[finite]
    lo = float(known.min()) if vmin is None and known.size else (vmin if vmin is not None else 0.0)
    hi = float(known.max()) if vmax is None and known.size else (vmax if vmax is not None else 1.0)
    scaled = (values if everywhere else np.where(finite, values, lo)) - lo
    scaled *= 255.0 / ((hi - lo) or 1.0)
    np.clip(scaled, 0, 255, out=scaled)
    out = np.take(colormap(cmap), np.rint(scaled).astype(np.uint8), axis=0)  # 3× faster than indexing
    if not everywhere:
        out[~finite] = 0
    return out


def overlay(image: Image.Image, values: np.ndarray, alpha: float = 0.55, vmin=None, vmax=None, cmap="viridis") -> Image.Image:
    """Blend a colour-mapped (H, W) map over an RGB image of the same size."""
    colours = Image.fromarray(colorize(values, vmin, vmax, cmap)).resize(image.size, Image.BILINEAR)
    return Image.blend(image.convert("RGB"), colours, alpha)


def with_colorbar(image: Image.Image, vmin: float, vmax: float, caption: str = "", cmap: str = "viridis") -> Image.Image:
    """Append a vertical colour bar with its end values (and a caption) to the right of an image."""
    w, h = image.size
    bar_w, pad, text_w = max(12, h // 25), 8, 90
    canvas = Image.new("RGB", (w + pad + bar_w + text_w, h), "white")
    canvas.paste(image.convert("RGB"), (0, 0))
    column = colormap(cmap)[::-1]  # top = high
    bar = Image.fromarray(np.repeat(column[:, None, :], bar_w, axis=1)).resize((bar_w, h - 20))
    canvas.paste(bar, (w + pad, 10))
    draw = ImageDraw.Draw(canvas)
    font = lettering.font(max(11, h // 30))
    draw.text((w + pad + bar_w + 4, 6), f"{vmax:.3g}", fill="black", font=font)
    draw.text((w + pad + bar_w + 4, h - 24), f"{vmin:.3g}", fill="black", font=font)
    if caption:
        draw.text((w + pad + bar_w + 4, h // 2 - 8), caption, fill="black", font=font)
    return canvas


def heatmap_overlay(image: Image.Image, values: np.ndarray, caption: str = "cosine", cmap: str = "viridis") -> Image.Image:
    """An (H, W) map over the image, coloured over its own range, with a colour bar of that range."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return with_colorbar(overlay(image, values, vmin=lo, vmax=hi, cmap=cmap), lo, hi, caption, cmap)


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


# -- DepthCLIP (tab "DepthCLIP") -------------------------------------------------------------------
def depth_image(depth: np.ndarray, vmin: float, vmax: float, caption: str = "metres", cmap: str = "viridis") -> Image.Image:
    """A (H, W) depth map in colour (NaN black) with a colour bar from vmin to vmax."""
    return with_colorbar(Image.fromarray(colorize(depth, vmin, vmax, cmap)), vmin, vmax, caption, cmap)


def lifted_points_figure(points: np.ndarray, colours: np.ndarray, title: str = "", height: int = 480) -> go.Figure:
    """3-D scatter of camera-frame points (N, 3) — X right, Y down, Z forward, metres — each in its
    pixel's colour (N, 3) uint8, seen from just behind the camera."""
    fig = go.Figure(
        go.Scatter3d(
            x=points[:, 0],
            y=points[:, 2],
            z=-points[:, 1],
            mode="markers",
            marker=dict(size=2, color=[f"rgb({r},{g},{b})" for r, g, b in np.asarray(colours, int)]),
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=dict(
            xaxis_title="x (m)",
            yaxis_title="depth (m)",
            zaxis_title="up (m)",
            aspectmode="data",
            camera=dict(eye=dict(x=0.0, y=-2.0, z=0.6), up=dict(x=0, y=0, z=1)),
        ),
    )
    return fig


def depth_pair_image(left: np.ndarray, right: np.ndarray, vmin: float, vmax: float, caption: str = "metres", cmap: str = "viridis", gap: int = 8) -> Image.Image:
    """Two (H, W) depth maps side by side on one colour scale (NaN black), with one colour bar."""
    a, b = colorize(left, vmin, vmax, cmap), colorize(right, vmin, vmax, cmap)
    spacer = np.full((a.shape[0], gap, 3), 255, np.uint8)
    return with_colorbar(Image.fromarray(np.concatenate([a, spacer, b], axis=1)), vmin, vmax, caption, cmap)


# -- ViLD and GLIP (tabs "ViLD", "GLIP") -----------------------------------------------------------
def box_annotations(boxes, labels: Sequence[str]) -> list[tuple[tuple[int, int, int, int], str]]:
    """What gr.AnnotatedImage takes for boxes: ((x0, y0, x1, y1) whole pixels, label) pairs."""
    return [(tuple(int(round(float(v))) for v in box), str(label)) for box, label in zip(boxes, labels)]


def matrix_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str = "",
    zmin: float | None = 0.0,
    zmax: float | None = 1.0,
    colorbar: str = "score",
    *,
    xaxis: str = "",
    yaxis: str = "",
    print_up_to: int = 120,
    row_height: int = 30,
    min_height: int = 240,
) -> go.Figure:
    """Plotly heat map of an (R, C) matrix, rows top to bottom as given, each value printed in its
    cell when the matrix has at most `print_up_to` cells."""
    matrix = np.asarray(matrix, dtype=np.float64)
    small = 0 < matrix.size <= print_up_to
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[str(c) for c in columns],
            y=[str(r) for r in rows],
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            colorbar=dict(title=colorbar),
            text=np.vectorize(lambda v: f"{v:.2f}")(matrix) if small else None,
            texttemplate="%{text}" if small else None,
            hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=max(min_height, 80 + row_height * len(rows)),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(title=xaxis, type="category"),
        yaxis=dict(title=yaxis, autorange="reversed", type="category"),
    )
    return fig


# -- ViLT tab ---------------------------------------------------------------------------------------
def measured_vs_quoted_bars(
    categories: Sequence[str],
    measured: dict[str, float | None],
    quoted: dict[str, float | None],
    measured_name: str = "measured here",
    quoted_name: str = "quoted in the paper",
    unit: str = "ms",
    title: str = "",
) -> go.Figure:
    """Grouped bars on a log axis: one measured and one quoted value per category (either may be
    missing), each bar labelled with its number, the two series in clearly different styles."""
    fig = go.Figure()
    for name, values, style in (
        (quoted_name, quoted, dict(color="#bbbbbb", pattern=dict(shape="/"))),
        (measured_name, measured, dict(color="#4662d7")),
    ):
        cats = [c for c in categories if values.get(c) is not None]
        fig.add_bar(
            name=name,
            x=cats,
            y=[values[c] for c in cats],
            text=[f"{values[c]:.3g} {unit}" for c in cats],
            textposition="outside",
            cliponaxis=False,
            marker=style,
        )
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis=dict(type="log", title=unit),
        height=400,
        margin=dict(l=10, r=10, t=60 if title else 30, b=10),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


# -- CLIPasso tab ------------------------------------------------------------------------------------
def loss_curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    x_title: str = "iteration",
    y_title: str = "loss",
    log_y: bool = True,
) -> go.Figure:
    """Line chart of named (x, y) series, e.g. a training loss per seed; log y by default."""
    fig = go.Figure()
    for name, (x, y) in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines", name=name))
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        yaxis_type="log" if log_y else "linear",
        height=260,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


def mark_points(image: Image.Image, points, colour=(230, 25, 75), radius: int = 3) -> Image.Image:
    """Copy of an image with (x, y) pixel points drawn as filled dots."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for x, y in np.asarray(points, dtype=float).reshape(-1, 2):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline="white")
    return out


# -- LSeg and GroupViT (tabs "LSeg", "GroupViT") ----------------------------------------------------
def palette_hex(index: int) -> str:
    """The index-th legend colour as "#rrggbb" (cycles through PALETTE)."""
    r, g, b = PALETTE[index % len(PALETTE)]
    return f"#{r:02x}{g:02x}{b:02x}"


def segment_annotations(label_map: np.ndarray, names: Sequence[str]) -> list[tuple[np.ndarray, str]]:
    """What gr.AnnotatedImage takes for a (H, W) int map of indices into `names` (negative = none):
    one (0/1 float mask, name) pair per name that covers at least one pixel, in the order of names."""
    present = set(np.unique(label_map).tolist())
    return [((label_map == i).astype(np.float32), str(name)) for i, name in enumerate(names) if i in present]


def palette_image(label_map: np.ndarray, image: Image.Image | None = None, alpha: float = 0.6, max_side: int = 768) -> Image.Image:
    """A (H, W) int map of region indices in PALETTE colours (negative indices grey), blended over
    `image` when given, downscaled to `max_side` on its long side."""
    colours = np.array(PALETTE, np.uint8)[np.mod(label_map, len(PALETTE))]
    colours[label_map < 0] = (128, 128, 128)
    out = Image.fromarray(colours)
    if image is not None:
        out = Image.blend(image.convert("RGB").resize(out.size), out, alpha)
    scale = max_side / max(out.size)
    if scale < 1:
        out = out.resize((max(1, round(out.size[0] * scale)), max(1, round(out.size[1] * scale))), Image.NEAREST)
    return out


def resize_label_map(label_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (H, W) int map resized (nearest) to size = (width, height), as PIL sizes go."""
    if (label_map.shape[1], label_map.shape[0]) == tuple(size):
        return label_map
    resized = Image.fromarray(label_map.astype(np.int32), mode="I").resize(tuple(size), Image.NEAREST)
    return np.asarray(resized, dtype=np.int32)


def thumbnail(image: Image.Image, max_side: int = 384) -> Image.Image:
    """A copy no larger than `max_side` on its long side."""
    out = image.copy()
    out.thumbnail((max_side, max_side))
    return out


# -- PointCLIP tab ---------------------------------------------------------------------------------
def point_cloud_figure(points: np.ndarray, title: str = "", height: int = 420, max_points: int = 20_000) -> go.Figure:
    """Interactive 3-D scatter of an (N, 3) cloud, y up, coloured by height; at most `max_points`
    are drawn (evenly strided) so the browser stays quick."""
    points = np.asarray(points, dtype=np.float32)
    if len(points) > max_points:
        points = points[:: int(np.ceil(len(points) / max_points))]
    fig = go.Figure(
        go.Scatter3d(
            x=points[:, 0],
            y=points[:, 2],
            z=points[:, 1],
            mode="markers",
            marker=dict(size=2, color=points[:, 1], colorscale="Viridis"),
            hovertemplate="x %{x:.2f}, y %{z:.2f}, z %{y:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=dict(xaxis_title="x", yaxis_title="z", zaxis_title="y (up)", aspectmode="data"),
    )
    return fig


def grey_image(values: np.ndarray, vmin: float, vmax: float, size: int | None = None) -> Image.Image:
    """A (H, W) map as a grey image, vmin black and vmax white; bilinearly resized to size² if given."""
    values = np.asarray(values, dtype=np.float64)
    scaled = np.clip((values - vmin) / ((vmax - vmin) or 1.0), 0, 1)
    image = Image.fromarray((scaled * 255).round().astype(np.uint8))
    return image.resize((size, size), Image.BILINEAR) if size else image


# -- ActionCLIP and CLIP4Clip tabs -----------------------------------------------------------------
def video_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str = "",
    colorbar: str = "",
    zmin: float | None = None,
    zmax: float | None = None,
    xaxis: str = "",
    yaxis: str = "",
) -> go.Figure:
    """`matrix_heatmap` for frame × label probabilities and caption × video similarities: the
    colour range from the data, values printed up to 300 cells."""
    return matrix_heatmap(matrix, rows, columns, title, zmin, zmax, colorbar, xaxis=xaxis, yaxis=yaxis,
                          print_up_to=300, row_height=26, min_height=260)


# -- Train tab -----------------------------------------------------------------------------------------
def training_curves(steps: Sequence[int], loss: Sequence[float], scale: Sequence[float], learnable: bool = True) -> go.Figure:
    """The contrastive loss per step (left axis) and the logit scale 1/τ (right axis, dotted)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(steps), y=list(loss), mode="lines", name="loss (symmetric cross-entropy)", line=dict(color="#4662d7")))
    fig.add_trace(go.Scatter(
        x=list(steps), y=list(scale), mode="lines", yaxis="y2", line=dict(color="#f66b19", dash="dot"),
        name="logit scale 1/τ (learned)" if learnable else "logit scale 1/τ (fixed)",
    ))
    fig.update_layout(
        xaxis_title="step",
        yaxis=dict(title="loss", rangemode="tozero"),
        yaxis2=dict(title="1/τ", overlaying="y", side="right", rangemode="tozero", showgrid=False),
        height=280,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


def accuracy_curves(evaluations: Sequence[dict], chance: dict[str, float], title: str = "") -> go.Figure:
    """Held-out zero-shot accuracy per concept over the steps (one line each; dotted: chance)."""
    fig = go.Figure()
    names = [k for k in chance if any(e.get(k) is not None for e in evaluations)]
    for i, name in enumerate(names):
        colour = "#%02x%02x%02x" % PALETTE[i % len(PALETTE)]
        points = [(e["step"], e[name]) for e in evaluations if e.get(name) is not None]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
            line=dict(color=colour, width=3 if name == "top-1" else 2),
        ))
        fig.add_hline(y=chance[name], line=dict(color=colour, dash="dot", width=1))
    fig.update_layout(
        title=title,
        xaxis_title="step",
        yaxis=dict(title="accuracy (dotted: chance)", range=[0, 1.02], tickformat=".0%"),
        height=300,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


# marker symbols standing for the world's shapes on the embedding map
SHAPE_SYMBOLS = {"circle": "circle", "square": "square", "triangle": "triangle-up", "star": "star", "cross": "cross",
                 "diamond": "diamond", "ring": "circle-open", "heart": "hexagram"}


def embedding_map_figure(emap, colours: dict[str, tuple[float, float, float]], title: str = "") -> go.Figure:
    """The 2-D PCA map: each image a marker in its object's colour and shape, each label's text
    embedding its words, written in the same colour."""
    def hex_of(label: str) -> str:
        rgb = colours.get(label.split(" ")[0], (0.5, 0.5, 0.5))
        return "#%02x%02x%02x" % tuple(int(round(255 * c)) for c in rgb)

    shapes = [label.split(" ")[-1] for label in emap.image_labels]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=emap.image_xy[:, 0], y=emap.image_xy[:, 1], mode="markers", name="images",
        marker=dict(size=13, color=[hex_of(l) for l in emap.image_labels],
                    symbol=[SHAPE_SYMBOLS.get(s, "circle") for s in shapes], line=dict(color="#333", width=1)),
        text=list(emap.image_labels), hovertemplate="image of a %{text}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=emap.text_xy[:, 0], y=emap.text_xy[:, 1], mode="markers+text", name="texts: “a photo of a …”",
        marker=dict(size=6, color="#222", symbol="x-thin", line=dict(width=1)),
        text=list(emap.text_labels), textposition="top center",
        textfont=dict(color=[hex_of(l) for l in emap.text_labels], size=12),
        hovertemplate="text: a photo of a %{text}.<extra></extra>",
    ))
    explained = ", ".join(f"{v:.0%}" for v in emap.explained)
    fig.update_layout(
        title=title,
        xaxis=dict(title=f"PC 1", zeroline=False),
        yaxis=dict(title=f"PC 2", zeroline=False, scaleanchor="x"),
        height=420,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", y=-0.15),
        annotations=[dict(text=f"variance explained: {explained}", xref="paper", yref="paper", x=0, y=1.0,
                          showarrow=False, font=dict(size=11, color="#555"), xanchor="left", yanchor="bottom")],
    )
    return fig


def similarity_picture(
    similarity: np.ndarray, images: Sequence[np.ndarray], captions: Sequence[str], scale: float | None = None, cell: int = 44
) -> Image.Image:
    """The batch's image × text cosine matrix as in the CLIP paper's figure 1: each row an image
    (thumbnail at the left), each column a caption (written above), the cosine printed in each cell;
    the diagonal — the true pairs — outlined. Cells are coloured by the cosine over [-1, 1], or, given
    the logit `scale`, by each row's softmax(scale × cosine): which caption the image picks, what
    the loss pushes towards the diagonal."""
    similarity = np.asarray(similarity, dtype=np.float64)
    n = min(len(images), len(captions), similarity.shape[0], similarity.shape[1])
    similarity = similarity[:n, :n]
    if scale is not None and n:
        logits = scale * similarity
        shade = np.exp(logits - logits.max(1, keepdims=True))
        shade /= shade.sum(1, keepdims=True)
        lo = 0.0
    else:
        shade, lo = similarity, -1.0
    text_band, left, pad = 190, cell + 8, 6
    width, height = left + n * cell + pad, text_band + n * cell + pad
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    font = lettering.font(12)
    for j, caption in enumerate(captions[:n]):  # captions, rotated to read bottom-up above each column
        text = str(caption)
        while text and font.getlength(text) > text_band - 12:
            text = text[:-2] + "…" if len(text) > 2 else ""
        label = Image.new("RGB", (text_band - 6, cell), "white")
        ImageDraw.Draw(label).text((2, cell // 2 - 7), text, fill="black", font=font)
        rotated = label.rotate(90, expand=True)
        picture.paste(rotated, (left + j * cell, 0))
    for i, image in enumerate(images[:n]):
        thumb = Image.fromarray(np.asarray(image, np.uint8)).resize((cell - 4, cell - 4), Image.BILINEAR)
        picture.paste(thumb, (2, text_band + i * cell + 2))
    colours = colorize(shade, vmin=lo, vmax=1.0, cmap="viridis")
    for i in range(n):
        for j in range(n):
            x0, y0 = left + j * cell, text_band + i * cell
            colour = tuple(int(c) for c in colours[i, j])
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour)
            ink = "black" if sum(colour) > 380 else "white"
            draw.text((x0 + 5, y0 + cell // 2 - 7), f"{similarity[i, j]:.2f}", fill=ink, font=font)
        x0, y0 = left + i * cell, text_band + i * cell
        draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], outline=(230, 25, 75), width=3)
    return picture
