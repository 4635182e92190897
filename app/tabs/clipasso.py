"""Tab "CLIPasso": image → abstract sketch of a few Bézier strokes, streamed while it optimises."""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import skimage.data
import torch
from PIL import Image, ImageDraw

from app import render, runs
from app.examples import WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import STEP_SIZE, how_it_works, steps
from app.widgets import ImageUpload, image_limits, method_header, replay_panel, user_errors
from components import clipasso
from components.backbone import load_backbone, resolve_device
from components.clipasso.loss import FC_WEIGHT, NUM_AUG
from components.clipasso.rasterizer import STROKE_WIDTH
from components.clipasso.saliency import SOFTMAX_TEMP
from components.clipasso.sketcher import LR, MAX_ITER
from components.errors import InputError
from components.media import load_image

TITLE = "CLIPasso"
OWN = "CLIPasso's own: RN101 loss + ViT-B/32 saliency (OpenAI weights)"
SHARED = "The shared model picked above (quick, not the paper's)"
HORSE = str(Path(skimage.data.__file__).resolve().parent / "horse.png")  # openclipart, CC0
PREVIEW_EVERY_S = 0.5  # stream at most two previews a second
# the order of the main handler's inputs (before the model choice), as a run record names them
REPLAY_ORDER = ["image", "strokes", "iterations", "seeds", "backbones", "layer2", "layer3", "semantic", "width",
                "lr", "temperature", "augmentations"]


def default_iterations(device: str) -> int:
    """2000 on a GPU (the paper's); on a CPU, enough for a run of a few minutes."""
    return clipasso.NUM_ITER if resolve_device(device).startswith("cuda") else 60


