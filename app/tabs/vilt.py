"""Tab "ViLT": image + question → top-5 answers, where each word (or answer) sits in the image, and
a measured "why ViLT is fast" panel (linear patches vs a CNN grid vs CLIP's image tower)."""

from __future__ import annotations

import gradio as gr
from PIL import Image, ImageDraw

from app import render
from app import runs as run_records
from app.examples import PHOTO_LABEL, WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import bars_picture, how_it_works, steps, text_picture
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import vilt
from components.errors import WeightsError
from components.media import MAX_LABELS, load_image, parse_labels

TITLE = "ViLT"
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


def build(ctx) -> None:
    method_header(
        "ViLT — vision-and-language transformer without convolution or region supervision",
        "One transformer reads the question's words and the image's 32×32 patches together; each "
        "patch becomes a token through a single linear projection, so embedding the image is almost free.",
        "Kim, Son, Kim, *ViLT: Vision-and-Language Transformer Without Convolution or Region "
        "Supervision*, ICML 2021.",
        "two engines. By default (and whenever ViLT's weights are missing) a CLIP-backed version of the "
        "task: CLIP ranks candidate answers by how well a statement built from the question and the "
        "answer matches the image. On request, the official ViLT VQA model (transformers), only if its "
        "weights are already in the Hugging Face cache: nothing is downloaded. The timing "
        "panel runs ViLT's patch projection, a ResNet-50 grid and CLIP's tower here, with random "
        "weights (speed does not depend on them).",
    )
    cached = vilt.vilt_weights_cached()
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image")
            question = gr.Textbox(
                "What animal is this?",
                label="Question",
                info=f"One short question, up to {vilt.MAX_QUESTION_CHARS} characters (ViLT reads ≤ 38 word pieces).",
            )
            engine = gr.Radio(
                [(v, k) for k, v in ENGINES.items()],
                value="clip",
                label="Engine",
                info=(
                    "ViLT's weights are in this machine's Hugging Face cache."
                    if cached
                    else "ViLT's weights are NOT in this machine's Hugging Face cache: "
                    "picking ViLT answers with CLIP and says so."
                ),
            )
            mode = gr.Radio([(v, k) for k, v in CANDIDATE_MODES.items()], value="shipped", label="Candidate answers (CLIP engine)")
            candidates = gr.Textbox(
                "",
                label="Your candidates",
                info=f"Separated by commas, semicolons or new lines; up to {MAX_LABELS}. Used with “my own candidates”.",
                lines=2,
            )
            with gr.Accordion("Advanced", open=False):
                style = gr.Radio(
                    [(v, k) for k, v in STYLE_LABELS.items()],
                    value="statement",
                    label="CLIP prompt",
                    info="CLIP learned from captions, which state things; so the question is rewritten as a "
                    "statement with the answer in it. “question: … answer: …” is the literal alternative.",
                )
                top_k = gr.Slider(1, 10, value=vilt.TOP_K, step=1, label="Answers shown (top-k)")
                alignment = gr.Radio(
                    [(v, k) for k, v in ALIGNMENT_LABELS.items()], value="attention", label="ViLT word–patch alignment"
                )
                layers = gr.Radio(list(vilt.ATTENTION_LAYERS), value="all", label="Attention layers (averaged)")
                grid_side = gr.Radio([(v, k) for k, v in GRID_LABELS.items()], value=384, label="Grid backbone input")
                runs = gr.Slider(1, 10, value=3, step=1, label="Timing runs (median)")
            with gr.Row():
                ask = gr.Button("Answer", variant="primary")
                time_it = gr.Button("Why ViLT is fast: time it on this image")
            image_limits()
        with gr.Column():
            answers = gr.Label(num_top_classes=10, label="Answers")
            heat_key = gr.Dropdown([], label="Heat map for", interactive=True)
            heat = gr.Image(label="Where it looks", type="pil", format="png")
            notes = gr.Markdown()
            evidence = gr.Dataframe(headers=["answer", "score", "prompt"], label="Evidence", wrap=True)
            record = gr.File(label="Run record (JSON): settings, image hash, weights, answers")
            timing_plot = gr.Plot(label="Visual embedding: measured here vs quoted in the paper (log scale)")
            timing_notes = gr.Markdown()
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel()
    state = gr.State()

    gr.Examples(
        [
            [skimage_photo("chelsea"), "What animal is this?"],
            [skimage_photo("astronaut"), "What colour is the suit?"],
            [skimage_photo("coffee"), "What drink is this?"],
            [skimage_photo("rocket"), "What vehicle is this?"],
            [skimage_photo("motorcycle_left"), "How many wheels are there?"],
        ],
        inputs=[image, question],
        label=PHOTO_LABEL,
    )
    gr.Examples(world_examples("vilt"), inputs=[image, question, mode, candidates, style], label=WORLD_LABEL)

    @user_errors
    def answer(image_path, question_text, engine_name, mode_name, candidates_text, style_name,
               k, alignment_name, layers_name, saved, model_choice, progress=gr.Progress()):
        loaded = load_image(image_path)
        vilt.check_question(question_text)
        note_lines = list(loaded.notes)
        settings = dict(
            question=question_text, engine=engine_name, mode=mode_name, candidates=candidates_text, style=style_name,
            k=k, alignment=alignment_name, layers=layers_name,
        )
        record_of = lambda result: run_records.write_record(  # noqa: E731
            "vilt",
            settings=settings,
            files={"image": image_path},
            model_choice=model_choice,
            weights=result.model,
            scores=dict(engine=result.engine, answers=dict(result.ranking())),
        )
        if engine_name == "vilt":
            try:
                official = vilt.load_vilt(device=ctx.settings.device)
            except WeightsError as error:
                note_lines.insert(0, f"⚠️ **ViLT could not run, so the CLIP engine answered.** {error}")
            else:
                progress(0.1, desc="ViLT: one forward of question and patches")
                engine = official.with_settings(top_k=int(k), alignment=alignment_name, attention_layers=layers_name)
                result = engine(loaded.image, question_text)
                return _show(result, loaded.image, note_lines, saved, record_of(result))
        progress(0.1, desc="CLIP: embedding the image and the prompts")
        backbone = ctx.backbone(model_choice)
        own = None
        if mode_name == "own":
            parsed = parse_labels(candidates_text, count_tokens=backbone.count_tokens)
            own = list(parsed.labels)
            note_lines += parsed.notes
        engine = vilt.ClipVQA(backbone, top_k=int(k), prompt_style=style_name)
        key = (str(image_path), backbone.describe())
        features = saved["features"] if saved and saved.get("key") == key else None
        if features is None:
            features = engine.embed(loaded.image)
        result = engine(loaded.image, question_text, own, features=features)
        return _show(result, loaded.image, note_lines, {"key": key, "features": features}, record_of(result))

    @user_errors
    def replay(record_path, image_path, progress=gr.Progress()):
        saved = run_records.read_record(record_path, "vilt")
        order = ["image", "question", "engine", "mode", "candidates", "style", "k", "alignment", "layers"]
        return run_records.replay(
            saved, {"image": image_path}, lambda *args: answer(*args[:-1], None, args[-1], progress=progress), order
        )

    def _show(result, image, note_lines, cache, record_path):
        if result.engine == "clip":
            note_lines.append(
                f"CLIP engine on **{result.model}**; question form: *{result.question_type}*; "
                f"{len(result.candidates)} candidates ({result.answer_group}); scores are a softmax over them."
            )
            index = {c: i for i, c in enumerate(result.candidates)}
            rows = [[a, round(float(s), 4), result.prompts[index[a]]] for a, s in result.ranking()]
        else:
            note_lines.append(f"**{result.model}**; scores are ViLT's sigmoid per answer (they need not sum to 1).")
            rows = [[a, round(float(s), 4), "(ViLT's VQA head)"] for a, s in result.ranking()]
        note_lines += result.notes
        saved = {**(cache or {}), "image": image, "result": result}
        first = result.heat_keys[0]
        heat_picture = heatmap_image(image, result, first)
        return (
            render.label_dict(result.ranking()),
            gr.Dropdown(choices=list(result.heat_keys), value=first, label=f"Heat map for ({result.heat_kind})"),
            heat_picture,
            "\n".join(f"- {n}" for n in note_lines),
            rows,
            record_path,
            strip_steps(image, result, heat_picture),
            saved,
        )

    @user_errors
    def show_heatmap(key, saved):
        if not saved or "result" not in saved or key not in saved["result"].heat_keys:
            return None
        return heatmap_image(saved["image"], saved["result"], key)

    @user_errors
    def timing(image_path, side, n_runs, model_choice, progress=gr.Progress()):
        loaded = load_image(image_path)
        backbone = ctx.backbone(model_choice)
        measured = vilt.time_visual_embeddings(
            loaded.image, backbone, runs=int(n_runs), grid_short_side=int(side),
            progress=lambda fraction, text: progress(fraction, desc=text),
        )
        return timing_figure(measured), timing_text(measured, backbone)

    answer_outputs = [answers, heat_key, heat, notes, evidence, record, strip, state]
    ask.click(
        answer,
        [image, question, engine, mode, candidates, style, top_k, alignment, layers, state, ctx.model_picker],
        answer_outputs,
        api_name="vilt_answer",
    )
    replay_button.click(replay, [record_in, image_in], answer_outputs, api_name="vilt_replay")
    heat_key.input(show_heatmap, [heat_key, state], heat, api_name="vilt_heatmap")
    time_it.click(
        timing,
        [image, grid_side, runs, ctx.model_picker],
        [timing_plot, timing_notes],
        api_name="vilt_timing",
        concurrency_limit=1,  # timings are only meaningful one at a time
    )


