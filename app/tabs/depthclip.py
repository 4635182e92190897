"""Tab "DepthCLIP": an image → depth in metres from seven distance words, per-word maps, a 3-D relief.

The paper's method runs on its own RN50 (loaded lazily through the shared cache, whatever the
header's model picker says); the picker's model is used only by the dense-patch extension.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from app import render, runs
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import how_it_works, steps
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import dense
from components import depthclip as dc
from components.backbone import load_backbone
from components.errors import InputError, WeightsError
from components.media import load_image

TITLE = "DepthCLIP"
SOURCES = {
    "layer4": "RN50 layer4 — the paper's method",
    "dense": "the CLIP model picked above, dense patches — extension",
}
NORMALIZATION_LABELS = {
    "imagenet": "ImageNet mean/std — the official code",
    "clip": "CLIP's mean/std",
}
GALLERY_SIDE = 384


def paper_backbone_name() -> tuple[str, str]:
    """The paper's backbone (RN50 · openai); CLIP_LAB_DEPTHCLIP_MODEL / _PRETRAINED override it
    (tests use a tiny ResNet)."""
    model, pretrained = dc.BACKBONE
    return (
        os.environ.get("CLIP_LAB_DEPTHCLIP_MODEL", model),
        os.environ.get("CLIP_LAB_DEPTHCLIP_PRETRAINED", pretrained),
    )


def build(ctx) -> None:
    model, pretrained = paper_backbone_name()
    method_header(
        "DepthCLIP — zero-shot monocular depth",
        "Ask CLIP, for every patch, which of seven distance words fits best (“This object is close”, "
        "“… far”, …); each word stands for a depth in metres, and the depth is the "
        "probability-weighted average of those.",
        "Zhang et al., *Can Language Understand Depth?*, ACM MM 2022.",
        f"faithful zero-shot re-implementation on the paper's own backbone, **{model} · {pretrained}**, "
        "loaded separately from the model picker above (the picker's model is used only by the "
        "dense-patch extension); each result says whether its weights are real or random. Depth is bounded "
        "by the bins: 1–3 m by default, tuned for indoor rooms.",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            source = gr.Radio(
                [(v, k) for k, v in SOURCES.items()], value="layer4", label="Features",
                info="The paper scores RN50's layer4 map; the extension scores any CLIP's dense patch embeddings.",
            )
            with gr.Accordion("Advanced", open=False):
                words = gr.Textbox(
                    ", ".join(dc.WORDS), label="Distance words, nearest first",
                    info=f"Prompted as “This object is {{word}}”; {dc.MIN_WORDS}–{dc.MAX_WORDS} words.",
                )
                bins = gr.Textbox(
                    ", ".join(f"{b:.2f}" for b in dc.BINS), label="Depth bins (metres), one per word",
                )
                temperature = gr.Number(
                    dc.TEMPERATURE, label="Temperature", info="logits = 100 · (feature · text) / temperature; the paper's is 0.1",
                )
                flip = gr.Checkbox(dc.FLIP, label="Average with the mirrored image (the official evaluation)")
                height = gr.Slider(
                    dc.MIN_SHORT_SIDE, dc.MAX_SHORT_SIDE, value=dc.SHORT_SIDE, step=32,
                    label="Input height (pixels, short side)",
                    info="416 is the official NYU input (416×544 → a 13×17 map); lower is faster, coarser.",
                )
                normalization = gr.Radio(
                    [(v, k) for k, v in NORMALIZATION_LABELS.items()], value=dc.NORMALIZATION,
                    label="Input normalisation (layer4 path)",
                    info="The official code feeds ImageNet's mean/std, not CLIP's; kept as the default to match it.",
                )
                method = gr.Dropdown(
                    [(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                    label="Dense method (extension only)",
                )
            run = gr.Button("Estimate depth", variant="primary")
            gr.Examples(
                [  # with the features named, both blocks are tables and this one stays the page's first
                    [skimage_photo("motorcycle_left"), "layer4"],  # with Middlebury's ground-truth depth
                    [skimage_photo("coffee"), "layer4"],
                    [skimage_photo("chelsea"), "layer4"],
                    [skimage_photo("astronaut"), "layer4"],
                ],
                inputs=[image, source],
                label=f"{PHOTO_LABEL}; the first has ground-truth depth",
            )
            gr.Examples(
                world_examples("depthclip"), inputs=[image, source],
                label=f"{WORLD_LABEL}: on the shared model's dense patches (the paper's RN50 is not Mini)",
            )
            image_limits()
            gr.Markdown(
                f"<small>Images at most {dc.MAX_ASPECT_RATIO:g}× wider than tall. On a CPU the paper's "
                "RN50 at 416 px takes a few seconds (two passes: the image and its mirror).</small>"
            )
        with gr.Column():
            depth = gr.Image(label="Depth (metres)", type="pil", format="png")
            status = gr.Markdown()
            with gr.Accordion("Ground truth (Middlebury motorcycle example)", open=True):
                truth = gr.Image(label="Ground truth | prediction × median scale (metres)", type="pil", format="png")
                comparison = gr.Markdown()
            words_gallery = gr.Gallery(label="Probability of each word (0–1)", columns=4, height="auto")
            relief = gr.Plot(label="3-D relief: pixels lifted with a pinhole camera")
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    def backbone_for(choice_source, model_choice):
        if choice_source == "dense":
            return ctx.backbone(model_choice)
        name, tag = paper_backbone_name()
        try:
            return load_backbone(name, tag, ctx.settings.device)
        except WeightsError as error:
            raise InputError(str(error)) from None

    @user_errors
    def estimate(image_path, source_name, words_text, bins_text, temp, use_flip, short_side, norm, dense_method,
                 saved, model_choice, progress=gr.Progress()):
        loaded = load_image(image_path)
        word_list = dc.parse_words(words_text)
        bin_list = dc.parse_bins(bins_text)
        if temp is None:
            raise InputError(f"Give a temperature (the paper's is {dc.TEMPERATURE}).")
        progress(0.05, desc="Loading the backbone")
        backbone = backbone_for(source_name, model_choice)
        estimator = dc.DepthCLIP(
            backbone, words=word_list, bins=bin_list, temperature=float(temp), flip=bool(use_flip),
            short_side=int(short_side), normalization=norm, features=source_name, dense_method=dense_method,
        )
        key = (_pixels_key(loaded.image), source_name, bool(use_flip), int(short_side), norm, dense_method, backbone.describe())
        start = time.perf_counter()
        if saved and saved[0] == key:
            progress(0.5, desc="Re-scoring the kept features (no image pass)")
            result, reused = estimator.rescore(saved[1]), True
        else:
            progress(0.2, desc="Running the image and its mirror through the network")
            result, reused = estimator(loaded.image), False
        seconds = time.perf_counter() - start
        progress(0.8, desc="Drawing")
        lo, hi = float(min(bin_list)), float(max(bin_list))
        depth_png = render.depth_image(result.depth, lo, hi, "metres")
        truth_depth = reference_depth(loaded.image)
        if truth_depth is not None:
            truth_png, comparison_md = truth_panel(result, truth_depth)
            camera = dict(focal=dc.MOTORCYCLE.focal_px, principal=(dc.MOTORCYCLE.cx, dc.MOTORCYCLE.cy))
        else:
            truth_png = None
            comparison_md = "Ground truth is shown for the Middlebury motorcycle example (first example row) only."
            camera = {}
        points, rows, cols = dc.lift_to_points(result.depth, **camera)
        colours = np.asarray(loaded.image)[rows, cols]
        camera_note = (
            "Middlebury's calibration (focal 994.978 px)" if camera
            else f"an assumed camera (NYU's Kinect: focal {dc.NYU_FOCAL_PER_WIDTH:.3f} × width)"
        )
        figure = render.lifted_points_figure(points, colours, f"{len(points)} pixels lifted with {camera_note}")
        note_lines = list(loaded.notes)
        if reused:
            note_lines.append("Same image and settings: the kept features were re-scored; the network did not run again.")
        gallery = word_gallery(loaded.image, result)
        settings = dict(
            source=source_name, words=words_text, bins=bins_text, temperature=temp, flip=use_flip,
            height=short_side, normalization=norm, method=dense_method,
        )
        record_path = runs.write_record(
            "depthclip",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=run_scores(result),
        )
        return (
            depth_png,
            status_text(backbone, result, seconds, reused),
            truth_png,
            comparison_md,
            gallery,
            figure,
            "\n".join(f"- {n}" for n in note_lines),
            record_path,
            pipeline_steps(loaded.image, result, depth_png),
            (key, result),
        )

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "depthclip")
        order = ["image", "source", "words", "bins", "temperature", "flip", "height", "normalization", "method"]

        def fresh(*args):  # a replay runs the network again: no kept features
            return estimate(*args[:-1], None, args[-1], progress=progress)

        return runs.replay(saved, {"image": image_path}, fresh, order)

    run.click(
        estimate,
        [image, source, words, bins, temperature, flip, height, normalization, method, state, ctx.model_picker],
        [depth, status, truth, comparison, words_gallery, relief, notes, record, strip, state],
        api_name="depthclip_estimate",
    )
    replay_button.click(
        replay,
        [record_in, image_in],
        [depth, status, truth, comparison, words_gallery, relief, notes, record, strip, state],
        api_name="depthclip_replay",
    )


def _pixels_key(image: Image.Image) -> tuple:
    """Identifies an image by its pixels, however it was uploaded (path, copy or re-upload)."""
    return (image.size, hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest())


def status_text(backbone, result, seconds: float, reused: bool) -> str:
    h, w = result.grid_size
    lines = [
        f"**Backbone:** {backbone.model_name} · {backbone.weights} · {backbone.device} — features: {result.features_from}.",
        f"Network input {result.input_size[1]}×{result.input_size[0]} px ({result.normalization} normalisation) → "
        f"{h}×{w} map{', averaged with the mirrored image' if result.flip else ''}; "
        f"depth {result.depth.min():.2f}–{result.depth.max():.2f} m (bins {result.bins.min():g}–{result.bins.max():g} m); "
        f"{'re-scored' if reused else 'computed'} in {seconds:.2f} s.",
    ]
    if backbone.is_random:
        lines.append(
            f"⚠️ **{backbone.model_name} runs on random, untrained weights: this depth is meaningless.** "
            f"Why: {backbone.weights_note}. For the paper's weights, put OpenAI's {backbone.model_name} in the "
            "Hugging Face cache (`HF_HOME`) on a machine with internet: "
            f"`python -c \"import open_clip; open_clip.create_model('{backbone.model_name}', pretrained='openai')\"`."
        )
    return "\n\n".join(lines)


def word_gallery(image: Image.Image, result) -> list[tuple[Image.Image, str]]:
    items = []
    for word, bin_m, share in result.word_shares():
        picture = render.overlay(image, result.word_map(word), alpha=0.6, vmin=0.0, vmax=1.0, cmap="magma")
        picture.thumbnail((GALLERY_SIDE, GALLERY_SIDE))
        items.append((picture, f"{word} → {bin_m:.2f} m · mean p {share:.0%}"))
    return items


def word_grids(result, columns: int = 3) -> Image.Image:
    """Every word's probability on the network's cell grid (0–1, one shared scale), tiled with the
    word and its bin under each."""
    tiles = []
    font = render.lettering.font(20)
    for i, (word, bin_m) in enumerate(zip(result.words, result.bins)):
        cells = _cells(result.probs[i], 0.0, 1.0, "magma", 200)
        tile = Image.new("RGB", (max(cells.width, 180), cells.height + 48), "white")
        tile.paste(cells, (0, 0))
        draw = ImageDraw.Draw(tile)
        draw.text((3, cells.height + 2), word, fill="black", font=font)
        draw.text((3, cells.height + 24), f"{bin_m:g} m", fill="black", font=font)
        tiles.append(tile)
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    tw, th = tiles[0].size
    out = Image.new("RGB", (cols * (tw + 4), rows * (th + 4)), "white")
    for n, tile in enumerate(tiles):
        out.paste(tile, ((n % cols) * (tw + 4), (n // cols) * (th + 4)))
    return out


def _cells(values: np.ndarray, vmin: float, vmax: float, cmap: str, side: int) -> Image.Image:
    """A (h, w) grid on a fixed colour scale, cell by cell (nearest neighbour)."""
    colours = render.colorize(values, vmin=vmin, vmax=vmax, cmap=cmap)
    scale = max(1, side // max(values.shape))
    return Image.fromarray(colours.astype(np.uint8)).resize((values.shape[1] * scale, values.shape[0] * scale), Image.NEAREST)


def pipeline_steps(image, result, depth_png):
    """The "How it works" steps, from this run's own arrays and pictures: the image, each word's
    probability per cell, the cell depth Σ p·bin, and the depth picture shown above."""
    h, w = result.grid_size
    lo, hi = float(result.bins.min()), float(result.bins.max())
    mirror = ", averaged with its mirror" if result.flip else ""
    return steps(
        (render.thumbnail(image, 768), f"The image at {result.input_size[1]}×{result.input_size[0]} px "
         f"gives a {h}×{w} grid of features{mirror}"),
        (word_grids(result), f"Per-word maps: each cell's softmax over the {len(result.words)} "
         "prompts “This object is {word}”"),
        (_cells(result.depth_grid, lo, hi, "viridis", 320),
         f"Expected depth per cell: the sum of probability × bin (bins {lo:g} to {hi:g} m)"),
        (depth_png, "Cell depths upsampled smoothly to every pixel of the image"),
    )


def run_scores(result) -> dict:
    """The main numbers of a run for its record: depth range and each word's mean probability."""
    return {
        "depth_m": {
            "min": round(float(result.depth.min()), 6),
            "median": round(float(np.median(result.depth)), 6),
            "max": round(float(result.depth.max()), 6),
        },
        "grid": list(result.grid_size),
        "word_mean_probability": {w: round(s, 6) for w, _, s in result.word_shares()},
    }