def build(ctx) -> None:
    device = ctx.settings.device
    gpu = resolve_device(device).startswith("cuda")
    method_header(
        "CLIPasso: object sketching",
        "Draw an object with a handful of strokes: start them where CLIP looks, then move their control "
        "points until CLIP sees the sketch as it sees the photo.",
        "Vinker et al., *CLIPasso: Semantically-Aware Object Sketching*, SIGGRAPH 2022.",
        "a faithful re-implementation (saliency start, geometric RN101 + semantic loss, augmentations, "
        "Adam on points, several seeds) with our own differentiable rasteriser in PyTorch instead of "
        "diffvg. Backbones: RN101 for the loss and ViT-B/32 for the saliency, each with OpenAI's "
        "weights when they are on this machine, otherwise random weights (the result is then "
        "meaningless, and the status below says so).",
    )
    with gr.Row():
        with gr.Column():
            image = ImageUpload("Image (an object on a white background works best)")
            strokes = gr.Radio(list(clipasso.ABSTRACTION_LEVELS), value=clipasso.NUM_STROKES, label="Strokes")
            iterations = gr.Slider(
                10, MAX_ITER, value=default_iterations(device), step=10, label="Iterations",
                info="The paper runs 2000 on a GPU; on a CPU each iteration takes seconds.",
            )
            seeds = gr.Slider(1, 8, value=clipasso.NUM_SEEDS if gpu else 1, step=1, label="Seeds",
                              info="Seeds run together as one batch; the best sketch is kept.")
            backbones = gr.Radio([OWN, SHARED], value=OWN, label="Backbones")
            with gr.Accordion("Advanced", open=False):
                layer2 = gr.Number(1.0, label="Geometric weight: RN101 layer2")
                layer3 = gr.Number(1.0, label="Geometric weight: RN101 layer3")
                semantic = gr.Number(FC_WEIGHT, label="Semantic weight (1 − cos of CLIP embeddings)")
                width = gr.Slider(0.5, 8, value=STROKE_WIDTH, step=0.5, label="Stroke width (px of 224)")
                lr = gr.Number(LR, label="Learning rate (Adam, pixels)")
                temperature = gr.Number(SOFTMAX_TEMP, label="Start-point temperature τ")
                augmentations = gr.Slider(0, 8, value=NUM_AUG, step=1, label="Augmented views per step")
            with gr.Row():
                run = gr.Button("Sketch", variant="primary")
                ladder = gr.Button("Abstraction ladder (4, 8, 16, 32)")
                stop = gr.Button("Stop", variant="stop")
            image_limits()
            gr.Markdown(
                "<small>One sketch runs at a time; others wait in the queue. The image is padded to a "
                "white square and drawn on a 224 × 224 canvas. With the shared model, a ViT's block "
                "tokens stand in for RN101's layer maps. XDoG edges come from the plain image in [0, 1] (its "
                "ε and φ are on that scale); the official code's CLIP-normalised input is the pipeline "
                "setting <code>xdog_input=\"clip-normalised\"</code>.</small>"
            )
        with gr.Column():
            preview = gr.Image(label="Sketch (live)", type="numpy", format="png", height=300)
            curve = gr.Plot(label="Loss")
            status = gr.Markdown()
            with gr.Row():
                png = gr.Image(label="PNG (2×)", type="numpy", format="png")
                gif = gr.Image(label="Strokes settling", type="filepath")
            with gr.Row():
                salient = gr.Image(label="Saliency × edges, with the start points", type="pil", format="png")
                svg = gr.File(label="SVG")
            gallery = gr.Gallery(label="Abstraction ladder", columns=4, height=220)
            record = gr.File(label="Run record (JSON): settings, input hash, weights, scores")
    strip = how_it_works()
    record_in, (image_in,), replay_button = replay_panel(
        note="Replays the recorded settings on the same image; on the same machine and model the sketch "
        "is the same (the run is deterministic for a given seed). A run that was stopped by hand replays "
        "to its full length."
    )

    gr.Examples(
        [
            [HORSE, 4, 10, 1, SHARED],
            [skimage_photo("chelsea"), 16, default_iterations(device), 1 if not gpu else 3, OWN],
            [HORSE, 8, default_iterations(device), 1 if not gpu else 3, OWN],
        ],
        inputs=[image, strokes, iterations, seeds, backbones],
        label="Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    gr.Examples(
        [[path, 8, default_iterations(device), 1 if not gpu else 3, SHARED] for path, in world_examples("clipasso")],
        inputs=[image, strokes, iterations, seeds, backbones],
        label=f"{WORLD_LABEL}: sketched with the shared model",
    )

    stops: dict[str, threading.Event] = {}

    def pipeline(strokes_n, iters, seed_count, which, l2, l3, sem, w, rate, temp, augs, model_choice):
        strokes_n, iters, seed_count, l2, l3, sem, w, rate, temp, augs = (
            number(v, name) for v, name in zip(
                (strokes_n, iters, seed_count, l2, l3, sem, w, rate, temp, augs),
                ("strokes", "iterations", "seeds", "layer2 weight", "layer3 weight", "semantic weight",
                 "width", "learning rate", "temperature", "augmented views"),
            )
        )
        if which == SHARED:
            shared = ctx.backbone(model_choice)
            saliency_backbone = shared if shared.is_vit else load_backbone("ViT-B-32", "openai", device)
            # a shared ResNet gives layer maps as RN101 does; a ViT uses its block tokens (defaults)
            loss_backbone = shared
            weights = None if shared.is_vit else {"layer2": l2, "layer3": l3}
        else:
            loss_backbone = load_backbone("RN101", "openai", device)
            saliency_backbone = load_backbone("ViT-B-32", "openai", device)
            weights = {"layer2": l2, "layer3": l3}
        names = backbone_names(loss_backbone, saliency_backbone)
        sketcher = clipasso.CLIPasso(
            loss_backbone, saliency_backbone, num_strokes=int(strokes_n), num_iter=int(iters),
            seeds=tuple(range(int(seed_count))), width=float(w), lr=float(rate), softmax_temp=float(temp),
            conv_weights=weights, fc_weight=sem, num_aug=int(augs),
        )
        return sketcher, backbone_note(loss_backbone, saliency_backbone), names

    def stop_event(request: gr.Request | None) -> threading.Event:
        """A fresh stop flag for this browser session's run (the Stop button sets it)."""
        event = threading.Event()
        stops[session_key(request)] = event
        return event

    def session_key(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "default"

    @user_errors
    def sketch(path, strokes_n, iters, seed_count, which, l2, l3, sem, w, rate, temp, augs, model_choice,
               request: gr.Request = None):
        loaded = load_image(path)
        settings = dict(strokes=strokes_n, iterations=iters, seeds=seed_count, backbones=which, layer2=l2, layer3=l3,
                        semantic=sem, width=w, lr=rate, temperature=temp, augmentations=augs)
        sketcher, note, names = pipeline(strokes_n, iters, seed_count, which, l2, l3, sem, w, rate, temp, augs,
                                         model_choice)
        stop_flag = stop_event(request)
        losses, last = [], 0.0
        started = time.perf_counter()
        for step in sketcher.sketch(loaded.image, stop_flag):
            losses.append(step.step_loss)  # stays on the device until a preview needs it
            if step.done:
                stops.pop(session_key(request), None)
                result = step.result
                final = to_uint8(result.raster)
                frames = result.frames()  # rendered once: the GIF and the strip's stroke pictures
                salient_picture = saliency_picture(result)
                yield (
                    final, curve_figure(result.train_losses, result), summary(result, note, started),
                    result.png(2), write_gif(frames), salient_picture, write_svg(result),
                    runs.write_record("clipasso", settings=settings, files={"image": path}, model_choice=model_choice,
                                      weights=names, scores=record_scores(result)),
                    strip_steps(result, salient_picture, frames, final),
                )
                return
            now = time.perf_counter()
            if now - last >= PREVIEW_EVERY_S:
                last = now
                yield (
                    to_uint8(step.raster), curve_figure(torch.stack(losses).float().cpu().numpy()),
                    f"Iteration {step.iteration} / {step.total} · best clean-view loss {step.best_loss:.4g} · {note}",
                    gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                )

    @user_errors
    def replay(record_path, path, request: gr.Request = None):
        saved = runs.read_record(record_path, "clipasso")
        yield from runs.replay(saved, {"image": path}, functools.partial(sketch, request=request), REPLAY_ORDER)

    @user_errors
    def abstraction_ladder(path, iters, seed_count, which, l2, l3, sem, w, rate, temp, augs, model_choice,
                           request: gr.Request = None):
        loaded = load_image(path)
        stop_flag = stop_event(request)
        pictures, last = [], 0.0
        for level in clipasso.ABSTRACTION_LEVELS:
            sketcher, note, _ = pipeline(level, iters, seed_count, which, l2, l3, sem, w, rate, temp, augs, model_choice)
            for step in sketcher.sketch(loaded.image, stop_flag):
                now = time.perf_counter()
                if step.done:
                    pictures.append((to_uint8(step.result.raster), f"{level} strokes"))
                    yield pictures.copy(), to_uint8(step.raster), f"{level} strokes done · {note}"
                elif now - last >= PREVIEW_EVERY_S:
                    last = now
                    yield gr.skip(), to_uint8(step.raster), f"{level} strokes: iteration {step.iteration} / {step.total}"
            if stop_flag.is_set():
                return
        stops.pop(session_key(request), None)

    def request_stop(request: gr.Request = None):
        event = stops.pop(session_key(request), None)
        if event is not None:
            event.set()
        return "Stopped."

    inputs = [image, strokes, iterations, seeds, backbones, layer2, layer3, semantic, width, lr, temperature,
              augmentations, ctx.model_picker]
    outputs = [preview, curve, status, png, gif, salient, svg, record, strip]
    run_event = run.click(sketch, inputs, outputs,
                          api_name="clipasso_sketch", concurrency_limit=1, concurrency_id="clipasso")
    replay_event = replay_button.click(replay, [record_in, image_in], outputs,
                                       api_name="clipasso_replay", concurrency_limit=1, concurrency_id="clipasso")
    ladder_inputs = [i for i in inputs if i is not strokes]
    ladder_event = ladder.click(abstraction_ladder, ladder_inputs, [gallery, preview, status],
                                api_name="clipasso_ladder", concurrency_limit=1, concurrency_id="clipasso")
    stop.click(request_stop, None, status, api_name="clipasso_stop", cancels=[run_event, ladder_event, replay_event], queue=False)


def number(value, name: str) -> float:
    """A settings field as a finite number, or a message saying which field is wrong."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Give a number for the {name} (got {value!r}).") from None
    if not np.isfinite(out):
        raise InputError(f"Give a finite number for the {name} (got {value!r}).")
    return out


def backbone_names(loss_backbone, saliency_backbone) -> str:
    return f"loss: {loss_backbone.describe()}; saliency: {saliency_backbone.describe()}"


def backbone_note(loss_backbone, saliency_backbone) -> str:
    names = backbone_names(loss_backbone, saliency_backbone)
    if loss_backbone.is_random or saliency_backbone.is_random:
        return f"⚠️ random weights — the sketch is meaningless ({names})"
    return names


def to_uint8(raster: np.ndarray) -> np.ndarray:
    return (np.clip(raster, 0, 1) * 255).round().astype(np.uint8)


def curve_figure(train_losses: np.ndarray, result=None):
    series = {f"seed {i}": (np.arange(1, len(train_losses) + 1), train_losses[:, i]) for i in range(train_losses.shape[1])}
    if result is not None:
        for i, seed in enumerate(result.seeds):
            series[f"seed {seed} (clean view)"] = (result.eval_iterations, result.eval_losses[:, i])
    return render.loss_curves(series, log_y=bool(np.all(train_losses > 0)) if train_losses.size else True)


def summary(result, note: str, started: float) -> str:
    how = "stopped" if result.stopped else ("stopped early: the loss stalled" if result.early_stopped else "finished")
    losses = ", ".join(f"seed {s}: {l:.4g}" for s, l in zip(result.seeds, result.seed_losses))
    return (
        f"**{how}** after {result.iterations} iterations in {time.perf_counter() - started:.0f} s · best seed "
        f"{result.best_seed} · clean-view loss {losses}  \n{note}"
    )


def saliency_picture(result) -> Image.Image:
    target = Image.fromarray(result.target)
    values = result.saliency
    starts = result.initial_strokes[list(result.seeds).index(result.best_seed), :, 0]
    return render.mark_points(render.overlay(target, values, vmin=0, vmax=float(values.max() or 1)), starts)


def _out_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="clipasso-"))


def write_svg(result) -> str:
    path = _out_dir() / f"clipasso_{len(result.strokes)}_strokes.svg"
    path.write_text(result.svg)
    return str(path)


def write_gif(rasters: np.ndarray) -> str:
    """The (F, H, W) uint8 frames of `SketchResult.frames()` as a looping GIF."""
    frames = [Image.fromarray(f).convert("P") for f in rasters]
    path = _out_dir() / "strokes_settling.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0)
    return str(path)


def record_scores(result) -> dict:
    """The run record's scores: small, the numbers a replay should give again."""
    return {
        "seed_losses": {str(seed): float(loss) for seed, loss in zip(result.seeds, result.seed_losses)},
        "best_seed": int(result.best_seed),
        "strokes": int(len(result.strokes)),
        "iterations": int(result.iterations),
        "stopped": bool(result.stopped),
    }


def strip_steps(result, salient_picture: Image.Image, frames: np.ndarray, final: np.ndarray):
    """The "How it works" strip from this run's own arrays: the saliency picture shown above, the best
    seed's strokes at the start and mid-run (frames of the GIF), the loss curves, the final sketch."""
    picks = result.frame_picks()
    at = result.snapshot_iterations[picks]
    # the frame nearest half-way through the run, between the first and the last when there are more
    inner = range(1, len(frames) - 1) if len(frames) > 2 else range(len(frames))
    mid = min(inner, key=lambda i: abs(int(at[i]) - result.iterations / 2))
    seed, n = result.best_seed, len(result.strokes)
    loss = float(result.seed_losses[list(result.seeds).index(seed)])
    return steps(
        (salient_picture, f"Saliency: where CLIP's ViT attends × the photo's edges; the dots are the {n} start "
                          f"points drawn from it (seed {seed})"),
        (Image.fromarray(frames[0]), f"{n} short random strokes start at those points, before any optimisation"),
        (Image.fromarray(frames[mid]), f"Optimisation, iteration {int(at[mid])} of {result.iterations}: Adam moves "
                                       "the control points so CLIP sees the sketch as it sees the photo"),
        (loss_picture(result.train_losses, result.seeds), "The loss per iteration and seed: CLIP layer-map distance "
                                                          "+ (1 - cosine) of the embeddings, on augmented views"),
        (Image.fromarray(final), f"Final sketch: the seed with the lowest clean-view loss (seed {seed}, {loss:.4g})"),
    )


def loss_picture(train_losses: np.ndarray, seeds) -> Image.Image:
    """The (T, S) training losses as a small line chart picture (log scale when all are positive)."""
    width, height, left, top, bottom = STEP_SIZE, 216, 56, 28, 40
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    font = render.lettering.font(13)
    values = np.asarray(train_losses, dtype=np.float64)
    log = bool(values.size) and bool(np.all(values > 0))
    draw.text((8, 6), "loss per iteration" + (" (log scale)" if log else ""), fill="black", font=font)
    box = (left, top, width - 10, height - bottom)
    draw.rectangle(box, outline=(160, 160, 160))
    if values.size == 0:
        return picture
    shown = np.log10(values) if log else values
    lo, hi = float(shown.min()), float(shown.max())
    span = (hi - lo) or 1.0
    draw.text((4, top - 2), f"{values.max():.3g}", fill="black", font=font)
    draw.text((4, box[3] - 14), f"{values.min():.3g}", fill="black", font=font)
    draw.text((left, box[3] + 4), "1", fill="black", font=font)
    draw.text((box[2] - 30, box[3] + 4), str(len(values)), fill="black", font=font)
    colours = ((0, 130, 200), (230, 25, 75), (60, 180, 75), (245, 130, 48), (145, 30, 180), (0, 128, 128),
               (240, 50, 230), (170, 110, 40))
    steps_n = len(values)
    for s in range(values.shape[1]):
        xs = box[0] + (box[2] - box[0]) * (np.arange(steps_n) / max(1, steps_n - 1))
        ys = box[3] - (box[3] - box[1]) * (shown[:, s] - lo) / span
        points = list(zip(xs.tolist(), ys.tolist()))
        colour = colours[s % len(colours)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
        if s < 5:  # the legend, under the axis
            draw.text((left + 52 * s, box[3] + 20), f"seed {seeds[s]}", fill=colour, font=font)
    return picture
