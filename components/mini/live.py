"""Live training for the Train tab: a small CLIP learns the generated world while a person watches.

`check_settings(...)` turns what a person typed into `LiveSettings` (or an `InputError` saying which
setting is wrong and what is allowed). `LiveRun(settings).run(stop)` trains through
`components.mini.training.train` — open_clip's model and `ClipLoss`, CLIP's recipe — and yields a
`LiveReport` after every step; every `eval_every` steps (and at the start and the end) it scores the
model on held-out scenes with `evaluate`:

- zero-shot top-1 over the 64 colour × shape classes on single-object scenes of held-out seeds
  ("a photo of a {label}."; chance 1/64), and per concept: colour (the predicted label's colour is
  right; chance 1/8), shape (likewise), count (count scenes of 2–4 copies, "a photo of three red
  stars." among two / three / four; chance 1/3) and position (a single object clearly on one side,
  "a red star on the left" among the four sides; chance 1/4);
- each held-out combination's top-1 on scenes of that combination alone (training never showed it);
- a 2-D PCA map of image and text embeddings (`pca_map`), and the gallery a probe caption ranks
  (`probe`).

The model is CLIP Lab Live (`clip-lab-live.json` beside this file): Mini's recipe at 64 px with a
small ResNet image tower (open_clip's ModifiedResNet, width 12, one block per stage) and a 2-layer
text tower, small enough to learn colour × shape in three minutes on two CPU cores. (ViT towers of
the same cost learned colour as fast but shape far slower: after 1000 steps of 64 pairs a 4-layer
ViT with 16-px patches and a 2-layer one with 8-px patches were at 13–20 % top-1, shape near chance;
a ResNet stem sees a 10-px shape.) Its
weights can be saved (`save`, safetensors) and loaded back (`load_checkpoint`), and served to every
tab as a `ClipBackbone` (`as_backbone`). Same seed and settings → same curve on the same machine.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from components import mini
from components.backbone import ClipBackbone
from components.errors import InputError
from components.mini.data import MEAN, STD, WorldMix, normalise, sample
from components.mini.training import TrainConfig, TrainStep, create, train
from components.world import captions, scenes, splits
from components.world.captions import NUMBER_WORDS, plural, position

LIVE_MODEL = "clip-lab-live"
IMAGE_SIZE = 64
CONCEPTS = captions.CONCEPTS
DEFAULT_CONCEPTS = ("colours", "shapes", "counts", "positions")
DEFAULT_HELD_OUT = tuple(sorted(f"{c} {s}" for c, s in splits.HELD_OUT_COMBINATIONS))

# The default run: reaches >= 50 % held-out top-1 within 3 minutes on two CPU cores (see
# benchmarks/bench_train.py for the measured figures).
DEFAULT_STEPS = 400
DEFAULT_BATCH = 128
DEFAULT_LR = 3e-3
DEFAULT_TEMPERATURE = 0.07
EVAL_EVERY = 50

# Bounds: a run is at most MAX_STEPS steps and MAX_SECONDS of wall time (whichever comes first);
# batches and the held-out set are bounded so memory stays small.
MAX_STEPS = 5000
MIN_BATCH, MAX_BATCH = 2, 256
MIN_LR, MAX_LR = 1e-6, 0.05
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.005, 1.0
MAX_HELD_OUT = 16
MAX_SECONDS = float(os.environ.get("CLIP_LAB_TRAIN_MAX_SECONDS", "600"))
MAX_CHECKPOINT_BYTES = 64 * 2**20
LOADABLE_MODELS = (LIVE_MODEL, mini.MODEL)  # checkpoints this module can load back
WORKERS = 1  # one loader process draws the pairs beside the model's threads


def train_threads() -> int:
    """Torch threads while a run trains: the cores left beside the loader's worker (on two cores, one:
    a second model thread beside the busy worker made steps slower there, not faster)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores - WORKERS)

# Which scene kinds a run draws, given the concepts its captions may mention: mostly single objects
# (what zero-shot colour × shape is scored on; a minute of training has no pairs to spare), count
# scenes when counts are named, relation scenes when relations are.
BASE_MIX = {"single": 0.85, "count": 0.15, "relation": 0.1}

