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

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small ops: one thread is not held up by a busy machine
        one_thread_ms = median_ms(step, runs=runs)
        torch.set_num_threads(threads)
        rows.append(dict(pipeline="clipasso rasteriser fwd+bwd", strokes=count,
                         stroke_size="initial" if grow == 1 else "grown 4×", pipeline_ms=median_ms(step, runs=runs),
                         one_thread_ms=one_thread_ms))

    loss_backbone = load_backbone("RN101", "random", "cpu")
    saliency_backbone = load_backbone("ViT-B-32", "random", "cpu")
    image = Image.open(HORSE).convert("RGB")
    pairs = 4 if quick else 8
    sketcher = CLIPasso(loss_backbone, saliency_backbone, num_strokes=16, num_iter=10 * pairs, seeds=(0,), min_delta=0)
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

    # Interleaved on a shared machine: one sketch iteration, then the bare work, so load drifts
    # hit both alike. Iterations that also evaluate (every 10th) are left out.
    steps = sketcher.sketch(image)
    next(steps)  # initialisation + first evaluation
    iteration_times, bare_times, image_times = [], [], []
    for step_index in range(2, 10 * pairs):
        start = time.perf_counter()
        next(steps)
        elapsed = (time.perf_counter() - start) * 1000
        if step_index % sketcher.eval_every == 1:
            continue
        iteration_times.append(elapsed)
        bare_times.append(median_ms(bare, runs=1, warmup=0))
        image_times.append(median_ms(image_views, runs=1, warmup=0))
        if len(iteration_times) >= pairs:
            break
    steps.close()
    iteration_ms, bare_ms, image_ms = (float(np.median(t)) for t in (iteration_times, bare_times, image_times))
    rows.append(dict(pipeline="clipasso one iteration (16 strokes, 1 seed)", strokes=16, views=5,
                     pipeline_ms=iteration_ms, bare_same_views_ms=bare_ms, ratio=iteration_ms / bare_ms,
                     target="≤1.3", model="RN101 random",
                     bare_plus_image_views_ms=bare_ms + image_ms,
                     ratio_vs_all_network_work=iteration_ms / (bare_ms + image_ms)))
    return rows


if __name__ == "__main__":
    report("clipasso", run())
