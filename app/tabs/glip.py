"""Tab "GLIP": image + caption → each phrase grounded to boxes, with the phrase × region score matrix."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
from PIL import Image

from app import render, runs
from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import boxes_picture, grid_picture, how_it_works, steps, text_picture
from app.widgets import ImageUpload, image_limits, method_header, region_controls, replay_panel, user_errors
from components import glip, regions
from components.media import load_image

TITLE = "GLIP"
SHAPES = str(ASSETS / "detection_shapes.png")
TABLE_HEADERS = ["phrase", "score", "box (x0, y0, x1, y1)", "region"]
HEATMAP_COLUMNS = 40  # regions shown in the matrix: the best-scoring ones


def build(ctx) -> None:
    method_header(
        "GLIP — grounded language-image pre-training",
        "Detection as phrase grounding: score every image region against every phrase of a caption and "
        "ground each phrase to the boxes that match it.",
        "Li, Zhang, Zhang, Yang, Li, et al., *Grounded Language-Image Pre-training*, CVPR 2022.",
        "the CLIP-backed version of the idea: a caption is chunked into noun phrases as GLIP's run_ner "
        "does (DT? JJ* NN+, the determiner kept; a small rule-based tagger stands in for NLTK's, whose data "
        "cannot be downloaded here), or in the categories mode each name is one entity; each region proposal is embedded by CLIP (1× + 1.5× crops) and scored against "
        "each phrase with softmax of 100·cos over the phrases plus “background”. GLIP's own fused "
        "detector is not used: boxes are not regressed and scores are CLIP's, not GLIP's.",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            caption = gr.Textbox(
                "A red square. A blue circle.",
                label="Caption or categories",
                info="A sentence (“A green umbrella. A pink striped umbrella.”) or categories joined with "
                "' . ' (“sofa . remote . dog .”). As a caption every string is chunked into noun phrases, as "
                "GLIP does; as categories each name is one entity, exactly as written.",
                lines=2,
            )
            mode = gr.Radio([("Caption (noun phrases)", "caption"), ("Categories (one entity per name)", "categories")],
                            value="caption", label="Read the box as")
            threshold = gr.Slider(0, 1, glip.THRESHOLD, step=0.01, label="Score threshold (re-grounds without CLIP)")
            with gr.Accordion("Advanced", open=False):
                nms = gr.Slider(0.1, 1, glip.NMS_IOU, step=0.05, label="NMS IoU threshold (per phrase)")
                per_phrase = gr.Slider(1, 25, glip.MAX_BOXES_PER_PHRASE, step=1, label="At most this many boxes per phrase")
                containment = gr.Slider(
                    0, 1, glip.CONTAINMENT, step=0.05,
                    label="Drop a box containing this much of a better box of its phrase (0 = off)",
                )
                sources, prompt_set, max_proposals = region_controls()
            run = gr.Button("Ground", variant="primary")
            image_limits()
        with gr.Column():
            annotated = gr.AnnotatedImage(label="Grounded phrases (phrase:score)")
            phrases = gr.Markdown()
            heatmap = gr.Plot(label="Phrase × region scores")
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Grounded boxes", interactive=False)
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON) of the last Ground: settings, image hash, weights, grounded boxes")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [SHAPES, "A red square. A blue circle."],
            [SHAPES, "red square . blue circle . green triangle . yellow rectangle ."],
            [skimage_photo("astronaut"), "person . flag . helmet . sky ."],
            [skimage_photo("coffee"), "A cup of coffee on a saucer with a spoon."],
            [skimage_photo("chelsea"), "A cat lying on a blanket."],
        ],
        inputs=[image, caption],
        label="Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    gr.Examples(world_examples("glip"), inputs=[image, caption], label=WORLD_LABEL)
    filters = [threshold, nms, per_phrase, containment]

    @user_errors
    def ground(image_path, caption_text, threshold_value, nms_value, per_phrase_value, containment_value,
               source_names, proposals_value, prompt_value, model_choice, mode_value="caption", progress=gr.Progress()):
        backbone = ctx.backbone(model_choice)
        loaded = load_image(image_path)
        progress(0.1, desc="Proposing regions and embedding crops")
        grounder = glip.GLIP(
            backbone,
            threshold=threshold_value,
            nms_iou=nms_value,
            max_per_phrase=int(per_phrase_value),
            containment=containment_value,
            sources=tuple(source_names or ()),
            max_proposals=int(proposals_value),
            prompt_engineering=prompt_value != "1",
        )
        result = grounder(loaded.image, caption_text, mode=mode_value or "caption")
        *shown, strip_steps, saved = show(loaded.image, result, loaded.notes)
        settings = dict(
            caption=caption_text, threshold=threshold_value, nms=nms_value, per_phrase=per_phrase_value,
            containment=containment_value, sources=list(source_names or ()), max_proposals=proposals_value,
            prompts=prompt_value, mode=mode_value or "caption",
        )
        record_path = runs.write_record(
            "glip",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=dict(
                phrases=[ph.text for ph in result.phrases],
                proposals=len(result.boxes),
                grounded=[
                    dict(phrase=result.phrases[ph].text, score=round(sc, 6), box=[round(float(v), 2) for v in result.boxes[r]])
                    for ph, r, sc in result.grounded
                ],
            ),
        )
        return (*shown, record_path, strip_steps, saved)

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "glip")
        order = ["image", "caption", "threshold", "nms", "per_phrase", "containment", "sources", "max_proposals", "prompts"]
        return runs.replay(saved, {"image": image_path}, functools.partial(ground, progress=progress, mode_value=(saved.get("settings") or {}).get("mode", "caption")), order)

    @user_errors
    def regrounded(saved, threshold_value, nms_value, per_phrase_value, containment_value):
        if not saved:
            return None, "", None, None, "Run **Ground** first.", gr.skip(), saved
        image, result, notes = saved
        result = result.select(
            threshold=threshold_value, nms_iou=nms_value, max_per_phrase=int(per_phrase_value), containment=containment_value
        )
        return show(image, result, notes)

    outputs = [annotated, phrases, heatmap, table, notes, strip, state]
    run_outputs = [annotated, phrases, heatmap, table, notes, record, strip, state]
    run.click(
        ground,
        [image, caption, *filters, sources, max_proposals, prompt_set, ctx.model_picker, mode],
        run_outputs,
        api_name="glip_ground",
    )
    replay_button.click(replay, [record_in, image_in], run_outputs, api_name="glip_replay")
    gr.on([slider.release for slider in filters], regrounded, [state, *filters], outputs, api_name="glip_filter")


def show(image, result: glip.GroundingResult, notes=()):
    """Outputs for a result: picture, phrases, heat map, table, notes, how-it-works strip, state."""
    labelled = result.labelled_boxes()
    picture = (image, render.box_annotations([b for b, _ in labelled], [l for _, l in labelled]))
    how = "categories, one entity per name" if result.explicit else "run_ner's noun phrases of the caption"
    grounded = set(result.grounded_phrases())
    phrase_line = " · ".join(f"**{p.text}**" if p.text in grounded else p.text for p in result.phrases)
    phrase_md = f"Phrases ({how}; grounded in bold): {phrase_line}"
    scores = result.scores  # (P, N)
    figure = None
    columns = np.argsort(-scores.max(0), kind="stable")[:HEATMAP_COLUMNS] if scores.size else np.zeros(0, int)
    if scores.size:
        figure = render.matrix_heatmap(
            scores[:, columns],
            [p.text for p in result.phrases],
            [f"#{c}" for c in columns],
            title=f"Score of each phrase for the {len(columns)} best of {scores.shape[1]} regions",
        )
    rows = [
        [result.phrases[p].text, round(s, 3), ", ".join(f"{v:.0f}" for v in result.boxes[r]), r]
        for p, r, s in result.grounded
    ]
    found = ", ".join(f"{regions.SOURCE_LABELS[k]}: {v}" for k, v in result.found.items())
    lines = [
        f"**{result.message}**" if result.message else f"**{len(result.grounded)} box(es)** for {len(grounded)} of {len(result.phrases)} phrase(s), from {len(result.boxes)} proposals.",
        f"Proposals found before de-duplication and the cap — {found or 'none'}. "
        f"Proposing took {result.proposal_seconds:.2f} s, embedding and scoring {result.scoring_seconds:.2f} s.",
        *(f"- {n}" for n in (*notes, *result.notes)),
    ]
    strip = strip_steps(image, result, labelled, columns, grounded, how)
    return picture, phrase_md, figure, rows, "\n\n".join(lines), strip, (image, result, tuple(notes))


def strip_steps(image, result: glip.GroundingResult, labelled, columns, grounded, how):
    """The strip from this result's own arrays: phrases → proposals → phrase × region scores → grounded boxes."""
    phrase_lines = [p.text if p.prompt == p.text else f"{p.text}  (CLIP reads: {p.prompt})" for p in result.phrases]
    if len(columns):
        matrix = grid_picture(result.scores[:, columns])
        if matrix.height < 160:  # few phrases: taller rows, so each reads as a band
            matrix = matrix.resize((matrix.width, 160), Image.NEAREST)
        matrix_caption = (
            f"Score of each phrase (rows) for the {len(columns)} best regions (columns): "
            "softmax of 100 x cos over background + phrases"
        )
    else:
        matrix = text_picture("No region to score", [])
        matrix_caption = "No region to score"
    colours = [p for p, _, _ in result.grounded]
    return steps(
        (text_picture("Phrases (grounded ones in blue)", phrase_lines, [p.text in grounded for p in result.phrases]),
         f"The caption, {how}, gives {len(result.phrases)} phrase(s); each becomes a CLIP text embedding"),
        (boxes_picture(image, result.boxes, colours=result.sources),
         f"{len(result.boxes)} class-agnostic proposals (selective search red, dense CLIP green), each embedded by CLIP"),
        (matrix, matrix_caption),
        (boxes_picture(image, [b for b, _ in labelled], [l for _, l in labelled], colours),
         f"{len(labelled)} box(es) at score >= {result.settings['threshold']:g}, per phrase after NMS, drawn as phrase:score"),
    )