# Held-out evaluation: sizes of each set (seeds of the held-out split, disjoint offsets).
EVAL_SINGLES = 192
EVAL_PER_COMBINATION = 8
EVAL_COUNTS = 48
EVAL_POSITIONS = 48
MAP_IMAGES = 32
CHANCE = {"top-1": 1 / 64, "colour": 1 / 8, "shape": 1 / 8, "count": 1 / 3, "position": 1 / 4, "held-out combinations": 1 / 64}
SIDES = ("on the left", "on the right", "at the top", "at the bottom")
COUNTS = (2, 3, 4)


def label_prompt(label: str) -> str:
    return f"a photo of a {label}."


def count_prompt(label: str, n: int) -> str:
    colour, shape = label.split(" ")
    return f"a photo of {NUMBER_WORDS[n]} {colour} {plural(shape)}."


def side_prompt(label: str, side: str) -> str:
    return f"a {label} {side}"


# -- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveSettings:
    """What a person chooses. held_out: "colour shape" labels never shown in training."""

    steps: int = DEFAULT_STEPS
    batch_size: int = DEFAULT_BATCH
    lr: float = DEFAULT_LR
    concepts: tuple[str, ...] = DEFAULT_CONCEPTS
    held_out: tuple[str, ...] = DEFAULT_HELD_OUT
    learnable_temperature: bool = True
    temperature: float = DEFAULT_TEMPERATURE
    seed: int = 0
    eval_every: int = EVAL_EVERY
    max_seconds: float = MAX_SECONDS

    @property
    def exclude(self) -> frozenset:
        return frozenset(tuple(label.split(" ")) for label in self.held_out)

    def world(self) -> WorldMix:
        mix = dict(BASE_MIX)
        if "counts" not in self.concepts:
            mix.pop("count", None)
        if "relations" not in self.concepts:
            mix.pop("relation", None)
        return WorldMix(concepts=self.concepts, exclude=self.exclude, mix=tuple(mix.items()), image_size=IMAGE_SIZE)

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            model=LIVE_MODEL,
            seed=self.seed,
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            warmup=max(1, min(50, self.steps // 10)),
            learnable_temperature=self.learnable_temperature,
            temperature=self.temperature,
            world=self.world(),
            report_every=1,  # every step comes back here: Stop and the time limit act within a step
            eval_every=self.steps + 1,  # this module evaluates; training's own check runs once, on one scene
            eval_scenes=1,
            workers=WORKERS,
        )

    def as_dict(self) -> dict:
        return {
            "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "concepts": list(self.concepts),
            "held_out": list(self.held_out), "learnable_temperature": self.learnable_temperature,
            "temperature": self.temperature, "seed": self.seed, "eval_every": self.eval_every,
        }


def _number(value, name: str, lo: float, hi: float, integer: bool = False) -> float:
    what = "a whole number" if integer else "a number"
    if isinstance(value, bool):
        raise InputError(f"Give {what} for the {name} (got {value!r}).")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Give {what} for the {name} (got {value!r}).") from None
    if not math.isfinite(out):
        raise InputError(f"Give a finite number for the {name} (got {value!r}).")
    if integer and out != int(out):
        raise InputError(f"Give {what} for the {name} (got {value!r}).")
    if not lo <= out <= hi:
        raise InputError(f"The {name} must be between {lo:g} and {hi:g} (got {value!r}).")
    return int(out) if integer else out


def _labels(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",")]
    if not isinstance(value, (list, tuple)):
        raise InputError(f"Give the {name} as a list (got {type(value).__name__}).")
    out = []
    for v in value:
        if not isinstance(v, str):
            raise InputError(f"Each of the {name} must be text (got {v!r}).")
        v = " ".join(v.strip().lower().split())
        if v and v not in out:
            out.append(v)
    return out


