"""Tab "ActionCLIP": a video + action labels → top-k actions, each frame's own label, a frame ×
label heat map and which of the 16 prompt templates agreed."""

from __future__ import annotations

import gradio as gr
import numpy as np

from app import render
from app.examples import ASSETS
from app.widgets import method_header, user_errors
from components import actionclip as ac
from components.errors import InputError
from components.media import parse_labels
from components.prompts import ACTIONCLIP16
from components.video import MAX_SAMPLED_FRAMES, limits_text
from components.video_labelsets import ACTION_LABEL_SETS

TITLE = "ActionCLIP"
VIDEOS = ASSETS / "videos"
CUSTOM = "Custom (type your own)"
PRESETS = {s.title: s for s in ACTION_LABEL_SETS.values()}
HEATMAP_LABELS = 10  # rows of the frame × label heat map: the video's top labels
FILMSTRIP_SIDE = 224


class _PathVideo(gr.Video):
    """gr.Video whose preprocess hands over the uploaded file's path untouched (no FFmpeg step), so
    `components.video` decodes it and says what is wrong with a bad file."""

    is_template = True

    @classmethod
    def get_component_class_id(cls) -> str:
        return gr.Video.get_component_class_id()

    def preprocess(self, payload):
        return None if payload is None else payload.path


def VideoUpload(label: str = "Video", **kwargs) -> gr.Video:
    """A video input whose file reaches the handler undecoded (shared by the video tabs)."""
    kwargs.setdefault("sources", ["upload"])
    return _PathVideo(label=label, **kwargs)


def video_limits() -> gr.Markdown:
    return gr.Markdown(f"<small>{limits_text()}</small>")


def _thumbnail(frame):
    out = frame.copy()
    out.thumbnail((FILMSTRIP_SIDE, FILMSTRIP_SIDE))
    return out


def pick_source(video_path, image_files):
    """The uploaded video, else the uploaded images (as a one-frame-per-second video)."""
    if video_path:
        return video_path
    if image_files:
        return [getattr(f, "name", f) for f in image_files]
    raise InputError("Upload a video (or a few images), or pick one of the examples.")


