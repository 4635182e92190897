"""Tab "PointCLIP": a 3-D mesh or point cloud → depth-map views → CLIP → a label, with per-view evidence.

The image tower runs once per recognition (all views in one batch); the view-weight sliders re-fuse
the stored per-view similarities without running it again.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from app import render, runs
from app.examples import ASSETS, WORLD_LABEL, world_examples
from app.howitworks import bars_picture, grid_picture, how_it_works, mosaic_picture, steps
from app.context import parse_choice
from app.widgets import method_header, replay_panel, user_errors
from components import pointclip as pc
from components import pointclouds
from components.media import MAX_LABELS, parse_labels
from components.pointclip_labels import PRESETS, preset_text

TITLE = "PointCLIP"
MAX_VIEWS = max(p.num_views for p in pc.PROJECTIONS.values())
CUSTOM = "your own labels"
SHAPES = ASSETS / "shapes"
DEFAULT_LABELS = "table, chair, lamp, mug, bottle, airplane, car, guitar"
GALLERY_SIDE = 224
HEATMAP_COLUMNS = 40
UP_AXES = {"y": "y is up (ModelNet clouds, glTF, most OBJ)", "z": "z is up (many CAD and STL files)"}


def build(ctx) -> None:
    method_header(
        "PointCLIP — point clouds recognised by CLIP (V1 and V2)",
        "Render a 3-D object into a few depth maps from fixed viewpoints, let CLIP compare each view "
        "with “point cloud depth map of a {label}.”, and add the views' votes with one weight per view.",
        "Zhang et al., *PointCLIP: Point Cloud Understanding by CLIP*, CVPR 2022; Zhu et al., "
        "*PointCLIP V2: Prompting CLIP and GPT for Powerful 3D Open-world Learning*, ICCV 2023.",
        "faithful zero-shot re-implementation of both projections (V1's 6 perspective depth maps, V2's "
        "10 realistic projections) on the CLIP model picked above. V2's GPT-written per-class prompts "
        "are not shipped (the official repository's licence could not be checked): both use V1's prompt. "
        "V2's view weights: the set published for the picked backbone (RN50, RN101, ViT-B/32, ViT-B/16) and "
        "label preset (ModelNet40 or ScanObjectNN; ModelNet40's for other labels, ViT-B/16's for other "
        "backbones); the note under the result says which.",
    )
    with gr.Row():
        with gr.Column():
            upload = gr.File(
                label="3-D file (mesh or point cloud)",
                file_types=list(pointclouds.SUFFIXES),
                type="filepath",
            )
            preset = gr.Dropdown(
                [CUSTOM, *PRESETS], value=CUSTOM, label="Label preset",
                info="ModelNet40, ModelNet10 or ScanObjectNN class names fill the box below.",
            )
            labels = gr.Textbox(
                DEFAULT_LABELS, label="Labels", lines=2,
                info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}.",
            )
            projection = gr.Radio(
                [(p.title, k) for k, p in pc.PROJECTIONS.items()], value="v2", label="Projection",
            )
            with gr.Accordion("View weights (re-fuse instantly, no new CLIP pass)", open=False):
                weights_note = gr.Markdown(weights_text("v2"))
                sliders = [
                    gr.Slider(0.0, 1.0, step=0.05, **slider_props("v2", i)) for i in range(MAX_VIEWS)
                ]
                reset = gr.Button("Reset to the preset weights", size="sm")
            with gr.Accordion("Advanced", open=False):
                num_points = gr.Slider(
                    pointclouds.MIN_POINTS, 16_384, value=pointclouds.DEFAULT_POINTS, step=1,
                    label="Points", info="Sampled on a mesh, or subsampled from a larger cloud (PointCLIP: 1024).",
                )
                prompt = gr.Textbox(pc.PROMPT, label="Prompt", info="“{}” is replaced by each label.")
                up_axis = gr.Radio([(v, k) for k, v in UP_AXES.items()], value="y", label="Up axis of the file")
            run = gr.Button("Recognise", variant="primary")
            gr.Markdown(f"<small>{pointclouds.limits_text()}</small>")
        with gr.Column():
            ranked = gr.Label(num_top_classes=5, label="Prediction (views fused)")
            cloud = gr.Plot(label="The normalised cloud (drag to turn)")
            gallery = gr.Gallery(
                label="What CLIP sees: each view with its own best label", columns=5, height=300,
                object_fit="contain", format="png",
            )
            heat = gr.Plot(label="Cosine similarity, views × labels (labels by fused score)")
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON) of the last Recognise: settings, file hash, weights, scores")
    strip = how_it_works()
    record_in, (file_in,), replay_button = replay_panel(
        inputs=lambda: [
            gr.File(label="The 3-D file the record was made with", file_types=list(pointclouds.SUFFIXES), type="filepath")
        ]
    )
    state = gr.State()

    gr.Examples(
        [
            [str(SHAPES / "chair.obj"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "airplane.glb"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "mug.ply"), DEFAULT_LABELS, "v1"],
            [str(SHAPES / "table.ply"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "lamp.stl"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "bottle.off"), preset_text("ModelNet40"), "v2"],
        ],
        inputs=[upload, labels, projection],
        label="Mesh examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    gr.Examples(world_examples("pointclip"), inputs=[upload, labels, projection], label=WORLD_LABEL)

    @user_errors
    def recognise(path, labels_text, projection_name, points, prompt_text, up, *rest, progress=gr.Progress()):
        *weights, model_choice = rest
        progress(0.0, desc="Loading the model")
        backbone = ctx.backbone(model_choice)
        preset_ = pc.get_projection(projection_name)
        progress(0.1, desc="Reading the 3-D file")
        loaded = pointclouds.load_point_cloud(path, num_points=int(points), up_axis=up)
        label_list = parse_labels(labels_text, count_tokens=backbone.count_tokens)
        model = pc.PointCLIP(
            backbone,
            projection=preset_.name,
            view_weights=[float(w) for w in weights[: preset_.num_views]],
            templates=pc.prompt_templates(prompt_text),
            label_preset=next((name for name in PRESETS if tuple(label_list.labels) == PRESETS[name]), None),
        )
        progress(0.3, desc=f"Projecting {preset_.num_views} views and running CLIP on them in one batch")
        result = model(loaded.points, label_list.labels)
        gallery_items = view_gallery(result)
        lines = [
            f"{loaded.kind.capitalize()} **{loaded.name}** → {len(loaded.points):,} points, centred and "
            f"scaled into the unit sphere (radius was {loaded.radius:.3g} in the file's units).",
            f"{preset_.title}. {model.weights_note} CLIP: {backbone.describe()}.",
            *loaded.notes,
            *label_list.notes,
        ]
        settings = dict(
            labels=labels_text, projection=projection_name, points=points, prompt=prompt_text, up=up,
            view_weights=[float(w) for w in weights],
        )
        record_path = runs.write_record(
            "pointclip",
            settings=settings,
            files={"3-D file": path},
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=dict(
                ranking=dict(result.ranking()[:10]),
                view_weights=result.view_weights,
                view_top_labels=[[label, round(cosine, 6)] for label, cosine in result.view_top_labels()],
            ),
        )
        return (
            render.label_dict(result.ranking()),
            render.point_cloud_figure(loaded.points),
            gallery_items,
            view_heatmap(result),
            "\n".join(f"- {line}" for line in lines),
            record_path,
            strip_steps(loaded.points, result, gallery_items),
            result,
        )

    @user_errors
    def replay(record_path, file_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "pointclip")
        order = ["3-D file", "labels", "projection", "points", "prompt", "up", "view_weights"]

        def handler(path, labels_text, projection_name, points, prompt_text, up, weights, model_choice):
            return recognise(path, labels_text, projection_name, points, prompt_text, up, *weights, model_choice, progress=progress)

        return runs.replay(saved, {"3-D file": file_path}, handler, order)

    @user_errors
    def reweight(*args):
        *weights, result = args
        if result is None:
            return gr.update(), "Run a recognition first; the weights then re-fuse its views."
        result = result.reweight([float(w) for w in weights[: len(result.view_names)]])
        fused = ", ".join(f"{w:g}" for w in result.view_weights)
        return render.label_dict(result.ranking()), f"Fused with weights ({fused}); no new CLIP pass."

    def reset_weights(projection_name, preset_name=CUSTOM, model_choice=None):
        model = parse_choice(model_choice)[0] if model_choice else pc.V2_DEFAULT_WEIGHTS_FOR
        return (weights_text(projection_name, model, preset_name),
                *[gr.Slider(**slider_props(projection_name, i, model, preset_name)) for i in range(MAX_VIEWS)])

    def fill_preset(name):
        return preset_text(name) if name in PRESETS else gr.update()

    run_outputs = [ranked, cloud, gallery, heat, notes, record, strip, state]
    run.click(
        recognise,
        [upload, labels, projection, num_points, prompt, up_axis, *sliders, ctx.model_picker],
        run_outputs,
        api_name="pointclip_recognise",
    )
    replay_button.click(replay, [record_in, file_in], run_outputs, api_name="pointclip_replay")
    gr.on(
        [slider.input for slider in sliders],
        reweight,
        [*sliders, state],
        [ranked, weights_note],
        api_name="pointclip_reweight",
        show_progress="hidden",
        trigger_mode="always_last",
    )
    weight_picks = [projection, preset, ctx.model_picker]  # V2's published set by backbone and label preset
    projection.change(reset_weights, weight_picks, [weights_note, *sliders], api_name="pointclip_projection")
    reset.click(reset_weights, weight_picks, [weights_note, *sliders], api_name="pointclip_reset_weights")
    preset.input(fill_preset, preset, labels, api_name="pointclip_preset")
    preset.input(reset_weights, weight_picks, [weights_note, *sliders], api_name="pointclip_preset_weights")


def slider_props(projection_name: str, index: int, model: str = pc.V2_DEFAULT_WEIGHTS_FOR, label_preset=None) -> dict:
    preset = pc.get_projection(projection_name)
    if index >= preset.num_views:
        return dict(value=0.0, label=f"view {index + 1}", visible=False)
    weights = pc.default_view_weights(preset.name, model, label_preset)
    return dict(value=float(weights[index]), label=f"view {index + 1}: {preset.view_names[index]}", visible=True)


def weights_text(projection_name: str, model: str = pc.V2_DEFAULT_WEIGHTS_FOR, label_preset=None) -> str:
    if pc.get_projection(projection_name).name == "v1":
        return "V1 zero-shot: every view weighs 1 (the paper searched {0.25, 0.5, 0.75, 1} per view)."
    return pc.v2_weights_text(pc.default_view_weights("v2", model, label_preset), model, label_preset)


def view_gallery(result: pc.PointCLIPResult) -> list:
    """Each view as CLIP sees it (V1: depth / its max, background black; V2: as is, background white)."""
    items = []
    top = float(result.maps.max()) if result.projection == "v1" else 1.0
    for name, view_map, (label, cosine) in zip(result.view_names, result.maps, result.view_top_labels()):
        image = render.grey_image(view_map, 0.0, top or 1.0, GALLERY_SIDE)
        items.append((image, f"{name}: {label} ({cosine:.3f})"))
    return items


def view_heatmap(result: pc.PointCLIPResult):
    order = np.argsort(-result.logits, kind="stable")[:HEATMAP_COLUMNS]
    matrix = result.view_similarity[:, order]
    rows = [f"{i + 1}. {name} (w {w:g})" for i, (name, w) in enumerate(zip(result.view_names, result.view_weights))]
    title = "" if len(result.labels) <= HEATMAP_COLUMNS else f"top {HEATMAP_COLUMNS} of {len(result.labels)} labels"
    return render.matrix_heatmap(
        matrix, rows, [result.labels[i] for i in order], title=title,
        zmin=float(matrix.min()), zmax=float(matrix.max()), colorbar="cosine",
    )


STRIP_COLUMNS = {"v1": 3, "v2": 5}  # views per row in the strip's mosaic


def cloud_picture(points: np.ndarray, side: int = 320, max_points: int = 4096) -> Image.Image:
    """The normalised cloud drawn as dots from a three-quarter view (y up), nearer dots on top and
    coloured by height, for the strip (the interactive 3-D plot cannot go into a picture)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) > max_points:
        points = points[:: int(np.ceil(len(points) / max_points))]
    yaw, pitch = np.radians(35.0), np.radians(20.0)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    view = points @ (tilt @ turn).T
    half = side / 2 - 8
    xs, ys = side / 2 + view[:, 0] * half, side / 2 - view[:, 1] * half
    colours = render.colormap("viridis")[np.clip((points[:, 1] + 1) / 2 * 255, 0, 255).round().astype(int)]
    picture = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(picture)
    for i in np.argsort(view[:, 2], kind="stable"):  # far first
        draw.ellipse([xs[i] - 1.5, ys[i] - 1.5, xs[i] + 1.5, ys[i] + 1.5], fill=tuple(int(c) for c in colours[i]))
    return picture


