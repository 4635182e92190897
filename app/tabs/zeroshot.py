"""Tab "CLIP zero-shot": image + labels → ranked probabilities and where each label is found."""

from __future__ import annotations

import gradio as gr

from app import render, runs
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, grid_picture, how_it_works, steps
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import dense
from components.media import MAX_LABELS, load_image, parse_labels
from components.zeroshot import DEFAULT_TEMPLATES, ZeroShotClassifier

TITLE = "CLIP zero-shot"
RESOLUTIONS = {"1× (one window)": 1.0, "1.5×": 1.5, "2× (sharper, slower)": 2.0}
TEMPLATE_LABELS = {"single": "one prompt: “a photo of a {}.”", "imagenet80": "80 ImageNet prompts (ensemble)"}


def short_side_for(backbone, factor: float) -> int:
    patch = dense.patch_size(backbone.model.visual)
    return max(backbone.image_size, round(backbone.image_size * factor / patch) * patch)


def build(ctx) -> None:
    method_header(
        "CLIP zero-shot classification",
        "Turn any list of words into a classifier: embed prompts for each label with CLIP's text "
        "tower and pick the label whose embedding is closest to the image's.",
        "Radford et al., *Learning Transferable Visual Models From Natural Language Supervision*, ICML 2021.",
        "faithful zero-shot CLIP (softmax of logit scale × cosine); the heat map scores CLIP's patch "
        "embeddings, made with a training-free dense method (NACLIP by default), against each label.",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            labels = gr.Textbox(
                "astronaut, cat, rocket, cup of coffee",
                label="Labels",
                info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}.",
                lines=2,
            )
            templates = gr.Radio(
                [(v, k) for k, v in TEMPLATE_LABELS.items()], value=DEFAULT_TEMPLATES, label="Prompts"
            )
            with gr.Accordion("Advanced", open=False):
                method = gr.Dropdown(
                    [(v, k) for k, v in dense.METHOD_LABELS.items()],
                    value=dense.DEFAULT_METHOD,
                    label="Dense method for the heat map",
                )
                resolution = gr.Radio(list(RESOLUTIONS), value="1× (one window)", label="Heat-map resolution")
            run = gr.Button("Classify", variant="primary")
            image_limits()
        with gr.Column():
            ranked = gr.Label(num_top_classes=5, label="Prediction")
            bars = gr.Plot(label="Probabilities")
            heat_label = gr.Dropdown([], label="Heat map for label", interactive=True)
            heat = gr.Image(label="Patch similarity (cosine)", type="pil", format="png")
            notes = gr.Markdown()
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [skimage_photo("astronaut"), "astronaut, cat, rocket, cup of coffee"],
            [skimage_photo("chelsea"), "cat, dog, tiger, fox"],
            [skimage_photo("coffee"), "cup of coffee, cup of tea, glass of water, bowl of soup"],
            [skimage_photo("rocket"), "rocket launch, airplane, lighthouse, factory chimney"],
        ],
        inputs=[image, labels],
        label=PHOTO_LABEL,
    )
    gr.Examples(world_examples("zeroshot"), inputs=[image, labels], label=WORLD_LABEL)

    @user_errors
    def classify(image_path, labels_text, template_name, method_name, resolution_name, model_choice):
        backbone = ctx.backbone(model_choice)
        loaded = load_image(image_path)
        label_list = parse_labels(labels_text, count_tokens=backbone.count_tokens)
        classifier = ZeroShotClassifier(
            backbone,
            templates=template_name,
            dense_method=method_name,
            short_side=short_side_for(backbone, RESOLUTIONS.get(resolution_name, 1.0)),
        )
        result = classifier(loaded.image, label_list.labels)
        ranking = result.ranking()
        top = ranking[0][0]
        note_lines = [*loaded.notes, *label_list.notes]
        heat_picture = heatmap_image(loaded.image, result, top)
        settings = dict(labels=labels_text, templates=template_name, method=method_name, resolution=resolution_name)
        return (
            render.label_dict(ranking),
            render.probability_bars(ranking),
            gr.Dropdown(choices=list(result.labels), value=top),
            heat_picture,
            "\n".join(f"- {n}" for n in note_lines),
            runs.write_record(
                "zeroshot",
                settings=settings,
                files={"image": image_path},
                model_choice=model_choice,
                weights=backbone.describe(),
                scores=dict(ranking),
            ),
            steps(
                (loaded.image, f"The image goes through CLIP's image tower once ({result.dense_method} for patches)"),
                (grid_picture(result.patch_similarity[result.labels.index(top)]), f"Each patch's cosine with “{top}”"),
                (bars_picture([l for l, _ in ranking], [p for _, p in ranking], "softmax(scale × cosine)", 1.0),
                 "Image embedding vs every label's prompt embedding → probabilities"),
                (heat_picture, f"Patch scores upsampled onto the image: where “{top}” is"),
            ),
            (loaded.image, result),
        )

    @user_errors
    def replay(record_path, image_path):
        saved = runs.read_record(record_path, "zeroshot")
        order = ["image", "labels", "templates", "method", "resolution"]
        return runs.replay(saved, {"image": image_path}, classify, order)

    @user_errors
    def show_heatmap(label, saved):
        if not saved or not label:
            return None
        image, result = saved
        if label not in result.labels:
            return None
        return heatmap_image(image, result, label)

    run.click(
        classify,
        [image, labels, templates, method, resolution, ctx.model_picker],
        [ranked, bars, heat_label, heat, notes, record, strip, state],
        api_name="zeroshot_classify",
    )
    replay_button.click(
        replay,
        [record_in, image_in],
        [ranked, bars, heat_label, heat, notes, record, strip, state],
        api_name="zeroshot_replay",
    )
    heat_label.input(show_heatmap, [heat_label, state], heat, api_name="zeroshot_heatmap")


def heatmap_image(image, result, label):
    return render.heatmap_overlay(image, result.heatmap(label), "cosine")
