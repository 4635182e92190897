"""Short pilot runs that chose CLIP Lab Mini's resolution, patch size and recipe (see its model card).

Every pilot is the training of `components.mini.training` with the same seed and the same budget
(steps × pairs), changed in one lever from the base: the image tower's input size and patch size (a
model config derived from `clip-lab-mini.json`), the learning rate and warm-up, or the world mix. At
the end each is scored zero-shot on held-out single-object scenes, split into colour and shape, and
its seconds per step are measured.

    .venv/bin/python -m components.mini.pilots a-112px-p16 b-64px-p8 ...   # writes --out/<pilot>.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import open_clip
import torch

from components import mini
from components.mini.data import MIX, WorldMix
from components.mini.training import TrainConfig, train

STEPS, BATCH, SEED = 400, 128, 0  # every pilot's budget: 400 steps × 128 pairs, seed 0
EVAL_SCENES = 512
BASE = TrainConfig(steps=STEPS, batch_size=BATCH, seed=SEED, warmup=50, eval_every=100, eval_scenes=EVAL_SCENES)

# Every pilot ran on the mix of the Minis before v4 (first Mini to v3); kept so that they still draw what they drew
PILOT_MIX = MIX | {"single": 0.36, "solid": 0.17}

# name → (vision_cfg overrides, TrainConfig overrides, world mix overrides)
PILOTS: dict[str, tuple[dict, dict, dict]] = {
    "a-112px-p16": ({"image_size": 112, "patch_size": 16}, {}, {}),
    "b-64px-p8": ({"image_size": 64, "patch_size": 8}, {}, {}),
    "c-64px-p8-lr3e-3": ({"image_size": 64, "patch_size": 8}, {"lr": 3e-3, "warmup": 100}, {}),
    # the shipped run's own schedule (1500 steps × 256 pairs, warm-up 100, checks every 250 on 256
    # scenes), at 64 px / patch 8: its checks compare with full_runs["v3"] in the pilots record step by step
    "b-64px-p8-shipped-schedule": (
        {"image_size": 64, "patch_size": 8},
        {"steps": 1500, "batch_size": 256, "warmup": 100, "eval_every": 250, "eval_scenes": 256},
        {},
    ),
    # defined, not run yet (see the model card):
    "c-64px-p8-singles": ({"image_size": 64, "patch_size": 8}, {}, {"single": 0.55, "clip": 0.10, "solid": 0.10}),
    "c-96px-p12": ({"image_size": 96, "patch_size": 12}, {}, {}),
}


def _config_dir(vision: dict) -> tuple[str, Path]:
    base = json.loads((mini.CONFIG_DIR / f"{mini.MODEL}.json").read_text())
    base["vision_cfg"].update(vision)
    name = f"{mini.MODEL}-pilot-{vision['image_size']}px-p{vision['patch_size']}"
    folder = Path(tempfile.mkdtemp(prefix="mini-pilot-"))
    (folder / f"{name}.json").write_text(json.dumps(base, indent=4))
    open_clip.add_model_config(folder)
    return name, folder


def run(pilot: str) -> dict:
    vision, settings, mix = PILOTS[pilot]
    model_name, _ = _config_dir(vision)
    world = WorldMix(image_size=vision["image_size"], mix=tuple((PILOT_MIX | mix).items()))
    config = dataclasses.replace(BASE, model=model_name, world=world, **settings)
    checks, times = [], {}
    for report in train(config):
        times[report.step] = report.seconds
        if report.split is not None:
            checks.append({"step": report.step, **report.split, "seconds": round(report.seconds, 1)})
            print(pilot, checks[-1], flush=True)
    # seconds per step past the start (the loader's first batches, the solid pool): steps 50 → end
    per_step = (times[config.steps] - times[50]) / (config.steps - 50)
    return {
        "pilot": pilot, "vision_cfg": vision, "settings": settings, "mix": dict(world.mix),
        "steps": config.steps, "batch_size": config.batch_size, "seed": config.seed, "lr": config.lr,
        "warmup": config.warmup, "eval_scenes": config.eval_scenes, "checks": checks,
        "seconds": round(times[config.steps], 1), "seconds_per_step": round(per_step, 3),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pilots", nargs="+", choices=sorted(PILOTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mini-pilots"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for pilot in args.pilots:
        started = time.time()
        record = run(pilot)
        record["wall_seconds"] = round(time.time() - started, 1)
        (args.out / f"{pilot}.json").write_text(json.dumps(record, indent=1))
        print(json.dumps({k: record[k] for k in ("pilot", "seconds_per_step", "wall_seconds")}), flush=True)


if __name__ == "__main__":
    main()
