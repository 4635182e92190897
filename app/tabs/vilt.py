"""Tab "ViLT": image + question → top-5 answers, where each word (or answer) sits in the image, and
a measured "why ViLT is fast" panel (linear patches vs a CNN grid vs CLIP's image tower)."""

from __future__ import annotations

import gradio as gr

from app import render
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, steps, text_picture
from app.render import vqa as pictures
from app.scaffold import Answer, Page, Setting, Tab, image_setting, need_kept, quiet
from components import features, vilt
from components.backbone import load_official_engine
from components.media import MAX_LABELS, load_image, parse_labels

ENGINES = {
    "clip": "CLIP: rank answers by image–prompt similarity (always available)",
    "vilt": f"ViLT: official weights {vilt.VQA_CHECKPOINT} (only if in the Hugging Face cache)",
}
CANDIDATE_MODES = {
    "shipped": "shipped list (the group that fits the question)",
    "own": "my own candidates",
}
STYLE_LABELS = {
    "statement": "question → statement (“the ball is red.”)",
    "qa": "“question: … answer: …”",
}
ALIGNMENT_LABELS = {
    "attention": "attention of each word to the patches",
    "ipot": "optimal transport (IPOT), as the official demo",
}
GRID_LABELS = {384: "384 short side (ViLT's input)", 800: "800 short side (Pixel-BERT's input)"}


def _radio(choices: dict, value, label: str, **kwargs) -> gr.Radio:
    return gr.Radio([(v, k) for k, v in choices.items()], value=value, label=label, **kwargs)


def _engine_radio() -> gr.Radio:
    cached = vilt.vilt_weights_cached()
    return _radio(ENGINES, "clip", "Engine", info=(
        "ViLT's weights are in this machine's Hugging Face cache."
        if cached
        else "ViLT's weights are NOT in this machine's Hugging Face cache: picking ViLT answers with CLIP and says so."
    ))


TAB = Tab(
    key="vilt",
    title="ViLT",
    name="ViLT — vision-and-language transformer without convolution or region supervision",
    idea="One transformer reads the question's words and the image's 32×32 patches together; each "
    "patch becomes a token through a single linear projection, so embedding the image is almost free.",
    paper="Kim, Son, Kim, *ViLT: Vision-and-Language Transformer Without Convolution or Region "
    "Supervision*, ICML 2021.",
    runs="two engines. By default (and whenever ViLT's weights are missing) a CLIP-backed version of the "
    "task: CLIP ranks candidate answers by how well a statement built from the question and the "
    "answer matches the image. On request, the official ViLT VQA model (transformers), only if its "
    "weights are already in the Hugging Face cache: nothing is downloaded. The timing "
    "panel runs ViLT's patch projection, a ResNet-50 grid and CLIP's tower here, with random "
    "weights (speed does not depend on them).",
    settings=[
        image_setting(),
        Setting("question", lambda: gr.Textbox(
            "What animal is this?", label="Question",
            info=f"One short question, up to {vilt.MAX_QUESTION_CHARS} characters (ViLT reads ≤ 38 word pieces)."),
            str, "one short question about the image"),
        Setting("engine", _engine_radio, str, '"clip" (always available) or "vilt" (official weights, if cached)'),
        Setting("mode", lambda: _radio(CANDIDATE_MODES, "shipped", "Candidate answers (CLIP engine)"), str,
                '"shipped" (the answer group that fits the question) or "own" (the candidates below)'),
        Setting("candidates", lambda: gr.Textbox(
            "", label="Your candidates", lines=2,
            info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}. Used with “my own candidates”."),
            str, "your candidate answers, separated by commas, semicolons or new lines"),
        Setting("style", lambda: _radio(
            STYLE_LABELS, "statement", "CLIP prompt",
            info="CLIP learned from captions, which state things; so the question is rewritten as a "
            "statement with the answer in it. “question: … answer: …” is the literal alternative."),
            str, '"statement" (the question rewritten with the answer) or "qa"'),
        Setting("k", lambda: gr.Slider(1, 10, value=vilt.TOP_K, step=1, label="Answers shown (top-k)"), int,
                "answers shown (top-k)"),
        Setting("alignment", lambda: _radio(ALIGNMENT_LABELS, "attention", "ViLT word–patch alignment"), str,
                '"attention" or "ipot" (ViLT engine)'),
        Setting("layers", lambda: gr.Radio(list(vilt.ATTENTION_LAYERS), value="all", label="Attention layers (averaged)"),
                str, '"all" or "last" attention layers, averaged (ViLT engine)'),
        Setting("heat_key", lambda: gr.Dropdown([], label="Heat map for", interactive=True), str,
                "the word or answer whose map to show (one of the last run's)", rescore=True),
        Setting("grid_side", lambda: _radio(GRID_LABELS, 384, "Grid backbone input"), int,
                "short side of the grid backbone's input: 384 (ViLT) or 800 (Pixel-BERT)"),
        Setting("runs", lambda: gr.Slider(1, 10, value=3, step=1, label="Timing runs (median)"), int,
                "timing runs (the median is shown)"),
    ],
)
TITLE = TAB.title
ANSWER = ["image", "question", "engine", "mode", "candidates", "style", "k", "alignment", "layers"]


