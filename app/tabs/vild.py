"""Tab "ViLD": image + categories → boxes, each with its category scores, and the proposals behind them."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import ASSETS, skimage_photo
from app.widgets import ImageUpload, image_limits, method_header, user_errors
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
                gr.Markdown("Filters (ViLD demo defaults); moving them re-filters without running CLIP again.")
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
                sources = gr.CheckboxGroup(
                    [(regions.SOURCE_LABELS[s], s) for s in regions.SOURCES], value=list(regions.SOURCES), label="Proposal sources"
                )
                prompt_set = gr.Radio(
                    [("ViLD's 63 prompts (first use of a word: 63 text forwards)", "63"), ("one prompt: “This is a photo of a {}.”", "1")],
                    value="63",
                    label="Prompts",
                )
                max_proposals = gr.Slider(
                    1, regions.MAX_PROPOSALS_LIMIT, regions.MAX_PROPOSALS, step=1,
                    label="Regions to embed (each costs two CLIP forwards: 1× and 1.5× crops)",
                )
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
    )
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
        return show(loaded.image, result, proposals_shown, loaded.notes)

    @user_errors
    def refilter(saved, score_value, nms_value, area_value, boxes_value, containment_value, proposals_shown):
        if not saved:
            return (None, None, gr.Dropdown(choices=[], value=None), None, "Run **Detect** first.", saved)
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

    outputs = [annotated, table, box_choice, bars, notes, state]
    run.click(
        detect,
        [image, categories, *filters, sources, max_proposals, prompt_set, show_proposals, ctx.model_picker],
        outputs,
        api_name="vild_detect",
    )
    gr.on(
        [*(slider.release for slider in filters), show_proposals.input],
        refilter,
        [state, *filters, show_proposals],
        outputs,
        api_name="vild_filter",
    )
    box_choice.input(show_box, [box_choice, state], bars, api_name="vild_box")


def show(image, result: vild.ViLDResult, proposals_shown: bool, notes=()):
    """Outputs for a result: picture, table, box picker, bars, notes, state."""
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
        (image, result, tuple(notes)),
    )
