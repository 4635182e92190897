"""The generated world and Mini's training: how fast pairs are made and steps are taken on a CPU.

Targets: ≥ 300 scenes/s on one core (training draws its pairs on the fly, in a loader worker beside
the model's threads). Also reported: clips/s (12 frames each), solid instances/s (a cloud and its V1 +
V2 projection), training pairs/s as the loader makes them (the mix the shipped model used), and
training steps/s of Mini at the shipped batch size with the pairs given (the model's share of a step).
"""

from __future__ import annotations

import time

import torch
from common import report

from components.mini import data
from components.mini.training import TrainConfig, _optimizer, create
from components.world import clips, scenes, solids, splits


def per_second(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def run(quick: bool = False) -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the loader worker's budget: one core
    n = 300 if quick else 1500
    seeds = splits.seeds("held_out", n)
    try:
        rows = [
            dict(what="scenes (112 px, with masks, boxes, depth)", per_s=per_second(lambda i: scenes.draw_scene(seeds[i], 112), n), target=">= 300"),
            dict(what="scenes (224 px)", per_s=per_second(lambda i: scenes.draw_scene(seeds[i], 224), n // 3)),
            dict(what="clips (12 frames of 112 px)", per_s=per_second(lambda i: clips.random_clip(seeds[i], 112), n // 10)),
            dict(
                what="solid instances (cloud + V1 and V2 views)",
                per_s=per_second(
                    lambda i: [solids.depth_views(solids.cloud(solids.SOLIDS[i % 12], seeds[i]), p, 112) for p in ("v1", "v2")],
                    n // 20,
                ),
            ),
        ]
        pool = data.SolidPool(112).build()
        world = data.WorldMix()
        rows.append(dict(what="training pairs (the shipped mix)", per_s=per_second(lambda i: data.sample(i, 0, world, pool), n)))
    finally:
        torch.set_num_threads(threads)
    config = TrainConfig()
    model = create(config)
    optimizer = _optimizer(model, config)
    from open_clip import get_tokenizer
    from open_clip.loss import ClipLoss

    tokenizer, loss_fn = get_tokenizer(config.model), ClipLoss()
    pairs = [data.sample(i, 0, world, pool) for i in range(config.batch_size)]
    images, texts = torch.stack([p[0] for p in pairs]), tokenizer([p[1] for p in pairs])

    def step(_):
        out = model(images, texts)
        loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(0)
    steps = 3 if quick else 10
    rows.append(dict(what=f"Mini training steps (batch {config.batch_size}, {threads} threads)", per_s=per_second(step, steps)))
    return rows


if __name__ == "__main__":
    report("world", run())
