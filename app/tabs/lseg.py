"""Tab "LSeg": image + free-form labels → every pixel labelled, with the evidence behind it."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np

from app import render, runs
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import grid_picture, how_it_works, steps
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import dense, lseg
from components.errors import InputError
from components.media import MAX_LABELS, load_image, parse_labels

DISPLAY_SIDE = 1024  # long side of the segmentation overlay shown in the browser
TITLE = "LSeg"
RESOLUTIONS = {"1× (one window)": 1.0, "1.5×": 1.5, "2× (sharper, slower)": 2.0,
               "training-free papers (short side 1.5×: 336, 224 windows, stride 112)": dense.PAPERS_FACTOR,
               "single pass (whole image, interpolated position embeddings, NACLIP)": 1.0}
SINGLE_PASS = "single pass (whole image, interpolated position embeddings, NACLIP)"
TEMPLATE_LABELS = {"raw": "raw label strings (as LSeg)", "imagenet80": "80 ImageNet prompts (training-free papers)"}
MAX_HEATMAPS = 16
HEATMAP_SIDE = 384  # long side of the per-label heat maps
DEFAULT_LABELS = ", ".join(lseg.DEMO_LABELS)


def short_side_for(backbone, factor: float) -> int:
    patch = dense.patch_size(backbone.model.visual)
    return max(backbone.image_size, round(backbone.image_size * factor / patch) * patch)


def build(ctx) -> None:
    method_header(
        "LSeg — language-driven semantic segmentation",
        "Embed every pixel and every label in one space; each pixel takes the label whose embedding "
        "is closest (softmax of temperature × cosine, argmax).",
        "Li, Weinberger, Belongie, Koltun, Ranftl, *Language-driven Semantic Segmentation*, ICLR 2022.",
        "a CLIP-backed, training-free version of LSeg's inference: the per-pixel embeddings are the "
        "shared CLIP's own patch embeddings made dense (NACLIP by default), not LSeg's trained DPT "
        "decoder; the spatial regulariser uses a fixed smoothing kernel instead of a trained one.",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            labels = gr.Textbox(
                DEFAULT_LABELS,
                label="Labels",
                info=f"Raw label strings separated by commas; “other” catches the rest. Up to {MAX_LABELS}.",
                lines=2,
            )
            with gr.Accordion("Advanced", open=False):
                temperature = gr.Slider(
                    1.0, 100.0, value=round(lseg.LOGIT_SCALE, 2), step=0.01,
                    label="Temperature (logit scale)",
                    info="Scores = softmax(temperature × cosine). Default LSeg's 1/0.07 ≈ 14.29; "
                    "the training-free papers use 40–50. The argmax does not depend on it.",
                )
                threshold = gr.Slider(
                    0.0, 0.99, value=lseg.BACKGROUND_THRESHOLD, step=0.01,
                    label="Background threshold",
                    info="A pixel whose winning probability is below this is background. 0 = off "
                    "(LSeg relies on an “other” label); the training-free papers use ≈ 0.1.",
                )
                regulariser = gr.Radio(
                    [("none", "none"), ("depthwise (smooth each label's map)", "depthwise"),
                     ("bottleneck (smooth + max over labels)", "bottleneck")],
                    value="none",
                    label="Spatial regulariser (LSeg's head blocks, fixed 3×3 kernel)",
                )
                depth = gr.Slider(1, 4, value=lseg.BLOCK_DEPTH, step=1, label="Regulariser blocks")
                templates = gr.Radio(
                    [(v, k) for k, v in TEMPLATE_LABELS.items()], value=lseg.TEMPLATES, label="Prompts"
                )
                method = gr.Dropdown(
                    [(v, k) for k, v in dense.METHOD_LABELS.items()],
                    value=dense.DEFAULT_METHOD,
                    label="Dense method (how CLIP's patch embeddings are made)",
                )
                resolution = gr.Radio(list(RESOLUTIONS), value="1× (one window)", label="Dense resolution",
                                      info="Sliding model-sized windows at half-window stride (the default), the "
                                      "training-free papers' 336 setting, or one pass over the whole image.")
            run = gr.Button("Segment", variant="primary")
            image_limits()
            gr.Markdown(
                "<small>Temperature, threshold and regulariser re-score the stored patch scores "
                "without running CLIP again.</small>"
            )
        with gr.Column():
            overlay = gr.AnnotatedImage(label="Segmentation (hover the legend)", format="jpeg")
            shares = gr.Dataframe(
                headers=["label", "share of image (%)"], datatype=["str", "number"],
                label="Share of the image", interactive=False,
            )
            heatmaps = gr.Gallery(label="Probability of each label", columns=3, height="auto", format="jpeg")
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [skimage_photo("astronaut"), "astronaut, flag, sky, other"],
            [skimage_photo("chelsea"), DEFAULT_LABELS],
            [skimage_photo("coffee"), "cup, saucer, spoon, table, other"],
            [skimage_photo("rocket"), "rocket, smoke, sky, tree, other"],
        ],
        inputs=[image, labels],
        label=PHOTO_LABEL,
    )
    gr.Examples(world_examples("lseg"), inputs=[image, labels], label=WORLD_LABEL)

    @user_errors
    def segment(image_path, labels_text, temp, thresh, reg, blocks, template_name, method_name, resolution_name, model_choice,
                progress=gr.Progress()):
        progress(0.0, desc="Loading the model")
        backbone = ctx.backbone(model_choice)
        loaded = load_image(image_path)
        label_list = parse_labels(labels_text, count_tokens=backbone.count_tokens)
        model = lseg.LSeg(
            backbone,
            logit_scale=temp,
            background_threshold=thresh,
            regulariser=reg,
            block_depth=int(blocks),
            dense_method=method_name,
            templates=template_name,
            short_side=short_side_for(backbone, RESOLUTIONS.get(resolution_name, 1.0)),
            inference="single" if resolution_name == SINGLE_PASS else "windows",
        )
        progress(0.2, desc="Embedding patches and labels")
        result = model(loaded.image, label_list.labels)
        progress(0.9, desc="Drawing")
        extra = [*loaded.notes, *label_list.notes, f"Backbone: {backbone.describe()}; dense method: {result.dense_method}."]
        *shown, strip_steps = outputs(loaded.image, result, extra)
        settings = dict(
            labels=labels_text, temperature=temp, threshold=thresh, regulariser=reg, blocks=blocks,
            templates=template_name, method=method_name, resolution=resolution_name,
        )
        record_path = runs.write_record(
            "lseg",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=run_scores(result),
        )
        return (*shown, record_path, strip_steps, (loaded.image, result, extra))

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "lseg")
        order = ["image", "labels", "temperature", "threshold", "regulariser", "blocks", "templates", "method", "resolution"]
        return runs.replay(saved, {"image": image_path}, functools.partial(segment, progress=progress), order)

    @user_errors
    def rescore(temp, thresh, reg, blocks, saved):
        if not saved:
            raise InputError("Segment an image first; then the temperature, threshold and regulariser re-score it.")
        image, result, extra = saved
        result = result.rescore(logit_scale=temp, background_threshold=thresh, regulariser=reg, block_depth=int(blocks))
        return (*outputs(image, result, extra), (image, result, extra))

    run.click(
        segment,
        [image, labels, temperature, threshold, regulariser, depth, templates, method, resolution, ctx.model_picker],
        [overlay, shares, heatmaps, notes, record, strip, state],
        api_name="lseg_segment",
    )
    replay_button.click(
        replay,
        [record_in, image_in],
        [overlay, shares, heatmaps, notes, record, strip, state],
        api_name="lseg_replay",
    )
    rescore_inputs = [temperature, threshold, regulariser, depth, state]
    rescore_outputs = [overlay, shares, heatmaps, notes, strip, state]
    temperature.release(rescore, rescore_inputs, rescore_outputs, api_name="lseg_rescore")
    for control in (threshold, depth):
        control.release(rescore, rescore_inputs, rescore_outputs, api_name=False)
    regulariser.input(rescore, rescore_inputs, rescore_outputs, api_name=False)


def outputs(image, result, extra):
    names = list(result.labels)
    shown = render.thumbnail(image, DISPLAY_SIDE)
    annotations = render.segment_annotations(render.resize_label_map(result.label_map, shown.size), names)
    table = [[label, round(100 * share, 2)] for label, share in result.table()]
    order = sorted(range(len(names)), key=lambda i: -result.shares[i])[:MAX_HEATMAPS]
    small = render.thumbnail(image, HEATMAP_SIDE)
    probs = result.probability_maps((small.size[1], small.size[0]))
    gallery = [
        (render.overlay(small, probs[i], vmin=0.0, vmax=1.0), f"{names[i]} — {100 * result.shares[i]:.1f}% of pixels")
        for i in order
    ]
    lines = list(extra)
    if len(names) > MAX_HEATMAPS:
        lines.append(f"Heat maps shown for the {MAX_HEATMAPS} labels with the most pixels.")
    lines.append(
        f"Temperature {result.logit_scale:.2f}; background threshold "
        f"{result.background_threshold:.2f}{' (off)' if result.background_threshold == 0 else ''}; "
        f"regulariser {result.regulariser}"
        + (f" × {result.block_depth}" if result.regulariser != "none" else "")
        + "."
    )
    colours = {name: render.palette_hex(i) for i, (_, name) in enumerate(annotations)}
    return (
        gr.update(value=(shown, annotations), color_map=colours),
        table,
        gallery,
        "\n".join(f"- {line}" for line in lines),
        pipeline_steps(small, result, names, order, gallery, annotations),
    )


def pipeline_steps(small, result, names, order, gallery, annotations):
    """The "How it works" steps, drawn from this run's own arrays and pictures: the patch grid, one
    label's cosines, that label's probability (the heat-map gallery's first picture) and the label map
    in the overlay's legend colours."""
    top = order[0]
    h, w = result.cosine.shape[1:]
    # Legend colours follow the labels present (as the overlay's color_map does); background grey.
    legend = {names.index(name): i for i, (_, name) in enumerate(annotations)}
    lookup = np.array([legend.get(i, -1) for i in range(len(names))] + [-1])
    present = lookup[render.resize_label_map(result.label_map, small.size)]
    regulariser = "" if result.regulariser == "none" else f", smoothed by the {result.regulariser} regulariser"
    background = (
        f"; grey = no label reaches {result.background_threshold:.2f}" if result.background_threshold > 0 else ""
    )
    return steps(
        (small, f"CLIP's image tower embeds every patch ({result.dense_method}): a {h}×{w} grid of embeddings"),
        (grid_picture(result.cosine[top]), f"Cosine of each patch with the text embedding of “{names[top]}”"),
        (gallery[0][0], f"softmax({result.logit_scale:.1f} × cosine) over the labels{regulariser}: "
         f"probability of “{names[top]}”, upsampled"),
        (render.palette_image(present, small), f"Each pixel takes its most probable label{background}"),
    )


def run_scores(result) -> dict:
    """The main numbers of a run for its record: each label's share of the pixels."""
    shares = {label: round(share, 6) for label, share in result.table()}
    return {"shares": shares, "grid": list(result.cosine.shape[1:])}
