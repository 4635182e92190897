"""Tab "Train CLIP": a small CLIP learns the generated world live, on the CPU; then every tab can use it."""

from __future__ import annotations

import platform
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import torch

from app.render import training as shown
from app.scaffold import Answer, Page, Setting, Tab, owner, quiet
from components.backbone import resolve_device
from components.errors import InputError
from components.exports import folders
from components.mini import live
from components.world import scenes

STREAM_EVERY_S = 1.0  # the page gets a new picture at most once a second (and at each evaluation)
MAX_KEPT_RUNS = 8  # finished runs kept for probes and exports, all sessions together (oldest dropped)
QUICK = dict(steps=20, batch_size=16)  # the examples' few-step run (the browser sweep runs it)
TRAINING = ["steps", "batch_size", "lr", "concepts", "held_out", "learnable_temperature", "temperature", "seed",
            "eval_every"]  # the settings of a run, in its endpoint's (and its record's) order
PLOTS = ["status", "curves", "matrix", "accuracy", "embedding_map", "combos"]


def _check_record(record: dict) -> dict:
    """A replay needs every training setting (the record as this tab wrote it)."""
    settings = record.get("settings")
    if not isinstance(settings, dict) or any(k not in settings for k in TRAINING):
        raise InputError("This run record lacks its training settings; replay a record as the Train tab wrote it.")
    return record


TAB = Tab(
    key="train",
    title="Train CLIP",
    name="Train CLIP: watch contrastive learning",
    idea="Press Train and watch a small CLIP learn from scratch: each step pulls every image of the batch "
    "towards its own caption and away from the batch's other captions, until the image × text matrix "
    "turns diagonal and words name pictures the model has never seen.",
    paper="Radford et al., *Learning Transferable Visual Models From Natural Language Supervision*, ICML 2021 "
    "(the contrastive objective; figure 1 is the matrix below).",
    runs=f"CLIP's recipe at small scale — open_clip's model and `ClipLoss`, AdamW with warm-up and cosine decay, "
    f"a learnable temperature capped at 100 — on CLIP Lab Live (a small {live.IMAGE_SIZE}-px ResNet image tower and a "
    "2-layer text tower, 4 M weights, almost all of them the text tower's word table), trained here on "
    "this machine's CPU from pairs drawn from the generated world. It learns the world's colours, shapes, "
    "counts and positions, never photos. Zero-shot scores are on held-out scenes training never saw.",
    limits=f"One training at a time on this server (others wait in the queue); at most {live.MAX_STEPS} "
    f"steps or {live.MAX_SECONDS / 60:.0f} minutes, batches of {live.MIN_BATCH}–{live.MAX_BATCH}. The "
    "default run reaches about half the held-out scenes right in under three minutes on two CPU cores. "
    "Same seed and settings → the same curve on the same machine.",
    settings=[
        Setting("steps", lambda: gr.Slider(1, live.MAX_STEPS, value=live.DEFAULT_STEPS, step=1, label="Steps"),
                int, f"training steps (1–{live.MAX_STEPS})"),
        Setting("batch_size", lambda: gr.Slider(
            live.MIN_BATCH, live.MAX_BATCH, value=live.DEFAULT_BATCH, step=1, label="Batch size",
            info="Pairs per step: each image's caption competes with the batch's other captions."),
            int, f"pairs per step ({live.MIN_BATCH}–{live.MAX_BATCH})"),
        Setting("lr", lambda: gr.Number(live.DEFAULT_LR, label="Learning rate (AdamW peak)"),
                float, "AdamW's peak learning rate"),
        Setting("concepts", lambda: gr.CheckboxGroup(
            list(live.CONCEPTS), value=list(live.DEFAULT_CONCEPTS), label="What the captions mention",
            info="Concepts left out are never named: “a red shape”, “a star”."),
            list[str], f"what the captions mention, among {', '.join(live.CONCEPTS)}"),
        Setting("held_out", lambda: gr.Dropdown(
            scenes.class_labels(), value=list(live.DEFAULT_HELD_OUT), multiselect=True, allow_custom_value=True,
            label="Hold out these combinations", max_choices=live.MAX_HELD_OUT,
            info="Never shown in training; scored separately: compositional zero-shot."),
            list[str], f"colour × shape combinations never shown in training (at most {live.MAX_HELD_OUT})"),
        Setting("learnable_temperature", lambda: gr.Checkbox(True, label="Learnable temperature (CLIP's); off: fixed"),
                bool, "learn the temperature τ as CLIP does (false: keep it fixed)"),
        Setting("temperature", lambda: gr.Number(live.DEFAULT_TEMPERATURE, label="Temperature τ (initial, or fixed)"),
                float, "the temperature τ at the start (or throughout, when fixed)"),
        Setting("seed", lambda: gr.Number(0, label="Seed", precision=0), int, "seed of the weights and the pairs drawn"),
        Setting("eval_every", lambda: gr.Slider(1, 500, value=live.EVAL_EVERY, step=1, label="Evaluate every … steps"),
                int, "steps between held-out evaluations"),
        Setting("caption", lambda: gr.Textbox("a photo of a red star.", label="Caption", max_lines=1),
                str, "a caption to find held-out images with"),
        Setting("label", lambda: gr.Textbox("", label="Name in the model picker (optional)", max_lines=1),
                str, "the trained model's name in the picker (optional)"),
        Setting("path", lambda: gr.File(label="Load a checkpoint this tab saved", file_types=[".safetensors"]),
                str, "path of a checkpoint (.safetensors) this tab saved", file=True),
    ],
    upgrade=_check_record,
    strip=False,
)
TITLE = TAB.title