def check_settings(
    steps=DEFAULT_STEPS,
    batch_size=DEFAULT_BATCH,
    lr=DEFAULT_LR,
    concepts=DEFAULT_CONCEPTS,
    held_out=DEFAULT_HELD_OUT,
    learnable_temperature=True,
    temperature=DEFAULT_TEMPERATURE,
    seed=0,
    eval_every=EVAL_EVERY,
    max_seconds=MAX_SECONDS,
) -> LiveSettings:
    """Settings from raw values, each checked; an InputError names the setting and its range."""
    steps = _number(steps, "number of steps", 1, MAX_STEPS, integer=True)
    batch_size = _number(batch_size, "batch size", MIN_BATCH, MAX_BATCH, integer=True)
    lr = _number(lr, "learning rate", MIN_LR, MAX_LR)
    temperature = _number(temperature, "temperature", MIN_TEMPERATURE, MAX_TEMPERATURE)
    seed = _number(seed, "seed", 0, 2**31 - 1, integer=True)
    eval_every = _number(eval_every, "evaluation interval (steps)", 1, MAX_STEPS, integer=True)
    max_seconds = _number(max_seconds, "time limit (seconds)", 1, MAX_SECONDS)
    chosen = _labels(concepts, "concepts")
    unknown = [c for c in chosen if c not in CONCEPTS]
    if unknown:
        raise InputError(f"Unknown concept(s) {', '.join(map(repr, unknown))}; choose from {', '.join(CONCEPTS)}.")
    if not chosen:
        raise InputError(f"Choose at least one concept for the captions ({', '.join(CONCEPTS)}).")
    if not {"colours", "shapes"} & set(chosen):
        raise InputError("Keep colours or shapes among the concepts: without them no caption names what is in a scene.")
    combos = _labels(held_out, "held-out combinations")
    known = set(scenes.class_labels())
    bad = [c for c in combos if c not in known]
    if bad:
        raise InputError(
            f"{', '.join(map(repr, bad[:3]))} {'is' if len(bad) == 1 else 'are'} not a colour × shape of the world "
            f"(e.g. “red star”; colours: {', '.join(scenes.COLOURS)}; shapes: {', '.join(scenes.SHAPES)})."
        )
    if len(combos) > MAX_HELD_OUT:
        raise InputError(f"Hold out at most {MAX_HELD_OUT} combinations (got {len(combos)}).")
    for colour in scenes.COLOURS:
        if all(f"{colour} {s}" in combos for s in scenes.SHAPES):
            raise InputError(f"Holding out every {colour} shape leaves no {colour} scene to learn {colour} from; keep at least one.")
    for shape in scenes.SHAPES:
        if all(f"{c} {shape}" in combos for c in scenes.COLOURS):
            raise InputError(f"Holding out every colour of {shape} leaves no {shape} to learn from; keep at least one.")
    return LiveSettings(
        steps=steps, batch_size=batch_size, lr=lr, concepts=tuple(c for c in CONCEPTS if c in chosen),
        held_out=tuple(sorted(combos)), learnable_temperature=bool(learnable_temperature), temperature=temperature,
        seed=seed, eval_every=eval_every, max_seconds=max_seconds,
    )


# -- the held-out evaluation set -------------------------------------------------------------------
@dataclass(frozen=True)
class EvalSet:
    """Held-out scenes drawn once per (image size, held-out combinations). Rows of `pixels`:
    singles, then each held-out combination's scenes, then count scenes, then position scenes."""

    pixels: torch.Tensor  # (N, 3, S, S) normalised
    images: np.ndarray  # (N, S, S, 3) uint8, for the probe's gallery
    captions: tuple[str, ...]  # the truth of each image, for the gallery
    singles: slice
    single_truth: np.ndarray  # class index into scenes.class_labels()
    combos: slice
    combo_truth: np.ndarray
    held_out: tuple[str, ...]
    counts: slice
    count_labels: tuple[str, ...]
    count_truth: np.ndarray  # index into COUNTS
    positions: slice
    position_labels: tuple[str, ...]
    position_truth: np.ndarray  # index into SIDES


