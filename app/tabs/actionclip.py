"""Tab "ActionCLIP": a video + action labels → top-k actions, each frame's own label, a frame ×
label heat map and which of the 16 prompt templates agreed."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import ASSETS, VIDEO_LABEL, WORLD_LABEL, world_examples
from app.howitworks import bars_picture, grid_picture, mosaic_picture, steps, text_picture
from app.scaffold import Answer, Page, Setting, Tab, need_kept, quiet
from app.widgets import VideoUpload, api_tool, user_errors
from components import actionclip as ac
from components.errors import InputError
from components.media import parse_labels
from components.prompts import ACTIONCLIP16
from components.video import MAX_SAMPLED_FRAMES
from components.video_labelsets import ACTION_LABEL_SETS

VIDEOS = ASSETS / "videos"
CUSTOM = "Custom (type your own)"
PRESETS = [(CUSTOM, ""), *((s.title, s.name) for s in ACTION_LABEL_SETS.values())]
HEATMAP_LABELS = 10  # rows of the frame × label heat map: the video's top labels
FILMSTRIP_SIDE = 224


def _images_box(label: str = "…or a list of images (one per second)") -> gr.File:
    return gr.File(file_count="multiple", file_types=["image"], label=label)


TAB = Tab(
    key="actionclip",
    title="ActionCLIP",
    name="ActionCLIP — action recognition as video–text matching",
    idea="Name the action by matching the video against text: average CLIP's features over frames "
    "sampled from T segments and score them against each action label written into 16 prompts.",
    paper="Wang, Xing, Liu, *ActionCLIP: A New Paradigm for Video Action Recognition*, arXiv 2109.08472, 2021.",
    runs="faithful zero-shot re-implementation of ActionCLIP's parameter-free meanP head (T = 8 segment "
    "centres, repeated when a clip is shorter, each resized to short side 256 and centre-cropped to 224 as "
    "the official test transform; 100·cos, softmax per template, probabilities averaged) on the shared CLIP model; the "
    "paper's fine-tuned Kinetics weights are not used, so expect zero-shot accuracy.",
    settings=[
        Setting("video", lambda: VideoUpload("Video"), str, "path of the video file (or None with images)", file=True,
                replay=lambda: VideoUpload("The video the record was made with")),
        Setting("images", lambda: _images_box(), list[str], "paths of images played one per second (when no video)",
                file=True, recorded_as="image",
                replay=lambda: _images_box("…or the images it was made with (same order)")),
        Setting("labels", lambda: gr.Textbox(
            "red, blue, green", label="Action labels", lines=3,
            info=f"Separated by commas or new lines; up to {ac.MAX_ACTION_LABELS}."), str,
            "action labels, separated by commas or new lines"),
        Setting("templates", lambda: gr.CheckboxGroup(
            list(ACTIONCLIP16.templates), value=list(ACTIONCLIP16.templates),
            label="Prompt templates (ActionCLIP's 16; switch off any to see its effect)"), list[str],
            "the prompt templates switched on (each holds one {} for the label)", rescore=True),
        Setting("T", lambda: gr.Slider(1, MAX_SAMPLED_FRAMES, value=ac.T, step=1, label="T (segments = frames sampled)"),
                int, "segments, one frame sampled from each (ActionCLIP: 8)"),
        Setting("top_k", lambda: gr.Slider(1, 20, value=5, step=1, label="Top-k shown"), int, "actions shown",
                rescore=True),
        Setting("preset", lambda: gr.Dropdown(PRESETS, value="", label="Label preset"), str,
                "label-set name (kinetics400, ucf101, hmdb51): fills the labels"),
    ],
    limits="video",
)
TITLE = TAB.title
RUN = ["video", "images", "labels", "templates", "T", "top_k"]


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("video", "images")
            preset, _, templates = page.inputs("preset", "labels", "templates")
            with gr.Accordion("Advanced", open=False):
                page.inputs("T", "top_k")
                gr.Markdown(
                    f"<small>Similarity = {ac.LOGIT_SCALE:g} · cos(video, prompt); the video feature is the "
                    "mean of the raw frame features (meanP), L2-normalised.</small>"
                )
            run = gr.Button("Recognise", variant="primary")
            page.limits()
            gr.Markdown(
                "<small>A 400-label preset encodes 400 × 16 prompts the first time (about a minute on a "
                "CPU); later runs reuse them.</small>"
            )
        with gr.Column():
            page.output("top", gr.Label(num_top_classes=20, label="Prediction (mean of the templates' probabilities)"))
            page.output("filmstrip", gr.Gallery(
                label="Sampled frames, each with its own top label", columns=4, height="auto", format="png",
            ))
            page.output("heat", gr.Plot(label="When each action is seen (frame × label)"))
            page.output("agreement", gr.Markdown())
            page.output("votes", gr.Dataframe(
                headers=["template", "its top label", "probability", "agrees"], label="Each template's vote",
                interactive=False, wrap=True,
            ))
            page.notes_and_record("Run record (JSON): settings, input hashes, weights, scores")
    page.strip()
    page.replay_panel()
    page.examples(
        [
            [str(VIDEOS / "red_then_blue.mp4"), "red, blue, green"],
            [str(VIDEOS / "blue_square.mp4"), "a square moving right, a square moving left, a spinning wheel"],
            [str(VIDEOS / "yellow_stripes.webm"), "scrolling stripes, falling snow, flashing lights"],
        ],
        ["video", "labels"],
        VIDEO_LABEL,
    )
    page.examples(world_examples("actionclip"), ["video", "labels"], WORLD_LABEL)

    page.run(run, recognise, "recognise", uses=RUN)
    page.rescore([(templates, "input")], rescore, "rescore", uses=["templates", "top_k"])
    preset.input(api_tool(fill_preset, "actionclip_preset", "ActionCLIP: the label list of a preset dataset "
                          "(kinetics400, ucf101, hmdb51), comma-separated, for the labels box.",
                          name="the preset's name: kinetics400, ucf101 or hmdb51"),
                 preset, page.components["labels"], api_name="actionclip_preset")


@user_errors(gpu=False)
def fill_preset(name: str):
    """The label box filled with a preset's classes (kinetics400, ucf101, hmdb51)."""
    if name in ACTION_LABEL_SETS:
        return ", ".join(ACTION_LABEL_SETS[name].classes)
    return gr.skip()


