"""A diagnostic for Mini's missing shapes: how fast does an image tower learn the world's eight shapes
when it is told them directly?

Each tower is trained with a linear head and cross-entropy on the shape label alone (no text tower,
no contrastive loss), on the same single-object scenes, with the same seed and budget, and scored on
the held-out single-object scenes that Mini's zero-shot checks use, split by object size. If a tower
cannot learn shape quickly even this way, the contrastive objective and the captions are not what
holds Mini back; the tower is. Mini's own ViT is compared with the variants of it the card discusses,
with open_clip's ModifiedResNet (a convolutional CLIP tower) and with a plain four-block CNN, a
yardstick for how hard the shapes are to see at 64 px (not a CLIP tower).

    .venv/bin/python -m components.mini.shape_probe mini-vit modified-resnet ...   # writes --out/<tower>.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from components import mini
from components.mini.data import normalise
from components.mini.training import held_out_scenes
from components.world import scenes, splits

STEPS, BATCH, SEED, LR, WARMUP = 200, 256, 0, 1e-3, 50
TRAIN_SCENES = 24_000  # rendered once and drawn with replacement: about two passes in 200 steps
EVAL_SCENES, EVAL_EVERY = 512, 50


def _mini_vision(**changes) -> dict:
    open_clip = mini.register()
    return open_clip.get_model_config(mini.MODEL)["vision_cfg"] | changes


def _small_cnn() -> nn.Module:
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, mini_embed_dim()),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def mini_embed_dim() -> int:
    return mini.register().get_model_config(mini.MODEL)["embed_dim"]


# tower → (vision_cfg for open_clip's tower builder, or None for the CNN yardstick; learning rate)
TOWERS: dict[str, tuple[dict | None, float]] = {
    "mini-vit": ({}, LR),
    "mini-vit-lr3e-3": ({}, 3e-3),
    "mini-vit-avg-pool": ({"pool_type": "avg"}, LR),
    # open_clip's ModifiedResNet at Mini's input size: stem, four one-block stages and the attention
    # pool, width 16 (1.36 M parameters, about Mini's ViT's 1.24 M)
    "modified-resnet": ({"layers": [1, 1, 1, 1], "width": 16, "head_width": 64}, LR),
    "small-cnn": (None, LR),
}


def tower(name: str) -> nn.Module:
    """The tower `name` with a linear head over the shapes, initialised from SEED."""
    from open_clip.model import _build_vision_tower

    changes, _ = TOWERS[name]
    torch.manual_seed(SEED)
    body = _small_cnn() if changes is None else _build_vision_tower(mini_embed_dim(), _mini_vision(**changes))
    return nn.Sequential(body, nn.Linear(mini_embed_dim(), len(scenes.SHAPES)))


def training_scenes(count: int = TRAIN_SCENES) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-object training scenes (held-out combinations never drawn):
    uint8 (N, S, S, 3) images and shape indices."""
    images, shapes = [], []
    start = splits.SEED_RANGES["train"][0]
    for index in range(count):
        seed = start + (7_919 * index) % 1_000_000  # training seeds, never a held-out or example one
        scene = scenes.random_scene(seed, kind="objects", count=1, exclude=splits.HELD_OUT_COMBINATIONS)
        images.append(scenes.render(scene, mini.IMAGE_SIZE).image)
        shapes.append(scenes.SHAPES.index(scene.objects[0].shape))
    return torch.from_numpy(np.stack(images)), torch.tensor(shapes)


def run(name: str, data: tuple[torch.Tensor, torch.Tensor], steps: int = STEPS) -> dict:
    images, shapes = data
    held = held_out_scenes(EVAL_SCENES)
    held_images = torch.stack([normalise(r.image) for r in held])
    held_shapes = np.array([scenes.SHAPES.index(r.scene.objects[0].shape) for r in held])
    held_sizes = np.array([r.scene.objects[0].size for r in held])
    net = tower(name)
    lr = TOWERS[name][1]
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.98))
    draw = torch.Generator().manual_seed(SEED)
    checks, started = [], time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:  # warm-up, then cosine to 0 over the run
            group["lr"] = lr * min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * step / steps))
        batch = torch.randint(len(images), (BATCH,), generator=draw)
        x = torch.stack([normalise(image.numpy()) for image in images[batch]])
        loss = nn.functional.cross_entropy(net(x), shapes[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == steps:
            net.eval()
            with torch.no_grad():
                right = net(held_images).argmax(1).numpy() == held_shapes
            net.train()
            checks.append({"step": step + 1, "loss": round(float(loss.detach()), 4), "shape": float(right.mean()),
                           **{size: float(right[held_sizes == size].mean()) for size in scenes.SIZES},
                           "seconds": round(time.perf_counter() - started, 1)})
            print(name, checks[-1], flush=True)
    return {"tower": name, "vision_cfg_changes": TOWERS[name][0], "lr": lr, "parameters": sum(p.numel() for p in net[0].parameters()),
            "steps": steps, "batch_size": BATCH, "seed": SEED, "train_scenes": len(images), "eval_scenes": EVAL_SCENES,
            "chance": 1 / len(scenes.SHAPES), "checks": checks}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("towers", nargs="+", choices=sorted(TOWERS))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mini-shape-probe"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = training_scenes()
    for name in args.towers:
        (args.out / f"{name}.json").write_text(json.dumps(run(name, data, args.steps), indent=1))


if __name__ == "__main__":
    main()
