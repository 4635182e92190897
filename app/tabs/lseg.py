"""Tab "LSeg": image + free-form labels → every pixel labelled, with the evidence behind it."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import grid_picture, steps
from app.render import segments
from app.scaffold import Answer, Page, Setting, Tab, image_setting, labels_setting, need_kept, quiet
from components import batch as zipped
from components import dense, features, lseg
from components.errors import InputError
from components.exports import folders, maps, tables
from components.media import MAX_LABELS, load_image, parse_labels

DISPLAY_SIDE = 1024  # long side of the segmentation overlay shown in the browser
RESOLUTIONS = [
    ("1× (one window)", "1x"),
    ("1.5×", "1.5x"),
    ("2× (sharper, slower)", "2x"),
    ("training-free papers (short side 1.5×: 336, 224 windows, stride 112)", "papers"),
    ("single pass (whole image, interpolated position embeddings, NACLIP)", "single"),
]
TEMPLATE_LABELS = {"raw": "raw label strings (as LSeg)", "imagenet80": "80 ImageNet prompts (training-free papers)"}
REGULARISERS = [("none", "none"), ("depthwise (smooth each label's map)", "depthwise"),
                ("bottleneck (smooth + max over labels)", "bottleneck")]
MAX_HEATMAPS = 16
EXPORT_LABEL = ("Label map: indexed PNG (pixel value = label index, 255 = background) "
                "+ legend JSON (index → label, colour)")
HEATMAP_SIDE = 384  # long side of the per-label heat maps
DEFAULT_LABELS = ", ".join(lseg.DEMO_LABELS)
MISSING_BATCH = "Upload a .zip of images first."
BATCH_USES = ["batch", "labels", "temperature", "threshold", "regulariser", "blocks", "templates", "method",
              "resolution"]
BATCH_OUTPUTS = ["batch_table", "batch_csv", "batch_maps", "batch_notes"]
OUTPUTS = ["overlay", "compare", "shares", "downloads", "heatmaps"]  # a run's and a re-score's (not the batch's)

TAB = Tab(
    key="lseg",
    title="LSeg",
    name="LSeg — language-driven semantic segmentation",
    idea="Embed every pixel and every label in one space; each pixel takes the label whose embedding "
    "is closest (softmax of temperature × cosine, argmax).",
    paper="Li, Weinberger, Belongie, Koltun, Ranftl, *Language-driven Semantic Segmentation*, ICLR 2022.",
    runs="a CLIP-backed, training-free version of LSeg's inference: the per-pixel embeddings are the "
    "shared CLIP's own patch embeddings made dense (NACLIP by default), not LSeg's trained DPT "
    "decoder; the spatial regulariser uses a fixed smoothing kernel instead of a trained one.",
    settings=[
        image_setting(),
        labels_setting(DEFAULT_LABELS,
                       f"Raw label strings separated by commas; “other” catches the rest. Up to {MAX_LABELS}.",
                       "raw label strings, comma-separated (“other” catches the rest)"),
        Setting("temperature", lambda: gr.Slider(
            1.0, 100.0, value=round(lseg.LOGIT_SCALE, 2), step=0.01, label="Temperature (logit scale)",
            info="Scores = softmax(temperature × cosine). Default LSeg's 1/0.07 ≈ 14.29; "
            "the training-free papers use 40–50. The argmax does not depend on it."),
            float, "temperature (logit scale; LSeg: 1/0.07 ≈ 14.29)", rescore=True),
        Setting("threshold", lambda: gr.Slider(
            0.0, 0.99, value=lseg.BACKGROUND_THRESHOLD, step=0.01, label="Background threshold",
            info="A pixel whose winning probability is below this is background. 0 = off "
            "(LSeg relies on an “other” label); the training-free papers use ≈ 0.1."),
            float, "background threshold on the winning probability (0 = off, as LSeg)", rescore=True),
        Setting("regulariser", lambda: gr.Radio(REGULARISERS, value="none",
                                                label="Spatial regulariser (LSeg's head blocks, fixed 3×3 kernel)"),
                str, '"none", "depthwise" or "bottleneck"', rescore=True),
        Setting("blocks", lambda: gr.Slider(1, 4, value=lseg.BLOCK_DEPTH, step=1, label="Regulariser blocks"),
                int, "regulariser blocks (1–4)", rescore=True),
        Setting("templates", lambda: gr.Radio([(v, k) for k, v in TEMPLATE_LABELS.items()], value=lseg.TEMPLATES,
                                              label="Prompts"),
                str, '"raw" (the label strings, as LSeg) or "imagenet80" (80 ImageNet prompts)'),
        Setting("method", lambda: gr.Dropdown([(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                                              label="Dense method (how CLIP's patch embeddings are made)"),
                str, "dense method (naclip, clearclip, sclip, maskclip, vanilla)"),
        Setting("resolution", lambda: gr.Radio(
            RESOLUTIONS, value=lseg.RESOLUTION, label="Dense resolution",
            info="Sliding model-sized windows at half-window stride (the default), the "
            "training-free papers' 336 setting, or one pass over the whole image."),
            str, '"1x", "1.5x", "2x" (windows), "papers" (short side 336, 224 windows) or "single" (one pass)',
            legacy={label: value for label, value in RESOLUTIONS}),
        Setting("batch", lambda: gr.File(file_types=[".zip"], label=f"A .zip of up to {zipped.MAX_IMAGES} images"),
                str, f"path of a .zip of up to {zipped.MAX_IMAGES} images, each segmented with the labels and "
                "settings above", file=True, required=MISSING_BATCH),
    ],
)
SEGMENT_USES = [s.name for s in TAB.settings if s.name != "batch"]
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "labels")
            with gr.Accordion("Advanced", open=False):
                temperature, threshold, regulariser, blocks = page.inputs("temperature", "threshold", "regulariser",
                                                                           "blocks")
                page.inputs("templates", "method", "resolution")
            run = gr.Button("Segment", variant="primary")
            page.limits()
            gr.Markdown(
                "<small>Temperature, threshold and regulariser re-score the stored patch scores "
                "without running CLIP again.</small>"
            )
        with gr.Column():
            page.output("overlay", gr.AnnotatedImage(label="Segmentation (hover the legend)", format="jpeg"))
            page.output("compare", gr.ImageSlider(
                label="Overlay (labels written on their regions) | photo: drag the handle", type="pil",
                format="jpeg", interactive=False))
            page.output("shares", gr.Dataframe(
                headers=["label", "share of image (%)"], datatype=["str", "number"],
                label="Share of the image", interactive=False,
            ))
            page.output("downloads", gr.File(label=EXPORT_LABEL, file_count="multiple", interactive=False))
            page.output("heatmaps", gr.Gallery(label="Probability of each label (viridis: dark 0, yellow 1)",
                                               columns=3, height="auto", format="jpeg"))
            page.notes_and_record()
    build_batch(page)
    page.strip()
    page.replay_panel(files=["image"])
    page.examples(
        [
            [skimage_photo("astronaut"), "astronaut, flag, sky, other"],
            [skimage_photo("chelsea"), DEFAULT_LABELS],
            [skimage_photo("coffee"), "cup, saucer, spoon, table, other"],
            [skimage_photo("rocket"), "rocket, smoke, sky, tree, other"],
        ],
        ["image", "labels"],
        PHOTO_LABEL,
    )
    page.examples(world_examples("lseg"), ["image", "labels"], WORLD_LABEL)

    page.run(run, segment, "segment", uses=SEGMENT_USES, outputs=OUTPUTS)
    page.rescore([temperature, threshold, blocks, (regulariser, "input")], rescore, "rescore",
                 uses=["temperature", "threshold", "regulariser", "blocks"], outputs=OUTPUTS)


def build_batch(page: Page) -> None:
    """The "Batch (zip)" part: every image of a zip through the same LSeg and settings."""
    with gr.Accordion(f"Batch (zip): up to {zipped.MAX_IMAGES} images with these labels and settings", open=False):
        with gr.Row():
            with gr.Column():
                page.input("batch")
                button = gr.Button("Segment every image in the zip")
                gr.Markdown(f"<small>{zipped.limits_text()} Each label keeps one colour across the batch.</small>")
            with gr.Column():
                page.output("batch_table", gr.Dataframe(label="Each image: share of its pixels per label (%)",
                                                        interactive=False))
                page.output("batch_csv", gr.File(label="The shares (CSV)", interactive=False))
                page.output("batch_maps", gr.File(label="Label maps (zip): an indexed PNG + legend JSON per image",
                                                  interactive=False))
                page.output("batch_notes", gr.Markdown())
    page.action(button, segment_batch, "batch", uses=BATCH_USES, outputs=BATCH_OUTPUTS, long_job="batch",
                gpu_seconds=lambda s: 15 + 2 * zipped.images_named(s.batch))  # ~2 s an image


def _model(backbone, s) -> lseg.LSeg:
    """The LSeg of the tab's settings: one for a run or a batch."""
    return lseg.LSeg(backbone, logit_scale=s.temperature, background_threshold=s.threshold, regulariser=s.regulariser,
                     block_depth=int(s.blocks), dense_method=s.method, templates=s.templates,
                     **lseg.dense_input(backbone, s.resolution))