def similarity_picture(matrix: np.ndarray) -> Image.Image:
    """The (views, labels) cosines cell by cell, widened when there are few labels."""
    picture = grid_picture(matrix)
    return picture.resize((240, picture.height), Image.NEAREST) if picture.width < 240 else picture


def strip_steps(points, result: pc.PointCLIPResult, gallery_items):
    """The strip from this run's own arrays: cloud → projected views (the gallery's pictures) →
    per-view scores → fused prediction."""
    order = np.argsort(-result.logits, kind="stable")[:HEATMAP_COLUMNS]
    ranking = result.ranking()
    views = len(result.view_names)
    return steps(
        (cloud_picture(points), f"The cloud: {result.num_points:,} points centred and scaled into the unit sphere"),
        (mosaic_picture([image for image, _ in gallery_items], STRIP_COLUMNS.get(result.projection, 5)),
         f"{views} depth views projected from fixed viewpoints ({'V1' if result.projection == 'v1' else 'V2'}), one CLIP batch"),
        (similarity_picture(result.view_similarity[:, order]),
         "Cosine of each view (rows) with each label's prompt (columns, best fused label first)"),
        (bars_picture([l for l, _ in ranking], [p for _, p in ranking], "softmax of weighted sum", 1.0),
         f"Views' cosines added with one weight per view → “{result.top_label}”"),
    )
