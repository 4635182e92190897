"""The ViLT tab's pictures: where a word (or an answer) sits in the image, the patch grid, and the
measured "why ViLT is fast" timings as a figure and a table."""

from __future__ import annotations

from PIL import Image, ImageDraw

from app.render import heatmap_overlay, measured_vs_quoted_bars

GRID_COLOUR = (255, 255, 0)
CATEGORIES = {  # the visual embeddings the timing figure compares, in its order
    "region": "region features<br>(detector)",
    "grid": "grid features<br>(ResNet-50)",
    "patch": "linear patches<br>(ViLT)",
    "clip": "CLIP image tower<br>(whole encoder)",
}


def answer_heatmap(image: Image.Image, result, key: str | None = None) -> Image.Image:
    """A `VQAResult`'s map for `key` (a question word for ViLT, an answer for CLIP; default the
    first) over the image: ViLT's is a share of the word's alignment, CLIP's a cosine."""
    return heatmap_overlay(image, result.heatmap(key), "share" if result.engine == "vilt" else "cosine")


def grid_lines(image: Image.Image, rows: int, columns: int, size: tuple[int, int] | None = None) -> Image.Image:
    """`image` (resized to `size` = (W, H) if given) with a rows × columns grid drawn over it."""
    picture = image.convert("RGB").resize(size, Image.BICUBIC) if size else image.convert("RGB").copy()
    draw = ImageDraw.Draw(picture)
    width = max(1, picture.width // 300)
    for r in range(1, rows):
        y = round(r * picture.height / rows)
        draw.line([(0, y), (picture.width, y)], fill=GRID_COLOUR, width=width)
    for c in range(1, columns):
        x = round(c * picture.width / columns)
        draw.line([(x, 0), (x, picture.height)], fill=GRID_COLOUR, width=width)
    return picture


def timing_figure(measured):
    """An `EmbeddingTiming` as bars: measured here beside the paper's quoted figures (log scale)."""
    values = dict(zip(measured.kinds, (float(v) for v in measured.measured_ms)))
    return measured_vs_quoted_bars(
        list(CATEGORIES.values()),
        {CATEGORIES[k]: values.get(k) for k in CATEGORIES},
        {CATEGORIES[k]: measured.quoted_ms.get(k) for k in CATEGORIES},
        measured_name=f"measured here ({measured.device}, {measured.threads} threads, median of {measured.runs})",
        quoted_name="quoted in the ViLT paper (its GPU)",
    )


def timing_table(measured, model_name: str, region_quoted_ms: float) -> str:
    """An `EmbeddingTiming` as a Markdown table (input and output sizes, measured and quoted ms) and
    a line on the ratios; the CLIP row names the model that was timed."""
    lines = ["| visual embedding | input (H×W) | output | measured ms | quoted ms |", "|---|---|---|---|---|"]
    lines.append(f"| region features (detector) | — | — | not run here | {region_quoted_ms:g} |")
    for kind, label, size, shape, ms in zip(
        measured.kinds, measured.labels, measured.input_sizes, measured.output_shapes, measured.measured_ms
    ):
        quoted = measured.quoted_ms.get(kind)
        shown_label = f"{label} · {model_name}" if kind == "clip" else label
        lines.append(
            f"| {shown_label} | {size[0]}×{size[1]} | {'×'.join(map(str, shape))} | {ms:.3g} | "
            f"{'—' if quoted is None else f'{quoted:g}'} |"
        )
    lines.append("")
    lines.append(
        f"Measured on this machine ({measured.device}); the paper's figures are from its own GPU and are "
        f"shown for their ratios. Here the grid backbone costs **{_times(measured.ratio('grid'))}** and CLIP's "
        f"tower **{_times(measured.ratio('clip'))}** the linear patch projection. Region features need an object "
        "detector, which this app does not ship."
    )
    return "\n".join(lines)


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2g}×"
