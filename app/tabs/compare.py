"""Tab "Compare": one image and one label list through five methods side by side, a PNG of the board,
and GroupViT vs LSeg on the same picture with what differs between them."""

from __future__ import annotations

import dataclasses

import gradio as gr

from app.examples import ASSETS, WORLD_LABEL, skimage_photo, world_examples
from app.region_settings import region_embedding_setting, upgrade_record
from app.render import board
from app.scaffold import Answer, Page, Setting, Tab, image_setting, labels_setting, quiet
from components import compare as cmp
from components import dense
from components import depthclip as dc
from components.backbone import load_paper_backbone, paper_backbone_name
from components.media import MAX_LABELS

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


def runs_text() -> str:
    """What runs here, naming DepthCLIP's backbone as configured now (an override may change it)."""
    model, pretrained = paper_backbone_name("depthclip")
    return (
        "the same pipelines as the method tabs. The first four share the CLIP picked above, its cached "
        "text embeddings and **one** dense pass over the image, so a comparison costs little more than "
        "each method's own image work; LSeg, GroupViT and ViLD are CLIP-backed versions, not the papers' "
        f"trained networks. DepthCLIP runs on its own **{model} · {pretrained}** (the paper's backbone) "
        "and uses its seven distance words, not your labels."
    )


TAB = Tab(
    key="compare",
    title="Compare",
    name="Compare — five methods, one image, one label list",
    idea="Run the same picture and labels through the zero-shot heat map, LSeg, GroupViT, ViLD and "
    "DepthCLIP, each through its own pipeline, and see what each one answers.",
    paper="Radford et al. 2021 (CLIP); Li et al. 2022 (LSeg); Xu et al. 2022 (GroupViT); Gu et al. 2022 "
    "(ViLD); Zhang et al. 2022 (DepthCLIP).",
    runs=runs_text(),
    settings=[
        image_setting(),
        labels_setting("cat, floor, wall",
                       f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}. Name the background too "
                       "(floor, road, sky…): the segmenters can only choose among your labels.",
                       "labels separated by commas, semicolons or new lines"),
        Setting("method", lambda: gr.Dropdown(
            [(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
            label="Dense method (shared by zero-shot, LSeg, GroupViT and ViLD's proposals)"),
            str, "dense method shared by zero-shot, LSeg, GroupViT and ViLD (naclip, clearclip, sclip, maskclip, vanilla)"),
        Setting("templates", lambda: gr.Radio(
            [(v, k) for k, v in TEMPLATE_LABELS.items()], value=cmp.ZEROSHOT_TEMPLATES, label="Zero-shot prompts"),
            str, '"single" (“a photo of a {}.”) or "imagenet80" (80 ImageNet prompts)'),
        Setting("proposals", lambda: gr.Slider(
            5, 120, value=cmp.VILD_MAX_PROPOSALS, step=5, label="ViLD: proposals embedded",
            info="Two crops each when embedded as crops; the ViLD tab's default is 60."),
            int, f"regions ViLD embeds (default {cmp.VILD_MAX_PROPOSALS})"),
        region_embedding_setting(),  # as the ViLD tab: pooled from the shared dense pass on a CPU
        Setting("score", lambda: gr.Slider(0.0, 1.0, value=0.9, step=0.05, label="ViLD: score threshold (demo: 0.9)"),
                float, "ViLD's score threshold (demo: 0.9)"),
        Setting("depth_side", lambda: gr.Slider(
            dc.MIN_SHORT_SIDE, dc.MAX_SHORT_SIDE, value=DEPTH_SHORT_SIDE, step=32,
            label="DepthCLIP: input height (paper: 416)",
            info=f"{DEPTH_SHORT_SIDE} here keeps a five-method board quick on a CPU; 416 is the paper's "
            "(and the DepthCLIP tab's) input."),
            int, f"DepthCLIP's input height in pixels (paper: 416; default here {DEPTH_SHORT_SIDE})"),
    ],
    strip=False,
    upgrade=upgrade_record,
)
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, dataclasses.replace(TAB, runs=runs_text()))
    with gr.Row():
        with gr.Column(scale=2):
            page.inputs("image", "labels")
            with gr.Accordion("Advanced", open=False):
                page.inputs("method", "templates", "proposals", "region_embedding", "score", "depth_side")
            run = gr.Button("Compare", variant="primary")
            page.examples(
                [
                    [skimage_photo("chelsea"), "cat, floor, wall"],
                    [skimage_photo("motorcycle_left"), "motorcycle, floor, wall"],
                    [skimage_photo("astronaut"), "person, flag, rocket, wall"],
                    [str(ASSETS / "detection_shapes.png"), "red square, blue circle, green triangle, yellow rectangle, paper"],
                ],
                ["image", "labels"],
                "Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
            )
            page.examples(world_examples("compare"), ["image", "labels"], WORLD_LABEL)
            page.limits()
        with gr.Column(scale=3):
            page.output("board", gr.Gallery(label="The board: the image, then one picture per method", columns=3,
                                            height="auto", object_fit="contain"))
            page.output("download", gr.File(label="The whole board as one PNG"))
            page.output("status", gr.Markdown())
            page.notes_and_record()
    page.replay_panel()
    gr.Markdown("### GroupViT vs LSeg — same image, same labels, same CLIP features")
    with gr.Row():
        page.output("lseg", gr.Image(label="LSeg: every pixel takes its best label", type="pil", format="png"))
        page.output("groupvit", gr.Image(label="GroupViT: groups first, then a name per group", type="pil", format="png"))
    with gr.Row():
        page.output("this_run", gr.Markdown())
        gr.Markdown(DIFFERENCES)

    page.run(run, compare, "run", concurrency_limit=1, gpu_seconds=60)  # several methods, one dense pass each


