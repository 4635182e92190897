"""Tab "Compare": one image and one label list through five methods side by side, a PNG of the board,
and GroupViT vs LSeg on the same picture with what differs between them."""

from __future__ import annotations

import tempfile

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from app import render, runs
from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.render.text import font as _font
from app.tabs.depthclip import paper_backbone_name
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import compare as cmp
from components import dense
from components import depthclip as dc
from components.backbone import load_backbone
from components.errors import InputError, WeightsError
from components.media import MAX_LABELS

TITLE = "Compare"
TILE_SIDE = 360  # long side of each picture on the board
CAPTION_FONT = 15
DEPTH_SHORT_SIDE = 224  # DepthCLIP's input height on the board (the paper's 416 is under Advanced)
TEMPLATE_LABELS = {"single": "one prompt “a photo of a {}.” (shared with GroupViT)", "imagenet80": "80 ImageNet prompts"}

DIFFERENCES = """
| | **GroupViT** (Xu et al., CVPR 2022) | **LSeg** (Li et al., ICLR 2022) |
|---|---|---|
| what is trained | a grouping ViT *and* its text encoder, from scratch, with its own image–caption contrastive loss | a dense image encoder (a DPT decoder on ViT-L/16) against CLIP's **frozen** text encoder (ViT-B/32's) |
| supervision | image–caption pairs only: **no segmentation labels**; segments emerge from grouping | pixel-level **segmentation labels** (annotated datasets such as ADE20K) |
| level of the text | **sentence**: a class is scored as “a photo of a {}.”, as the captions it learned from | **word**: each pixel is scored against the raw label |
| how a pixel gets its label | pixels → 64 segments → 8 groups; each *group* is named, only the image's top-5 classes may name it; weak groups are background | each *pixel* takes the label with the highest cosine (× 1/0.07) |
| where they slip | segments objects well; can mislabel background stuff such as **ground or road** | segments objects well; can likewise mislabel background such as **ground or road** |

**What this app runs for each — honestly:** neither paper's trained network. Both are **CLIP-backed
versions** on the CLIP picked above, sharing one set of training-free dense patch embeddings (NACLIP by
default). *LSeg* here = those patch embeddings scored per pixel against the raw labels with LSeg's
temperature — no trained DPT decoder. *GroupViT* here = the same patch embeddings grouped by two stages of
centroids (64 → 8, refined by hard assignment) and labelled with GroupViT's official rules (“a photo of a
{}.”, top-5, background threshold) — no learned group tokens. So the pictures show the two *inference
rules* on the same features: grouping-then-naming vs naming every pixel. The GroupViT tab can run the
official network when its weights are in the local cache.
"""


def depth_backbone(device: str):
    name, tag = paper_backbone_name()
    try:
        return load_backbone(name, tag, device)
    except WeightsError as error:
        raise InputError(str(error)) from None