# -- layout and wiring --------------------------------------------------------------------------------
def build(ctx) -> None:
    page = Page(ctx, TAB)
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                train_button = gr.Button("Train", variant="primary")
                stop_button = gr.Button("Stop", variant="stop")
            page.inputs("steps", "batch_size", "lr", "concepts", "held_out")
            with gr.Accordion("Advanced", open=False):
                page.inputs("learnable_temperature", "temperature", "seed", "eval_every")
            page.limits()
            probe_button = _probe_panel(page)
            use_button, export_button, load_button = _use_panel(page)
        with gr.Column(scale=3):
            page.output("status", gr.Markdown("Press **Train**."))
            page.output("curves", gr.Plot(label="Loss and temperature"))
            page.output("matrix", gr.Image(label="This batch: image × text (cosine; colour: each row's softmax)",
                                           type="pil", format="png"))
            page.output("accuracy", gr.Plot(label="Zero-shot accuracy on held-out scenes, per concept"))
            page.output("embedding_map", gr.Plot(label="Embedding map (PCA): images and their words"))
            page.output("combos", gr.Plot(label="Held-out combinations: top-1 on scenes of each (never trained on)"))
    page.replay_panel("Trains again with the recorded settings: on the same machine, the same curve.", files=())
    quick = [QUICK["steps"], QUICK["batch_size"], live.DEFAULT_LR]
    full = [live.DEFAULT_STEPS, live.DEFAULT_BATCH, live.DEFAULT_LR]
    examples = ["steps", "batch_size", "lr", "concepts", "held_out"]
    page.examples([[*quick, list(live.DEFAULT_CONCEPTS), list(live.DEFAULT_HELD_OUT)],
                   [*quick, ["colours", "shapes"], ["red star"]]], examples, "Quick runs (a few steps)")
    page.examples([[*full, list(live.DEFAULT_CONCEPTS), list(live.DEFAULT_HELD_OUT)],
                   [*full, ["colours", "shapes"], ["red star", "blue circle"]]], examples, "Full runs (a few minutes)")

    one_at_a_time = dict(concurrency_limit=1, concurrency_id="train_clip")
    runs = page.run(train_button, train, "run", uses=TRAINING, outputs=[*PLOTS, "checkpoint", "record"], gpu=False,
                    long_job="training", **one_at_a_time)  # on the CPU, in the main process: the run is kept for probes and exports
    page.action(stop_button, stop, "stop", outputs=["status"], model=False, gpu=False, cancels=runs, queue=False)
    page.action(probe_button, probe, "probe", uses=["caption"], outputs=["probe"], model=False, gpu=False)
    page.action(page.components["caption"], probe, "probe_submit", uses=["caption"], outputs=["probe"], model=False,
                gpu=False, event="submit")
    page.action(use_button, use_model, "use_model", uses=["label"], outputs=["picker", "use_note"], model=False, gpu=False)
    page.action(load_button, load_checkpoint, "load_checkpoint", uses=["path"], outputs=["picker", "use_note"],
                model=False, gpu=False)
    page.action(export_button, export, "export", outputs=["checkpoint", "record"], model=False, gpu=False)


