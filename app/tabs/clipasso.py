"""Tab "CLIPasso": image → abstract sketch of a few Bézier strokes, streamed while it optimises."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import skimage.data
import torch
from PIL import Image

from app.examples import WORLD_LABEL, skimage_photo, world_examples
from app.howitworks import steps
from app.render.sketch import (curve_figure, loss_picture, saliency_picture, sketch_and_photo, to_uint8, write_gif,
                               write_svg)
from app.scaffold import Answer, Page, Setting, Tab, device_of, image_setting, quiet
from components import clipasso
from components.backbone import clipasso_saliency_backbone, load_paper_backbone, resolve_device
from components.clipasso.loss import FC_WEIGHT, NUM_AUG
from components.clipasso.rasterizer import STROKE_WIDTH
from components.clipasso.saliency import SOFTMAX_TEMP
from components.clipasso.sketcher import LR, MAX_ITER
from components.errors import InputError
from components.media import load_image

OWN = "own"  # the backbones setting's values
SHARED = "shared"
BACKBONES = {
    OWN: "CLIPasso's own: RN101 loss + ViT-B/32 saliency (OpenAI weights)",
    SHARED: "The shared model picked above (quick, not the paper's)",
}
HORSE = str(Path(skimage.data.__file__).resolve().parent / "horse.png")  # openclipart, CC0
PREVIEW_EVERY_S = 0.5  # stream at most two previews a second
NUMBERS = {"strokes": "strokes", "iterations": "iterations", "seeds": "seeds", "layer2": "layer2 weight",
           "layer3": "layer3 weight", "semantic": "semantic weight", "width": "width", "lr": "learning rate",
           "temperature": "temperature", "augmentations": "augmented views"}  # setting → its name in a message


def default_iterations(device: str) -> int:
    """2000 on a GPU (the paper's); on a CPU, enough for a run of a few minutes."""
    return clipasso.NUM_ITER if resolve_device(device).startswith("cuda") else 60


def _on_gpu(ctx) -> bool:
    return resolve_device(device_of(ctx)).startswith("cuda")


def _number(value, label: str, **kwargs) -> gr.Number:
    return gr.Number(value, label=label, **kwargs)


TAB = Tab(
    key="clipasso",
    title="CLIPasso",
    name="CLIPasso: object sketching",
    idea="Draw an object with a handful of strokes: start them where CLIP looks, then move their control "
    "points until CLIP sees the sketch as it sees the photo.",
    paper="Vinker et al., *CLIPasso: Semantically-Aware Object Sketching*, SIGGRAPH 2022.",
    runs="a faithful re-implementation (saliency start, geometric RN101 + semantic loss, augmentations, "
    "Adam on points, several seeds) with our own differentiable rasteriser in PyTorch instead of "
    "diffvg. Backbones: RN101 for the loss and ViT-B/32 for the saliency, each with OpenAI's "
    "weights when they are on this machine, otherwise random weights (the result is then "
    "meaningless, and the status below says so).",
    settings=[
        image_setting(label="Image (an object on a white background works best)"),
        Setting("strokes", lambda: gr.Radio(list(clipasso.ABSTRACTION_LEVELS), value=clipasso.NUM_STROKES, label="Strokes"),
                int, "number of strokes (CLIPasso: 16; the ladder: 4, 8, 16, 32)"),
        Setting("iterations", lambda ctx=None: gr.Slider(
            10, MAX_ITER, value=default_iterations(device_of(ctx)), step=10, label="Iterations",
            info="The paper runs 2000 on a GPU; on a CPU each iteration takes seconds."),
            int, "optimisation iterations (CLIPasso: 2000)"),
        Setting("seeds", lambda ctx=None: gr.Slider(
            1, 8, value=clipasso.NUM_SEEDS if _on_gpu(ctx) else 1, step=1, label="Seeds",
            info="Seeds run together as one batch; the best sketch is kept."),
            int, "seeds run as one batch, the best kept (CLIPasso: 3)"),
        Setting("backbones", lambda: gr.Radio([(label, value) for value, label in BACKBONES.items()], value=OWN,
                                              label="Backbones"),
                str, '"own" (RN101 loss + ViT-B/32 saliency, OpenAI weights) or "shared" (the picked model)',
                legacy={label: value for value, label in BACKBONES.items()}),
        Setting("layer2", lambda: _number(1.0, "Geometric weight: RN101 layer2"), float, "geometric loss weight of layer2"),
        Setting("layer3", lambda: _number(1.0, "Geometric weight: RN101 layer3"), float, "geometric loss weight of layer3"),
        Setting("semantic", lambda: _number(FC_WEIGHT, "Semantic weight (1 − cos of CLIP embeddings)"), float,
                "semantic loss weight (CLIPasso: 0.1)"),
        Setting("width", lambda: gr.Slider(0.5, 8, value=STROKE_WIDTH, step=0.5, label="Stroke width (px of 224)"),
                float, "stroke width in pixels of the 224-px canvas"),
        Setting("lr", lambda: _number(LR, "Learning rate (Adam, pixels)"), float, "Adam's learning rate, in pixels"),
        Setting("temperature", lambda: _number(SOFTMAX_TEMP, "Start-point temperature τ"), float,
                "temperature of the start-point distribution (CLIPasso: 0.3)"),
        Setting("augmentations", lambda: gr.Slider(0, 8, value=NUM_AUG, step=1, label="Augmented views per step"),
                int, "augmented views per step (CLIPasso: 4)"),
    ],
)
TITLE = TAB.title
LADDER_USES = [s.name for s in TAB.settings if s.name != "strokes"]


def build(ctx) -> None:
    device = ctx.settings.device
    gpu = resolve_device(device).startswith("cuda")
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column():
            page.inputs("image", "strokes", "iterations", "seeds", "backbones")
            with gr.Accordion("Advanced", open=False):
                page.inputs("layer2", "layer3", "semantic", "width", "lr", "temperature", "augmentations")
            with gr.Row():
                run = gr.Button("Sketch", variant="primary")
                ladder = gr.Button("Abstraction ladder (4, 8, 16, 32)")
                stop = gr.Button("Stop", variant="stop")
            page.limits()
            gr.Markdown(
                "<small>One sketch runs at a time; others wait in the queue. The image is padded to a "
                "white square and drawn on a 224 × 224 canvas. With the shared model, a ViT's block "
                "tokens stand in for RN101's layer maps. XDoG edges come from the plain image in [0, 1] (its "
                "ε and φ are on that scale); the official code's CLIP-normalised input is the pipeline "
                "setting <code>xdog_input=\"clip-normalised\"</code>.</small>"
            )
        with gr.Column():
            page.output("preview", gr.Image(label="Sketch (live)", type="numpy", format="png", height=300))
            page.output("curve", gr.Plot(label="Loss"))
            page.output("status", gr.Markdown())
            with gr.Row():
                page.output("png", gr.Image(label="PNG (2×)", type="numpy", format="png"))
                page.output("gif", gr.Image(label="Strokes settling", type="filepath"))
            with gr.Row():
                page.output("salient", gr.Image(label="Saliency × edges, with the start points", type="pil", format="png"))
                page.output("svg", gr.File(label="SVG"))
            page.output("slider", gr.ImageSlider(label="Sketch vs photo (drag the line)", type="pil", format="png",
                                                 interactive=False, max_height=360))
            page.output("gallery", gr.Gallery(label="Abstraction ladder", columns=4, height=220))
            page.notes_and_record(notes=False)
    page.strip()
    page.replay_panel(
        note="Replays the recorded settings on the same image; on the same machine and model the sketch "
        "is the same (the run is deterministic for a given seed). A run that was stopped by hand replays "
        "to its full length."
    )
    seeds = 1 if not gpu else 3
    page.examples(
        [[HORSE, 4, 10, 1, SHARED], [skimage_photo("chelsea"), 16, default_iterations(device), seeds, OWN],
         [HORSE, 8, default_iterations(device), seeds, OWN]],
        ["image", "strokes", "iterations", "seeds", "backbones"],
        "Photo and drawing examples (need real CLIP weights, not CLIP Lab Mini)",
    )
    page.examples(
        [[path, 8, default_iterations(device), seeds, SHARED] for path, in world_examples("clipasso")],
        ["image", "strokes", "iterations", "seeds", "backbones"],
        f"{WORLD_LABEL}: sketched with the shared model",
    )

    queue = dict(concurrency_limit=1, concurrency_id="clipasso")
    outputs = ["preview", "curve", "status", "png", "gif", "salient", "svg", "slider", "record", "strip"]
    sketch_events = page.run(run, sketch, "sketch", outputs=outputs, long_job="sketch", gpu_seconds=sketch_seconds,
                             **queue)
    ladder_event = page.action(ladder, abstraction_ladder, "ladder", uses=LADDER_USES,
                               outputs=["gallery", "preview", "status"], long_job="abstraction ladder", **queue)
    page.action(stop, request_stop, "stop", outputs=["status"], model=False, gpu=False,
                cancels=[*sketch_events, ladder_event], queue=False)


# -- the stop button: one event per browser session's run -----------------------------------------
_stops: dict[str, threading.Event] = {}
_stops_lock = threading.Lock()


def stop_event(session: str) -> threading.Event:
    """A fresh stop flag for this browser session's run (the Stop button sets it)."""
    event = threading.Event()
    with _stops_lock:
        _stops[session or "default"] = event
    return event


def _forget_stop(session: str) -> None:
    with _stops_lock:
        _stops.pop(session or "default", None)


def request_stop(ctx, s, progress=quiet, session: str = "") -> Answer:
    """Stop this browser session's sketch or ladder."""
    with _stops_lock:
        event = _stops.pop(session or "default", None)
    if event is not None:
        event.set()
    return Answer({"status": "Stopped."})


# -- handlers -------------------------------------------------------------------------------------
def number(value, name: str) -> float:
    """A settings field as a finite number, or a message saying which field is wrong."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Give a number for the {name} (got {value!r}).") from None
    if not np.isfinite(out):
        raise InputError(f"Give a finite number for the {name} (got {value!r}).")
    return out


def pipeline(ctx, s, strokes) -> tuple[clipasso.CLIPasso, str, str]:
    """The sketcher the settings ask for, with its backbones: (sketcher, status note, weights)."""
    given = {**s, "strokes": strokes}
    n = {name: number(given[name], label) for name, label in NUMBERS.items()}
    device = ctx.settings.device
    if s.backbones == SHARED:
        shared = ctx.backbone(s.model)
        saliency_backbone = clipasso_saliency_backbone(shared, device)
        # a shared ResNet gives layer maps as RN101 does; a ViT uses its block tokens (defaults)
        loss_backbone = shared
        weights = None if shared.is_vit else {"layer2": n["layer2"], "layer3": n["layer3"]}
    else:
        loss_backbone = load_paper_backbone("clipasso_loss", device)
        saliency_backbone = load_paper_backbone("clipasso_saliency", device)
        weights = {"layer2": n["layer2"], "layer3": n["layer3"]}
    sketcher = clipasso.CLIPasso(
        loss_backbone, saliency_backbone, num_strokes=int(n["strokes"]), num_iter=int(n["iterations"]),
        seeds=tuple(range(int(n["seeds"]))), width=float(n["width"]), lr=float(n["lr"]),
        softmax_temp=float(n["temperature"]), conv_weights=weights, fc_weight=n["semantic"],
        num_aug=int(n["augmentations"]),
    )
    return sketcher, backbone_note(loss_backbone, saliency_backbone), backbone_names(loss_backbone, saliency_backbone)


def sketch_seconds(s) -> int:
    """The GPU time a ZeroGPU Space asks for a sketch: ~60 sketch-iterations a second on its GPU
    slice (an H100 runs 83 eager, 182 graph-replayed: README), and 20 s to start."""
    return round(20 + int(s.iterations) * int(s.seeds) / 60)


def sketch(ctx, s, progress=quiet, session: str = ""):
    """Optimise the strokes, streaming a preview at most every `PREVIEW_EVERY_S`; the last answer
    holds the sketch, its files, the saliency picture, the record and the strip."""
    loaded = load_image(s.image)
    sketcher, note, names = pipeline(ctx, s, s.strokes)
    stop_flag = stop_event(session)
    losses, last = [], 0.0
    started = time.perf_counter()
    for step in sketcher.sketch(loaded.image, stop_flag):
        losses.append(step.step_loss)  # stays on the device until a preview needs it
        if step.done:
            _forget_stop(session)
            yield finished(step.result, note, names, started)
            return
        now = time.perf_counter()
        if now - last >= PREVIEW_EVERY_S:
            last = now
            yield Answer({
                "preview": to_uint8(step.raster), "curve": curve_figure(torch.stack(losses).float().cpu().numpy()),
                "status": f"Iteration {step.iteration} / {step.total} · best clean-view loss {step.best_loss:.4g} · {note}",
            })


def finished(result, note: str, names: str, started: float) -> Answer:
    final = to_uint8(result.raster)
    frames = result.frames()  # rendered once: the GIF and the strip's stroke pictures
    salient = saliency_picture(result)
    return Answer(
        {"preview": final, "curve": curve_figure(result.train_losses, result), "status": summary(result, note, started),
         "png": result.png(2), "gif": write_gif(frames), "salient": salient, "svg": write_svg(result),
         "slider": sketch_and_photo(result)},
        steps=strip_steps(result, salient, frames, final), scores=record_scores(result), weights=names,
    )


def abstraction_ladder(ctx, s, progress=quiet, session: str = ""):
    """The same photo sketched with 4, 8, 16 and 32 strokes, one after another."""
    loaded = load_image(s.image)
    stop_flag = stop_event(session)
    pictures, last = [], 0.0
    for level in clipasso.ABSTRACTION_LEVELS:
        sketcher, note, _ = pipeline(ctx, s, level)
        for step in sketcher.sketch(loaded.image, stop_flag):
            now = time.perf_counter()
            if step.done:
                pictures.append((to_uint8(step.result.raster), f"{level} strokes"))
                yield Answer({"gallery": pictures.copy(), "preview": to_uint8(step.raster),
                              "status": f"{level} strokes done · {note}"})
            elif now - last >= PREVIEW_EVERY_S:
                last = now
                yield Answer({"preview": to_uint8(step.raster),
                              "status": f"{level} strokes: iteration {step.iteration} / {step.total}"})
        if stop_flag.is_set():
            return
    _forget_stop(session)


def backbone_names(loss_backbone, saliency_backbone) -> str:
    return f"loss: {loss_backbone.describe()}; saliency: {saliency_backbone.describe()}"


def backbone_note(loss_backbone, saliency_backbone) -> str:
    names = backbone_names(loss_backbone, saliency_backbone)
    if loss_backbone.is_random or saliency_backbone.is_random:
        return f"⚠️ random weights — the sketch is meaningless ({names})"
    return names


def summary(result, note: str, started: float) -> str:
    how = "stopped" if result.stopped else ("stopped early: the loss stalled" if result.early_stopped else "finished")
    losses = ", ".join(f"seed {s}: {l:.4g}" for s, l in zip(result.seeds, result.seed_losses))
    return (
        f"**{how}** after {result.iterations} iterations in {time.perf_counter() - started:.0f} s · best seed "
        f"{result.best_seed} · clean-view loss {losses}  \n{note}"
    )


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
