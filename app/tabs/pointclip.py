"""Tab "PointCLIP": a 3-D mesh or point cloud → depth-map views → CLIP → a label, with per-view evidence.

The image tower runs once per recognition (all views in one batch); the view-weight sliders re-fuse
the kept per-view similarities without running it again (`pointclip_reweight`).
"""

from __future__ import annotations

import gradio as gr

from app import render
from app.context import parse_choice
from app.examples import ASSETS, WORLD_LABEL, world_examples
from app.howitworks import bars_picture, mosaic_picture, steps
from app.render import clouds
from app.scaffold import MODEL_DOC, Answer, Page, Setting, Tab, need_kept, quiet
from app.widgets import api_tool, user_errors
from components import pointclip as pc
from components import pointclouds
from components.media import MAX_LABELS, parse_labels
from components.pointclip_labels import PRESETS, preset_of, preset_text

MAX_VIEWS = max(p.num_views for p in pc.PROJECTIONS.values())
CUSTOM = "your own labels"
SHAPES = ASSETS / "shapes"
DEFAULT_LABELS = "table, chair, lamp, mug, bottle, airplane, car, guitar"
UP_AXES = {"y": "y is up (ModelNet clouds, glTF, most OBJ)", "z": "z is up (many CAD and STL files)"}
VIEWS = [f"view{i + 1}" for i in range(MAX_VIEWS)]  # one weight slider per view of the largest projection
STRIP_COLUMNS = {"v1": 3, "v2": 5}  # views per row in the strip's mosaic


def _cloud_upload(label: str) -> gr.File:
    return gr.File(label=label, file_types=list(pointclouds.SUFFIXES), type="filepath")


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


def _view_setting(index: int) -> Setting:
    return Setting(VIEWS[index], lambda: gr.Slider(0.0, 1.0, step=0.05, **slider_props("v2", index)), float,
                   f"weight of view {index + 1} (views beyond the projection's count are ignored)", rescore=True)


def upgrade(record: dict) -> dict:
    """A record written before the sliders were settings of their own: `view_weights` (a list) →
    view1 … view10."""
    settings = dict(record.get("settings") or {})
    weights = settings.pop("view_weights", None)
    if isinstance(weights, list):
        settings.update({name: w for name, w in zip(VIEWS, weights)})
    return {**record, "settings": settings}


