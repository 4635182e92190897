"""The Train tab's live training on the CPU: steps per second, and the default run's held-out accuracy.

Goal: the default run (CLIP Lab Live, `components.mini.live` defaults) reaches >= 50 % zero-shot
top-1 over held-out colour × shape scenes (64 classes, chance 1.6 %) within 3 minutes on 2 cores.
Reported: training steps/s (the run's own, evaluations included, and the bare step with the pairs
given), the run's accuracy per concept at the first evaluation after 60 s and 120 s and at the end,
and each held-out combination's accuracy at the end. The run trains as the tab does (one loader
worker beside the model's threads); on a loaded machine the wall-clock figures are worse.

    .venv/bin/python benchmarks/bench_train.py            # the default run (about 3 minutes)
    .venv/bin/python benchmarks/bench_train.py --quick    # 60 steps
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch
from common import report

from components.mini import live


def bare_steps_per_second(settings: live.LiveSettings, steps: int) -> float:
    """Steps/s of the model's share alone: one fixed batch, forward, loss, backward, AdamW step."""
    from open_clip import get_tokenizer
    from open_clip.loss import ClipLoss

    from components.mini.data import sample
    from components.mini.training import _optimizer, create

    config = settings.train_config()
    threads = torch.get_num_threads()
    torch.set_num_threads(live.train_threads())
    try:
        model = create(config)
        optimizer = _optimizer(model, config)
        loss_fn = ClipLoss()
        pairs = [sample(i, 0, config.world, None) for i in range(config.batch_size)]
        images, texts = torch.stack([p[0] for p in pairs]), get_tokenizer(config.model)([p[1] for p in pairs])

        def step():
            out = model(images, texts)
            loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return steps / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def run(quick: bool = False) -> list[dict]:
    settings = live.LiveSettings()
    if quick:
        settings = dataclasses.replace(settings, steps=60, eval_every=20)
    started = time.perf_counter()
    trainer = live.LiveRun(settings)
    at: list[tuple[float, live.Evaluation]] = []
    for report_ in trainer.run():
        if report_.evaluation is not None:
            at.append((time.perf_counter() - started, report_.evaluation))
    seconds = time.perf_counter() - started
    rows = [
        dict(what=f"training steps/s (batch {settings.batch_size}, evaluations every {settings.eval_every} included)",
             value=len(trainer.steps) / trainer.seconds),
        dict(what="bare training steps/s (pairs given)", value=bare_steps_per_second(settings, 5 if quick else 20)),
        dict(what="run wall time (s)", value=seconds),
    ]
    marks = [(f"after {t} s", next(((s, e) for s, e in at if s >= t), None)) for t in (60, 120)] + [("at the end", at[-1])]
    for name, found in marks:
        if found is None:
            rows.append(dict(what=f"held-out accuracy {name}", value=None, note="the run ended earlier"))
            continue
        s, e = found
        for concept, value in e.concepts.items():
            rows.append(dict(what=f"{name}: {concept}", value=value, step=e.step, seconds=round(s, 1),
                             chance=round(live.CHANCE[concept], 3),
                             target=">= 0.5 within 180 s" if concept == "top-1" else None))
    final = at[-1][1]
    rows.append(dict(what="at the end: seen combinations (top-1)", value=final.seen, step=final.step))
    for label, value in final.per_combination.items():
        rows.append(dict(what=f"at the end: held-out {label}", value=value, step=final.step))
    return rows


if __name__ == "__main__":
    report("train" if "--quick" not in sys.argv else "train_quick", run(quick="--quick" in sys.argv))