def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "question", "engine", "mode", "candidates")
            with gr.Accordion("Advanced", open=False):
                page.inputs("style", "k", "alignment", "layers", "grid_side", "runs")
            with gr.Row():
                ask = gr.Button("Answer", variant="primary")
                time_it = gr.Button("Why ViLT is fast: time it on this image")
            page.limits()
        with gr.Column():
            page.output("answers", gr.Label(num_top_classes=10, label="Answers"))
            page.output("heat_key", page.input("heat_key"))
            page.output("heat", gr.Image(label="Where it looks", type="pil", format="png"))
            page.notes = gr.Markdown()
            page.output("evidence", gr.Dataframe(headers=["answer", "score", "prompt"], label="Evidence", wrap=True))
            page.record = gr.File(label="Run record (JSON): settings, image hash, weights, answers")
            page.output("timing_plot", gr.Plot(label="Visual embedding: measured here vs quoted in the paper (log scale)"))
            page.output("timing_notes", gr.Markdown())
    page.strip()
    page.replay_panel()
    page.examples(
        [
            [skimage_photo("chelsea"), "What animal is this?"],
            [skimage_photo("astronaut"), "What colour is the suit?"],
            [skimage_photo("coffee"), "What drink is this?"],
            [skimage_photo("rocket"), "What vehicle is this?"],
            [skimage_photo("motorcycle_left"), "How many wheels are there?"],
        ],
        ["image", "question"],
        PHOTO_LABEL,
    )
    page.examples(world_examples("vilt"), ["image", "question", "mode", "candidates", "style"], WORLD_LABEL)

    page.run(ask, answer, "answer", uses=ANSWER,
             outputs=["answers", "heat_key", "heat", "notes", "evidence", "record", "strip"])
    page.rescore([(page.components["heat_key"], "input")], show_heatmap, "heatmap", uses=["heat_key"],
                 outputs=["heat", "notes"])
    page.action(time_it, timing, "timing", uses=["image", "grid_side", "runs"], outputs=["timing_plot", "timing_notes"],
                concurrency_limit=1)  # timings are only meaningful one at a time


def answer(ctx, s, progress=quiet) -> Answer:
    """Answer the question with the chosen engine; the CLIP engine reuses the image's features when
    the image and model were embedded before (components.features)."""
    loaded = load_image(s.image)
    vilt.check_question(s.question)
    notes = list(loaded.notes)
    official, missing = load_official_engine("vilt", ctx.settings.device) if s.engine == "vilt" else (None, "")
    if official is not None:
        progress(0.1, desc="ViLT: one forward of question and patches")
        engine = official.with_settings(top_k=int(s.k), alignment=s.alignment, attention_layers=s.layers)
        return outputs(engine(loaded.image, s.question), loaded.image, notes, {})
    notes[:0] = [missing] if missing else []
    progress(0.1, desc="CLIP: embedding the image and the prompts")
    backbone = ctx.backbone(s.model)
    own = None
    if s.mode == "own":
        parsed = parse_labels(s.candidates, count_tokens=backbone.count_tokens)
        own = list(parsed.labels)
        notes += parsed.notes
    engine = vilt.ClipVQA(backbone, top_k=int(s.k), prompt_style=s.style)
    embedded = features.CACHE.embed(engine, loaded.image)  # pay once, ask many questions
    return outputs(engine(embedded, s.question, own), loaded.image, notes, {"features": embedded})


