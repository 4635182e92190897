"""Tab "DepthCLIP": an image → depth in metres from seven distance words, per-word maps, a 3-D relief.

The paper's method runs on its own RN50 (`components.backbone.load_paper_backbone("depthclip")`,
loaded lazily through the shared cache, whatever the header's model picker says); the picker's model
is used only by the dense-patch extension.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from app import render
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import steps
from app.render import depth as depth_pictures
from app.scaffold import Answer, Page, Setting, Tab, image_setting, quiet
from components import backbone as backbones
from components import dense, features
from components import depthclip as dc
from components.errors import InputError
from components.exports import folders, maps
from components.media import load_image

SOURCES = {
    "layer4": "RN50 layer4 — the paper's method",
    "dense": "the CLIP model picked above, dense patches — extension",
}
NORMALIZATION_LABELS = {
    "imagenet": "ImageNet mean/std — the official code",
    "clip": "CLIP's mean/std",
}
ROLE = "depthclip"  # the paper's own backbone in components.backbone.PAPER_BACKBONES
NO_TRUTH = "Ground truth is shown for the Middlebury motorcycle example (first example row) only."
SLIDER_PHOTO = "Depth | photo: drag the handle (viridis over the bins' range; dark = near, yellow = far)"
SLIDER_TRUTH = ("Prediction × median scale | Middlebury ground truth: drag the handle (one viridis scale, the truth's "
                "range; dark = near, yellow = far, black = unknown)")
EXPORT_LABEL = (f"Depth: 16-bit PNG in millimetres (clipped to {maps.DEPTH_MM_RANGE[0]}–{maps.DEPTH_MM_RANGE[1]:,} mm, "
                f"{maps.NO_DEPTH} = none), .npy in metres (float32), legend JSON")


def runs_text(model: str, pretrained: str) -> str:
    return (
        f"faithful zero-shot re-implementation on the paper's own backbone, **{model} · {pretrained}**, "
        "loaded separately from the model picker above (the picker's model is used only by the "
        "dense-patch extension); each result says whether its weights are real or random. Depth is bounded "
        "by the bins: 1–3 m by default, tuned for indoor rooms."
    )


TAB = Tab(
    key="depthclip",
    title="DepthCLIP",
    name="DepthCLIP — zero-shot monocular depth",
    idea="Ask CLIP, for every patch, which of seven distance words fits best (“This object is close”, "
    "“… far”, …); each word stands for a depth in metres, and the depth is the "
    "probability-weighted average of those.",
    paper="Zhang et al., *Can Language Understand Depth?*, ACM MM 2022.",
    runs=runs_text(*backbones.PAPER_BACKBONES[ROLE]),
    settings=[
        image_setting(),
        Setting("source", lambda: gr.Radio(
            [(v, k) for k, v in SOURCES.items()], value="layer4", label="Features",
            info="The paper scores RN50's layer4 map; the extension scores any CLIP's dense patch embeddings."),
            str, '"layer4" (the paper: the RN50 layer4 map) or "dense" (extension: the picked CLIP\'s dense patches)'),
        Setting("words", lambda: gr.Textbox(
            ", ".join(dc.WORDS), label="Distance words, nearest first",
            info=f"Prompted as “This object is {{word}}”; {dc.MIN_WORDS}–{dc.MAX_WORDS} words."),
            str, "distance words, nearest first, comma-separated"),
        Setting("bins", lambda: gr.Textbox(", ".join(f"{b:.2f}" for b in dc.BINS), label="Depth bins (metres), one per word"),
                str, "depth bins in metres, one per word, comma-separated"),
        Setting("temperature", lambda: gr.Number(
            dc.TEMPERATURE, label="Temperature",
            info="logits = 100 · (feature · text) / temperature; the paper's is 0.1"),
            float, "temperature (DepthCLIP: 0.1)"),
        Setting("flip", lambda: gr.Checkbox(dc.FLIP, label="Average with the mirrored image (the official evaluation)"),
                bool, "average with the mirrored image"),
        Setting("height", lambda: gr.Slider(
            dc.MIN_SHORT_SIDE, dc.MAX_SHORT_SIDE, value=dc.SHORT_SIDE, step=32, label="Input height (pixels, short side)",
            info="416 is the official NYU input (416×544 → a 13×17 map); lower is faster, coarser."),
            int, "network input short side in pixels (DepthCLIP: 416)"),
        Setting("normalization", lambda: gr.Radio(
            [(v, k) for k, v in NORMALIZATION_LABELS.items()], value=dc.NORMALIZATION,
            label="Input normalisation (layer4 path)",
            info="The official code feeds ImageNet's mean/std, not CLIP's; kept as the default to match it."),
            str, '"imagenet" (the official code) or "clip"'),
        Setting("method", lambda: gr.Dropdown([(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                                              label="Dense method (extension only)"),
                str, "dense method of the extension (naclip, clearclip, sclip, maskclip, vanilla)"),
    ],
)
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, dataclasses.replace(TAB, runs=runs_text(*backbones.paper_backbone_name(ROLE))))
    with gr.Row():
        with gr.Column():
            page.inputs("image", "source")
            with gr.Accordion("Advanced", open=False):
                page.inputs("words", "bins", "temperature", "flip", "height", "normalization", "method")
            run = gr.Button("Estimate depth", variant="primary")
            page.examples(
                [  # with the features named, both blocks are tables and this one stays the page's first
                    [skimage_photo("motorcycle_left"), "layer4"],  # with Middlebury's ground-truth depth
                    [skimage_photo("coffee"), "layer4"],
                    [skimage_photo("chelsea"), "layer4"],
                    [skimage_photo("astronaut"), "layer4"],
                ],
                ["image", "source"],
                f"{PHOTO_LABEL}; the first has ground-truth depth",
            )
            page.examples(world_examples("depthclip"), ["image", "source"],
                          f"{WORLD_LABEL}: on the shared model's dense patches (the paper's RN50 is not Mini)")
            page.limits()
            gr.Markdown(
                f"<small>Images at most {dc.MAX_ASPECT_RATIO:g}× wider than tall. On a CPU the paper's "
                "RN50 at 416 px takes a few seconds (two passes: the image and its mirror).</small>"
            )
        with gr.Column():
            page.output("depth", gr.Image(label="Depth (metres; viridis: dark = near, yellow = far)", type="pil",
                                          format="png"))
            page.output("compare", gr.ImageSlider(label=SLIDER_PHOTO, type="pil", format="png", interactive=False))
            page.output("downloads", gr.File(label=EXPORT_LABEL, file_count="multiple", interactive=False))
            page.output("status", gr.Markdown())
            with gr.Accordion("Ground truth (Middlebury motorcycle example)", open=True):
                page.output("truth", gr.Image(label="Ground truth | prediction × median scale (metres)", type="pil",
                                              format="png"))
                page.output("comparison", gr.Markdown())
            page.output("words_gallery", gr.Gallery(label="Probability of each word (0–1)", columns=4, height="auto"))
            page.output("relief", gr.Plot(label="3-D relief: pixels lifted with a pinhole camera"))
            page.notes_and_record()
    page.strip()
    page.replay_panel()
    page.run(run, estimate, "estimate")


def estimate(ctx, s, progress=quiet) -> Answer:
    """Depth from the distance words; an image already embedded with the same backbone and view
    settings (components.features) is re-scored instead of running the network again."""
    loaded = load_image(s.image)
    words, bins = dc.parse_words(s.words), dc.parse_bins(s.bins)
    if s.temperature is None:
        raise InputError(f"Give a temperature (the paper's is {dc.TEMPERATURE}).")
    progress(0.05, desc="Loading the backbone")
    backbone = backbone_for(ctx, s.source, s.model)
    estimator = dc.DepthCLIP(
        backbone, words=words, bins=bins, temperature=float(s.temperature), flip=bool(s.flip),
        short_side=int(s.height), normalization=s.normalization, features=s.source, dense_method=s.method,
    )
    start = time.perf_counter()
    progress(0.2, desc="Running the image and its mirror through the network (unless already embedded)")
    embedded, reused = features.CACHE.embed_or_reuse(estimator, loaded.image)  # pay once
    result = estimator(embedded)
    seconds = time.perf_counter() - start
    progress(0.8, desc="Drawing")
    answer = outputs(loaded.image, result)
    answer.outputs["status"] = status_text(backbone, result, seconds, reused)
    answer.notes = [*loaded.notes] + (
        ["Same image and view settings as an earlier run: its features were re-scored; the network did not run again."] if reused else [])
    answer.scores, answer.weights, answer.keep = run_scores(result), backbone.describe(), embedded
    return answer


def backbone_for(ctx, source: str, model_choice: str):
    """The paper's own backbone for the layer4 path (random weights, which the status says, when its
    weights are not on this machine); the picked model for the dense extension."""
    if source == "dense":
        return ctx.backbone(model_choice)
    return backbones.load_paper_backbone(ROLE, ctx.settings.device)


def motorcycle() -> dc.StereoReference:
    """scikit-image's Middlebury motorcycle (left view), whose disparity map lies beside it."""
    left = skimage_photo("motorcycle_left")
    return dc.StereoReference(left, str(Path(left).with_name("motorcycle_disp.npz")), dc.MOTORCYCLE)


