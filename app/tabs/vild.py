"""Tab "ViLD": image + categories → boxes, each with its category scores, and the proposals behind them."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
from PIL import Image

from app import render, runs
from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, boxes_picture, how_it_works, mosaic_picture, steps
from app.widgets import ImageUpload, image_limits, method_header, region_controls, replay_panel, user_errors
from components import regions, vild
from components.media import load_image

TITLE = "ViLD"
SHAPES = str(ASSETS / "detection_shapes.png")
TABLE_HEADERS = ["#", "category", "score", "box (x0, y0, x1, y1)", "top-3 (background included)"]


def build(ctx) -> None:
    method_header(
        "ViLD — open-vocabulary detection",
        "Detect any category you can name: propose class-agnostic boxes, embed each cropped region "
        "with CLIP, and score it against CLIP text embeddings of the categories plus “background”.",
        "Gu, Lin, Kuo, Cui, *Open-vocabulary Object Detection via Vision and Language Knowledge "
        "Distillation*, ICLR 2022.",
        "the CLIP-backed version of ViLD: its image teacher (CLIP on 1× + 1.5× crops, embeddings "
        "summed) on selective-search and dense-CLIP proposals, scored and filtered as ViLD's demo does "
        "(63 prompts, softmax of 100·cos with background as class 0, NMS 0.6). ViLD's trained detector "
        "and its region proposal network are not used: boxes are not regressed.",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            categories = gr.Textbox(
                "red square; blue circle; green triangle; yellow rectangle",
                label="Categories",
                info=f"Separated by ';' or ','; “background” is added as class 0. Up to {vild.MAX_CATEGORIES}.",
                lines=2,
            )
            with gr.Accordion("Advanced", open=False):
                gr.Markdown("Filters (ViLD demo defaults); moving them re-filters without running CLIP again. "
                            "As in the demo, NMS runs first over all proposals, ranked by proposal order (dense-CLIP "
                            "boxes, then selective search's ranking: there is no RPN objectness), then the score, "
                            "area and box-count filters; the pipeline's nms_order=\"score\" filters first.")
                score = gr.Slider(0, 1, vild.SCORE_THRESHOLD, step=0.01, label="Score threshold")
                nms = gr.Slider(0.1, 1, vild.NMS_IOU, step=0.05, label="NMS IoU threshold")
                min_area = gr.Slider(0, 20000, vild.MIN_BOX_AREA, step=10, label="Minimum box area (pixels)",
                                     info="Smaller regions are not embedded at all: lowering it takes effect at the next Detect.")
                max_boxes = gr.Slider(1, 100, vild.MAX_BOXES, step=1, label="At most this many boxes")
                containment = gr.Slider(
                    0, 1, vild.CONTAINMENT, step=0.05,
                    label="Drop a box containing this much of a better box of its class (0 = off; not in ViLD)",
                )
                gr.Markdown("Proposals (changing these runs CLIP again):")
                sources, prompt_set, max_proposals = region_controls()
            run = gr.Button("Detect", variant="primary")
            image_limits()
            gr.Markdown(
                "<small>Every proposal is embedded by CLIP, so time grows with “Regions to embed”. "
                "The first run with new categories also encodes 63 prompts per category.</small>"
            )
        with gr.Column():
            annotated = gr.AnnotatedImage(label="Detections")
            show_proposals = gr.Checkbox(False, label="Show the proposals before scoring instead (step 1 of 2)")
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Boxes and their top-3 classes", interactive=False, wrap=True)
            box_choice = gr.Dropdown([], label="Category scores of box", interactive=True)
            bars = gr.Plot(label="Category probabilities of the chosen box")
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON) of the last Detect: settings, image hash, weights, detections")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [SHAPES, "red square; blue circle; green triangle; yellow rectangle"],
            [skimage_photo("astronaut"), "person; flag; helmet; spacesuit"],
            [skimage_photo("coffee"), "cup; saucer; spoon; table"],
            [skimage_photo("chelsea"), "cat; dog; blanket"],
            [skimage_photo("rocket"), "rocket; smoke; launch tower; trees"],
        ],
        inputs=[image, categories],
        label="Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    gr.Examples(world_examples("vild"), inputs=[image, categories], label=WORLD_LABEL)
    filters = [score, nms, min_area, max_boxes, containment]

    @user_errors
    def detect(image_path, categories_text, score_value, nms_value, area_value, boxes_value, containment_value,
               source_names, proposals_value, prompt_value, proposals_shown, model_choice, progress=gr.Progress()):
        backbone = ctx.backbone(model_choice)
        loaded = load_image(image_path)
        progress(0.1, desc="Proposing regions and embedding crops")
        detector = vild.ViLD(
            backbone,
            score_threshold=score_value,
            nms_threshold=nms_value,
            min_box_area=area_value,
            max_boxes_to_draw=int(boxes_value),
            containment=containment_value,
            sources=tuple(source_names),
            max_proposals=int(proposals_value),
            prompt_engineering=prompt_value != "1",
        )
        result = detector(loaded.image, categories_text)
        *shown, strip_steps, saved = show(loaded.image, result, proposals_shown, loaded.notes)
        settings = dict(
            categories=categories_text, score=score_value, nms=nms_value, min_area=area_value, max_boxes=boxes_value,
            containment=containment_value, sources=list(source_names), max_proposals=proposals_value,
            prompts=prompt_value, show_proposals=proposals_shown,
        )
        record_path = runs.write_record(
            "vild",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=backbone.describe(),
            scores=dict(
                proposals=len(result.boxes),
                detections=[dict(label=d.label, score=round(d.score, 6), box=[round(v, 2) for v in d.box]) for d in result.detections()],
            ),
        )
        return (*shown, record_path, strip_steps, saved)

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "vild")
        order = ["image", "categories", "score", "nms", "min_area", "max_boxes", "containment", "sources",
                 "max_proposals", "prompts", "show_proposals"]
        return runs.replay(saved, {"image": image_path}, functools.partial(detect, progress=progress), order)

    @user_errors
    def refilter(saved, score_value, nms_value, area_value, boxes_value, containment_value, proposals_shown):
        if not saved:
            return (None, None, gr.Dropdown(choices=[], value=None), None, "Run **Detect** first.", gr.skip(), saved)
        image, result, notes = saved
        result = result.select(
            score_threshold=score_value, nms_iou=nms_value, min_area=area_value, max_boxes=int(boxes_value),
            containment=containment_value,
        )
        return show(image, result, proposals_shown, notes)

    @user_errors
    def show_box(choice, saved):
        if not saved or choice in (None, ""):
            return None
        _, result, _ = saved
        region = int(choice)
        if not 0 <= region < len(result.boxes):
            return None
        ranking = sorted(zip(result.classes, result.probs[region].tolist()), key=lambda item: -item[1])
        return render.probability_bars(ranking, title=f"Region {region}")

    outputs = [annotated, table, box_choice, bars, notes, strip, state]
    run_outputs = [annotated, table, box_choice, bars, notes, record, strip, state]
    run.click(
        detect,
        [image, categories, *filters, sources, max_proposals, prompt_set, show_proposals, ctx.model_picker],
        run_outputs,
        api_name="vild_detect",
    )
    replay_button.click(replay, [record_in, image_in], run_outputs, api_name="vild_replay")
    gr.on(
        [*(slider.release for slider in filters), show_proposals.input],
        refilter,
        [state, *filters, show_proposals],
        outputs,
        api_name="vild_filter",
    )
    box_choice.input(show_box, [box_choice, state], bars, api_name="vild_box")


def show(image, result: vild.ViLDResult, proposals_shown: bool, notes=()):
    """Outputs for a result: picture, table, box picker, bars, notes, how-it-works strip, state."""
    detections = result.detections()
    if proposals_shown:
        labels = [f"proposal · {regions.SOURCE_LABELS[regions.SOURCES[int(s)]]}" for s in result.sources]
        picture = (image, render.box_annotations(result.boxes, labels))
    else:
        picture = (image, render.box_annotations([d.box for d in detections], [d.label for d in detections]))
    rows = [
        [n + 1, d.label, round(d.score, 3), ", ".join(f"{v:.0f}" for v in d.box), "; ".join(f"{c} {p:.2f}" for c, p in d.top)]
        for n, d in enumerate(detections)
    ]
    choices = [(f"#{n + 1} {d.label} ({d.score:.2f})", str(d.region)) for n, d in enumerate(detections)]
    first = choices[0][1] if choices else None
    bars = None
    if detections:
        d = detections[0]
        ranking = sorted(zip(result.classes, result.probs[d.region].tolist()), key=lambda item: -item[1])
        bars = render.probability_bars(ranking, title=f"#1 {d.label}")
    found = ", ".join(f"{regions.SOURCE_LABELS[k]}: {v}" for k, v in result.found.items())
    lines = [
        f"**{result.message}**" if result.message else f"**{len(detections)} detection(s)** from {len(result.boxes)} proposals.",
        f"Proposals found before de-duplication and the cap — {found or 'none'}. "
        f"Proposing took {result.proposal_seconds:.2f} s, embedding and scoring {result.scoring_seconds:.2f} s.",
        *(f"- {n}" for n in (*notes, *result.notes)),
    ]
    return (
        picture,
        rows,
        gr.Dropdown(choices=choices, value=first),
        bars,
        "\n\n".join(lines),
        strip_steps(image, result, detections),
        (image, result, tuple(notes)),
    )


STRIP_CROPS = 4  # regions whose crops the strip shows


def strip_steps(image, result: vild.ViLDResult, detections):
    """The strip from this result's own arrays: proposals → crops → scores → kept boxes."""
    sources = ", ".join(
        f"{regions.SOURCE_LABELS[s]} ({'red' if i == 0 else 'green'})" for i, s in enumerate(regions.SOURCES)
        if int((result.sources == i).sum())
    )
    foreground = np.flatnonzero(result.probs.argmax(1) != 0) if len(result.boxes) else np.zeros(0, int)
    best_fg = foreground[np.argsort(-result.probs[foreground, 1:].max(1), kind="stable")] if len(foreground) else foreground
    shown = [int(i) for i in dict.fromkeys([*result.keep.tolist(), *best_fg.tolist(), *range(len(result.boxes))])][:STRIP_CROPS]
    crops = []
    for i in shown:
        for scale in regions.CROP_SCALES:
            box = regions.scale_boxes(result.boxes[i : i + 1], scale, result.image_size)[0]
            crops.append(image.crop(tuple(int(round(v)) for v in box)).resize((96, 96), Image.BILINEAR))
    if shown:
        region = shown[0]
        order = np.argsort(-result.probs[region], kind="stable")
        scores = bars_picture(
            [result.classes[c] for c in order], result.probs[region][order], f"region {region}: softmax(100 x cos)", 1.0
        )
        scores_caption = "Each region's embedding vs the text embeddings of background + categories → probabilities"
    else:
        scores = bars_picture([], [], "no region to score")
        scores_caption = "No region to score"
    classes = {c: n for n, c in enumerate(result.categories)}
    kept = boxes_picture(
        image,
        [d.box for d in detections],
        [f"{d.label} {d.score:.2f}" for d in detections],
        [classes.get(d.label, 0) for d in detections],
    )
    s = result.settings
    return steps(
        (boxes_picture(image, result.boxes, colours=result.sources), f"{len(result.boxes)} class-agnostic proposals: {sources or 'none'}"),
        (mosaic_picture(crops, columns=4), "Each region cropped at 1x and 1.5x (pairs, as CLIP sees them); the two CLIP embeddings are summed"),
        (scores, scores_caption),
        (kept, f"{len(detections)} kept: not background, score >= {s['score_threshold']:g}, area > {s['min_area']:g} px, NMS at IoU {s['nms_iou']:g}"),
    )
