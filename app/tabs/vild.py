"""Tab "ViLD": image + categories → boxes, each with its category scores, and the proposals behind them;
or image + a query image → the boxes that look like the query (image-guided detection)."""

from __future__ import annotations

import dataclasses

import gradio as gr

from app import render
from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, mosaic_picture, steps
from app.region_settings import (coco_files, coco_output, proposal_settings, proposals_line, region_embedding_setting,
                                 region_pipeline, upgrade_record)
from app.render import boxes
from app.scaffold import Answer, Page, Setting, Tab, image_setting, labels_setting, need_kept, quiet
from app.widgets import api_tool, user_errors
from components import regions, vild
from components.errors import InputError
from components.media import load_image

SHAPES = str(ASSETS / "detection_shapes.png")
QUERY_EXAMPLE = str(ASSETS / "detection_query.png")  # another red square, tilted (assets/detection_shapes.py)
TABLE_HEADERS = ["#", "category", "score", "box (x0, y0, x1, y1)", "top-3 (background included)"]
STRIP_CROPS = 4  # regions whose crops the strip shows
MISSING_QUERY = "Upload a query image (a picture of the thing to find), or press Detect to find the categories."

TAB = Tab(
    key="vild",
    title="ViLD",
    name="ViLD — open-vocabulary detection",
    idea="Detect any category you can name: propose class-agnostic boxes, embed each cropped region "
    "with CLIP, and score it against CLIP text embeddings of the categories plus “background”.",
    paper="Gu, Lin, Kuo, Cui, *Open-vocabulary Object Detection via Vision and Language Knowledge "
    "Distillation*, ICLR 2022.",
    runs="the CLIP-backed version of ViLD: its image teacher (CLIP on 1× + 1.5× crops, embeddings "
    "summed) on selective-search and dense-CLIP proposals, scored and filtered as ViLD's demo does "
    "(63 prompts, softmax of 100·cos with background as class 0, NMS 0.6). ViLD's trained detector "
    "and its region proposal network are not used: boxes are not regressed. On a CPU the default embeds "
    "each region in one forward instead, pooled from the image's dense CLIP map (a shortcut, not ViLD's "
    "method); the crops are one click away in Advanced.",
    settings=[
        image_setting(),
        labels_setting("red square; blue circle; green triangle; yellow rectangle",
                       f"Separated by ';' or ','; “background” is added as class 0. Up to {vild.MAX_CATEGORIES}.",
                       "categories separated by ';' or ','; “background” is added as class 0",
                       name="categories", label="Categories"),
        Setting("score", lambda: gr.Slider(0, 1, vild.SCORE_THRESHOLD, step=0.01, label="Score threshold"),
                float, f"score threshold (ViLD demo: {vild.SCORE_THRESHOLD})", rescore=True),
        Setting("nms", lambda: gr.Slider(0.1, 1, vild.NMS_IOU, step=0.05, label="NMS IoU threshold"),
                float, f"NMS IoU threshold (ViLD demo: {vild.NMS_IOU})", rescore=True),
        Setting("min_area", lambda: gr.Slider(
            0, 20000, vild.MIN_BOX_AREA, step=10, label="Minimum box area (pixels)",
            info="Smaller regions are not embedded at all: lowering it takes effect at the next Detect."),
            float, f"minimum box area in pixels (ViLD demo: {vild.MIN_BOX_AREA}); smaller regions are not embedded",
            rescore=True),
        Setting("max_boxes", lambda: gr.Slider(1, 100, vild.MAX_BOXES, step=1, label="At most this many boxes"),
                int, f"at most this many boxes (ViLD demo: {vild.MAX_BOXES})", rescore=True),
        Setting("containment", lambda: gr.Slider(
            0, 1, vild.CONTAINMENT, step=0.05,
            label="Drop a box containing this much of a better box of its class (0 = off; not in ViLD)"),
            float, "drop a box containing this share of a better box of its class (0 = off; not in ViLD)", rescore=True),
        *proposal_settings(),
        Setting("show_proposals", lambda: gr.Checkbox(False, label="Show the proposals before scoring instead (step 1 of 2)"),
                bool, "show the proposals before scoring instead of the detections", rescore=True),
        dataclasses.replace(
            image_setting("query", "Query image: find boxes that look like it (optional)",
                          "path of a query image: the boxes whose crops match it (image-guided detection)"),
            required=MISSING_QUERY),
        Setting("query_threshold", lambda: gr.Slider(
            0, 1, vild.QUERY_THRESHOLD, step=0.01, label="Query-image cosine threshold (image-guided; ours, not ViLD's)",
            info="A region matches the query image when the cosine of their CLIP embeddings is at least this."),
            float, f"cosine of region and query image a match needs (default {vild.QUERY_THRESHOLD}; ours)", rescore=True),
        region_embedding_setting(),
    ],
    upgrade=upgrade_record,
)
TITLE = TAB.title
FILTERS = ["score", "nms", "min_area", "max_boxes", "containment"]
# Detect: the categories (the endpoint's parameters as before the query image existed); Find: the query image
DETECT_USES = ["image", "categories", *FILTERS, "sources", "max_proposals", "prompts", "show_proposals",
               "region_embedding"]
