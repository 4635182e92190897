"""Tab "CLIP zero-shot": image + labels → ranked probabilities and where each label is found; and the
image against a few reference images (which of these pictures is it most like?)."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, grid_picture, steps
from app.scaffold import Answer, Page, Setting, Tab, image_setting, labels_setting, need_kept, quiet
from components import batch as zipped
from components import dense
from components.errors import InputError
from components.exports import tables
from components.media import MAX_LABELS, load_image, parse_labels
from components.zeroshot import DEFAULT_TEMPLATES, MAX_REFERENCES, ZeroShotClassifier, compare_references, scaled_short_side

RESOLUTIONS = [("1× (one window)", 1.0), ("1.5×", 1.5), ("2× (sharper, slower)", 2.0)]
TEMPLATE_LABELS = {"single": "one prompt: “a photo of a {}.”", "imagenet80": "80 ImageNet prompts (ensemble)"}
DEFAULT_LABELS = "astronaut, cat, rocket, cup of coffee"
MISSING_REFERENCES = f"Upload 1 to {MAX_REFERENCES} reference images to compare the image with."
REFERENCE_HEADERS = ["reference image", "cosine", "softmax(scale × cosine)"]
CLASSIFY_OUTPUTS = ["ranked", "bars", "heat_label", "heat"]
REFERENCE_OUTPUTS = ["ref_ranked", "ref_table"]
BATCH_HEADERS = ["file", "top label", "probability", "top 3"]
BATCH_OUTPUTS = ["batch_table", "batch_csv", "batch_notes"]
BATCH_USES = ["batch", "labels", "templates", "method", "resolution"]
MISSING_BATCH = "Upload a .zip of images first."

TAB = Tab(
    key="zeroshot",
    title="CLIP zero-shot",
    name="CLIP zero-shot classification",
    idea="Turn any list of words into a classifier: embed prompts for each label with CLIP's text "
    "tower and pick the label whose embedding is closest to the image's.",
    paper="Radford et al., *Learning Transferable Visual Models From Natural Language Supervision*, ICML 2021.",
    runs="faithful zero-shot CLIP (softmax of logit scale × cosine); the heat map scores CLIP's patch "
    "embeddings, made with a training-free dense method (NACLIP by default), against each label.",
    settings=[
        image_setting(),
        labels_setting(DEFAULT_LABELS, f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}.",
                       "labels, separated by commas, semicolons or new lines"),
        Setting("templates", lambda: gr.Radio([(v, k) for k, v in TEMPLATE_LABELS.items()], value=DEFAULT_TEMPLATES,
                                              label="Prompts"),
                str, '"single" (“a photo of a {}.”) or "imagenet80" (CLIP\'s 80-prompt ensemble)'),
        Setting("method", lambda: gr.Dropdown([(v, k) for k, v in dense.METHOD_LABELS.items()], value=dense.DEFAULT_METHOD,
                                              label="Dense method for the heat map"),
                str, "dense method of the heat map (naclip, clearclip, sclip, maskclip, vanilla)"),
        Setting("resolution", lambda: gr.Radio(RESOLUTIONS, value=1.0, label="Heat-map resolution"), float,
                "heat-map short side as a multiple of the model's input: 1.0 (one window), 1.5 or 2.0",
                legacy={label: value for label, value in RESOLUTIONS}),
        Setting("heat_label", lambda: gr.Dropdown([], label="Heat map for label", interactive=True), str,
                "the label whose heat map to show (one of the last run's labels)", rescore=True),
        Setting("references", lambda: gr.File(file_count="multiple", file_types=["image"],
                                              label=f"Reference images (1 to {MAX_REFERENCES})"),
                list[str], f"paths of 1 to {MAX_REFERENCES} reference images to compare the image with",
                file=True, recorded_as="reference", required=MISSING_REFERENCES),
        Setting("batch", lambda: gr.File(file_types=[".zip"], label=f"A .zip of up to {zipped.MAX_IMAGES} images"),
                str, f"path of a .zip of up to {zipped.MAX_IMAGES} images, each classified with the labels, prompts "
                "and dense settings above", file=True, required=MISSING_BATCH),
    ],
)
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "labels", "templates")
            with gr.Accordion("Advanced", open=False):
                page.inputs("method", "resolution")
            run = gr.Button("Classify", variant="primary")
            with gr.Accordion(f"Compare with reference images (up to {MAX_REFERENCES})", open=False):
                gr.Markdown("<small>Which of these pictures is the image most like? Each reference is embedded by "
                            "CLIP's image tower, and scored as a label is: cosine with the image, then softmax of "
                            f"the logit scale × cosine over the references. 1 to {MAX_REFERENCES} images, each "
                            "under the limits below.</small>")
                page.input("references")
                compare = gr.Button("Compare with the references")
            page.limits()
        with gr.Column():
            page.output("ranked", gr.Label(num_top_classes=5, label="Prediction"))
            page.output("bars", gr.Plot(label="Probabilities"))
            heat_label = page.output("heat_label", page.input("heat_label"))
            page.output("heat", gr.Image(label="Patch similarity (cosine)", type="pil", format="png"))
            page.output("ref_ranked", gr.Label(num_top_classes=MAX_REFERENCES, label="Most like (reference images)"))
            page.output("ref_table", gr.Dataframe(headers=REFERENCE_HEADERS, label="The image against each reference",
                                                  interactive=False))
            page.notes_and_record()
    build_batch(page)
    page.strip()
    page.replay_panel(files=["image"])
    page.run(run, classify, "classify", uses=["image", "labels", "templates", "method", "resolution"],
             outputs=CLASSIFY_OUTPUTS)
    compared = page.panel()  # the comparison's own replay panel; the same notes, record and strip
    compared.notes, compared.record, compared.strip_gallery = page.notes, page.record, page.strip_gallery
    compared.replay_panel(files=["image", "references"], title="Reproduce a comparison with reference images")
    compared.run(compare, references, "references", uses=["image", "references"], outputs=REFERENCE_OUTPUTS,
                 record_as="zeroshot_references")
    page.examples(
        [
            [skimage_photo("astronaut"), DEFAULT_LABELS],
            [skimage_photo("chelsea"), "cat, dog, tiger, fox"],
            [skimage_photo("coffee"), "cup of coffee, cup of tea, glass of water, bowl of soup"],
            [skimage_photo("rocket"), "rocket launch, airplane, lighthouse, factory chimney"],
        ],
        ["image", "labels"],
        PHOTO_LABEL,
    )
    page.examples(world_examples("zeroshot"), ["image", "labels"], WORLD_LABEL)

    page.rescore([heat_label], heatmap, "heatmap", uses=["heat_label"], outputs=["heat"], event="input")


def build_batch(page: Page) -> None:
    """The "Batch (zip)" part: every image of a zip through the same classifier and settings."""
    with gr.Accordion(f"Batch (zip): up to {zipped.MAX_IMAGES} images with these labels and settings", open=False):
        with gr.Row():
            with gr.Column():
                page.input("batch")
                button = gr.Button("Classify every image in the zip")
                gr.Markdown(f"<small>{zipped.limits_text()}</small>")
            with gr.Column():
                page.output("batch_table", gr.Dataframe(headers=BATCH_HEADERS, label="Each image's answer",
                                                        interactive=False))
                page.output("batch_csv", gr.File(label="The answers (CSV)", interactive=False))
                page.output("batch_notes", gr.Markdown())
    page.action(button, classify_batch, "batch", uses=BATCH_USES, outputs=BATCH_OUTPUTS, long_job="batch",
                gpu_seconds=lambda s: 15 + zipped.images_named(s.batch))  # ~1 s an image


def _classifier(backbone, s) -> ZeroShotClassifier:
    """The classifier of the tab's settings (prompts, dense method, resolution): one for a run or a batch."""
    return ZeroShotClassifier(backbone, templates=s.templates, dense_method=s.method,
                              short_side=scaled_short_side(backbone, s.resolution))


