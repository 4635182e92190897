"""Tab "GroupViT": group an image's patches in two stages, then name the groups with text."""

from __future__ import annotations

import gradio as gr
import numpy as np

from app import render
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, steps
from app.render import segments
from app.scaffold import Answer, Page, Setting, Tab, image_setting, need_kept, quiet
from app.widgets import api_tool
from components import dense, features, groupvit
from components.backbone import load_official_engine
from components.errors import InputError
from components.exports import folders, maps
from components.labelsets import LABEL_SETS
from components.media import load_image, parse_labels

DISPLAY_SIDE = 1024  # long side of the segmentation overlay shown in the browser
ENGINES = {
    "clip": "CLIP-backed grouping (shared CLIP, always available)",
    "official": f"official GroupViT weights ({groupvit.OFFICIAL_MODEL}, from the local cache only)",
}
DEFAULT_PRESET = "pascal_voc_20"
PRESETS = [(s.title, s.name) for s in LABEL_SETS.values() if s.name in groupvit.BACKGROUND_THRESHOLDS]
PRESETS.append(("none (extra classes only)", ""))


def _engine_radio() -> gr.Radio:
    cached = groupvit.official_weights_cached()
    return gr.Radio(
        [(v, k) for k, v in ENGINES.items()],
        value="clip",
        label="Engine",
        info=(
            "The official weights are in the local cache."
            if cached
            else "The official weights are not in this machine's cache (nothing is downloaded): "
            "choosing them runs the CLIP-backed grouping instead and says how to add them."
        ),
    )