MATCH_USES = ["image", "query", "query_threshold", "nms", "min_area", "max_boxes", "containment", "sources",
              "max_proposals", "show_proposals", "region_embedding"]


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "categories")
            with gr.Accordion("Advanced", open=False):
                gr.Markdown("Filters (ViLD demo defaults); moving them re-filters without running CLIP again. "
                            "As in the demo, NMS runs first over all proposals, ranked by proposal order (dense-CLIP "
                            "boxes, then selective search's ranking: there is no RPN objectness), then the score, "
                            "area and box-count filters; the pipeline's nms_order=\"score\" filters first.")
                page.inputs(*FILTERS)
                gr.Markdown("Proposals (changing these runs CLIP again):")
                page.inputs("region_embedding", "sources", "prompts", "max_proposals")
            run = gr.Button("Detect", variant="primary")
            with gr.Accordion("Image-guided: find boxes that look like a query image", open=False):
                gr.Markdown("<small>Instead of naming categories, show one: every region's CLIP embedding (made as "
                            "Advanced's “Region embeddings” says) is compared with the query image's by cosine, and the regions at or above the "
                            "query threshold go through the same NMS, area, count and containment filters as "
                            "Detect's.</small>")
                page.inputs("query", "query_threshold")
                find = gr.Button("Find boxes like the query image")
            page.limits()
            gr.Markdown("<small>With crops, every proposal costs two CLIP forwards, so time grows with “Regions to "
                        "embed”; pooled, the whole image costs one. The first run with new categories also encodes "
                        "63 prompts per category.</small>")
        with gr.Column():
            page.output("detections", gr.AnnotatedImage(label="Detections"))
            show_proposals = page.input("show_proposals")
            page.output("table", gr.Dataframe(headers=TABLE_HEADERS, label="Boxes and their top-3 classes",
                                              interactive=False, wrap=True))
            box_choice = page.output("box_choice", gr.Dropdown([], label="Category scores of box", interactive=True))
            page.output("bars", gr.Plot(label="Category probabilities of the chosen box"))
            page.output("coco", coco_output())
            page.notes_and_record("Run record (JSON) of the last run: settings, image hashes, weights, detections")
    page.strip()
    page.replay_panel(files=["image"])
    page.run(run, detect, "detect", uses=DETECT_USES)
    guided = page.panel()  # the image-guided run's own replay panel; the same notes, record and strip
    guided.notes, guided.record, guided.strip_gallery = page.notes, page.record, page.strip_gallery
    guided.replay_panel(files=["image", "query"], title="Reproduce an image-guided run")
    guided.run(find, match, "match", uses=MATCH_USES, record_as="vild_match")
    page.examples(
        [
            [SHAPES, "red square; blue circle; green triangle; yellow rectangle"],
            [skimage_photo("astronaut"), "person; flag; helmet; spacesuit"],
            [skimage_photo("coffee"), "cup; saucer; spoon; table"],
            [skimage_photo("chelsea"), "cat; dog; blanket"],
            [skimage_photo("rocket"), "rocket; smoke; launch tower; trees"],
        ],
        ["image", "categories"],
        "Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    page.examples(world_examples("vild"), ["image", "categories"], WORLD_LABEL)
    guided.examples([[SHAPES, QUERY_EXAMPLE]], ["image", "query"],
                    "Image-guided example: find the red square by a picture of another (then press Find boxes "
                    "like the query image; needs real CLIP weights)")

    page.rescore([*(page.components[n] for n in [*FILTERS, "query_threshold"]), (show_proposals, "input")], refilter,
                 "filter", uses=[*FILTERS, "show_proposals", "query_threshold"])
    box_choice.input(api_tool(user_errors(box_bars, gpu=False), "vild_box",
                              "ViLD: the category probabilities of one proposal of this session's last detection "
                              "(no forward).", choice="the proposal's index, as the box picker lists it",
                              kept="kept from the last run (state)"),
                     [box_choice, page.state], page.outputs["bars"], api_name="vild_box")


def detect(ctx, s, progress=quiet) -> Answer:
    """Propose regions, embed each one's crops with CLIP and score them against the categories."""
    backbone, loaded, detector = region_pipeline(
        ctx, s, progress, vild.ViLD, score_threshold=s.score, nms_threshold=s.nms, min_box_area=s.min_area,
        max_boxes_to_draw=int(s.max_boxes), containment=s.containment,
    )
    result = detector(loaded.image, s.categories)
    kept = (loaded.image, result, tuple(loaded.notes), loaded.name)
    answer = shown(*kept, s.show_proposals)
    answer.scores, answer.weights, answer.keep = run_scores(result), backbone.describe(), kept
    return answer


def match(ctx, s, progress=quiet) -> Answer:
    """Image-guided detection: embed the query image and every proposal's crops with CLIP, keep the
    regions whose cosine with the query passes the threshold and the filters."""
    if not s.query:
        raise InputError(MISSING_QUERY)
    query = load_image(s.query)  # the same decoding, limits and messages as the image
    backbone, loaded, detector = region_pipeline(
        ctx, s, progress, vild.ViLD, query_threshold=s.query_threshold, nms_threshold=s.nms, min_box_area=s.min_area,
        max_boxes_to_draw=int(s.max_boxes), containment=s.containment,
    )
    result = detector.match(loaded.image, query.image, query_name=query.name)
    kept = (loaded.image, result, (*loaded.notes, *(f"Query image: {n}" for n in query.notes)), loaded.name)
    answer = shown(*kept, s.show_proposals)
    answer.scores, answer.weights, answer.keep = run_scores(result), backbone.describe(), kept
    return answer


def refilter(ctx, s, kept) -> Answer:
    """Re-filter the kept regions with other thresholds, or show the proposals (no CLIP forward)."""
    image, result, notes, name = need_kept(kept, "Run Detect first; the filters then re-filter its regions without CLIP.")
    common = dict(nms_iou=s.nms, min_area=s.min_area, max_boxes=int(s.max_boxes), containment=s.containment)
    if isinstance(result, vild.QueryResult):
        result = result.select(similarity_threshold=s.query_threshold, **common)
    else:
        result = result.select(score_threshold=s.score, **common)
    answer = shown(image, result, notes, name, s.show_proposals)
    answer.keep = (image, result, notes, name)
    return answer


def box_bars(choice, kept):
    """The category probabilities of the proposal `choice` (its index) of the kept result."""
    if not kept or choice in (None, ""):
        return None
    result = kept[1]
    try:
        region = int(choice)
    except (TypeError, ValueError):
        return None
    if not 0 <= region < len(result.boxes):
        return None
    return render.probability_bars(result.top_classes(region, len(result.categories) + 1), title=f"Region {region}")


def shown(image, result: "vild.ViLDResult | vild.QueryResult", notes, name: str, proposals_shown: bool) -> Answer:
    """The outputs of a result (a Detect's or an image-guided run's): picture, table, box picker,
    bars of the best box, the COCO files of the boxes shown, notes, strip."""
    detections = result.detections()
    guided = isinstance(result, vild.QueryResult)
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
    bars = None
    if detections:
        best = detections[0]
        bars = render.probability_bars(result.top_classes(best.region, len(result.categories) + 1),
                                       title=f"#1 {best.label}")
    if result.message:
        summary = f"**{result.message}**"
    elif guided:
        summary = (f"**{len(detections)} match(es)** for the query image {result.query_name} from {len(result.boxes)} "
                   f"proposals (score: cosine with the query, ≥ {result.settings['similarity_threshold']:g}).")
    else:
        summary = f"**{len(detections)} detection(s)** from {len(result.boxes)} proposals."
    how = (f"image-guided detection (query image {result.query_name}; score = cosine with it)" if guided
           else "ViLD detection (score = softmax of 100·cos over background + categories)")
    export = coco_files("vild", image, name, [d.box for d in detections], [d.label for d in detections],
                        [d.score for d in detections], result.categories, f"CLIP Lab ViLD tab, {how}")
    return Answer(
        {"detections": picture, "table": rows, "bars": bars, "coco": export,
         "box_choice": gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)},
        notes=[summary, proposals_line(result), *notes, *result.notes],
        steps=query_steps(image, result, detections) if guided else strip_steps(image, result, detections),
    )