def build(ctx) -> None:
    method_header(
        "ActionCLIP — action recognition as video–text matching",
        "Name the action by matching the video against text: average CLIP's features over frames "
        "sampled from T segments and score them against each action label written into 16 prompts.",
        "Wang, Xing, Liu, *ActionCLIP: A New Paradigm for Video Action Recognition*, arXiv 2109.08472, 2021.",
        "faithful zero-shot re-implementation of ActionCLIP's parameter-free meanP head (T = 8 segment "
        "centres, 100·cos, softmax per template, probabilities averaged) on the shared CLIP model; the "
        "paper's fine-tuned Kinetics weights are not used, so expect zero-shot accuracy.",
    )
    with gr.Row():
        with gr.Column():
            video = VideoUpload("Video")
            images = gr.File(
                file_count="multiple", file_types=["image"], label="…or a list of images (one per second)",
            )
            preset = gr.Dropdown([CUSTOM, *PRESETS], value=CUSTOM, label="Label preset")
            labels = gr.Textbox(
                "red, blue, green", label="Action labels", lines=3,
                info=f"Separated by commas or new lines; up to {ac.MAX_ACTION_LABELS}.",
            )
            templates = gr.CheckboxGroup(
                list(ACTIONCLIP16.templates), value=list(ACTIONCLIP16.templates),
                label="Prompt templates (ActionCLIP's 16; switch off any to see its effect)",
            )
            with gr.Accordion("Advanced", open=False):
                segments = gr.Slider(1, MAX_SAMPLED_FRAMES, value=ac.T, step=1, label="T (segments = frames sampled)")
                top_k = gr.Slider(1, 20, value=5, step=1, label="Top-k shown")
                gr.Markdown(
                    f"<small>Similarity = {ac.LOGIT_SCALE:g} · cos(video, prompt); the video feature is the "
                    "mean of the raw frame features (meanP), L2-normalised.</small>"
                )
            run = gr.Button("Recognise", variant="primary")
            video_limits()
            gr.Markdown(
                "<small>A 400-label preset encodes 400 × 16 prompts the first time (about a minute on a "
                "CPU); later runs reuse them.</small>"
            )
        with gr.Column():
            top = gr.Label(num_top_classes=20, label="Prediction (mean of the templates' probabilities)")
            filmstrip = gr.Gallery(
                label="Sampled frames, each with its own top label", columns=4, height="auto", format="png",
            )
            heat = gr.Plot(label="When each action is seen (frame × label)")
            agreement = gr.Markdown()
            votes = gr.Dataframe(
                headers=["template", "its top label", "probability", "agrees"], label="Each template's vote",
                interactive=False, wrap=True,
            )
            notes = gr.Markdown()
    state = gr.State()

    gr.Examples(
        [
            [str(VIDEOS / "red_then_blue.mp4"), "red, blue, green"],
            [str(VIDEOS / "blue_square.mp4"), "a square moving right, a square moving left, a spinning wheel"],
            [str(VIDEOS / "yellow_stripes.webm"), "scrolling stripes, falling snow, flashing lights"],
        ],
        inputs=[video, labels],
    )

    def outputs_for(result, frames, k):
        ranking = result.ranking()
        film = [
            (_thumbnail(frame), f"{t:.1f} s · {label} {p:.0%}")
            for frame, t, (label, p) in zip(frames, result.times, result.frame_top_labels())
        ]
        order = np.argsort(-result.probs, kind="stable")[:HEATMAP_LABELS]
        figure = render.video_heatmap(
            result.frame_probs[:, order].T,
            [result.labels[i] for i in order],
            [f"{t:.1f} s" for t in result.times],
            colorbar="p", zmin=0.0, zmax=1.0, xaxis="sampled frame (time)",
        )
        agreeing = result.agreeing_templates()
        summary = (
            f"**{len(agreeing)} of {len(result.templates)} templates** put **{result.top_label}** first."
        )
        table = [
            [t, label, round(p, 4), "✓" if label == result.top_label else ""]
            for t, label, p in result.template_votes()
        ]
        return render.label_dict(ranking[: int(k)]), film, figure, summary, table

    @user_errors
    def recognise(video_path, image_files, labels_text, chosen, t, k, model_choice, progress=gr.Progress()):
        backbone = ctx.backbone(model_choice)
        source = pick_source(video_path, image_files)
        label_list = parse_labels(labels_text, max_labels=ac.MAX_ACTION_LABELS, count_tokens=backbone.count_tokens)
        action = ac.ActionCLIP(backbone, T=int(t), templates=chosen or [])
        progress(0.1, desc="decoding the sampled frames")
        sampled = action.sample(source)
        progress(0.3, desc=f"encoding {len(sampled)} frames and {len(label_list.labels) * len(action.templates)} prompts")
        result = action(sampled, label_list.labels)
        note_lines = [sampled.info.describe(), sampled.sampling.describe(), *sampled.notes, *label_list.notes]
        saved = dict(
            frames=sampled.frames, features=result.frame_features, times=result.times,
            indices=result.indices, mask=result.mask, labels=result.labels, model=model_choice,
        )
        return (*outputs_for(result, sampled.frames, k), "\n".join(f"- {n}" for n in note_lines), saved)

    @user_errors
    def rescore(chosen, k, saved, model_choice):
        """Template toggles re-score the stored frame features: no image forward."""
        if not saved:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        backbone = ctx.backbone(saved["model"] if saved.get("model") else model_choice)
        action = ac.ActionCLIP(backbone, templates=chosen or [])
        result = action.score(
            saved["features"], saved["labels"], times=saved["times"], indices=saved["indices"], mask=saved["mask"],
        )
        return outputs_for(result, saved["frames"], k)

    @user_errors
    def fill_preset(name):
        if name in PRESETS:
            return ", ".join(PRESETS[name].classes)
        return gr.skip()

    run.click(
        recognise,
        [video, images, labels, templates, segments, top_k, ctx.model_picker],
        [top, filmstrip, heat, agreement, votes, notes, state],
        api_name="actionclip_recognise",
    )
    templates.input(
        rescore, [templates, top_k, state, ctx.model_picker], [top, filmstrip, heat, agreement, votes],
        api_name="actionclip_rescore",
    )
    preset.input(fill_preset, preset, labels, api_name="actionclip_preset")
