"""Tab "GLIP": image + caption → each phrase grounded to boxes, with the phrase × region score matrix."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import grid_picture, steps, text_picture
from app.region_settings import (coco_files, coco_output, proposal_settings, proposals_line, region_embedding_setting,
                                 region_pipeline, upgrade_record)
from app.render import boxes
from app.scaffold import Answer, Page, Setting, Tab, image_setting, need_kept, quiet
from components import glip

SHAPES = str(ASSETS / "detection_shapes.png")
TABLE_HEADERS = ["phrase", "score", "box (x0, y0, x1, y1)", "region"]
HEATMAP_COLUMNS = 40  # regions shown in the matrix: the best-scoring ones
MODES = [("Caption (noun phrases)", "caption"), ("Categories (one entity per name)", "categories")]


def upgrade(saved: dict) -> dict:
    """A record written before "Read the box as" existed read its text as a caption (and one written
    before "Region embeddings" embedded crops: `upgrade_record`)."""
    settings = saved.get("settings")
    if isinstance(settings, dict) and "mode" not in settings:
        saved = {**saved, "settings": {**settings, "mode": "caption"}}
    return upgrade_record(saved)


TAB = Tab(
    key="glip",
    title="GLIP",
    name="GLIP — grounded language-image pre-training",
    idea="Detection as phrase grounding: score every image region against every phrase of a caption and "
    "ground each phrase to the boxes that match it.",
    paper="Li, Zhang, Zhang, Yang, Li, et al., *Grounded Language-Image Pre-training*, CVPR 2022.",
    runs="the CLIP-backed version of the idea: a caption is chunked into noun phrases as GLIP's run_ner "
    "does (DT? JJ* NN+, the determiner kept; a small rule-based tagger stands in for NLTK's, whose data "
    "cannot be downloaded here), or in the categories mode each name is one entity; each region proposal is "
    "embedded by CLIP (1× + 1.5× crops; on a CPU by default pooled from one dense pass instead, a "
    "shortcut) and scored against "
    "each phrase with softmax of 100·cos over the phrases plus “background”. GLIP's own fused "
    "detector is not used: boxes are not regressed and scores are CLIP's, not GLIP's.",
    settings=[
        image_setting(),
        Setting("caption", lambda: gr.Textbox(
            "A red square. A blue circle.", label="Caption or categories", lines=2,
            info="A sentence (“A green umbrella. A pink striped umbrella.”) or categories joined with "
            "' . ' (“sofa . remote . dog .”). As a caption every string is chunked into noun phrases, as "
            "GLIP does; as categories each name is one entity, exactly as written."),
            str, "a caption, or category names joined with ' . '"),
        Setting("threshold", lambda: gr.Slider(0, 1, glip.THRESHOLD, step=0.01, label="Score threshold (re-grounds without CLIP)"),
                float, f"score threshold (GLIP demo: {glip.THRESHOLD})", rescore=True),
        Setting("nms", lambda: gr.Slider(0.1, 1, glip.NMS_IOU, step=0.05, label="NMS IoU threshold (per phrase)"),
                float, f"NMS IoU threshold per phrase (default {glip.NMS_IOU})", rescore=True),
        Setting("per_phrase", lambda: gr.Slider(1, 25, glip.MAX_BOXES_PER_PHRASE, step=1, label="At most this many boxes per phrase"),
                int, f"at most this many boxes per phrase (default {glip.MAX_BOXES_PER_PHRASE})", rescore=True),
        Setting("containment", lambda: gr.Slider(
            0, 1, glip.CONTAINMENT, step=0.05, label="Drop a box containing this much of a better box of its phrase (0 = off)"),
            float, "drop a box containing this share of a better box of its phrase (0 = off)", rescore=True),
        *proposal_settings(),
        Setting("mode", lambda: gr.Radio(MODES, value="caption", label="Read the box as"),
                str, '"caption" (its noun phrases, as GLIP\'s run_ner) or "categories" (one entity per name)',
                legacy={label: value for label, value in MODES}),
        region_embedding_setting(),
    ],
    upgrade=upgrade,
)
TITLE = TAB.title
FILTERS = ["threshold", "nms", "per_phrase", "containment"]


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "caption", "mode", "threshold")
            with gr.Accordion("Advanced", open=False):
                page.inputs("nms", "per_phrase", "containment", "region_embedding", "sources", "prompts",
                            "max_proposals")
            run = gr.Button("Ground", variant="primary")
            page.limits()
        with gr.Column():
            page.output("grounded", gr.AnnotatedImage(label="Grounded phrases (phrase:score)"))
            page.output("phrases", gr.Markdown())
            page.output("heatmap", gr.Plot(label="Phrase × region scores"))
            page.output("table", gr.Dataframe(headers=TABLE_HEADERS, label="Grounded boxes", interactive=False))
            page.output("coco", coco_output())
            page.notes_and_record("Run record (JSON) of the last Ground: settings, image hash, weights, grounded boxes")
    page.strip()
    page.replay_panel()
    page.examples(
        [
            [SHAPES, "A red square. A blue circle."],
            [SHAPES, "red square . blue circle . green triangle . yellow rectangle ."],
            [skimage_photo("astronaut"), "person . flag . helmet . sky ."],
            [skimage_photo("coffee"), "A cup of coffee on a saucer with a spoon."],
            [skimage_photo("chelsea"), "A cat lying on a blanket."],
        ],
        ["image", "caption"],
        "Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    page.examples(world_examples("glip"), ["image", "caption"], WORLD_LABEL)

    page.run(run, ground, "ground")
    page.rescore([page.components[n] for n in FILTERS], reground, "filter", uses=FILTERS)


def ground(ctx, s, progress=quiet) -> Answer:
    """Split the caption into phrases, embed every proposal with CLIP and ground each phrase."""
    backbone, loaded, grounder = region_pipeline(
        ctx, s, progress, glip.GLIP, threshold=s.threshold, nms_iou=s.nms, max_per_phrase=int(s.per_phrase),
        containment=s.containment,
    )
    result = grounder(loaded.image, s.caption, mode=s.mode or "caption")
    kept = (loaded.image, result, tuple(loaded.notes), loaded.name)
    answer = shown(*kept)
    answer.scores, answer.weights, answer.keep = run_scores(result), backbone.describe(), kept
    return answer


def reground(ctx, s, kept) -> Answer:
    """Re-ground the kept phrase × region scores with other thresholds (no CLIP forward)."""
    image, result, notes, name = need_kept(kept, "Run Ground first; the filters then re-ground its regions without CLIP.")
    result = result.select(threshold=s.threshold, nms_iou=s.nms, max_per_phrase=int(s.per_phrase),
                           containment=s.containment)
    answer = shown(image, result, notes, name)
    answer.keep = (image, result, notes, name)
    return answer


def shown(image, result: glip.GroundingResult, notes, name: str) -> Answer:
    """The outputs of a result: picture, phrases, heat map, table, the COCO files of the grounded
    boxes (one category per phrase), notes, strip."""
    labelled = result.labelled_boxes()
    how = "categories, one entity per name" if result.explicit else "run_ner's noun phrases of the caption"
    grounded = set(result.grounded_phrases())
    phrase_line = " · ".join(f"**{p.text}**" if p.text in grounded else p.text for p in result.phrases)
    columns = result.best_regions(HEATMAP_COLUMNS)
    figure = None
    if len(columns):
        figure = render.matrix_heatmap(
            result.scores[:, columns],
            [p.text for p in result.phrases],
            [f"#{c}" for c in columns],
            title=f"Score of each phrase for the {len(columns)} best of {result.scores.shape[1]} regions",
        )
    rows = [
        [result.phrases[p].text, round(s, 3), ", ".join(f"{v:.0f}" for v in result.boxes[r]), r]
        for p, r, s in result.grounded
    ]
    summary = (f"**{result.message}**" if result.message else
               f"**{len(result.grounded)} box(es)** for {len(grounded)} of {len(result.phrases)} phrase(s), "
               f"from {len(result.boxes)} proposals.")
    export = coco_files("glip", image, name, [result.boxes[r] for _, r, _ in result.grounded],
                        [result.phrases[p].text for p, _, _ in result.grounded], [sc for _, _, sc in result.grounded],
                        dict.fromkeys(p.text for p in result.phrases),
                        f"CLIP Lab GLIP tab: phrases grounded as {how} (score = softmax of 100·cos over background + phrases)")
    return Answer(
        {"grounded": (image, render.box_annotations([b for b, _ in labelled], [l for _, l in labelled])),
         "phrases": f"Phrases ({how}; grounded in bold): {phrase_line}", "heatmap": figure, "table": rows,
         "coco": export},
        notes=[summary, proposals_line(result), *notes, *result.notes],
        steps=strip_steps(image, result, labelled, columns, grounded, how),
    )


def strip_steps(image, result: glip.GroundingResult, labelled, columns, grounded, how):
    """The strip from this result's own arrays: phrases → proposals → phrase × region scores → grounded boxes."""
    phrase_lines = [p.text if p.prompt == p.text else f"{p.text}  (CLIP reads: {p.prompt})" for p in result.phrases]
    if len(columns):
        matrix = boxes.banded(grid_picture(result.scores[:, columns]))  # few phrases: each row a band
        matrix_caption = (
            f"Score of each phrase (rows) for the {len(columns)} best regions (columns): "
            "softmax of 100 x cos over background + phrases"
        )
    else:
        matrix, matrix_caption = text_picture("No region to score", []), "No region to score"
    colours = [p for p, _, _ in result.grounded]
    return steps(
        (text_picture("Phrases (grounded ones in blue)", phrase_lines, [p.text in grounded for p in result.phrases]),
         f"The caption, {how}, gives {len(result.phrases)} phrase(s); each becomes a CLIP text embedding"),
        (boxes.outline(image, result.boxes, colours=result.sources),
         f"{len(result.boxes)} class-agnostic proposals (selective search red, dense CLIP green), each embedded by "
         + ("pooling the image's one dense CLIP pass inside its box" if result.region_embedding == "pooled"
            else "CLIP on its 1x and 1.5x crops")),
        (matrix, matrix_caption),
        (boxes.outline(image, [b for b, _ in labelled], [l for _, l in labelled], colours),
         f"{len(labelled)} box(es) at score >= {result.settings['threshold']:g}, per phrase after NMS, drawn as phrase:score"),
    )


def run_scores(result: glip.GroundingResult) -> dict:
    """The record's scores: the phrases, how many proposals, and each grounded box."""
    return dict(
        phrases=[ph.text for ph in result.phrases],
        proposals=len(result.boxes),
        grounded=[
            dict(phrase=result.phrases[ph].text, score=round(sc, 6), box=[round(float(v), 2) for v in result.boxes[r]])
            for ph, r, sc in result.grounded
        ],
    )