def embedding_step(image, result, shown_regions: list[int], crops_caption: str) -> tuple:
    """The strip's embedding step: the shown regions' crops, or — pooled — the regions outlined on
    the image whose single dense pass they are pooled from."""
    if result.region_embedding == "pooled":
        return (boxes.outline(image, result.boxes[shown_regions], colours=range(len(shown_regions))),
                "One CLIP pass over the whole image; each region is the mean of the dense patch embeddings "
                "inside its box (a shortcut: ViLD crops instead)")
    return mosaic_picture(boxes.crops(image, result.boxes[shown_regions]), columns=4), crops_caption


def strip_steps(image, result: vild.ViLDResult, detections):
    """The strip from this result's own arrays: proposals → crops → scores → kept boxes."""
    sources = ", ".join(
        f"{regions.SOURCE_LABELS[s]} ({'red' if i == 0 else 'green'})" for i, s in enumerate(regions.SOURCES)
        if int((result.sources == i).sum())
    )
    shown_regions = result.showcase(STRIP_CROPS)
    if shown_regions:
        region = shown_regions[0]
        ranking = result.top_classes(region, len(result.classes))
        scores = bars_picture([c for c, _ in ranking], [p for _, p in ranking], f"region {region}: softmax(100 x cos)", 1.0)
        scores_caption = "Each region's embedding vs the text embeddings of background + categories → probabilities"
    else:
        scores, scores_caption = bars_picture([], [], "no region to score"), "No region to score"
    classes = {c: n for n, c in enumerate(result.categories)}
    kept = boxes.outline(image, [d.box for d in detections], [f"{d.label} {d.score:.2f}" for d in detections],
                         [classes.get(d.label, 0) for d in detections])
    s = result.settings
    return steps(
        (boxes.outline(image, result.boxes, colours=result.sources),
         f"{len(result.boxes)} class-agnostic proposals: {sources or 'none'}"),
        embedding_step(image, result, shown_regions,
                       "Each region cropped at 1x and 1.5x (pairs, as CLIP sees them); the two CLIP embeddings are summed"),
        (scores, scores_caption),
        (kept, f"{len(detections)} kept: not background, score >= {s['score_threshold']:g}, "
               f"area > {s['min_area']:g} px, NMS at IoU {s['nms_iou']:g}"),
    )