def grid_lines(image: Image.Image, rows: int, columns: int, size: tuple[int, int] | None = None) -> Image.Image:
    """`image` (resized to `size` = (W, H) if given) with a rows × columns grid drawn over it."""
    picture = image.convert("RGB").resize(size, Image.BICUBIC) if size else image.convert("RGB").copy()
    draw = ImageDraw.Draw(picture)
    width = max(1, picture.width // 300)
    for r in range(1, rows):
        y = round(r * picture.height / rows)
        draw.line([(0, y), (picture.width, y)], fill=(255, 255, 0), width=width)
    for c in range(1, columns):
        x = round(c * picture.width / columns)
        draw.line([(x, 0), (x, picture.height)], fill=(255, 255, 0), width=width)
    return picture


def strip_steps(image, result: vilt.VQAResult, heat_picture):
    """The strip from this result's own arrays. ViLT: patches → question words → word–patch alignment →
    answers; CLIP: image embedding → statement prompts → scores → where the answer is."""
    grid_h, grid_w = result.heat_maps.shape[-2:]
    answers = bars_picture([a for a, _ in result.ranking()], [s for _, s in result.ranking()],
                           "softmax(scale x cos)" if result.engine == "clip" else "sigmoid per answer", 1.0)
    if result.engine == "vilt":
        width, height = vilt.vilt_size(*image.size)
        return steps(
            (grid_lines(image, grid_h, grid_w, (width, height)),
             f"Resized to {width}x{height} and cut into {grid_h}x{grid_w} patches of 32x32; one linear map makes each a token"),
            (text_picture("Question words (BERT word pieces)", result.heat_keys),
             f"The question's {len(result.heat_keys)} words become tokens; words and patches share one transformer"),
            (heat_picture, f"Word-patch alignment of “{result.heat_keys[0]}” ({result.heat_kind})"),
            (answers, f"ViLT's VQA head scores its {len(result.candidates)} answers; best: “{result.top_answer}”"),
        )
    index = {c: i for i, c in enumerate(result.candidates)}
    prompts = [result.prompts[index[a]] for a in result.answers]
    return steps(
        (grid_lines(image, grid_h, grid_w),
         f"CLIP's image tower runs once: one image embedding and a {grid_h}x{grid_w} grid of patch embeddings"),
        (text_picture(f"Prompts of the top answers ({result.question_type})", prompts, [True]),
         f"Each of the {len(result.candidates)} candidate answers is written into a statement and embedded"),
        (answers, "Image embedding vs every statement's embedding → probabilities over the candidates"),
        (heat_picture, f"Patch embeddings vs the best statement: where “{result.top_answer}” is"),
    )


def heatmap_image(image, result, key):
    return render.heatmap_overlay(image, result.heatmap(key), "share" if result.engine == "vilt" else "cosine")


CATEGORIES = {
    "region": "region features<br>(detector)",
    "grid": "grid features<br>(ResNet-50)",
    "patch": "linear patches<br>(ViLT)",
    "clip": "CLIP image tower<br>(whole encoder)",
}


def timing_figure(measured):
    device = measured.device
    values = dict(zip(measured.kinds, (float(v) for v in measured.measured_ms)))
    return render.measured_vs_quoted_bars(
        list(CATEGORIES.values()),
        {CATEGORIES[k]: values.get(k) for k in CATEGORIES},
        {CATEGORIES[k]: measured.quoted_ms.get(k) for k in CATEGORIES},
        measured_name=f"measured here ({device}, {measured.threads} threads, median of {measured.runs})",
        quoted_name="quoted in the ViLT paper (its GPU)",
    )


def timing_text(measured, backbone) -> str:
    lines = ["| visual embedding | input (H×W) | output | measured ms | quoted ms |", "|---|---|---|---|---|"]
    lines.append(f"| region features (detector) | — | — | not run here | {vilt.QUOTED_MS['region']:g} |")
    for kind, label, size, shape, ms in zip(
        measured.kinds, measured.labels, measured.input_sizes, measured.output_shapes, measured.measured_ms
    ):
        quoted = measured.quoted_ms.get(kind)
        shown_label = f"{label} · {backbone.model_name}" if kind == "clip" else label
        lines.append(
            f"| {shown_label} | {size[0]}×{size[1]} | {'×'.join(map(str, shape))} | {ms:.3g} | "
            f"{'—' if quoted is None else f'{quoted:g}'} |"
        )
    lines.append("")
    lines.append(
        f"Measured on this machine ({measured.device}); the paper's figures are from its own GPU and are "
        f"shown for their ratios. Here the grid backbone costs **{_times(measured.ratio('grid'))}** and CLIP's "
        f"tower **{_times(measured.ratio('clip'))}** the linear patch projection. Region features need an object "
        "detector, which this app does not ship."
    )
    return "\n".join(lines)


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2g}×"
