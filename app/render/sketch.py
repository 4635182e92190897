"""CLIPasso's pictures and files: the raster as a picture, the loss curves (a plot while it runs, a small
chart for the strip), the saliency map with the start points, and the sketch's GIF and SVG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from app import render
from app.howitworks import STEP_SIZE
from app.render.text import font
from components.exports import folders

SEED_COLOURS = ((0, 130, 200), (230, 25, 75), (60, 180, 75), (245, 130, 48), (145, 30, 180), (0, 128, 128),
                (240, 50, 230), (170, 110, 40))
GIF_FRAME_MS = 120


def to_uint8(raster: np.ndarray) -> np.ndarray:
    """A raster in [0, 1] as uint8 pixels."""
    return (np.clip(raster, 0, 1) * 255).round().astype(np.uint8)


def curve_figure(train_losses: np.ndarray, result=None):
    """The (T, S) training losses per seed as a plot; with the finished `result`, also each seed's
    clean-view loss at its evaluation iterations."""
    series = {f"seed {i}": (np.arange(1, len(train_losses) + 1), train_losses[:, i]) for i in range(train_losses.shape[1])}
    if result is not None:
        for i, seed in enumerate(result.seeds):
            series[f"seed {seed} (clean view)"] = (result.eval_iterations, result.eval_losses[:, i])
    return render.loss_curves(series, log_y=bool(np.all(train_losses > 0)) if train_losses.size else True)


def saliency_picture(result) -> Image.Image:
    """The saliency map over the padded photo, with the best seed's start points marked."""
    target = Image.fromarray(result.target)
    values = result.saliency
    starts = result.initial_strokes[list(result.seeds).index(result.best_seed), :, 0]
    return render.mark_points(render.overlay(target, values, vmin=0, vmax=float(values.max() or 1)), starts)


def _out_dir() -> Path:
    return folders.answer_folder("clipasso")


def write_svg(result) -> str:
    """The sketch's SVG in a fresh temporary folder; returns its path."""
    path = _out_dir() / f"clipasso_{len(result.strokes)}_strokes.svg"
    path.write_text(result.svg)
    return str(path)


def write_gif(rasters: np.ndarray) -> str:
    """The (F, H, W) uint8 frames of `SketchResult.frames()` as a looping GIF; returns its path."""
    frames = [Image.fromarray(f).convert("P") for f in rasters]
    path = _out_dir() / "strokes_settling.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)
    return str(path)


def loss_picture(train_losses: np.ndarray, seeds) -> Image.Image:
    """The (T, S) training losses as a small line chart picture (log scale when all are positive)."""
    width, height, left, top, bottom = STEP_SIZE, 216, 56, 28, 40
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    lettering = font(13)
    values = np.asarray(train_losses, dtype=np.float64)
    log = bool(values.size) and bool(np.all(values > 0))
    draw.text((8, 6), "loss per iteration" + (" (log scale)" if log else ""), fill="black", font=lettering)
    box = (left, top, width - 10, height - bottom)
    draw.rectangle(box, outline=(160, 160, 160))
    if values.size == 0:
        return picture
    shown = np.log10(values) if log else values
    lo, hi = float(shown.min()), float(shown.max())
    span = (hi - lo) or 1.0
    draw.text((4, top - 2), f"{values.max():.3g}", fill="black", font=lettering)
    draw.text((4, box[3] - 14), f"{values.min():.3g}", fill="black", font=lettering)
    draw.text((left, box[3] + 4), "1", fill="black", font=lettering)
    draw.text((box[2] - 30, box[3] + 4), str(len(values)), fill="black", font=lettering)
    steps_n = len(values)
    for s in range(values.shape[1]):
        xs = box[0] + (box[2] - box[0]) * (np.arange(steps_n) / max(1, steps_n - 1))
        ys = box[3] - (box[3] - box[1]) * (shown[:, s] - lo) / span
        points = list(zip(xs.tolist(), ys.tolist()))
        colour = SEED_COLOURS[s % len(SEED_COLOURS)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
        if s < 5:  # the legend, under the axis
            draw.text((left + 52 * s, box[3] + 20), f"seed {seeds[s]}", fill=colour, font=lettering)
    return picture


def sketch_and_photo(result) -> tuple[Image.Image, Image.Image]:
    """(sketch, photo) of the same size for `gr.ImageSlider`: the best sketch on the canvas and the
    padded square photo it was drawn from (`result.target`), so the slider's line moves over the
    same pixels of both."""
    photo = Image.fromarray(result.target).convert("RGB")
    sketch = Image.fromarray(to_uint8(result.raster)).convert("RGB")
    if sketch.size != photo.size:
        sketch = sketch.resize(photo.size, Image.LANCZOS)
    return sketch, photo