def outputs(image: Image.Image, result) -> Answer:
    """The depth picture, the ground-truth panel (motorcycle only), the word maps, the relief, the strip."""
    depth_png = render.depth_image(result.depth, float(result.bins.min()), float(result.bins.max()), "metres")
    reference = motorcycle()
    truth = dc.reference_depth(image, reference)
    if truth is not None:
        comparison = dc.compare_depth(result.depth, truth)
        truth_png, comparison_md = depth_pictures.truth_picture(truth, result.depth, comparison), comparison_text(comparison)
        compare = gr.update(value=depth_pictures.slider_with_truth(truth, result.depth, comparison), label=SLIDER_TRUTH)
        calibration = reference.calibration
        camera_note = f"Middlebury's calibration (focal {calibration.focal_px:g} px)"
    else:
        truth_png, comparison_md, calibration = None, NO_TRUTH, None
        compare = gr.update(value=depth_pictures.slider_with_photo(
            image, result.depth, float(result.bins.min()), float(result.bins.max())), label=SLIDER_PHOTO)
        camera_note = f"an assumed camera (NYU's Kinect: focal {dc.NYU_FOCAL_PER_WIDTH:.3f} × width)"
    points, colours = dc.relief_points(image, result.depth, calibration)
    return Answer(
        {
            "depth": depth_png,
            "compare": compare,
            "downloads": export_files(result),
            "truth": truth_png,
            "comparison": comparison_md,
            "words_gallery": depth_pictures.word_gallery(image, result),
            "relief": render.lifted_points_figure(points, colours, f"{len(points)} pixels lifted with {camera_note}"),
        },
        steps=pipeline_steps(image, result, depth_png),
    )