def segment(ctx, s, progress=quiet) -> Answer:
    """Label every pixel with the label whose embedding is closest."""
    progress(0.0, desc="Loading the model")
    backbone = ctx.backbone(s.model)
    loaded = load_image(s.image)
    label_list = parse_labels(s.labels, count_tokens=backbone.count_tokens)
    model = _model(backbone, s)
    progress(0.2, desc="Embedding patches and labels")
    embedded = features.CACHE.embed(model, loaded.image, label_list.labels)  # pay once
    result = model(embedded)
    progress(0.9, desc="Drawing")
    extra = [*loaded.notes, *label_list.notes, f"Backbone: {backbone.describe()}; dense method: {result.dense_method}."]
    answer = outputs(loaded.image, result, extra)
    answer.scores, answer.weights, answer.keep = run_scores(result), backbone.describe(), (loaded.image, embedded, extra)
    return answer


def rescore(ctx, s, kept) -> Answer:
    """Re-score the kept patch cosines with a new temperature, threshold or regulariser (no forward)."""
    image, embedded, extra = need_kept(
        kept, "Segment an image first; then the temperature, threshold and regulariser re-score it.")
    scorer = lseg.LSeg(None, logit_scale=s.temperature, background_threshold=s.threshold, regulariser=s.regulariser,
                       block_depth=int(s.blocks))
    answer = outputs(image, scorer(embedded), extra)
    answer.keep = (image, embedded, extra)
    return answer


