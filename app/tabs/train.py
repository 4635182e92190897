"""Tab "Train CLIP": a small CLIP learns the generated world live, on the CPU; then every tab can use it."""

from __future__ import annotations

import platform
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from app import render, runs
from app.widgets import method_header, replay_panel, user_errors
from components.backbone import resolve_device
from components.errors import InputError
from components.mini import live
from components.world import scenes

TITLE = "Train CLIP"
STREAM_EVERY_S = 1.0  # the page gets a new picture at most once a second (and at each evaluation)
MAX_KEPT_RUNS = 8  # finished runs kept for probes and exports, all sessions together (oldest dropped)
REPLAY_ORDER = ["steps", "batch_size", "lr", "concepts", "held_out", "learnable_temperature", "temperature", "seed",
                "eval_every"]
QUICK = dict(steps=20, batch_size=16)  # the examples' few-step run (the browser sweep runs it)


def build(ctx) -> None:
    method_header(
        "Train CLIP: watch contrastive learning",
        "Press Train and watch a small CLIP learn from scratch: each step pulls every image of the batch "
        "towards its own caption and away from the batch's other captions, until the image × text matrix "
        "turns diagonal and words name pictures the model has never seen.",
        "Radford et al., *Learning Transferable Visual Models From Natural Language Supervision*, ICML 2021 "
        "(the contrastive objective; figure 1 is the matrix below).",
        f"CLIP's recipe at small scale — open_clip's model and `ClipLoss`, AdamW with warm-up and cosine decay, "
        f"a learnable temperature capped at 100 — on CLIP Lab Live (a small {live.IMAGE_SIZE}-px ResNet image tower and a "
        "2-layer text tower, 4 M weights, almost all of them the text tower's word table), trained here on "
        "this machine's CPU from pairs drawn from the generated world. It learns the world's colours, shapes, "
        "counts and positions, never photos. Zero-shot scores are on held-out scenes training never saw.",
    )
    colours = {name: rgb for name, rgb in scenes.COLOURS.items()}
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                train = gr.Button("Train", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            steps = gr.Slider(1, live.MAX_STEPS, value=live.DEFAULT_STEPS, step=1, label="Steps")
            batch_size = gr.Slider(live.MIN_BATCH, live.MAX_BATCH, value=live.DEFAULT_BATCH, step=1, label="Batch size",
                                   info="Pairs per step: each image's caption competes with the batch's other captions.")
            lr = gr.Number(live.DEFAULT_LR, label="Learning rate (AdamW peak)")
            concepts = gr.CheckboxGroup(list(live.CONCEPTS), value=list(live.DEFAULT_CONCEPTS), label="What the captions mention",
                                        info="Concepts left out are never named: “a red shape”, “a star”.")
            held_out = gr.Dropdown(
                scenes.class_labels(), value=list(live.DEFAULT_HELD_OUT), multiselect=True, allow_custom_value=True,
                label="Hold out these combinations", max_choices=live.MAX_HELD_OUT,
                info="Never shown in training; scored separately: compositional zero-shot.",
            )
            with gr.Accordion("Advanced", open=False):
                learnable = gr.Checkbox(True, label="Learnable temperature (CLIP's); off: fixed")
                temperature = gr.Number(live.DEFAULT_TEMPERATURE, label="Temperature τ (initial, or fixed)")
                seed = gr.Number(0, label="Seed", precision=0)
                eval_every = gr.Slider(1, 500, value=live.EVAL_EVERY, step=1, label="Evaluate every … steps")
            gr.Markdown(
                f"<small>One training at a time on this server (others wait in the queue); at most {live.MAX_STEPS} "
                f"steps or {live.MAX_SECONDS / 60:.0f} minutes, batches of {live.MIN_BATCH}–{live.MAX_BATCH}. The "
                "default run reaches about half the held-out scenes right in under three minutes on two CPU cores. "
                "Same seed and settings → the same curve on the same machine.</small>"
            )
            with gr.Accordion("Probe: a caption → the held-out images it finds", open=True):
                probe_text = gr.Textbox("a photo of a red star.", label="Caption", max_lines=1)
                probe_button = gr.Button("Probe (the model at its last evaluation)")
                probe_gallery = gr.Gallery(label="Top held-out images (cosine · what the scene is)", columns=4, height=260)
            with gr.Accordion("Use it everywhere", open=True):
                name = gr.Textbox("", label="Name in the model picker (optional)", max_lines=1)
                use = gr.Button("Use this model in every tab")
                use_note = gr.Markdown()
                export = gr.Button("Save checkpoint and run record (also after Stop)")
                checkpoint = gr.File(label="Checkpoint (safetensors)")
                record = gr.File(label="Run record (JSON): settings, curves, scores")
                upload = gr.File(label="Load a checkpoint this tab saved", file_types=[".safetensors"])
                load = gr.Button("Load it and use it in every tab")
        with gr.Column(scale=3):
            status = gr.Markdown("Press **Train**.")
            curves = gr.Plot(label="Loss and temperature")
            matrix = gr.Image(label="This batch: image × text (cosine; colour: each row's softmax)", type="pil", format="png")
            accuracy = gr.Plot(label="Zero-shot accuracy on held-out scenes, per concept")
            embedding_map = gr.Plot(label="Embedding map (PCA): images and their words")
            combos = gr.Plot(label="Held-out combinations: top-1 on scenes of each (never trained on)")
    record_in, _, replay_button = replay_panel(
        inputs=lambda: [],
        note="Trains again with the recorded settings: on the same machine, the same curve.",
    )

    gr.Examples(
        [
            [QUICK["steps"], QUICK["batch_size"], live.DEFAULT_LR, list(live.DEFAULT_CONCEPTS), list(live.DEFAULT_HELD_OUT)],
            [QUICK["steps"], QUICK["batch_size"], live.DEFAULT_LR, ["colours", "shapes"], ["red star"]],
        ],
        inputs=[steps, batch_size, lr, concepts, held_out],
        label="Quick runs (a few steps)",
    )
    gr.Examples(
        [
            [live.DEFAULT_STEPS, live.DEFAULT_BATCH, live.DEFAULT_LR, list(live.DEFAULT_CONCEPTS), list(live.DEFAULT_HELD_OUT)],
            [live.DEFAULT_STEPS, live.DEFAULT_BATCH, live.DEFAULT_LR, ["colours", "shapes"], ["red star", "blue circle"]],
        ],
        inputs=[steps, batch_size, lr, concepts, held_out],
        label="Full runs (a few minutes)",
    )

    stops: dict[str, threading.Event] = {}
    kept: OrderedDict[str, live.LiveRun] = OrderedDict()
    lock = threading.Lock()
    device = ctx.settings.device

    def session_key(request) -> str:
        return getattr(request, "session_hash", None) or "default"

    def keep(key: str, run: live.LiveRun) -> None:
        with lock:
            kept[key] = run
            kept.move_to_end(key)
            while len(kept) > MAX_KEPT_RUNS:
                kept.popitem(last=False)

    def session_run(request) -> live.LiveRun:
        with lock:
            run = kept.get(session_key(request))
        if run is None or run.snapshot is None:
            raise InputError("Train a model first (press Train), or load a checkpoint this tab saved.")
        return run

    @user_errors(gpu=False)  # trains on the CPU, in the main process (the run is kept for probes and exports)
    def train_run(steps, batch_size, lr, concepts, held_out, learnable_temperature, temperature, seed, eval_every,
                  request: gr.Request = None):
        settings = live.check_settings(steps, batch_size, lr, concepts, held_out, learnable_temperature, temperature,
                                       seed, eval_every)
        key = session_key(request)
        stop_flag = threading.Event()
        stops[key] = stop_flag
        run = live.LiveRun(settings)
        keep(key, run)
        last = 0.0
        try:
            for report in run.run(stop_flag):
                now = time.perf_counter()
                if not (report.done or report.evaluation is not None or now - last >= STREAM_EVERY_S):
                    continue
                last = now
                files = (gr.skip(), gr.skip())
                if report.done:
                    files = write_files(run)
                yield (
                    status_text(run, report),
                    curves_figure(run),
                    matrix_picture(run, report) if report.train is not None else gr.skip(),
                    *(evaluation_outputs(run, colours) if report.evaluation is not None else (gr.skip(),) * 3),
                    *files,
                )
        finally:
            if stops.get(key) is stop_flag:
                stops.pop(key, None)

    @user_errors(gpu=False)
    def replay(record_path, request: gr.Request = None):
        saved = runs.read_record(record_path, "train")
        settings = saved.get("settings")
        if not isinstance(settings, dict) or any(k not in settings for k in REPLAY_ORDER):
            raise InputError("This run record lacks its training settings; replay a record as the Train tab wrote it.")
        yield from train_run(*(settings[k] for k in REPLAY_ORDER), request=request)

    def request_stop(request: gr.Request = None):
        event = stops.get(session_key(request))
        if event is None:
            return "Nothing is training in this session."
        event.set()
        return "**Stopped.** The model stays as it was at its last evaluation: probe it, save it or use it in every tab."

    @user_errors(gpu=False)
    def run_probe(caption, request: gr.Request = None):
        run = session_run(request)
        found = live.probe(run.snapshot, caption, run.eval_data)
        return [
            (Image.fromarray(image).resize((128, 128), Image.NEAREST), f"{score:.2f} · {truth}")
            for image, score, truth in zip(found.images, found.scores, found.truths)
        ]

    @user_errors(gpu=False)
    def use_model(label, request: gr.Request = None):
        run = session_run(request)
        snapshot = run.snapshot
        top1 = snapshot.evaluation.top1
        weights = f"trained here ({snapshot.step} steps, held-out top-1 {top1:.0%})"
        backbone = live.as_backbone(snapshot.model, weights, resolve_device(device))
        shown = clean_name(label) or f"{live.LIVE_MODEL} · trained here, step {snapshot.step} ({top1:.0%})"
        return register(request, shown, backbone, trained_note(snapshot.step, top1, run.settings.concepts))

    @user_errors(gpu=False)
    def load_upload(path, request: gr.Request = None):
        if not path:
            raise InputError("Upload a checkpoint (.safetensors) that the Train tab saved.")
        model, metadata = live.load_checkpoint(path)
        file_name = Path(path).name
        backbone = live.as_backbone(model, f"checkpoint:{file_name}", resolve_device(device), model_name=metadata["model"])
        steps_done = metadata.get("steps", "?")
        note = (f"ℹ️ **This runs a CLIP loaded from {file_name}** ({metadata['model']}, {steps_done} steps on the "
                "generated world). It knows that world's colours, shapes, counts and positions at best, never photos: "
                "try each tab's world examples.")
        return register(request, f"{metadata['model']} · {file_name} (uploaded)", backbone, note)

    def register(request, shown: str, backbone, note: str):
        key = session_key(request)
        choice = ctx.add_session_model(key, shown, backbone, note)
        return (
            gr.Dropdown(choices=ctx.session_choices(key), value=choice),
            f"**{shown}** is now the model of every tab, for you only (this browser session). Pick another model "
            "in the header to go back.",
        )

    @user_errors(gpu=False)
    def export_files(request: gr.Request = None):
        run = session_run(request)
        return write_files(run)

    inputs = [steps, batch_size, lr, concepts, held_out, learnable, temperature, seed, eval_every]
    outputs = [status, curves, matrix, accuracy, embedding_map, combos, checkpoint, record]
    train_event = train.click(train_run, inputs, outputs, api_name="train_run", concurrency_limit=1,
                              concurrency_id="train_clip")
    replay_event = replay_button.click(replay, [record_in], outputs, api_name="train_replay", concurrency_limit=1,
                                       concurrency_id="train_clip")
    stop.click(request_stop, None, status, api_name="train_stop", cancels=[train_event, replay_event], queue=False)
    probe_button.click(run_probe, [probe_text], probe_gallery, api_name="train_probe")
    probe_text.submit(run_probe, [probe_text], probe_gallery, api_name="train_probe_submit")
    use.click(use_model, [name], [ctx.model_picker, use_note], api_name="train_use_model")
    load.click(load_upload, [upload], [ctx.model_picker, use_note], api_name="train_load_checkpoint")
    export.click(export_files, None, [checkpoint, record], api_name="train_export")


# -- outputs ------------------------------------------------------------------------------------------
def status_text(run: live.LiveRun, report: live.LiveReport) -> str:
    s = run.settings
    if report.train is None:
        return f"Step 0 / {s.steps}: the untrained model, scored before the first step · drawing pairs…"
    t = report.train
    rate = len(run.steps) / run.seconds if run.seconds > 0 else 0.0
    latest = run.evaluations[-1]
    line = (
        f"Step {t.step} / {s.steps} · loss {t.loss:.3f} (chance ln {s.batch_size} = {np.log(s.batch_size):.2f}) · "
        f"1/τ {t.logit_scale:.1f} · {run.seconds:.0f} s, {rate:.1f} steps/s · held-out top-1 "
        f"{latest.top1:.0%} at step {latest.step} (chance {live.CHANCE['top-1']:.1%})"
    )
    if report.done:
        how = {"finished": "Finished", "stopped": "Stopped", "time limit": "Stopped at the time limit"}[report.outcome]
        scores = ", ".join(f"{k} {v:.0%}" for k, v in latest.concepts.items() if v is not None)
        line = f"**{how}** after {t.step} steps in {run.seconds:.0f} s ({rate:.1f} steps/s). Held-out: {scores}.  \n" + line
    return line


def curves_figure(run: live.LiveRun):
    return render.training_curves(run.steps, run.losses, run.scales, run.settings.learnable_temperature)


def matrix_picture(run: live.LiveRun, report: live.LiveReport):
    t = report.train
    return render.similarity_picture(t.similarity, run.batch_images(t), t.captions, scale=t.logit_scale)


def evaluation_outputs(run: live.LiveRun, colours):
    history = run.history()["evaluations"]
    latest = run.evaluations[-1]
    accuracy = render.accuracy_curves(history, live.CHANCE)
    emap = render.embedding_map_figure(latest.map, colours, title=f"step {latest.step}")
    if latest.per_combination:
        ranking = sorted(latest.per_combination.items(), key=lambda kv: -kv[1])
        combos = render.probability_bars(ranking, title=f"step {latest.step}: held out {latest.concepts['held-out combinations']:.0%}, "
                                                        f"seen {latest.seen:.0%} (chance {live.CHANCE['top-1']:.1%})")
    else:
        combos = render.probability_bars([], title="nothing held out")
    return accuracy, emap, combos


def clean_name(text) -> str:
    return " ".join(str(text or "").split())[:60]


def trained_note(step: int, top1: float, concepts) -> str:
    return (
        f"ℹ️ **This runs the CLIP you trained in the Train tab** ({step} steps on the generated world, held-out "
        f"top-1 {top1:.0%}). At best it knows what its captions named — {', '.join(concepts)} — in that world, "
        "never photos: try each tab's world examples. Only you see it (this browser session)."
    )


def write_files(run: live.LiveRun) -> tuple[str, str]:
    """The checkpoint (safetensors, fp16) and the run record (JSON) of the run's last snapshot."""
    snapshot = run.snapshot
    folder = Path(tempfile.mkdtemp(prefix="clip-lab-train-"))
    weights = live.save(snapshot.model, folder / f"{live.LIVE_MODEL}-seed{run.settings.seed}-step{snapshot.step}.safetensors",
                        run.settings, extra={"steps": snapshot.step, "seed": run.settings.seed})
    scores = {k: v for k, v in snapshot.evaluation.concepts.items()}
    record = runs.write_record(
        "train",
        settings=run.settings.as_dict(),
        files={},
        model_choice=f"{live.LIVE_MODEL} (trained here)",
        weights=f"{weights.name}, step {snapshot.step}",
        scores={**scores, "seen combinations": snapshot.evaluation.seen, "per_combination": snapshot.evaluation.per_combination},
        extra={
            "outcome": run.outcome or "running",
            "seconds": round(run.seconds, 1),
            "history": run.history(),
            "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                        "torch": torch.__version__},
        },
    )
    return str(weights), record