def classify(ctx, s, progress=quiet) -> Answer:
    """Rank the labels for the image and show where the top one is."""
    backbone = ctx.backbone(s.model)
    loaded = load_image(s.image)
    label_list = parse_labels(s.labels, count_tokens=backbone.count_tokens)
    result = _classifier(backbone, s)(loaded.image, label_list.labels)
    ranking = result.ranking()
    top = ranking[0][0]
    heat_picture = heatmap_image(loaded.image, result, top)
    return Answer(
        {
            "ranked": render.label_dict(ranking),
            "bars": render.probability_bars(ranking),
            "heat_label": gr.Dropdown(choices=list(result.labels), value=top),
            "heat": heat_picture,
        },
        notes=[*loaded.notes, *label_list.notes],
        steps=pipeline_steps(loaded.image, result, ranking, heat_picture),
        scores=dict(ranking),
        weights=backbone.describe(),
        keep=(loaded.image, result),
    )


def references(ctx, s, progress=quiet) -> Answer:
    """The image against each reference image: cosine and softmax(scale × cosine) over them."""
    paths = [getattr(p, "name", p) for p in (s.references or [])]
    if not paths:
        raise InputError(MISSING_REFERENCES)
    if len(paths) > MAX_REFERENCES:  # before decoding any of them
        raise InputError(f"You gave {len(paths)} reference images; the limit is {MAX_REFERENCES}. Keep the few that matter.")
    backbone = ctx.backbone(s.model)
    loaded = load_image(s.image)
    given = [load_image(p) for p in paths]  # each decoded and checked as the image is; the message names the file
    names = _distinct([r.name for r in given])
    progress(0.3, desc="Embedding the image and the references")
    result = compare_references(backbone, loaded.image, [r.image for r in given], names)
    ranking = result.ranking()
    order = {name: i for i, name in enumerate(result.names)}
    rows = [[name, round(float(result.similarity[order[name]]), 4), round(p, 4)] for name, p in ranking]
    notes = [f"**Most like {ranking[0][0]}** (cosine {result.similarity[order[ranking[0][0]]]:.3f}) of "
             f"{len(names)} reference image(s); softmax over them with the logit scale {result.logit_scale:.0f}.",
             *loaded.notes, *(n for r in given for n in r.notes)]
    return Answer({"ref_ranked": render.label_dict(ranking), "ref_table": rows}, notes=notes,
                  scores={"references": {name: round(float(result.similarity[order[name]]), 6) for name, _ in ranking}},
                  weights=backbone.describe())