def query_steps(image, result: vild.QueryResult, detections):
    """The image-guided strip from this result's own arrays: proposals → crops → cosine with the
    query → kept boxes."""
    shown_regions = result.showcase(STRIP_CROPS)
    top = result.ranked(6)
    scores = bars_picture([f"region {i}" for i in top], [float(result.similarity[i]) for i in top],
                          "cos(region, query image)", 1.0)
    s = result.settings
    return steps(
        (boxes.outline(image, result.boxes, colours=result.sources),
         f"{len(result.boxes)} class-agnostic proposals (selective search red; dense CLIP green, from the query's map)"),
        embedding_step(image, result, shown_regions,
                       "Each region cropped at 1x and 1.5x; the two CLIP embeddings are summed, as the query image's are"),
        (scores, f"Each region's embedding vs the query image's ({result.query_name}): cosine"),
        (boxes.outline(image, [d.box for d in detections], [f"{d.score:.2f}" for d in detections]),
         f"{len(detections)} kept: cosine >= {s['similarity_threshold']:g}, area > {s['min_area']:g} px, "
         f"NMS at IoU {s['nms_iou']:g}"),
    )


def run_scores(result: vild.ViLDResult) -> dict:
    """The record's scores: how many proposals, and each detection with its box."""
    return dict(
        proposals=len(result.boxes),
        detections=[dict(label=d.label, score=round(d.score, 6), box=[round(v, 2) for v in d.box])
                    for d in result.detections()],
    )