@lru_cache(maxsize=4)
def eval_set(image_size: int = IMAGE_SIZE, held_out: tuple[str, ...] = DEFAULT_HELD_OUT) -> EvalSet:
    labels = scenes.class_labels()
    exclude = frozenset(tuple(l.split(" ")) for l in held_out)
    rendered, texts = [], []

    def add(scene, text):
        rendered.append(scenes.render(scene, image_size))
        texts.append(text)

    for s in splits.seeds("held_out", EVAL_SINGLES):
        scene = scenes.random_scene(s, kind="objects", count=1)
        add(scene, scene.objects[0].label)
    single_truth = [labels.index(r.scene.objects[0].label) for r in rendered]
    start = len(rendered)
    for k, label in enumerate(held_out):
        colour, shape = label.split(" ")
        for s in splits.seeds("held_out", EVAL_PER_COMBINATION, 1_000_000 + 1000 * labels.index(label)):
            add(scenes.random_scene(s, kind="objects", count=1, colour=colour, shape=shape), label)
    combo_truth = [labels.index(l) for l in texts[start:]]
    combos = slice(start, len(rendered))
    def collect(seeds, limit, kind, answer, prompt, answers):
        """Held-out scenes of `kind` whose `answer` (the count, the side) is one of `answers`, up to
        `limit`: added with their prompt; returns (where they are, their labels, the answers' indices)."""
        first, found, truth = len(rendered), [], []
        for s in seeds:
            scene = scenes.random_scene(s, kind=kind, exclude=exclude, **({"count": 1} if kind == "objects" else {}))
            value = answer(scene)
            if value not in answers:
                continue
            label = scene.objects[0].label
            add(scene, prompt(label, value))
            found.append(label)
            truth.append(answers.index(value))
            if len(found) == limit:
                break
        return slice(first, len(rendered)), found, truth

    counts, count_labels, count_truth = collect(
        splits.seeds("held_out", EVAL_COUNTS * 4, 2_000_000), EVAL_COUNTS, "count",
        lambda scene: len(scene.objects), count_prompt, COUNTS)
    positions, position_labels, position_truth = collect(
        splits.seeds("held_out", EVAL_POSITIONS * 10, 3_000_000), EVAL_POSITIONS, "objects",
        lambda scene: position(scene.objects[0]), side_prompt, SIDES)
    images = np.stack([r.image for r in rendered])
    return EvalSet(
        pixels=torch.stack([normalise(im) for im in images]),
        images=images,
        captions=tuple(texts),
        singles=slice(0, EVAL_SINGLES),
        single_truth=np.array(single_truth),
        combos=combos,
        combo_truth=np.array(combo_truth, dtype=np.int64),
        held_out=tuple(held_out),
        counts=counts,
        count_labels=tuple(count_labels),
        count_truth=np.array(count_truth),
        positions=positions,
        position_labels=tuple(position_labels),
        position_truth=np.array(position_truth),
    )


# -- evaluation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingMap:
    """2-D PCA coordinates of image and text embeddings. axes: (2, D) principal directions (signs
    kept consistent with the previous map's, so the picture does not flip between steps)."""

    image_xy: np.ndarray
    text_xy: np.ndarray
    image_labels: tuple[str, ...]
    text_labels: tuple[str, ...]
    explained: np.ndarray
    axes: np.ndarray
    centred: str


def pca_map(
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    image_labels: Sequence[str] = (),
    text_labels: Sequence[str] = (),
    previous: EmbeddingMap | None = None,
    centre: str = "each",
) -> EmbeddingMap:
    """Project image and text embeddings on the first two principal axes of both together (numpy SVD).
    centre="each" removes each modality's own mean first — CLIP's image and text embeddings sit in
    two separate cones (the "modality gap"), which would otherwise be the first axis — so a word can
    land next to its pictures; "joint" removes one shared mean and shows the gap."""
    images = np.asarray(image_embeddings, np.float64)
    texts = np.asarray(text_embeddings, np.float64)
    if centre == "each":
        images, texts = images - images.mean(0), texts - texts.mean(0)
    elif centre == "joint":
        mean = np.concatenate([images, texts]).mean(0)
        images, texts = images - mean, texts - mean
    else:
        raise ValueError(f"centre must be 'each' or 'joint', not {centre!r}")
    joint = np.concatenate([images, texts])
    _, singular, vt = np.linalg.svd(joint, full_matrices=False)
    axes = vt[:2].copy()
    if len(axes) < 2:
        axes = np.concatenate([axes, np.zeros((2 - len(axes), joint.shape[1]))])
    for i in range(2):
        if previous is not None and previous.axes.shape == axes.shape:
            flip = float(axes[i] @ previous.axes[i]) < 0
        else:
            flip = axes[i][np.argmax(np.abs(axes[i]))] < 0  # deterministic: the largest loading positive
        if flip:
            axes[i] = -axes[i]
    power = singular**2
    explained = power[:2] / power.sum() if power.sum() > 0 else np.zeros(2)
    return EmbeddingMap(
        image_xy=images @ axes.T, text_xy=texts @ axes.T, image_labels=tuple(image_labels),
        text_labels=tuple(text_labels), explained=np.pad(explained, (0, 2 - len(explained))), axes=axes, centred=centre,
    )


