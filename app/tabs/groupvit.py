"""Tab "GroupViT": group an image's patches in two stages, then name the groups with text."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np

from app import render, runs
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, how_it_works, steps
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import dense, groupvit
from components.errors import InputError, WeightsError
from components.labelsets import LABEL_SETS
from components.media import load_image, parse_labels

DISPLAY_SIDE = 1024  # long side of the segmentation overlay shown in the browser
TITLE = "GroupViT"
ENGINES = {
    "clip": "CLIP-backed grouping (shared CLIP, always available)",
    "official": f"official GroupViT weights ({groupvit.OFFICIAL_MODEL}, from the local cache only)",
}
DEFAULT_PRESET = "pascal_voc_20"
PRESETS = [(s.title, s.name) for s in LABEL_SETS.values() if s.name in groupvit.BACKGROUND_THRESHOLDS]
PRESETS.append(("none (extra classes only)", ""))


def build(ctx) -> None:
    method_header(
        "GroupViT — semantic segmentation emerges from text supervision",
        "Group the image's patches into 64 segments, then those into 8 groups; name each group with "
        "the class text it matches best, keeping only the image's top-5 classes.",
        "Xu, De Mello, Liu, Byeon, Breuel, Kautz, Wang, *GroupViT: Semantic Segmentation Emerges from "
        "Text Supervision*, CVPR 2022.",
        "by default a CLIP-backed version of GroupViT's inference: CLIP's dense patch embeddings are "
        "grouped by two stages of group centroids (64 then 8, deterministic start, refined by hard "
        "assignment) and labelled with GroupViT's official rules. The official GroupViT network runs "
        "only when its weights are already in the Hugging Face cache.",
    )
    cached = groupvit.official_weights_cached()
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            engine = gr.Radio(
                [(v, k) for k, v in ENGINES.items()],
                value="clip",
                label="Engine",
                info=(
                    "The official weights are in the local cache."
                    if cached
                    else "The official weights are not in this machine's cache (nothing is downloaded): "
                    "choosing them explains how to add them."
                ),
            )
            preset = gr.Dropdown(PRESETS, value=DEFAULT_PRESET, label="Label set")
            extra = gr.Textbox(
                "",
                label="Extra classes",
                info="Added to the label set; separated by commas.",
                placeholder="e.g. rocket, flag",
            )
            with gr.Accordion("Advanced", open=False):
                stage1 = gr.Slider(2, 128, value=groupvit.NUM_GROUP_TOKENS[0], step=1, label="Stage-1 groups")
                stage2 = gr.Slider(2, 32, value=groupvit.NUM_GROUP_TOKENS[1], step=1, label="Stage-2 (final) groups")
                iterations = gr.Slider(0, 10, value=groupvit.ITERATIONS, step=1, label="Centroid refinements per stage")
                gumbel = gr.Checkbox(False, label="Gumbel noise while assigning (GroupViT's training rule)")
                seed = gr.Number(0, precision=0, label="Gumbel seed")
                threshold = gr.Slider(
                    0.0, 1.0, value=groupvit.BACKGROUND_THRESHOLD, step=0.01,
                    label="Background threshold",
                    info="Background where a pixel's best score < min(threshold, best group score). "
                    "GroupViT: 0.95, 0.35 for PASCAL Context (set with the preset).",
                )
                top_k = gr.Slider(1, 20, value=groupvit.TOP_K, step=1, label="Image-level classes kept (top-k)")
                method = gr.Dropdown(
                    [(v, k) for k, v in dense.METHOD_LABELS.items()],
                    value=dense.DEFAULT_METHOD,
                    label="Dense method (CLIP-backed engine)",
                )
            run = gr.Button("Group and label", variant="primary")
            image_limits()
        with gr.Column():
            segmentation = gr.AnnotatedImage(label="Segmentation map", format="jpeg")
            with gr.Row():
                groups_image = gr.Image(label="Final groups", type="pil", format="jpeg")
                stage1_image = gr.Image(label="Stage-1 groups", type="pil", format="jpeg")
            table = gr.Dataframe(
                headers=["group", "share of image (%)", "class", "score", "labelled"],
                datatype=["number", "number", "str", "number", "str"],
                label="Groups",
                interactive=False,
            )
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [skimage_photo("astronaut"), DEFAULT_PRESET, "rocket, flag"],
            [skimage_photo("chelsea"), DEFAULT_PRESET, ""],
            [skimage_photo("coffee"), "coco_80", ""],
            [skimage_photo("rocket"), "pascal_context_59", "rocket"],
        ],
        inputs=[image, preset, extra],
        label=PHOTO_LABEL,
    )
    gr.Examples(world_examples("groupvit"), inputs=[image, preset, extra], label=WORLD_LABEL)

    @user_errors
    def segment(image_path, engine_name, preset_name, extra_text, k1, k2, iters, use_gumbel, seed_value, thresh, k, method_name, model_choice,
                progress=gr.Progress()):
        progress(0.0, desc="Reading the image")
        loaded = load_image(image_path)
        classes = list(groupvit.preset_classes(preset_name))
        if extra_text and extra_text.strip():
            classes += parse_labels(extra_text, max_labels=groupvit.MAX_CLASSES).labels
        if not classes:
            raise InputError("Pick a label set or give some extra classes.")
        progress(0.2, desc="Grouping and labelling")
        if engine_name == "official":
            try:
                model = groupvit.load_official()
            except WeightsError as error:
                raise InputError(str(error)) from None
            result = model(loaded.image, classes, background_threshold=thresh, top_k=int(k))
            described = f"Engine: official GroupViT ({model.weights})."
            weights = f"official GroupViT · {model.weights}"
        else:
            backbone = ctx.backbone(model_choice)
            model = groupvit.GroupViT(
                backbone,
                num_group_tokens=(int(k1), int(k2)),
                iterations=int(iters),
                gumbel=bool(use_gumbel),
                seed=int(seed_value or 0),
                background_threshold=thresh,
                top_k=int(k),
                dense_method=method_name,
            )
            result = model(loaded.image, classes)
            described = f"Engine: CLIP-backed grouping on {backbone.describe()}; dense method {result.settings['dense_method']}."
            weights = backbone.describe()
        extra_notes = [*loaded.notes, described]
        *shown, strip_steps = outputs(loaded.image, result, extra_notes)
        settings = dict(
            engine=engine_name, preset=preset_name, extra=extra_text, stage1=k1, stage2=k2, iterations=iters,
            gumbel=use_gumbel, seed=seed_value, threshold=thresh, top_k=k, method=method_name,
        )
        record_path = runs.write_record(
            "groupvit",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=weights,
            scores=run_scores(result),
        )
        return (*shown, record_path, strip_steps, (loaded.image, result, extra_notes))

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "groupvit")
        order = ["image", "engine", "preset", "extra", "stage1", "stage2", "iterations", "gumbel", "seed",
                 "threshold", "top_k", "method"]
        return runs.replay(saved, {"image": image_path}, functools.partial(segment, progress=progress), order)

    @user_errors
    def relabel(thresh, k, saved):
        if not saved:
            raise InputError("Group an image first; then the threshold and top-k relabel it.")
        image, result, extra_notes = saved
        result = result.relabel(background_threshold=thresh, top_k=int(k))
        return (*outputs(image, result, extra_notes), (image, result, extra_notes))

    def preset_threshold(preset_name):
        return groupvit.background_threshold_for(preset_name)

    run.click(
        segment,
        [image, engine, preset, extra, stage1, stage2, iterations, gumbel, seed, threshold, top_k, method, ctx.model_picker],
        [segmentation, groups_image, stage1_image, table, notes, record, strip, state],
        api_name="groupvit_segment",
    )
    replay_button.click(
        replay,
        [record_in, image_in],
        [segmentation, groups_image, stage1_image, table, notes, record, strip, state],
        api_name="groupvit_replay",
    )
    preset.change(preset_threshold, preset, threshold, api_name="groupvit_preset_threshold")
    relabel_io = ([threshold, top_k, state], [segmentation, groups_image, stage1_image, table, notes, strip, state])
    threshold.release(relabel, *relabel_io, api_name="groupvit_relabel")
    top_k.release(relabel, *relabel_io, api_name=False)


def outputs(image, result, extra_notes):
    names = list(result.classes)
    shown = render.thumbnail(image, DISPLAY_SIDE)
    annotations = render.segment_annotations(render.resize_label_map(result.label_map, shown.size), names)
    colours = {name: render.palette_hex(i) for i, (_, name) in enumerate(annotations)}
    shares = result.group_shares()
    rows = []
    for g in result.visible_groups():
        c = int(result.group_classes[g])
        score = float(result.group_scores[g])
        rows.append([g, round(100 * float(shares[g]), 2), names[c], round(score, 3),
                     "yes" if score >= result.applied_threshold else "background"])
    k1, k2 = result.num_groups
    top = ", ".join(names[i] for i in result.top_classes)
    lines = [
        *extra_notes,
        *result.notes,
        f"{len(set(result.stage1_map.ravel().tolist()))} of {k1} stage-1 groups and "
        f"{len(result.visible_groups())} of {k2} final groups cover the image.",
        f"Top-{result.top_k} image-level classes: {top}.",
        f"Background where a pixel's score < min({result.background_threshold:.2f}, best group score) "
        f"= {result.applied_threshold:.3f}.",
    ]
    groups_picture = render.palette_image(result.group_map, image)
    stage1_picture = render.palette_image(result.stage1_map, image)
    return (
        gr.update(value=(shown, annotations), color_map=colours),
        groups_picture,
        stage1_picture,
        rows,
        "\n".join(f"- {line}" for line in lines),
        pipeline_steps(image, result, stage1_picture, groups_picture, annotations),
    )


def pipeline_steps(image, result, stage1_picture, groups_picture, annotations):
    """The "How it works" steps, from this run's own pictures and arrays: the image, the stage-1 and
    final group pictures shown above, the image-level classes kept, and the labelled groups in the
    segmentation's legend colours."""
    names = list(result.classes)
    k1, k2 = result.num_groups
    h, w = result.grid_size
    encoder = (
        "GroupViT's own encoder" if result.engine == "official"
        else f"CLIP's image tower ({result.settings.get('dense_method')})"
    )
    stage1_used = len(set(result.stage1_map.ravel().tolist()))
    top = [int(i) for i in result.top_classes]
    legend = {names.index(name): i for i, (_, name) in enumerate(annotations)}
    lookup = np.array([legend.get(i, -1) for i in range(len(names))] + [-1])
    small = render.thumbnail(image, 768)
    labelled = render.palette_image(lookup[render.resize_label_map(result.label_map, small.size)], small)
    return steps(
        (small, f"{encoder} turns the image into a {h}×{w} grid of patch embeddings"),
        (stage1_picture, f"Stage 1: the patches are gathered into {stage1_used} of {k1} groups"),
        (groups_picture, f"Stage 2: those segments merge into {len(result.visible_groups())} of {k2} final groups"),
        (bars_picture([names[i] for i in top], [float(result.image_probs[i]) for i in top],
                      "whole image vs classes (softmax)", 1.25 * max(float(result.image_probs[i]) for i in top)),
         f"The whole image picks its top-{result.top_k} classes; only they can name a group"),
        (labelled, "Each group takes its best class; grey = background (score below the threshold)"),
    )


def run_scores(result) -> dict:
    """The main numbers of a run for its record: the image's top classes and each visible group."""
    names = list(result.classes)
    shares = result.group_shares()
    return {
        "top_classes": {names[int(i)]: round(float(result.image_probs[int(i)]), 6) for i in result.top_classes},
        "groups": [
            {"group": int(g), "share": round(float(shares[g]), 6), "class": names[int(result.group_classes[g])],
             "score": round(float(result.group_scores[g]), 6)}
            for g in result.visible_groups()
        ],
    }
