"""What the Train tab shows of a live training run (`components.mini.live.LiveRun`): the status line,
the loss and temperature curves, the batch's image × text matrix, the held-out evaluation's plots
and the probe's gallery. Built from the figures in `app.render`."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app import render
from components.mini import live
from components.world import scenes

PROBE_SIDE = 128  # pixels of each probe image (the eval set's small scenes, enlarged without smoothing)
OUTCOMES = {"finished": "Finished", "stopped": "Stopped", "time limit": "Stopped at the time limit"}


def status(run: live.LiveRun, report: live.LiveReport) -> str:
    """The line above the plots: step, loss against chance (ln batch), 1/τ, speed, held-out top-1;
    at the end, how the run ended and its held-out scores per concept."""
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
        scores = ", ".join(f"{k} {v:.0%}" for k, v in latest.concepts.items() if v is not None)
        line = (f"**{OUTCOMES[report.outcome]}** after {t.step} steps in {run.seconds:.0f} s ({rate:.1f} steps/s). "
                f"Held-out: {scores}.  \n" + line)
    return line


def curves(run: live.LiveRun):
    """Loss and 1/τ per step so far."""
    return render.training_curves(run.steps, run.losses, run.scales, run.settings.learnable_temperature)


def batch_matrix(run: live.LiveRun, report: live.LiveReport) -> Image.Image:
    """This step's batch as the CLIP paper's figure 1: images × captions, cosine, row softmax."""
    t = report.train
    return render.similarity_picture(t.similarity, run.batch_images(t), t.captions, scale=t.logit_scale)


def evaluation(run: live.LiveRun) -> dict:
    """The latest evaluation's plots: accuracy per concept over the steps, the PCA map of images and
    words, and top-1 per held-out combination."""
    latest = run.evaluations[-1]
    colours = dict(scenes.COLOURS)
    if latest.per_combination:
        ranking = sorted(latest.per_combination.items(), key=lambda kv: -kv[1])
        combos = render.probability_bars(
            ranking, title=f"step {latest.step}: held out {latest.concepts['held-out combinations']:.0%}, "
            f"seen {latest.seen:.0%} (chance {live.CHANCE['top-1']:.1%})")
    else:
        combos = render.probability_bars([], title="nothing held out")
    return {
        "accuracy": render.accuracy_curves(run.history()["evaluations"], live.CHANCE),
        "embedding_map": render.embedding_map_figure(latest.map, colours, title=f"step {latest.step}"),
        "combos": combos,
    }


def probe_gallery(found: live.ProbeResult) -> list[tuple[Image.Image, str]]:
    """The held-out images a caption finds, each captioned "cosine · what the scene is"."""
    return [
        (Image.fromarray(image).resize((PROBE_SIDE, PROBE_SIDE), Image.NEAREST), f"{score:.2f} · {truth}")
        for image, score, truth in zip(found.images, found.scores, found.truths)
    ]