@functools.lru_cache(maxsize=1)
def _motorcycle() -> tuple[np.ndarray, np.ndarray]:
    left = skimage_photo("motorcycle_left")
    pixels = np.asarray(Image.open(left).convert("RGB"))
    disparity = dc.load_disparity(Path(left).with_name("motorcycle_disp.npz"))
    return pixels, dc.disparity_to_depth(disparity, dc.MOTORCYCLE)


def reference_depth(image: Image.Image) -> np.ndarray | None:
    """Ground-truth depth when the image is exactly scikit-image's Middlebury motorcycle (left view)."""
    pixels, truth = _motorcycle()
    if image.size != (pixels.shape[1], pixels.shape[0]) or not np.array_equal(np.asarray(image), pixels):
        return None
    return truth


def truth_panel(result, truth: np.ndarray) -> tuple[Image.Image, str]:
    c = dc.compare_depth(result.depth, truth)
    lo, hi = float(np.nanmin(truth)), float(np.nanmax(truth))
    picture = render.depth_pair_image(truth, result.depth * c.scale, lo, hi, "metres")
    table = (
        "**Scale-invariant comparison** with Middlebury's ground truth (depth = focal · baseline / "
        "(disparity + offset); black = unknown). The prediction is first multiplied by one number, "
        "median(truth) / median(prediction), so these numbers judge the *shape* of the depth, not its "
        "absolute metres.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| pixels with known depth | {c.valid_pixels:,} |\n"
        f"| median scale applied | × {c.scale:.3f} |\n"
        f"| δ1 after median scaling (share within ×1.25; higher is better) | {c.delta1:.3f} |\n"
        f"| δ2 / δ3 after median scaling | {c.delta2:.3f} / {c.delta3:.3f} |\n"
        f"| AbsRel after median scaling (lower is better) | {c.abs_rel:.3f} |\n"
        f"| Spearman rank correlation (no scaling; 1 = same order) | {_number(c.spearman)} |\n"
        f"| δ1 of a flat map at the median, for comparison (needs no picture) | {c.flat_delta1:.3f} |\n"
        f"| δ1 without scaling (DepthCLIP's metres taken literally) | {c.raw_delta1:.3f} |\n\n"
        "For reference, the paper reports δ1 0.394 and AbsRel 0.388 on NYU Depth v2 (indoor rooms)."
    )
    return picture, table


def _number(value: float) -> str:
    return "n/a (a constant map)" if not np.isfinite(value) else f"{value:.3f}"