def outputs(image, result, extra) -> Answer:
    names = list(result.labels)
    overlay, colours = segments.annotated(image, result.label_map, names, DISPLAY_SIDE)
    order = sorted(range(len(names)), key=lambda i: -result.shares[i])[:MAX_HEATMAPS]
    small = render.thumbnail(image, HEATMAP_SIDE)
    probs = result.probability_maps((small.size[1], small.size[0]))
    gallery = [
        (render.overlay(small, probs[i], vmin=0.0, vmax=1.0, cmap="viridis"),
         f"{names[i]} — {100 * result.shares[i]:.1f}% of pixels")
        for i in order
    ]
    lines = list(extra)
    if len(names) > MAX_HEATMAPS:
        lines.append(f"Heat maps shown for the {MAX_HEATMAPS} labels with the most pixels.")
    lines.append(
        f"Temperature {result.logit_scale:.2f}; background threshold "
        f"{result.background_threshold:.2f}{' (off)' if result.background_threshold == 0 else ''}; "
        f"regulariser {result.regulariser}"
        + (f" × {result.block_depth}" if result.regulariser != "none" else "")
        + "."
    )
    return Answer(
        {
            "overlay": gr.update(value=overlay, color_map=colours),
            "compare": segments.labelled_overlay(image, result.label_map, names, colours, DISPLAY_SIDE),
            "shares": [[label, round(100 * share, 2)] for label, share in result.table()],
            "downloads": export_files(result, names, colours),
            "heatmaps": gallery,
        },
        notes=lines,
        steps=pipeline_steps(small, result, names, order, gallery, overlay[1]),
    )


