"""CLIPasso on the CPU: the rasteriser alone, and one full sketch iteration vs the bare RN101.

1. Rasteriser forward + backward at 224² for 16 / 32 / 64 strokes: strokes as they start (a random
   walk of ±0.025) and grown 4× (as after optimisation), one seed.
2. One full iteration (render, 4 augmentations + the clean view, RN101 forward + backward of the 5
   sketch views, forward of the 4 augmented image views, Adam) vs the bare RN101 forward + backward
   of the same 5 views. Target ≤ 1.3×.
Full-size architectures with random weights (speed does not depend on the weights).
"""

from __future__ import annotations

import itertools
import time

from common import median_ms, report
import numpy as np
import torch
from PIL import Image

from app.tabs.clipasso import HORSE
from components.backbone import load_backbone
from components.clipasso import CLIPasso
from components.clipasso.rasterizer import render
from components.clipasso.saliency import initial_strokes
from components.dense import resnet_stages


def strokes(count: int, grow: float, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    saliency = rng.random((224, 224)).astype(np.float32)
    return torch.tensor(initial_strokes(saliency, count, rng, walk=0.025 * grow))


def run(quick: bool = False) -> list[dict]:
    rows = []
    runs = 3 if quick else 7
    for count, grow in itertools.product((16, 32, 64), (1, 4)):
        control = strokes(count, grow)

        def step():
            c = control.clone().requires_grad_()
            render(c, 224).mean().backward()

        rows.append(dict(pipeline="clipasso rasteriser fwd+bwd", strokes=count,
                         stroke_size="initial" if grow == 1 else "grown 4×", pipeline_ms=median_ms(step, runs=runs)))

    loss_backbone = load_backbone("RN101", "random", "cpu")
    saliency_backbone = load_backbone("ViT-B-32", "random", "cpu")
    image = Image.open(HORSE).convert("RGB")
    iterations = 6 if quick else 12
    sketcher = CLIPasso(loss_backbone, saliency_backbone, num_strokes=16, num_iter=iterations, seeds=(0,), min_delta=0)
    times, last = [], time.perf_counter()
    for step in sketcher.sketch(image):
        now = time.perf_counter()
        if not step.done and step.iteration % sketcher.eval_every != 1:  # skip those that also evaluate
            times.append((now - last) * 1000)
        last = now
    iteration_ms = float(np.median(times[1:] if len(times) > 2 else times))

    visual = loss_backbone.model.visual
    pixels = torch.randn(5, 3, 224, 224)

    def bare():
        x = pixels.clone().requires_grad_()
        maps = resnet_stages(visual, x)
        total = maps["layer2"].square().mean() + maps["layer3"].square().mean() + visual.attnpool(maps["layer4"]).sum()
        torch.autograd.grad(total, [x])

    def image_views():
        with torch.no_grad():
            resnet_stages(visual, pixels[:4])

    bare_ms = median_ms(bare, runs=max(3, runs // 2))
    image_ms = median_ms(image_views, runs=max(3, runs // 2))
    rows.append(dict(pipeline="clipasso one iteration (16 strokes, 1 seed)", strokes=16, views=5,
                     pipeline_ms=iteration_ms, bare_same_views_ms=bare_ms, ratio=iteration_ms / bare_ms,
                     target="≤1.3", model="RN101 random",
                     bare_plus_image_views_ms=bare_ms + image_ms,
                     ratio_vs_all_network_work=iteration_ms / (bare_ms + image_ms)))
    return rows


if __name__ == "__main__":
    report("clipasso", run())