def export_files(result) -> list[str]:
    """The depth at the image's own size: 16-bit millimetre PNG, metres `.npy`, and their legend."""
    files = maps.write_depth(result.depth, folders.answer_folder("depthclip"), "depthclip",
                             source=f"CLIP Lab DepthCLIP tab ({result.features_from}; bins "
                                    f"{result.bins.min():g}-{result.bins.max():g} m)")
    return files.paths


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


def comparison_text(c: dc.DepthComparison) -> str:
    """The scale-invariant comparison with the ground truth, as a table."""
    return (
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


def _number(value: float) -> str:
    return "n/a (a constant map)" if not np.isfinite(value) else f"{value:.3f}"


def pipeline_steps(image, result, depth_png):
    """The "How it works" steps, from this run's own arrays and pictures: the image, each word's
    probability per cell, the cell depth Σ p·bin, and the depth picture shown above."""
    h, w = result.grid_size
    lo, hi = float(result.bins.min()), float(result.bins.max())
    mirror = ", averaged with its mirror" if result.flip else ""
    return steps(
        (render.thumbnail(image, 768), f"The image at {result.input_size[1]}×{result.input_size[0]} px "
         f"gives a {h}×{w} grid of features{mirror}"),
        (depth_pictures.word_grids(result), f"Per-word maps: each cell's softmax over the {len(result.words)} "
         "prompts “This object is {word}”"),
        (depth_pictures.cells(result.depth_grid, lo, hi, "viridis", 320),
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