def pick_source(video_path, image_files):
    """The uploaded video, else the uploaded images (as a one-frame-per-second video)."""
    if video_path:
        return video_path
    if image_files:
        return [getattr(f, "name", f) for f in image_files]
    raise InputError("Upload a video (or a few images), or pick one of the examples.")


def recognise(ctx, s, progress=quiet) -> Answer:
    """Sample T frames, encode them once, and score them against every label in every template."""
    backbone = ctx.backbone(s.model)
    source = pick_source(s.video, s.images)
    label_list = parse_labels(s.labels, max_labels=ac.MAX_ACTION_LABELS, count_tokens=backbone.count_tokens)
    action = ac.ActionCLIP(backbone, T=int(s.T), templates=s.templates or [])
    progress(0.1, desc="decoding the sampled frames")
    sampled = action.sample(source)
    progress(0.3, desc=f"encoding {len(sampled)} frames and {len(label_list.labels) * len(action.templates)} prompts")
    result = action(sampled, label_list.labels)
    kept = dict(
        frames=sampled.frames, features=result.frame_features, times=result.times,
        indices=result.indices, mask=result.mask, labels=result.labels, model=s.model,
    )
    answer = outputs(result, sampled.frames, s.top_k)
    answer.notes = [sampled.info.describe(), sampled.sampling.describe(), *sampled.notes, *label_list.notes]
    answer.scores, answer.weights, answer.keep = run_scores(result, s.top_k), backbone.describe(), kept
    return answer


def rescore(ctx, s, kept) -> Answer:
    """Template toggles re-score the kept frame features: text forwards only, no image forward."""
    kept = need_kept(kept, "Recognise a video first; then switching templates re-scores it.")
    action = ac.ActionCLIP(ctx.backbone(kept["model"]), templates=s.templates or [])
    result = action.score(kept["features"], kept["labels"], times=kept["times"], indices=kept["indices"],
                          mask=kept["mask"])
    return outputs(result, kept["frames"], s.top_k)


def outputs(result: ac.ActionResult, frames, k) -> Answer:
    film = [
        (render.thumbnail(frame, FILMSTRIP_SIDE), f"{t:.1f} s · {label} {p:.0%}")
        for frame, t, (label, p) in zip(frames, result.times, result.frame_top_labels())
    ]
    order = result.top_indices(HEATMAP_LABELS)
    figure = render.video_heatmap(
        result.frame_probs[:, order].T,
        [result.labels[i] for i in order],
        [f"{t:.1f} s" for t in result.times],
        colorbar="p", zmin=0.0, zmax=1.0, xaxis="sampled frame (time)",
    )
    summary = f"**{len(result.agreeing_templates())} of {len(result.templates)} templates** put **{result.top_label}** first."
    table = [[t, label, round(p, 4), "✓" if label == result.top_label else ""] for t, label, p in result.template_votes()]
    return Answer(
        {"top": render.label_dict(result.ranking()[: int(k)]), "filmstrip": film, "heat": figure,
         "agreement": summary, "votes": table},
        steps=pipeline_steps(result, film, order, k),
    )


def pipeline_steps(result: ac.ActionResult, film, order, k):
    """The run's own intermediates: the filmstrip thumbnails, the frame × label probabilities
    drawn in the heat map, each template's vote and the fused probabilities shown on the left."""
    ranking = result.ranking()[: int(k)]
    votes = result.template_votes()
    shown = [int(i) for i in order]
    return steps(
        (mosaic_picture([image for image, _ in film], columns=4),
         f"{len(film)} frames sampled, one from the middle of each of T segments"),
        (grid_picture(result.frame_probs[:, shown].T),
         f"Each frame scored alone (rows: top {len(shown)} labels, columns: frames in time; bright = likely)"),
        (text_picture(
            "Each prompt's vote (its top label)",
            [f"{t.replace('{}', '…')} → {label} {p:.0%}" for t, label, p in votes],
            [label == result.top_label for _, label, _ in votes],
        ), f"Mean frame feature vs every prompt, softmax(100·cos) per template: "
           f"{len(result.agreeing_templates())} of {len(votes)} prompts put “{result.top_label}” first"),
        (bars_picture([l for l, _ in ranking], [p for _, p in ranking], "mean over templates", 1.0),
         "Fused: the templates' probabilities averaged → top-k actions"),
    )


def run_scores(result: ac.ActionResult, k) -> dict:
    return dict(
        top=dict(result.ranking()[: max(int(k), 5)]),
        frame_top_labels=[[label, p] for label, p in result.frame_top_labels()],
        agreeing_templates=len(result.agreeing_templates()),
    )
