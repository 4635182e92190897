"""Tab "ActionCLIP": a video + action labels → top-k actions, each frame's own label, a frame ×
label heat map and which of the 16 prompt templates agreed."""

from __future__ import annotations

import gradio as gr
import numpy as np

from app import render, runs
from app.examples import ASSETS, VIDEO_LABEL, WORLD_LABEL, world_examples
from app.howitworks import bars_picture, grid_picture, how_it_works, mosaic_picture, steps, text_picture
from app.widgets import VideoUpload, method_header, replay_panel, user_errors, video_limits
from components import actionclip as ac
from components.errors import InputError
from components.media import parse_labels
from components.prompts import ACTIONCLIP16
from components.video import MAX_SAMPLED_FRAMES
from components.video_labelsets import ACTION_LABEL_SETS

TITLE = "ActionCLIP"
VIDEOS = ASSETS / "videos"
CUSTOM = "Custom (type your own)"
PRESETS = {s.title: s for s in ACTION_LABEL_SETS.values()}
HEATMAP_LABELS = 10  # rows of the frame × label heat map: the video's top labels
FILMSTRIP_SIDE = 224


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
        "centres, repeated when a clip is shorter, each resized to short side 256 and centre-cropped to 224 as "
        "the official test transform; 100·cos, softmax per template, probabilities averaged) on the shared CLIP model; the "
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
            record = gr.File(label="Run record (JSON): settings, input hashes, weights, scores")
    strip = how_it_works()
    record_in, (video_in, images_in), replay_button = replay_panel(
        inputs=lambda: [
            VideoUpload("The video the record was made with"),
            gr.File(file_count="multiple", file_types=["image"], label="…or the images it was made with (same order)"),
        ]
    )
    state = gr.State()

    gr.Examples(
        [
            [str(VIDEOS / "red_then_blue.mp4"), "red, blue, green"],
            [str(VIDEOS / "blue_square.mp4"), "a square moving right, a square moving left, a spinning wheel"],
            [str(VIDEOS / "yellow_stripes.webm"), "scrolling stripes, falling snow, flashing lights"],
        ],
        inputs=[video, labels],
        label=VIDEO_LABEL,
    )
    gr.Examples(world_examples("actionclip"), inputs=[video, labels], label=WORLD_LABEL)

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
        return render.label_dict(ranking[: int(k)]), film, figure, summary, table, strip_for(result, film, order, k)

    def strip_for(result, film, order, k):
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

    @user_errors
    def recognise(video_path, image_files, labels_text, chosen, t, k, model_choice, progress=gr.Progress()):
        backbone = ctx.backbone(model_choice)
        source = pick_source(video_path, image_files)
        files = {"video": video_path} if video_path else {f"image {i}": p for i, p in enumerate(source, 1)}
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
        *shown, strip_steps = outputs_for(result, sampled.frames, k)
        ranking = result.ranking()
        record_path = runs.write_record(
            "actionclip",
            settings=dict(labels=labels_text, templates=list(chosen or []), T=t, top_k=k),
            files=files,
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=dict(
                top=dict(ranking[: max(int(k), 5)]),
                frame_top_labels=[[label, p] for label, p in result.frame_top_labels()],
                agreeing_templates=len(result.agreeing_templates()),
            ),
        )
        return (*shown, "\n".join(f"- {n}" for n in note_lines), record_path, strip_steps, saved)

    @user_errors
    def replay(record_path, video_path, image_files, progress=gr.Progress()):
        saved = runs.read_record(record_path, "actionclip")
        recorded = [name for name in saved.get("inputs", {}) if name.startswith("image ")]
        if "video" in saved.get("inputs", {}):
            files = {"video": video_path}
        else:
            images = [getattr(f, "name", f) for f in (image_files or [])]
            if len(images) != len(recorded):
                raise InputError(
                    f"This record was made with {len(recorded)} images; upload those {len(recorded)} images "
                    "(in the same order) to replay it."
                )
            files = {f"image {i}": p for i, p in enumerate(images, 1)}
        video = files.get("video")
        images = None if video else list(files.values())
        return runs.replay(
            saved, files, lambda *args: recognise(video, images, *args, progress=progress),
            ["labels", "templates", "T", "top_k"],
        )

    @user_errors
    def rescore(chosen, k, saved, model_choice):
        """Template toggles re-score the stored frame features: no image forward."""
        if not saved:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
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
        [top, filmstrip, heat, agreement, votes, notes, record, strip, state],
        api_name="actionclip_recognise",
    )
    replay_button.click(
        replay,
        [record_in, video_in, images_in],
        [top, filmstrip, heat, agreement, votes, notes, record, strip, state],
        api_name="actionclip_replay",
    )
    templates.input(
        rescore, [templates, top_k, state, ctx.model_picker], [top, filmstrip, heat, agreement, votes, strip],
        api_name="actionclip_rescore",
    )
    preset.input(fill_preset, preset, labels, api_name="actionclip_preset")