TAB = Tab(
    key="pointclip",
    title="PointCLIP",
    name="PointCLIP — point clouds recognised by CLIP (V1 and V2)",
    idea="Render a 3-D object into a few depth maps from fixed viewpoints, let CLIP compare each view "
    "with “point cloud depth map of a {label}.”, and add the views' votes with one weight per view.",
    paper="Zhang et al., *PointCLIP: Point Cloud Understanding by CLIP*, CVPR 2022; Zhu et al., "
    "*PointCLIP V2: Prompting CLIP and GPT for Powerful 3D Open-world Learning*, ICCV 2023.",
    runs="faithful zero-shot re-implementation of both projections (V1's 6 perspective depth maps, V2's "
    "10 realistic projections) on the CLIP model picked above. Prompts: V1's “point cloud depth map of a "
    "{}.”, except in V2 on the ModelNet40 and ScanObjectNN presets with RN50, RN101, ViT-B/32 or ViT-B/16, "
    "where each class gets the GPT-written prompt V2 published for it and that backbone (shipped under "
    "the official repository's MIT licence); your own labels, your own prompt and other backbones (the "
    "tiny test models, CLIP Lab Mini) keep V1's prompt, as V2 published none for them. "
    "V2's view weights: the set published for the picked backbone (RN50, RN101, ViT-B/32, ViT-B/16) and "
    "label preset (ModelNet40 or ScanObjectNN; ModelNet40's for other labels, ViT-B/16's for other "
    "backbones); the note under the result says which.",
    settings=[
        Setting("cloud", lambda: _cloud_upload("3-D file (mesh or point cloud)"), str,
                "path of the 3-D file (mesh or point cloud)", file=True, recorded_as="3-D file",
                replay=lambda: _cloud_upload("The 3-D file the record was made with")),
        Setting("labels", lambda: gr.Textbox(
            DEFAULT_LABELS, label="Labels", lines=2,
            info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}."), str,
            "labels, separated by commas, semicolons or new lines"),
        Setting("projection", lambda: gr.Radio([(p.title, k) for k, p in pc.PROJECTIONS.items()], value="v2",
                                               label="Projection"), str, '"v1" (6 depth maps) or "v2" (10 projections)'),
        Setting("points", lambda: gr.Slider(
            pointclouds.MIN_POINTS, 16_384, value=pointclouds.DEFAULT_POINTS, step=1, label="Points",
            info="Sampled on a mesh, or subsampled from a larger cloud (PointCLIP: 1024)."), int,
            "points sampled or kept (PointCLIP: 1024)"),
        Setting("prompt", lambda: gr.Textbox(pc.PROMPT, label="Prompt", info="“{}” is replaced by each label."), str,
                "the prompt, with {} where the label goes"),
        Setting("up", lambda: gr.Radio([(v, k) for k, v in UP_AXES.items()], value="y", label="Up axis of the file"),
                str, 'the file\'s up axis, "y" or "z"'),
        *(_view_setting(i) for i in range(MAX_VIEWS)),
        Setting("preset", lambda: gr.Dropdown(
            [(CUSTOM, ""), *((name, name) for name in PRESETS)], value="", label="Label preset",
            info="ModelNet40, ModelNet10 or ScanObjectNN class names fill the box below."), str,
            "label preset (ModelNet40, ModelNet10, ScanObjectNN) or empty for your own labels",
            legacy={CUSTOM: ""}),
    ],
    limits=pointclouds.limits_text(),
    upgrade=upgrade,
)
TITLE = TAB.title
RUN = ["cloud", "labels", "projection", "points", "prompt", "up", *VIEWS]


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.input("cloud")
            preset, labels, projection = page.inputs("preset", "labels", "projection")
            with gr.Accordion("View weights (re-fuse instantly, no new CLIP pass)", open=False):
                page.output("weights_note", gr.Markdown(weights_text("v2")))
                sliders = page.inputs(*VIEWS)
                reset = gr.Button("Reset to the preset weights", size="sm")
            with gr.Accordion("Advanced", open=False):
                page.inputs("points", "prompt", "up")
            run = gr.Button("Recognise", variant="primary")
            page.limits()
        with gr.Column():
            page.output("ranked", gr.Label(num_top_classes=5, label="Prediction (views fused)"))
            page.output("cloud_plot", gr.Plot(label="The normalised cloud (drag to turn)"))
            page.output("gallery", gr.Gallery(
                label="What CLIP sees: each view with its own best label", columns=5, height=300,
                object_fit="contain", format="png",
            ))
            page.output("heat", gr.Plot(label="Cosine similarity, views × labels (labels by fused score)"))
            page.notes_and_record("Run record (JSON) of the last Recognise: settings, file hash, weights, scores")
    page.strip()
    page.replay_panel()
    page.examples(
        [
            [str(SHAPES / "chair.obj"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "airplane.glb"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "mug.ply"), DEFAULT_LABELS, "v1"],
            [str(SHAPES / "table.ply"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "lamp.stl"), DEFAULT_LABELS, "v2"],
            [str(SHAPES / "bottle.off"), preset_text("ModelNet40"), "v2"],
        ],
        ["cloud", "labels", "projection"],
        "Mesh examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    page.examples(world_examples("pointclip"), ["cloud", "labels", "projection"], WORLD_LABEL)

    page.run(run, recognise, "recognise", uses=RUN, outputs=["ranked", "cloud_plot", "gallery", "heat"])
    page.rescore([(slider, "input") for slider in sliders], reweight, "reweight", uses=VIEWS,
                 outputs=["ranked", "weights_note"], show_progress="hidden", trigger_mode="always_last")
    weight_picks = [projection, preset, ctx.model_picker]  # V2's published set by backbone and label preset
    weight_outputs = [page.outputs["weights_note"], *sliders]

    def weights_tool(name: str):
        return api_tool(reset_weights, name, "PointCLIP: the view weights for a projection, label preset and model "
                        "(V2's published set for the model's backbone and the preset; ModelNet40's for your own "
                        "labels) and the note saying which set they are.",
                        projection="v1 or v2 (the projection of the cloud into depth maps)",
                        preset="the label preset's name (empty: your own labels)",
                        model=MODEL_DOC)

    projection.change(weights_tool("pointclip_projection"), weight_picks, weight_outputs, api_name="pointclip_projection")
    reset.click(weights_tool("pointclip_reset_weights"), weight_picks, weight_outputs, api_name="pointclip_reset_weights")
    preset.input(api_tool(fill_preset, "pointclip_preset", "PointCLIP: the label list of a preset dataset "
                          "(ModelNet40, ModelNet10, ScanObjectNN), comma-separated, for the labels box.",
                          name="the preset's name"),
                 preset, labels, api_name="pointclip_preset")
    preset.input(weights_tool("pointclip_preset_weights"), weight_picks, weight_outputs, api_name="pointclip_preset_weights")


@user_errors(gpu=False)
def reset_weights(projection: str, preset: str = "", model: str | None = None):
    """The weights note and the sliders for a projection: V2's published set for the model's backbone
    and the label preset (ModelNet40's for your own labels)."""
    preset = TAB.setting("preset").value(preset) or None
    backbone = parse_choice(model)[0] if model else pc.V2_DEFAULT_WEIGHTS_FOR
    return (weights_text(projection, backbone, preset),
            *[gr.Slider(**slider_props(projection, i, backbone, preset)) for i in range(MAX_VIEWS)])


@user_errors(gpu=False)
def fill_preset(name: str):
    """The label box filled with a preset's classes."""
    return preset_text(name) if name in PRESETS else gr.skip()


def recognise(ctx, s, progress=quiet) -> Answer:
    """Project the cloud into the views, run CLIP on them in one batch, and fuse the views' votes."""
    progress(0.0, desc="Loading the model")
    backbone = ctx.backbone(s.model)
    projection = pc.get_projection(s.projection)
    progress(0.1, desc="Reading the 3-D file")
    loaded = pointclouds.load_point_cloud(s.cloud, num_points=int(s.points), up_axis=s.up)
    label_list = parse_labels(s.labels, count_tokens=backbone.count_tokens)
    model = pc.PointCLIP(
        backbone,
        projection=projection.name,
        view_weights=[float(s[name]) for name in VIEWS[: projection.num_views]],
        templates=pc.prompt_templates(s.prompt),
        label_preset=preset_of(label_list.labels),
    )
    progress(0.3, desc=f"Projecting {projection.num_views} views and running CLIP on them in one batch")
    result = model(loaded.points, label_list.labels)
    gallery = clouds.view_gallery(result)
    notes = [
        f"{loaded.kind.capitalize()} **{loaded.name}** → {len(loaded.points):,} points, centred and "
        f"scaled into the unit sphere (radius was {loaded.radius:.3g} in the file's units).",
        f"{projection.title}. {model.weights_note} CLIP: {backbone.describe()}.",
        result.prompts_note,
        *loaded.notes,
        *label_list.notes,
    ]
    return Answer(
        {"ranked": render.label_dict(result.ranking()), "cloud_plot": render.point_cloud_figure(loaded.points),
         "gallery": gallery, "heat": clouds.view_heatmap(result)},
        notes=notes,
        steps=pipeline_steps(loaded.points, result, gallery),
        scores=dict(
            ranking=dict(result.ranking()[:10]),
            view_weights=result.view_weights,
            view_top_labels=[[label, round(cosine, 6)] for label, cosine in result.view_top_labels()],
        ),
        weights=backbone.describe(),
        keep=result,
    )


def reweight(ctx, s, kept) -> Answer:
    """Fuse the kept views' cosines with the sliders' weights: no image or text forward."""
    result = need_kept(kept, "Run a recognition first; the weights then re-fuse its views.")
    result = result.reweight([float(s[name]) for name in VIEWS[: len(result.view_names)]])
    fused = ", ".join(f"{w:g}" for w in result.view_weights)
    return Answer({"ranked": render.label_dict(result.ranking()),
                   "weights_note": f"Fused with weights ({fused}); no new CLIP pass."})


def pipeline_steps(points, result: pc.PointCLIPResult, gallery):
    """The strip from this run's own arrays: cloud → projected views (the gallery's pictures) →
    per-view scores → fused prediction."""
    ranking = result.ranking()
    views = len(result.view_names)
    return steps(
        (clouds.cloud_picture(points), f"The cloud: {result.num_points:,} points centred and scaled into the unit sphere"),
        (mosaic_picture([image for image, _ in gallery], STRIP_COLUMNS.get(result.projection, 5)),
         f"{views} depth views projected from fixed viewpoints ({'V1' if result.projection == 'v1' else 'V2'}), one CLIP batch"),
        (clouds.similarity_picture(result.view_similarity[:, result.label_order(clouds.HEATMAP_COLUMNS)]),
         "Cosine of each view (rows) with each label's prompt (columns, best fused label first)"),
        (bars_picture([l for l, _ in ranking], [p for _, p in ranking], "softmax of weighted sum", 1.0),
         f"Views' cosines added with one weight per view → “{result.top_label}”"),
    )