def _probe_panel(page: Page) -> gr.Button:
    with gr.Accordion("Probe: a caption → the held-out images it finds", open=True):
        page.input("caption")
        button = gr.Button("Probe (the model at its last evaluation)")
        page.output("probe", gr.Gallery(label="Top held-out images (cosine · what the scene is)", columns=4, height=260))
    return button


def _use_panel(page: Page) -> tuple[gr.Button, gr.Button, gr.Button]:
    with gr.Accordion("Use it everywhere", open=True):
        page.input("label")
        use = gr.Button("Use this model in every tab")
        page.output("use_note", gr.Markdown())
        page.output("picker", page.ctx.model_picker)
        export_button = gr.Button("Save checkpoint and run record (also after Stop)")
        page.output("checkpoint", gr.File(label="Checkpoint (safetensors)"))
        page.record = gr.File(label="Run record (JSON): settings, curves, scores")
        page.input("path")
        load = gr.Button("Load it and use it in every tab")
    return use, export_button, load


# -- this tab's state: each session's running training and its last run ---------------------------------
class Trainings:
    """The Stop flag of each session's running training, and the last run of each session (for
    probes, exports and "use it"), MAX_KEPT_RUNS at most, all sessions together (oldest dropped)."""

    def __init__(self):
        self.stops: dict[str, threading.Event] = {}
        self.kept: OrderedDict[str, tuple[live.LiveRun, str]] = OrderedDict()  # session → (run, model choice)
        self.lock = threading.Lock()

    def start(self, session: str, run: live.LiveRun, model: str) -> threading.Event:
        flag = threading.Event()
        with self.lock:
            self.stops[session] = flag
            self.kept[session] = (run, model)
            self.kept.move_to_end(session)
            while len(self.kept) > MAX_KEPT_RUNS:
                self.kept.popitem(last=False)
        return flag

    def finish(self, session: str, flag: threading.Event) -> None:
        with self.lock:
            if self.stops.get(session) is flag:
                self.stops.pop(session, None)

    def stop(self, session: str) -> bool:
        with self.lock:
            flag = self.stops.get(session)
        if flag is not None:
            flag.set()
        return flag is not None

    def last(self, session: str) -> tuple[live.LiveRun, str]:
        with self.lock:
            kept = self.kept.get(session)
        if kept is None or kept[0].snapshot is None:
            raise InputError("Train a model first (press Train), or load a checkpoint this tab saved.")
        return kept


_TRAININGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # AppContext → its Trainings


def trainings(ctx) -> Trainings:
    return _TRAININGS.setdefault(ctx, Trainings())


def _session(session: str) -> str:
    return owner(session)  # the browser's: a reload keeps its run and models


# -- handlers -----------------------------------------------------------------------------------------
def train(ctx, s, progress=quiet, session: str = "") -> Iterator[Answer]:
    """Train CLIP Lab Live with the settings, streaming the status, curves and plots; the last answer
    carries the checkpoint and the run record. The header's model is only recorded: training starts
    from scratch."""
    settings = live.check_settings(*(s[n] for n in TRAINING))
    key, state = _session(session), trainings(ctx)
    run = live.LiveRun(settings)
    flag = state.start(key, run, s.model)
    last = 0.0
    try:
        for report in run.run(flag):
            now = time.perf_counter()
            if not (report.done or report.evaluation is not None or now - last >= STREAM_EVERY_S):
                continue
            last = now
            yield _report(run, report, s.model)
    finally:
        state.finish(key, flag)


def _report(run: live.LiveRun, report: live.LiveReport, model: str) -> Answer:
    outputs = {"status": shown.status(run, report), "curves": shown.curves(run)}
    if report.train is not None:
        outputs["matrix"] = shown.batch_matrix(run, report)
    if report.evaluation is not None:
        outputs.update(shown.evaluation(run))
    if not report.done:
        return Answer(outputs)
    answer = saved(run, model)
    answer.outputs = {**outputs, **answer.outputs}
    return answer