def build(ctx) -> None:
    model, pretrained = paper_backbone_name()
    method_header(
        "Compare — five methods, one image, one label list",
        "Run the same picture and labels through the zero-shot heat map, LSeg, GroupViT, ViLD and "
        "DepthCLIP, each through its own pipeline, and see what each one answers.",
        "Radford et al. 2021 (CLIP); Li et al. 2022 (LSeg); Xu et al. 2022 (GroupViT); Gu et al. 2022 "
        "(ViLD); Zhang et al. 2022 (DepthCLIP).",
        "the same pipelines as the method tabs. The first four share the CLIP picked above, its cached "
        "text embeddings and **one** dense pass over the image, so a comparison costs little more than "
        "each method's own image work; LSeg, GroupViT and ViLD are CLIP-backed versions, not the papers' "
        f"trained networks. DepthCLIP runs on its own **{model} · {pretrained}** (the paper's backbone) "
        "and uses its seven distance words, not your labels.",
    )
    with gr.Row():
        with gr.Column(scale=2):
            image = ImageUpload("Image")
            labels = gr.Textbox(
                "cat, floor, wall",
                label="Labels",
                info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}. "
                "Name the background too (floor, road, sky…): the segmenters can only choose among your labels.",
                lines=2,
            )
            with gr.Accordion("Advanced", open=False):
                method = gr.Dropdown(
                    [(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                    label="Dense method (shared by zero-shot, LSeg, GroupViT and ViLD's proposals)",
                )
                templates = gr.Radio(
                    [(v, k) for k, v in TEMPLATE_LABELS.items()], value=cmp.ZEROSHOT_TEMPLATES,
                    label="Zero-shot prompts",
                )
                proposals = gr.Slider(
                    5, 120, value=cmp.VILD_MAX_PROPOSALS, step=5, label="ViLD: proposals embedded",
                    info="Two crops each; the ViLD tab's default is 60.",
                )
                score = gr.Slider(0.0, 1.0, value=0.9, step=0.05, label="ViLD: score threshold (demo: 0.9)")
                depth_side = gr.Slider(
                    dc.MIN_SHORT_SIDE, dc.MAX_SHORT_SIDE, value=DEPTH_SHORT_SIDE, step=32,
                    label="DepthCLIP: input height (paper: 416)",
                    info=f"{DEPTH_SHORT_SIDE} here keeps a five-method board quick on a CPU; 416 is the paper's "
                    "(and the DepthCLIP tab's) input.",
                )
            run = gr.Button("Compare", variant="primary")
            gr.Examples(
                [
                    [skimage_photo("chelsea"), "cat, floor, wall"],
                    [skimage_photo("motorcycle_left"), "motorcycle, floor, wall"],
                    [skimage_photo("astronaut"), "person, flag, rocket, wall"],
                    [str(ASSETS / "detection_shapes.png"), "red square, blue circle, green triangle, yellow rectangle, paper"],
                ],
                inputs=[image, labels],
                label="Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
            )
            gr.Examples(world_examples("compare"), inputs=[image, labels], label=WORLD_LABEL)
            image_limits()
        with gr.Column(scale=3):
            board = gr.Gallery(label="The board: the image, then one picture per method", columns=3, height="auto", object_fit="contain")
            download = gr.File(label="The whole board as one PNG")
            status = gr.Markdown()
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    record_in, (image_in,), replay_button = replay_panel()
    gr.Markdown("### GroupViT vs LSeg — same image, same labels, same CLIP features")
    with gr.Row():
        lseg_picture = gr.Image(label="LSeg: every pixel takes its best label", type="pil", format="png")
        groupvit_picture = gr.Image(label="GroupViT: groups first, then a name per group", type="pil", format="png")
    with gr.Row():
        this_run = gr.Markdown()
        gr.Markdown(DIFFERENCES)

    @user_errors
    def run_compare(image_path, labels_text, method_name, template_name, max_proposals, score_threshold, short_side,
                    model_choice, progress=gr.Progress()):
        progress(0.0, desc="Loading the backbones")
        backbone = ctx.backbone(model_choice)
        comparison = cmp.Compare(
            backbone, depth_backbone(ctx.settings.device),
            dense_method=method_name, zeroshot_templates=template_name,
            vild_max_proposals=int(max_proposals), vild_score_threshold=float(score_threshold),
            depth_short_side=int(short_side),
        )
        result = None
        for step in comparison.run(image_path, labels_text):
            if isinstance(step, cmp.Progress):
                progress(step.done / step.total, desc=step.message)
            else:
                result = step
        tiles = board_tiles(result)
        settings = dict(
            labels=labels_text, method=method_name, templates=template_name, proposals=max_proposals,
            score=score_threshold, depth_side=short_side,
        )
        return (
            tiles,
            save_board(tiles, result),
            status_text(result, backbone),
            runs.write_record(
                "compare",
                settings=settings,
                files={"image": image_path},
                model_choice=model_choice,
                weights=f"{result.backbone}; DepthCLIP: {result.depth_backbone}",
                scores=record_scores(result),
            ),
            tiles[2][0],
            tiles[3][0],
            agreement_text(result),
        )

    @user_errors
    def replay(record_path, image_path):
        saved = runs.read_record(record_path, "compare")
        order = ["image", "labels", "method", "templates", "proposals", "score", "depth_side"]
        return runs.replay(saved, {"image": image_path}, run_compare, order)

    run.click(
        run_compare,
        [image, labels, method, templates, proposals, score, depth_side, ctx.model_picker],
        [board, download, status, record, lseg_picture, groupvit_picture, this_run],
        api_name="compare_run",
        concurrency_limit=1,
    )
    replay_button.click(
        replay,
        [record_in, image_in],
        [board, download, status, record, lseg_picture, groupvit_picture, this_run],
        api_name="compare_replay",
        concurrency_limit=1,
    )


def record_scores(result: cmp.CompareResult) -> dict:
    """Each method's headline numbers, small enough to read in the JSON."""
    vild = result.vild
    return {
        "zeroshot": dict(result.zeroshot.ranking()),
        "lseg_shares": {label: float(share) for label, share in zip(result.lseg.labels, result.lseg.shares)},
        "groupvit_top_classes": [result.groupvit.classes[int(i)] for i in result.groupvit.top_classes],
        "vild_detections": [
            {"box": [round(float(v), 1) for v in vild.boxes[i]], "class": vild.classes[int(np.argmax(vild.probs[i][1:]))]}
            for i in vild.keep
        ],
        "depth_median_m": float(np.nanmedian(result.depth.depth)),
    }


# -- pictures -------------------------------------------------------------------------------------------
def board_tiles(result: cmp.CompareResult) -> list[tuple[Image.Image, str]]:
    """(picture, caption): the image, then one per method, in the board's order."""
    image = render.thumbnail(result.image, TILE_SIDE)
    names = list(result.labels)
    zs = result.zeroshot
    top, p = zs.ranking()[0]
    lseg_map = render.resize_label_map(result.lseg.label_map, image.size)
    gv_map = render.resize_label_map(result.groupvit.label_map, image.size)
    gv = result.groupvit
    kept = result.vild.detections()
    depth = result.depth
    lo, hi = float(depth.bins.min()), float(depth.bins.max())
    return [
        (image, f"The image and the labels: {', '.join(names)}"),
        (render.heatmap_overlay(image, _resized_zeroshot(zs, image).heatmap(top), "cosine"),
         f"Zero-shot: “{top}” ({p:.0%}); heat map = each patch's cosine with “{top}”"),
        (with_legend(render.palette_image(lseg_map, image), names),
         "LSeg: each pixel takes its best label (raw label, cosine × 1/0.07)"),
        (with_legend(render.palette_image(gv_map, image), names, background=True),
         f"GroupViT: {len(gv.visible_groups())} groups, each named with “a photo of a {{}}.” (grey = background)"),
        (draw_boxes(image, result.vild, scale=image.width / result.image.width),
         f"ViLD: {len(kept)} box{'es' if len(kept) != 1 else ''} kept of {len(result.vild.boxes)} proposals"
         if kept else "ViLD: nothing kept (" + result.vild.message.split(':', 1)[-1].strip()[:90] + ")"),
        (render.depth_image(np.asarray(Image.fromarray(depth.depth.astype(np.float32), mode="F").resize(image.size)), lo, hi, "metres"),
         f"DepthCLIP: depth {depth.depth.min():.2f}–{depth.depth.max():.2f} m from 7 distance words (labels not used)"),
    ]


def _resized_zeroshot(result, image):
    """The zero-shot result's heat map drawn at the thumbnail's size (same patch scores)."""
    import dataclasses

    return dataclasses.replace(result, image_size=(image.height, image.width))


def with_legend(picture: Image.Image, names, background: bool = False) -> Image.Image:
    font = _font(13)
    entries = [(render.PALETTE[i % len(render.PALETTE)], n) for i, n in enumerate(names)]
    if background:
        entries.append(((128, 128, 128), "background"))
    row_h = 18
    out = Image.new("RGB", (picture.width, picture.height + row_h * ((len(entries) + 2) // 3) + 4), "white")
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    col_w = picture.width // 3
    for k, (colour, name) in enumerate(entries):
        x, y = 4 + (k % 3) * col_w, picture.height + 2 + (k // 3) * row_h
        draw.rectangle([x, y + 3, x + 12, y + 15], fill=tuple(colour))
        draw.text((x + 16, y + 2), _plain(name)[:22], fill="black", font=font)
    return out


def draw_boxes(image: Image.Image, result, scale: float) -> Image.Image:
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    font = _font(13)
    for d in result.detections():
        colour = render.PALETTE[(result.classes.index(d.label) - 1) % len(render.PALETTE)]
        x0, y0, x1, y1 = (v * scale for v in d.box)
        draw.rectangle([x0, y0, x1, y1], outline=tuple(colour), width=3)
        draw.text((x0 + 3, y0 + 2), f"{_plain(d.label)} {d.score:.2f}", fill="white", font=font, stroke_width=2, stroke_fill="black")
    return out


def save_board(tiles, result: cmp.CompareResult) -> str:
    """All tiles, captions under each, in a 3-column grid with a title line: one PNG file."""
    font, title_font = _font(CAPTION_FONT), _font(18)
    cell_w = max(t.width for t, _ in tiles) + 16
    captioned = []
    for picture, caption in tiles:
        lines = _wrap(_plain(caption), font, cell_w - 12)
        cell = Image.new("RGB", (cell_w, picture.height + 8 + 19 * len(lines)), "white")
        cell.paste(picture, ((cell_w - picture.width) // 2, 0))
        draw = ImageDraw.Draw(cell)
        for n, line in enumerate(lines):
            draw.text((6, picture.height + 4 + 19 * n), line, fill="black", font=font)
        captioned.append(cell)
    cols = 3
    rows = [captioned[i : i + cols] for i in range(0, len(captioned), cols)]
    title_h = 34
    height = title_h + sum(max(c.height for c in row) + 8 for row in rows)
    canvas = Image.new("RGB", (cols * cell_w, height), "white")
    draw = ImageDraw.Draw(canvas)
    title = f"CLIP Lab compare: labels {', '.join(result.labels)} | {result.backbone} | DepthCLIP: {result.depth_backbone}"
    draw.text((8, 8), _plain(title)[:200], fill="black", font=title_font)
    y = title_h
    for row in rows:
        for k, cell in enumerate(row):
            canvas.paste(cell, (k * cell_w, y))
        y += max(c.height for c in row) + 8
    handle = tempfile.NamedTemporaryFile(suffix="-compare-board.png", delete=False)
    with handle:
        canvas.save(handle, format="PNG")
    return handle.name


def _plain(text: str) -> str:
    for fancy, plain in (("“", '"'), ("”", '"'), ("’", "'"), ("×", "x"), ("→", "->"), ("–", "-")):
        text = text.replace(fancy, plain)
    return text


def _wrap(text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line] if line else lines


# -- words ----------------------------------------------------------------------------------------------
def status_text(result: cmp.CompareResult, backbone) -> str:
    times = ", ".join(f"{cmp.METHOD_NAMES[k]} {v:.2f} s" for k, v in result.seconds.items())
    lines = [
        f"**Shared CLIP:** {result.backbone}. **DepthCLIP:** {result.depth_backbone}.",
        f"**Shared work:** {result.dense_passes} dense pass{'es' if result.dense_passes != 1 else ''} over the image, "
        f"reused {result.dense_reused} times; {result.text_forwards} prompts went through the text tower this run "
        f"(0 when these labels were seen before) and {result.depth_text_forwards} for DepthCLIP's words.",
        f"**Time:** {times}.",
    ]
    if backbone.is_random:
        lines.append(f"⚠️ **{backbone.model_name} runs on random, untrained weights: these answers are meaningless.** {backbone.weights_note}")
    if "random" in result.depth_backbone:
        lines.append("⚠️ DepthCLIP's backbone has random weights: its depth is meaningless.")
    lines += [f"- {n}" for n in result.notes]
    return "\n\n".join(lines)


def agreement_text(result: cmp.CompareResult) -> str:
    agree = cmp.agreement(result.lseg, result.groupvit)
    table = "\n".join(f"| {name} | {a:.0%} | {b:.0%} |" for name, a, b in agree.per_label)
    return (
        f"**This run:** LSeg and GroupViT give the same label to **{agree.same:.0%}** of the pixels.\n\n"
        "| label | LSeg's share | GroupViT's share |\n|---|---|---|\n" + table + "\n\n"
        "LSeg has no background rule (name the background as a label); GroupViT calls a group background "
        f"when its best score is below min({result.groupvit.background_threshold:g}, the best group's score)."
    )