@dataclass(frozen=True)
class Evaluation:
    """Held-out scores at one step. concepts: name → accuracy ("top-1", "colour", "shape", "count",
    "position", "held-out combinations" — the last None when nothing is held out); per_combination:
    label → top-1 on that held-out combination's scenes; seen: top-1 on single scenes whose
    combination training did show."""

    step: int
    concepts: dict[str, float | None]
    per_combination: dict[str, float]
    seen: float
    map: EmbeddingMap
    gallery: np.ndarray = field(repr=False)  # (N, D) image embeddings of the eval set, for probes

    @property
    def top1(self) -> float:
        return self.concepts["top-1"]


@torch.no_grad()
def _encode_images(model, pixels: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([model.encode_image(pixels[i : i + batch], normalize=True) for i in range(0, len(pixels), batch)])


@torch.no_grad()
def _encode_texts(model, tokenizer, texts: Sequence[str], batch: int = 256) -> torch.Tensor:
    texts = list(texts)
    return torch.cat([model.encode_text(tokenizer(texts[i : i + batch]), normalize=True) for i in range(0, len(texts), batch)])


@torch.no_grad()
def evaluate(model, tokenizer, data: EvalSet, step: int = 0, previous: EmbeddingMap | None = None) -> Evaluation:
    """Score `model` on the held-out set (see the module's docstring for each concept)."""
    was_training = model.training
    model.eval()
    try:
        labels = scenes.class_labels()
        colours = np.array([l.split(" ")[0] for l in labels])
        shapes = np.array([l.split(" ")[1] for l in labels])
        image = _encode_images(model, data.pixels)
        text = _encode_texts(model, tokenizer, [label_prompt(l) for l in labels])
        predicted = (image[data.singles] @ text.T).argmax(1).numpy()
        truth = data.single_truth
        held = np.isin(np.array(labels)[truth], data.held_out)
        concepts: dict[str, float | None] = {
            "top-1": float((predicted == truth).mean()),
            "colour": float((colours[predicted] == colours[truth]).mean()),
            "shape": float((shapes[predicted] == shapes[truth]).mean()),
        }
        seen = float((predicted == truth)[~held].mean()) if (~held).any() else float("nan")
        count_labels = sorted(set(data.count_labels))
        count_text = _encode_texts(model, tokenizer, [count_prompt(l, n) for l in count_labels for n in COUNTS])
        count_text = count_text.reshape(len(count_labels), len(COUNTS), -1)
        rows = [count_labels.index(l) for l in data.count_labels]
        count_scores = torch.einsum("nd,ncd->nc", image[data.counts], count_text[rows])
        concepts["count"] = float((count_scores.argmax(1).numpy() == data.count_truth).mean())
        side_labels = sorted(set(data.position_labels))
        side_text = _encode_texts(model, tokenizer, [side_prompt(l, s) for l in side_labels for s in SIDES])
        side_text = side_text.reshape(len(side_labels), len(SIDES), -1)
        rows = [side_labels.index(l) for l in data.position_labels]
        side_scores = torch.einsum("nd,ncd->nc", image[data.positions], side_text[rows])
        concepts["position"] = float((side_scores.argmax(1).numpy() == data.position_truth).mean())
        per_combination: dict[str, float] = {}
        if len(data.combo_truth):
            combo_predicted = (image[data.combos] @ text.T).argmax(1).numpy()
            right = combo_predicted == data.combo_truth
            concepts["held-out combinations"] = float(right.mean())
            for label in data.held_out:
                mask = data.combo_truth == labels.index(label)
                per_combination[label] = float(right[mask].mean())
        else:
            concepts["held-out combinations"] = None
        shown = np.arange(data.singles.start, data.singles.start + MAP_IMAGES)
        shown_labels = [labels[t] for t in truth[:MAP_IMAGES]]
        text_labels = sorted(set(shown_labels), key=labels.index)
        text_rows = [labels.index(l) for l in text_labels]
        embedding_map = pca_map(image[shown].numpy(), text[text_rows].numpy(), shown_labels, text_labels, previous)
        return Evaluation(step, concepts, per_combination, seen, embedding_map, image.numpy())
    finally:
        model.train(was_training)


# -- a live run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The model as it was at one evaluation (a copy: training goes on), for probes, exports and
    serving it to every tab."""

    step: int
    model: torch.nn.Module
    evaluation: Evaluation


@dataclass(frozen=True)
class LiveReport:
    """One step. evaluation: the held-out scores when this step was evaluated; done: the run ends
    here; outcome: "finished", "stopped" or "time limit" once done."""

    train: TrainStep | None  # None for the evaluation before the first step
    evaluation: Evaluation | None
    done: bool = False
    outcome: str = ""


class LiveRun:
    """One training run of `settings`. `run(stop)` trains, yielding a `LiveReport` per step; the
    history (`steps`, `losses`, `scales`, `evaluations`) and the last `snapshot` stay on the object."""

    def __init__(self, settings: LiveSettings):
        self.settings = settings
        self.config = settings.train_config()
        self.tokenizer = mini.register().get_tokenizer(LIVE_MODEL)
        self.eval_data = eval_set(IMAGE_SIZE, settings.held_out)
        self.model: torch.nn.Module | None = None
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.scales: list[float] = []
        self.evaluations: list[Evaluation] = []
        self.snapshot: Snapshot | None = None
        self.outcome = ""
        self.seconds = 0.0
        self.finished = threading.Event()

    def run(self, stop: threading.Event | None = None) -> Iterator[LiveReport]:
        settings = self.settings
        threads = torch.get_num_threads()
        torch.set_num_threads(train_threads())  # process-wide, for the run's length (restored after)
        started = time.perf_counter()
        steps = None
        try:
            self.model = create(self.config)
            self._evaluate(0)
            yield LiveReport(None, self.evaluations[-1])
            steps = train(self.config, self.model)
            for report in steps:
                self.steps.append(report.step)
                self.losses.append(report.loss)
                self.scales.append(report.logit_scale)
                self.seconds = time.perf_counter() - started
                outcome = ""
                if report.step >= report.steps:
                    outcome = "finished"
                elif stop is not None and stop.is_set():
                    outcome = "stopped"
                elif self.seconds >= settings.max_seconds:
                    outcome = "time limit"
                if outcome:
                    steps.close()  # the loader's worker ends now, not when this generator is collected
                evaluation = None
                if outcome or report.step % settings.eval_every == 0:
                    evaluation = self._evaluate(report.step, final=bool(outcome))
                if outcome:
                    self.outcome = outcome
                    self.seconds = time.perf_counter() - started
                    self.model.eval()
                    # done before the last report goes out: a consumer that stops reading there (a
                    # cancelled page) leaves nothing running or changed
                    torch.set_num_threads(threads)
                    self.finished.set()
                yield LiveReport(report, evaluation, bool(outcome), outcome)
                if outcome:
                    return
        finally:
            if steps is not None:
                steps.close()
            torch.set_num_threads(threads)
            self.finished.set()

    def _evaluate(self, step: int, final: bool = False) -> Evaluation:
        previous = self.evaluations[-1].map if self.evaluations else None
        evaluation = evaluate(self.model, self.tokenizer, self.eval_data, step, previous)
        self.evaluations.append(evaluation)
        self.snapshot = Snapshot(step, self.model if final else frozen_copy(self.model), evaluation)
        return evaluation

    def batch_images(self, report: TrainStep, count: int = 16) -> np.ndarray:
        """(n, S, S, 3) uint8: the first images of `report`'s batch (pairs are a function of their
        index, so they are drawn again rather than kept)."""
        return batch_images(self.settings, report.step, min(count, len(report.captions)))

    def history(self) -> dict:
        """The curves so far, as plain lists (for plots and the run record)."""
        return {
            "steps": list(self.steps),
            "loss": list(self.losses),
            "logit_scale": list(self.scales),
            "evaluations": [
                {"step": e.step, **{k: v for k, v in e.concepts.items()}, "seen combinations": e.seen,
                 "per_combination": dict(e.per_combination)}
                for e in self.evaluations
            ],
        }


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """An inference-only copy of `model` (no gradients), in eval mode."""
    out = copy.deepcopy(model)
    for p in out.parameters():
        p.grad = None
        p.requires_grad_(False)
    return out.eval()


def batch_images(settings: LiveSettings, step: int, count: int = 16) -> np.ndarray:
    """The first `count` images of batch `step` (1-based) of a run of `settings`, as uint8."""
    world = settings.world()
    start = (step - 1) * settings.batch_size
    pixels = torch.stack([sample(start + i, settings.seed, world, None)[0] for i in range(count)])
    return to_uint8(pixels)


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """CLIP-normalised (N, 3, S, S) → (N, S, S, 3) uint8."""
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    x = (pixels * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


# -- probing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """The held-out images that best match a caption: indices into the eval set, their cosines,
    the images and their true captions."""

    caption: str
    step: int
    indices: np.ndarray
    scores: np.ndarray
    images: np.ndarray
    truths: tuple[str, ...]


MAX_PROBE_CHARS = 200


def probe(snapshot: Snapshot, caption: str, data: EvalSet, k: int = 8) -> ProbeResult:
    """Rank the held-out images for `caption` with the model as it was at `snapshot.step`."""
    text = " ".join(str(caption or "").split())
    if not text:
        raise InputError("Type a caption to probe with, e.g. “a photo of a red star.”")
    if len(text) > MAX_PROBE_CHARS:
        raise InputError(f"Keep the probe caption under {MAX_PROBE_CHARS} characters (got {len(text)}).")
    k = int(_number(k, "number of images", 1, 32, integer=True))
    tokenizer = mini.register().get_tokenizer(LIVE_MODEL)
    embedding = _encode_texts(snapshot.model, tokenizer, [text])[0].numpy()
    scores = snapshot.evaluation.gallery @ embedding
    order = np.argsort(-scores, kind="stable")[:k]
    return ProbeResult(text, snapshot.step, order, scores[order], data.images[order], tuple(data.captions[i] for i in order))


# -- checkpoints and serving ---------------------------------------------------------------------
def save(model: torch.nn.Module, path: str | Path, settings: LiveSettings | None = None, extra: dict | None = None) -> Path:
    """Write `model`'s weights as fp16 safetensors with metadata saying which config they fit."""
    import json

    from components.mini.train import save_weights

    metadata = {"model": LIVE_MODEL, "clip_lab": "live"}
    if settings is not None:
        metadata["settings"] = json.dumps(settings.as_dict())
    metadata.update({str(k): str(v) for k, v in (extra or {}).items()})
    save_weights(model, Path(path), metadata)
    return Path(path)


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, str]]:
    """A checkpoint written by `save` (or Mini's training script) back into its open_clip model.
    Only safetensors (no pickles); every problem is an InputError a person can act on."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError("Upload a checkpoint (.safetensors) that the Train tab saved.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{name} is empty.")
    if size > MAX_CHECKPOINT_BYTES:
        raise InputError(f"{name} is {size / 2**20:.0f} MB; a Train-tab checkpoint is under {MAX_CHECKPOINT_BYTES // 2**20} MB.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(f"{name} is not a safetensors checkpoint ({type(error).__name__}); upload one the Train tab saved.") from None
    model_name = metadata.get("model")
    if model_name not in LOADABLE_MODELS:
        raise InputError(
            f"{name} does not say it holds a {' or '.join(LOADABLE_MODELS)} model (its metadata names "
            f"{model_name!r}); upload a checkpoint the Train tab saved."
        )
    open_clip = mini.register()
    model = open_clip.create_model(model_name, pretrained=None)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"{name} does not fit {model_name}: {len(missing)} weight(s) missing, {len(unexpected)} unexpected "
            f"(e.g. {(missing or unexpected)[0]!r})."
        )
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise InputError(f"{name} does not fit {model_name}: {key} is {tuple(tensor.shape)}, not {tuple(expected[key].shape)}.")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InputError(f"{name} holds NaN or infinite weights ({key}); it cannot be used.")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return model.eval(), metadata


def as_backbone(model: torch.nn.Module, weights: str, device: str = "cpu", model_name: str = LIVE_MODEL) -> ClipBackbone:
    """A `ClipBackbone` around (a copy of) a trained model, so every tab can use it."""
    open_clip = mini.register()
    model = frozen_copy(model).float()
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    preprocess = open_clip.image_transform(size, is_train=False, mean=MEAN, std=STD)
    return ClipBackbone(model, preprocess, open_clip.get_tokenizer(model_name), model_name=model_name, weights=weights, device=device)