def compare(ctx, s, progress=quiet) -> Answer:
    """Run the five methods on one image and one label list; draw the board."""
    progress(0.0, desc="Loading the backbones")
    backbone = ctx.backbone(s.model)
    comparison = cmp.Compare(
        backbone, load_paper_backbone("depthclip", ctx.settings.device),
        dense_method=s.method, zeroshot_templates=s.templates,
        vild_max_proposals=int(s.proposals), vild_score_threshold=float(s.score),
        vild_region_embedding=s.region_embedding or "crops", depth_short_side=int(s.depth_side),
    )
    result = None
    for step in comparison.run(s.image, s.labels):
        if isinstance(step, cmp.Progress):
            progress(step.done / step.total, desc=step.message)
        else:
            result = step
    pictures = board.tiles(result)
    title = f"CLIP Lab compare: labels {', '.join(result.labels)} | {result.backbone} | DepthCLIP: {result.depth_backbone}"
    # the gallery is sent as WebP (Gradio's default, a fifteenth of the PNG bytes); the two views
    # below it stay lossless PNG
    lseg, groupvit = board.png_files([pictures[2][0], pictures[3][0]], ["lseg", "groupvit"])
    return Answer(
        {"board": pictures, "download": board.save(pictures, title), "status": status_text(result, backbone),
         "lseg": lseg, "groupvit": groupvit, "this_run": agreement_text(result)},
        notes=list(result.notes),
        scores=cmp.headline(result),
        weights=f"{result.backbone}; DepthCLIP: {result.depth_backbone}",
    )


def status_text(result: cmp.CompareResult, backbone) -> str:
    """What the methods shared, how long each took, and a warning for random weights."""
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
    return "\n\n".join(lines)


def agreement_text(result: cmp.CompareResult) -> str:
    """LSeg and GroupViT on this run: the share of pixels they label alike, and each label's shares."""
    agree = cmp.agreement(result.lseg, result.groupvit)
    table = "\n".join(f"| {name} | {a:.0%} | {b:.0%} |" for name, a, b in agree.per_label)
    return (
        f"**This run:** LSeg and GroupViT give the same label to **{agree.same:.0%}** of the pixels.\n\n"
        "| label | LSeg's share | GroupViT's share |\n|---|---|---|\n" + table + "\n\n"
        "LSeg has no background rule (name the background as a label); GroupViT calls a group background "
        f"when its best score is below min({result.groupvit.background_threshold:g}, the best group's score)."
    )