def stop(ctx, s, progress=quiet, session: str = "") -> Answer:
    """Stop this session's training at its next step."""
    if not trainings(ctx).stop(_session(session)):
        return Answer({"status": "Nothing is training in this session."})
    return Answer({"status": "**Stopped.** The model stays as it was at its last evaluation: probe it, save it or "
                             "use it in every tab."})


def probe(ctx, s, progress=quiet, session: str = "") -> Answer:
    """The held-out images the caption finds, by the model at its last evaluation."""
    run, _ = trainings(ctx).last(_session(session))
    return Answer({"probe": shown.probe_gallery(live.probe(run.snapshot, s.caption, run.eval_data))})


def use_model(ctx, s, progress=quiet, session: str = "") -> Answer:
    """Serve the trained model (at its last evaluation) to every tab, for this browser."""
    run, _ = trainings(ctx).last(_session(session))
    snapshot = run.snapshot
    top1 = snapshot.evaluation.top1
    weights = f"trained here ({snapshot.step} steps, held-out top-1 {top1:.0%})"
    backbone = live.as_backbone(snapshot.model, weights, resolve_device(ctx.settings.device))
    name = clean_name(s.label) or f"{live.LIVE_MODEL} · trained here, step {snapshot.step} ({top1:.0%})"
    return _register(ctx, session, name, backbone, trained_note(snapshot.step, top1, run.settings.concepts))


def load_checkpoint(ctx, s, progress=quiet, session: str = "") -> Answer:
    """Load a checkpoint this tab saved and serve it to every tab, for this browser."""
    if not s.path:
        raise InputError("Upload a checkpoint (.safetensors) that the Train tab saved.")
    model, metadata = live.load_checkpoint(s.path)
    file_name = Path(s.path).name
    backbone = live.as_backbone(model, f"checkpoint:{file_name}", resolve_device(ctx.settings.device),
                                model_name=metadata["model"])
    note = (f"ℹ️ **This runs a CLIP loaded from {file_name}** ({metadata['model']}, {metadata.get('steps', '?')} steps "
            "on the generated world). It knows that world's colours, shapes, counts and positions at best, never "
            "photos: try each tab's world examples.")
    return _register(ctx, session, f"{metadata['model']} · {file_name} (uploaded)", backbone, note)


def export(ctx, s, progress=quiet, session: str = "") -> Answer:
    """The checkpoint and run record of this session's last run, as it is now (also after Stop)."""
    return saved(*trainings(ctx).last(_session(session)))


def _register(ctx, session: str, name: str, backbone, note: str) -> Answer:
    key = _session(session)
    choice = ctx.add_session_model(key, name, backbone, note)
    return Answer({
        "picker": gr.Dropdown(choices=ctx.session_choices(key), value=choice),
        "use_note": f"**{name}** is now the model of every tab, for you only (this browser; a reload keeps it in "
                    "the picker). Pick another model in the header to go back.",
    })


def clean_name(text) -> str:
    return " ".join(str(text or "").split())[:60]


def trained_note(step: int, top1: float, concepts) -> str:
    return (
        f"ℹ️ **This runs the CLIP you trained in the Train tab** ({step} steps on the generated world, held-out "
        f"top-1 {top1:.0%}). At best it knows what its captions named — {', '.join(concepts)} — in that world, "
        "never photos: try each tab's world examples. Only you see it (this browser)."
    )


def saved(run: live.LiveRun, model: str) -> Answer:
    """The checkpoint (safetensors, fp16) of the run's last snapshot, and what its run record holds:
    the checked settings, the held-out scores, the curves, how the run ended and on what machine."""
    snapshot = run.snapshot
    folder = folders.answer_folder("train")
    weights = live.save(snapshot.model, folder / f"{live.LIVE_MODEL}-seed{run.settings.seed}-step{snapshot.step}.safetensors",
                        run.settings, extra={"steps": snapshot.step, "seed": run.settings.seed})
    evaluation = snapshot.evaluation
    return Answer(
        {"checkpoint": str(weights)},
        scores={**evaluation.concepts, "seen combinations": evaluation.seen, "per_combination": evaluation.per_combination},
        weights=f"{weights.name}, step {snapshot.step}",
        settings=run.settings.as_dict(),
        model=model,
        extra={
            "outcome": run.outcome or "running",
            "seconds": round(run.seconds, 1),
            "history": run.history(),
            "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                        "torch": torch.__version__},
        },
    )