TAB = Tab(
    key="groupvit",
    title="GroupViT",
    name="GroupViT — semantic segmentation emerges from text supervision",
    idea="Group the image's patches into 64 segments, then those into 8 groups; name each group with "
    "the class text it matches best, keeping only the image's top-5 classes.",
    paper="Xu, De Mello, Liu, Byeon, Breuel, Kautz, Wang, *GroupViT: Semantic Segmentation Emerges from "
    "Text Supervision*, CVPR 2022.",
    runs="by default a CLIP-backed version of GroupViT's inference: CLIP's dense patch embeddings are "
    "grouped by two stages of group centroids (64 then 8, deterministic start, refined by hard "
    "assignment) and labelled with GroupViT's official rules. The official GroupViT network runs "
    "only when its weights are already in the Hugging Face cache (without them, choosing it runs the "
    "CLIP-backed grouping and says so).",
    settings=[
        image_setting(),
        Setting("engine", _engine_radio, str, '"clip" (CLIP-backed grouping) or "official" (cached GroupViT weights)'),
        Setting("preset", lambda: gr.Dropdown(PRESETS, value=DEFAULT_PRESET, label="Label set"), str,
                "label-set name (e.g. pascal_voc_20, coco_80, pascal_context_59) or empty"),
        Setting("extra", lambda: gr.Textbox("", label="Extra classes", info="Added to the label set; separated by commas.",
                                            placeholder="e.g. rocket, flag"), str, "extra classes, comma-separated"),
        Setting("stage1", lambda: gr.Slider(2, 128, value=groupvit.NUM_GROUP_TOKENS[0], step=1, label="Stage-1 groups"),
                int, "stage-1 group tokens (GroupViT: 64)"),
        Setting("stage2", lambda: gr.Slider(2, 32, value=groupvit.NUM_GROUP_TOKENS[1], step=1, label="Stage-2 (final) groups"),
                int, "stage-2 group tokens (GroupViT: 8)"),
        Setting("iterations", lambda: gr.Slider(0, 10, value=groupvit.ITERATIONS, step=1, label="Centroid refinements per stage"),
                int, "hard-assignment refinements per stage"),
        Setting("gumbel", lambda: gr.Checkbox(False, label="Gumbel noise while assigning (GroupViT's training rule)"),
                bool, "add Gumbel noise while assigning"),
        Setting("seed", lambda: gr.Number(0, precision=0, label="Gumbel seed"), int, "seed of the Gumbel noise"),
        Setting("threshold", lambda: gr.Slider(
            0.0, 1.0, value=groupvit.BACKGROUND_THRESHOLD, step=0.01, label="Background threshold",
            info="Background where a pixel's best score < min(threshold, best group score). "
            "GroupViT: 0.95, 0.35 for PASCAL Context (set with the preset)."),
            float, "background threshold (GroupViT: 0.95; 0.35 for PASCAL Context)", rescore=True),
        Setting("top_k", lambda: gr.Slider(1, 20, value=groupvit.TOP_K, step=1, label="Image-level classes kept (top-k)"),
                int, "image-level classes kept (GroupViT: 5)", rescore=True),
        Setting("method", lambda: gr.Dropdown([(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                                              label="Dense method (CLIP-backed engine)"),
                str, "dense method of the CLIP-backed engine (naclip, clearclip, sclip, maskclip, vanilla)"),
    ],
)
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            image, _, preset, _ = page.inputs("image", "engine", "preset", "extra")
            with gr.Accordion("Advanced", open=False):
                page.inputs("stage1", "stage2", "iterations", "gumbel", "seed", "threshold", "top_k", "method")
            run = gr.Button("Group and label", variant="primary")
            page.limits()
        with gr.Column():
            page.output("segmentation", gr.AnnotatedImage(label="Segmentation map", format="jpeg"))
            with gr.Row():
                page.output("groups", gr.Image(label="Final groups (number and class written on each)", type="pil",
                                               format="jpeg"))
                page.output("stage1_groups", gr.Image(label="Stage-1 groups", type="pil", format="jpeg"))
            page.output("table", gr.Dataframe(
                headers=["group", "share of image (%)", "class", "score", "labelled"],
                datatype=["number", "number", "str", "number", "str"],
                label="Groups",
                interactive=False,
            ))
            page.output("downloads", gr.File(
                label="Label map: indexed PNG (pixel value = class index, 255 = background) + legend JSON "
                "(index → class, colour)", file_count="multiple", interactive=False))
            page.notes_and_record()
    page.strip()
    page.replay_panel()
    page.examples(
        [
            [skimage_photo("astronaut"), DEFAULT_PRESET, "rocket, flag"],
            [skimage_photo("chelsea"), DEFAULT_PRESET, ""],
            [skimage_photo("coffee"), "coco_80", ""],
            [skimage_photo("rocket"), "pascal_context_59", "rocket"],
        ],
        ["image", "preset", "extra"],
        PHOTO_LABEL,
    )
    page.examples(world_examples("groupvit"), ["image", "preset", "extra"], WORLD_LABEL)

    page.run(run, segment, "segment")
    preset.change(api_tool(groupvit.background_threshold_for, "groupvit_preset_threshold",
                           "GroupViT: the background threshold the paper uses with a label set (its default "
                           "for your own labels).", label_set="the label set's name (empty: your own labels)"),
                  preset, page.components["threshold"], api_name="groupvit_preset_threshold")
    page.rescore([page.components["threshold"], page.components["top_k"]], relabel, "relabel",
                 uses=["threshold", "top_k"])


def segment(ctx, s, progress=quiet) -> Answer:
    """Group the image's patches and label the groups."""
    progress(0.0, desc="Reading the image")
    loaded = load_image(s.image)
    classes = list(groupvit.preset_classes(s.preset))
    if s.extra and s.extra.strip():
        classes += parse_labels(s.extra, max_labels=groupvit.MAX_CLASSES).labels
    if not classes:
        raise InputError("Pick a label set or give some extra classes.")
    progress(0.2, desc="Grouping and labelling")
    official, missing = load_official_engine("groupvit", ctx.settings.device) if s.engine == "official" else (None, "")
    if official is not None:
        grouped = features.CACHE.embed(official, loaded.image, classes)  # pay once
        result = official(grouped, background_threshold=s.threshold, top_k=int(s.top_k))
        described = f"Engine: {official.describe()}."
        weights = official.describe()
    else:
        backbone = ctx.backbone(s.model)
        model = groupvit.GroupViT(
            backbone,
            num_group_tokens=(int(s.stage1), int(s.stage2)),
            iterations=int(s.iterations),
            gumbel=bool(s.gumbel),
            seed=int(s.seed or 0),
            background_threshold=s.threshold,
            top_k=int(s.top_k),
            dense_method=s.method,
        )
        grouped = features.CACHE.embed(model, loaded.image, classes)  # pay once
        result = model(grouped)
        described = f"Engine: CLIP-backed grouping on {backbone.describe()}; dense method {result.settings['dense_method']}."
        weights = backbone.describe()
    notes = [*([missing] if missing else []), *loaded.notes, described]
    answer = outputs(loaded.image, result, notes)
    answer.scores, answer.weights, answer.keep = run_scores(result), weights, (loaded.image, grouped, notes)
    return answer


def relabel(ctx, s, kept) -> Answer:
    """Relabel the kept groups with a new background threshold and top-k (no forward)."""
    image, grouped, extra_notes = need_kept(kept, "Group an image first; then the threshold and top-k relabel it.")
    result = groupvit.GroupViT(None, background_threshold=s.threshold, top_k=int(s.top_k))(grouped)
    answer = outputs(image, result, extra_notes)
    answer.keep = (image, grouped, extra_notes)
    return answer


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
    captions = {row[0]: row[2] if row[4] == "yes" else "background" for row in rows}
    groups_picture = segments.numbered_groups(result.group_map, image, captions)  # the table's numbers
    stage1_picture = render.palette_image(result.stage1_map, image)
    return Answer(
        {
            "segmentation": gr.update(value=(shown, annotations), color_map=colours),
            "groups": groups_picture,
            "stage1_groups": stage1_picture,
            "table": rows,
            "downloads": export_files(result, names, colours),
        },
        notes=lines,
        steps=pipeline_steps(image, result, stage1_picture, groups_picture, annotations),
    )


def export_files(result, names, colours) -> list[str]:
    """The label map at the image's own size as an indexed PNG and its legend, in the segmentation's colours."""
    engine = "official GroupViT" if result.engine == "official" else "CLIP-backed grouping"
    files = maps.write_label_map(result.label_map, names, segments.legend_colours(names, colours),
                                 folders.answer_folder("groupvit"), "groupvit-labels",
                                 source=f"CLIP Lab GroupViT tab ({engine})")
    return files.paths


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
