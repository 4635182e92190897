"""Contrastive training of a small open_clip model on the generated world.

`train(config)` is a generator: it yields a `TrainStep` every `report_every` steps (loss, temperature,
the batch's image × text similarity) and a zero-shot check every `eval_every` steps, so the training
script prints it and the Train tab draws it; stopping the generator stops the training. Same seed and
settings → same steps on the same machine (the pairs are a function of their index, the model's
initial weights of the seed).

It is CLIP's recipe at small scale: open_clip's model and `ClipLoss` (symmetric cross-entropy over the
batch), a learnable temperature clamped at 100 as CLIP does, AdamW with warm-up then cosine decay,
no weight decay on gains, biases and the temperature.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from components import mini
from components.mini.data import PairStream, WorldMix, normalise
from components.world import scenes, splits

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass(frozen=True)
class TrainConfig:
    model: str = mini.MODEL
    seed: int = 0
    steps: int = 1500
    batch_size: int = 256
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.1
    learnable_temperature: bool = True
    temperature: float = 0.07  # initial (CLIP's), or fixed when not learnable
    world: WorldMix = field(default_factory=WorldMix)
    report_every: int = 10
    eval_every: int = 250
    eval_scenes: int = 256
    workers: int = 1


@dataclass(frozen=True)
class TrainStep:
    """One report. similarity: the first `n` pairs of the batch, (n, n) cosine image × text;
    accuracy: zero-shot top-1 on held-out scenes (None between evaluations)."""

    step: int
    steps: int
    loss: float
    logit_scale: float
    lr: float
    seconds: float
    similarity: np.ndarray
    captions: tuple[str, ...]
    accuracy: float | None = None
    split: dict[str, float] | None = None  # with accuracy: {"top-1", "colour", "shape"} (see zero_shot_split)


def create(config: TrainConfig) -> torch.nn.Module:
    """The untrained model of `config.seed` (open_clip's own initialisation)."""
    open_clip = mini.register()
    torch.manual_seed(config.seed)
    model = open_clip.create_model(config.model, output_dict=True)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1.0 / config.temperature))
    model.logit_scale.requires_grad_(config.learnable_temperature)
    return model


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    def no_decay(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if no_decay(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in params if not no_decay(n, p)], "weight_decay": config.weight_decay},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)


def learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * config.lr * (1 + math.cos(math.pi * progress))


def held_out_scenes(count: int, size: int = mini.IMAGE_SIZE, offset: int = 0) -> list[scenes.Rendered]:
    """Single-object held-out scenes (seeds training never sees; held-out combinations included)."""
    return [
        scenes.render(scenes.random_scene(s, kind="objects", count=1), size)
        for s in splits.seeds("held_out", count, offset)
    ]


@torch.no_grad()
def zero_shot_split(model, tokenizer, rendered: list[scenes.Rendered], labels: list[str] | None = None) -> dict[str, float]:
    """Zero-shot "a photo of a {label}." over the 64 colour × shape classes: top-1, and how often the
    predicted label's colour (chance 1/8) and its shape (chance 1/8) are right."""
    labels = labels or scenes.class_labels()
    was_training = model.training
    model.eval()
    text = model.encode_text(tokenizer([f"a photo of a {l}." for l in labels]), normalize=True)
    images = torch.stack([normalise(r.image) for r in rendered])
    image = model.encode_image(images, normalize=True)
    predicted = (image @ text.T).argmax(1).numpy()
    truth = np.array([labels.index(r.scene.objects[0].label) for r in rendered])
    model.train(was_training)
    colour = np.array([l.split(" ")[0] for l in labels])
    shape = np.array([l.split(" ")[1] for l in labels])
    return {
        "top-1": float((predicted == truth).mean()),
        "colour": float((colour[predicted] == colour[truth]).mean()),
        "shape": float((shape[predicted] == shape[truth]).mean()),
    }


def zero_shot_accuracy(model, tokenizer, rendered: list[scenes.Rendered], labels: list[str] | None = None) -> float:
    """Top-1 of "a photo of a {label}." over the 64 colour × shape classes."""
    return zero_shot_split(model, tokenizer, rendered, labels)["top-1"]


def train(config: TrainConfig, model: torch.nn.Module | None = None) -> Iterator[TrainStep]:
    """Train `model` (default: `create(config)`) in place, yielding reports."""
    model = model if model is not None else create(config)
    model.train()
    open_clip = mini.register()
    from open_clip.loss import ClipLoss

    tokenizer = open_clip.get_tokenizer(config.model)
    optimizer = _optimizer(model, config)
    loss_fn = ClipLoss()
    eval_set = held_out_scenes(config.eval_scenes, config.world.image_size)
    stream = PairStream(config.seed, config.batch_size, config.world, steps=config.steps)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=config.workers, persistent_workers=False,
        prefetch_factor=4 if config.workers else None,
    )
    started = time.perf_counter()
    for step, (images, texts) in enumerate(loader):
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        out = model(images, tokenizer(texts))
        loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        last = step + 1 == config.steps
        if (step + 1) % config.report_every == 0 or last or step == 0:
            accuracy = split = None
            if (step + 1) % config.eval_every == 0 or last:
                split = zero_shot_split(model, tokenizer, eval_set)
                accuracy = split["top-1"]
            n = min(16, len(texts))
            similarity = (out["image_features"][:n] @ out["text_features"][:n].T).detach().numpy()
            yield TrainStep(
                step + 1, config.steps, float(loss.detach()), float(model.logit_scale.detach().exp()), lr,
                time.perf_counter() - started, similarity, tuple(texts[:n]), accuracy, split,
            )
    model.eval()