def outputs(result: vilt.VQAResult, image, notes: list[str], cache: dict) -> Answer:
    if result.engine == "clip":
        notes.append(
            f"CLIP engine on **{result.model}**; question form: *{result.question_type}*; "
            f"{len(result.candidates)} candidates ({result.answer_group}); scores are a softmax over them."
        )
        index = {c: i for i, c in enumerate(result.candidates)}
        rows = [[a, round(float(p), 4), result.prompts[index[a]]] for a, p in result.ranking()]
    else:
        notes.append(f"**{result.model}**; scores are ViLT's sigmoid per answer (they need not sum to 1).")
        rows = [[a, round(float(p), 4), "(ViLT's VQA head)"] for a, p in result.ranking()]
    first = result.heat_keys[0]
    heat = pictures.answer_heatmap(image, result, first)
    return Answer(
        {"answers": render.label_dict(result.ranking()),
         "heat_key": gr.Dropdown(choices=list(result.heat_keys), value=first, label=f"Heat map for ({result.heat_kind})"),
         "heat": heat, "evidence": rows},
        notes=[*notes, *result.notes],
        steps=pipeline_steps(image, result, heat),
        scores=dict(engine=result.engine, answers=dict(result.ranking())),
        weights=result.model,
        keep={**cache, "image": image, "result": result},
    )


def show_heatmap(ctx, s, kept) -> Answer:
    """The kept run's map for another word or answer (no forward)."""
    kept = need_kept(kept, "Answer a question first; then pick a word or answer to see its map.")
    if "result" not in kept or s.heat_key not in kept["result"].heat_keys:
        return Answer({"heat": None})
    return Answer({"heat": pictures.answer_heatmap(kept["image"], kept["result"], s.heat_key)})


def timing(ctx, s, progress=quiet) -> Answer:
    """Time ViLT's patch projection, a ResNet-50 grid and CLIP's tower on this image, here."""
    loaded = load_image(s.image)
    backbone = ctx.backbone(s.model)
    measured = vilt.time_visual_embeddings(
        loaded.image, backbone, runs=int(s.runs), grid_short_side=int(s.grid_side),
        progress=lambda fraction, text: progress(fraction, desc=text),
    )
    return Answer({"timing_plot": pictures.timing_figure(measured),
                   "timing_notes": pictures.timing_table(measured, backbone.model_name, vilt.QUOTED_MS["region"])})


def pipeline_steps(image, result: vilt.VQAResult, heat_picture):
    """The strip from this result's own arrays. ViLT: patches → question words → word–patch alignment →
    answers; CLIP: image embedding → statement prompts → scores → where the answer is."""
    grid_h, grid_w = result.heat_maps.shape[-2:]
    answers = bars_picture([a for a, _ in result.ranking()], [p for _, p in result.ranking()],
                           "softmax(scale x cos)" if result.engine == "clip" else "sigmoid per answer", 1.0)
    if result.engine == "vilt":
        width, height = vilt.vilt_size(*image.size)
        return steps(
            (pictures.grid_lines(image, grid_h, grid_w, (width, height)),
             f"Resized to {width}x{height} and cut into {grid_h}x{grid_w} patches of 32x32; one linear map makes each a token"),
            (text_picture("Question words (BERT word pieces)", result.heat_keys),
             f"The question's {len(result.heat_keys)} words become tokens; words and patches share one transformer"),
            (heat_picture, f"Word-patch alignment of “{result.heat_keys[0]}” ({result.heat_kind})"),
            (answers, f"ViLT's VQA head scores its {len(result.candidates)} answers; best: “{result.top_answer}”"),
        )
    index = {c: i for i, c in enumerate(result.candidates)}
    prompts = [result.prompts[index[a]] for a in result.answers]
    return steps(
        (pictures.grid_lines(image, grid_h, grid_w),
         f"CLIP's image tower runs once: one image embedding and a {grid_h}x{grid_w} grid of patch embeddings"),
        (text_picture(f"Prompts of the top answers ({result.question_type})", prompts, [True]),
         f"Each of the {len(result.candidates)} candidate answers is written into a statement and embedded"),
        (answers, "Image embedding vs every statement's embedding → probabilities over the candidates"),
        (heat_picture, f"Patch embeddings vs the best statement: where “{result.top_answer}” is"),
    )