def classify_batch(ctx, s, progress=quiet) -> Answer:
    """Classify every image of the zip with the labels and settings of a single run: each image's
    top label, its probability and the top 3, as a table and a CSV (sent to this visitor only)."""
    if not s.batch:
        raise InputError(MISSING_BATCH)
    backbone = ctx.backbone(s.model)
    label_list = parse_labels(s.labels, count_tokens=backbone.count_tokens)
    classifier = _classifier(backbone, s)
    answers = []
    with zipped.ZipBatch(s.batch) as batch:
        for n, item in enumerate(batch.images()):
            progress((n, batch.count), desc=f"Classifying {item.name}")
            answers.append((item.name, classifier(item.loaded.image, label_list.labels).ranking()))
        skipped = [f"Skipped {k.reason}." for k in batch.skipped]
    rows = [[name, ranking[0][0], ranking[0][1], top_three(ranking)] for name, ranking in answers]
    notes = [f"{len(rows)} image(s) of {batch.name} classified over {len(label_list.labels)} labels "
             f"({TEMPLATE_LABELS.get(s.templates, s.templates)}).", *label_list.notes, *skipped]
    return Answer({"batch_table": [[n, top, round(p, 4), three] for n, top, p, three in rows],
                   "batch_csv": tables.save(tables.table(BATCH_HEADERS, rows), "zeroshot-batch"),
                   "batch_notes": "\n".join(f"- {n}" for n in notes)})


def top_three(ranking) -> str:
    return "; ".join(f"{label} {p:.3f}" for label, p in ranking[:3])


def _distinct(names: list[str]) -> list[str]:
    """The names, a repeated one numbered ("a.png", "a.png (2)") so each row and record entry is its own."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def heatmap(ctx, s, kept) -> Answer:
    """The kept run's heat map for another of its labels (no forward)."""
    image, result = need_kept(kept, "Classify an image first; then pick one of its labels to see its heat map.")
    if not s.heat_label or s.heat_label not in result.labels:
        return Answer({"heat": None})
    return Answer({"heat": heatmap_image(image, result, s.heat_label)})


def heatmap_image(image, result, label):
    return render.heatmap_overlay(image, result.heatmap(label), "cosine")


def pipeline_steps(image, result, ranking, heat_picture):
    """The "How it works" steps, from this run's own arrays and pictures: the image, the top label's
    patch cosines, the probabilities, and the heat map shown above."""
    top = ranking[0][0]
    return steps(
        (image, f"The image goes through CLIP's image tower once ({result.dense_method} for patches)"),
        (grid_picture(result.patch_similarity[result.labels.index(top)]), f"Each patch's cosine with “{top}”"),
        (bars_picture([l for l, _ in ranking], [p for _, p in ranking], "softmax(scale × cosine)", 1.0),
         "Image embedding vs every label's prompt embedding → probabilities"),
        (heat_picture, f"Patch scores upsampled onto the image: where “{top}” is"),
    )