def segment_batch(ctx, s, progress=quiet) -> Answer:
    """Segment every image of the zip with the labels and settings of a single run: each label's
    share of each image's pixels as a table and a CSV, and a zip of the label maps (an indexed PNG
    and its legend JSON per image, each label one colour throughout), sent to this visitor only."""
    if not s.batch:
        raise InputError(MISSING_BATCH)
    backbone = ctx.backbone(s.model)
    label_list = parse_labels(s.labels, count_tokens=backbone.count_tokens)
    model, names = _model(backbone, s), list(label_list.labels)
    colours, folder = segments.legend_colours(names, {}), folders.answer_folder("lseg-batch")
    rows, header = [], ["file", *names]
    with zipped.ZipBatch(s.batch) as batch:
        for n, item in enumerate(batch.images()):
            progress((n, batch.count), desc=f"Segmenting {item.name}")
            result = model(item.loaded.image, label_list.labels)
            maps.write_label_map(result.label_map, names, colours, folder, item.stem,
                                 source=f"CLIP Lab LSeg tab, batch: {item.name} ({result.dense_method} dense CLIP)")
            table = result.table()
            header = ["file", *(label for label, _ in table)]
            rows.append([item.name, *(100 * share for _, share in table)])
        skipped = [f"Skipped {k.reason}." for k in batch.skipped]
    label_maps = zipped.zip_folder(folder, folders.answer_file("lseg-batch", "lseg-label-maps.zip"))
    notes = [f"{len(rows)} image(s) of {batch.name} segmented over {len(names)} labels; shares in % of each "
             "image's pixels.", *label_list.notes, *skipped]
    return Answer({"batch_table": {"headers": header, "data": [[r[0], *(round(v, 2) for v in r[1:])] for r in rows]},
                   "batch_csv": tables.save(tables.table([h if h == "file" else f"{h} (%)" for h in header], rows),
                                            "lseg-batch"),
                   "batch_maps": label_maps, "batch_notes": "\n".join(f"- {n}" for n in notes)})


def export_files(result, names, colours) -> list[str]:
    """The label map at the image's own size as an indexed PNG and its legend, in the overlay's colours."""
    files = maps.write_label_map(result.label_map, names, segments.legend_colours(names, colours),
                                 folders.answer_folder("lseg"), "lseg-labels",
                                 source=f"CLIP Lab LSeg tab ({result.dense_method} dense CLIP)")
    return files.paths


def pipeline_steps(small, result, names, order, gallery, annotations):
    """The "How it works" steps, drawn from this run's own arrays and pictures: the patch grid, one
    label's cosines, that label's probability (the heat-map gallery's first picture) and the label map
    in the overlay's legend colours."""
    top = order[0]
    h, w = result.cosine.shape[1:]
    regulariser = "" if result.regulariser == "none" else f", smoothed by the {result.regulariser} regulariser"
    background = (
        f"; grey = no label reaches {result.background_threshold:.2f}" if result.background_threshold > 0 else ""
    )
    return steps(
        (small, f"CLIP's image tower embeds every patch ({result.dense_method}): a {h}×{w} grid of embeddings"),
        (grid_picture(result.cosine[top]), f"Cosine of each patch with the text embedding of “{names[top]}”"),
        (gallery[0][0], f"softmax({result.logit_scale:.1f} × cosine) over the labels{regulariser}: "
         f"probability of “{names[top]}”, upsampled"),
        (segments.in_legend_colours(result.label_map, names, annotations, small),
         f"Each pixel takes its most probable label{background}"),
    )


def run_scores(result) -> dict:
    """The main numbers of a run for its record: each label's share of the pixels."""
    shares = {label: round(share, 6) for label, share in result.table()}
    return {"shares": shares, "grid": list(result.cosine.shape[1:])}
