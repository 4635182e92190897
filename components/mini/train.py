"""Train CLIP Lab Mini and write its weights and training record.

    .venv/bin/python -m components.mini.train                      # the shipped Mini (seed 0)
    .venv/bin/python -m components.mini.train --model clip-lab-mini-rn --steps 2250   # the shipped ResNet Mini
    .venv/bin/python -m components.mini.train --seed 1 --out DIR   # another seed, into DIR
    .venv/bin/python -m components.mini.train --steps 20 --out /tmp/mini   # a smoke run

Deterministic from its seed on a given machine. Writes DIR/<name>.safetensors (fp16) and
DIR/<name>.training.json (settings, loss curve, zero-shot checks, time). CI never runs the full
training; a test runs a few steps and checks the loss falls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

from components import mini
from components.mini.data import MIX
from components.mini.training import TrainConfig, train


def save_weights(model: torch.nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """The state dict in fp16 (halves the file; the towers load it back into float32)."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata or {})


def parse_mix(text: str, base: dict[str, float] = MIX) -> dict[str, float]:
    """"single=0.5,solid=0.08" → the base mix with those shares changed (the stream normalises)."""
    mix = dict(base)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, share = part.partition("=")
        if kind not in mix:
            raise SystemExit(f"--mix: unknown kind {kind!r}; the kinds are {', '.join(mix)}")
        try:
            mix[kind] = float(share)
        except ValueError:
            raise SystemExit(f"--mix: {part!r} is not KIND=SHARE with a number") from None
        if not 0 <= mix[kind] < float("inf"):
            raise SystemExit(f"--mix: {kind}'s share must be a number, 0 or more")
    if sum(mix.values()) <= 0:
        raise SystemExit("--mix: the shares add up to 0")
    return mix


def mini_models() -> list[str]:
    """The model configs beside this script (the shipped Minis, the first Mini)."""
    return sorted(p.stem for p in mini.CONFIG_DIR.glob(f"{mini.MODEL}*.json"))


def _share(text: str) -> float:
    """A share from 0 to 1; argparse prints the error after the option's name and exits."""
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text!r}")
    return share


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TrainConfig()
    parser.add_argument(
        "--model", default=defaults.model, choices=mini_models(),
        help=f"the model config to train (default {defaults.model}; the others are the ResNet Mini and the first Mini the card names)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument(
        "--mix", default="", metavar="KIND=SHARE,...",
        help=f"change the world mix's shares (kinds: {', '.join(MIX)}; normalised to sum 1), e.g. single=0.5,solid=0.08",
    )
    parser.add_argument(
        "--two-colour-batches", type=_share, default=defaults.world.two_colour_batches, metavar="SHARE",
        help="share of batches drawn in two colours only, so that only shape separates most negatives (0 to 1; default 0)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the model (default 2)")
    parser.add_argument("--out", type=Path, default=mini.WEIGHTS_DIR)
    parser.add_argument("--name", default=None, help="file name stem (default clip-lab-mini, or -seed<N>)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    image_size = mini.register().get_model_config(args.model)["vision_cfg"]["image_size"]  # scenes drawn at the tower's input
    world = dataclasses.replace(
        defaults.world, mix=tuple(parse_mix(args.mix).items()), two_colour_batches=args.two_colour_batches,
        image_size=image_size,
    )
    config = dataclasses.replace(
        defaults, world=world, model=args.model, seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
        workers=args.workers,
    )
    name = args.name or (args.model if args.seed == 0 else f"{args.model}-seed{args.seed}")
    from components.mini.training import create

    model = create(config)
    curve, checks, splits = [], [], []
    started = time.time()
    for report in train(config, model):
        curve.append((report.step, round(report.loss, 4), round(report.logit_scale, 2)))
        line = f"step {report.step}/{report.steps} loss {report.loss:.3f} scale {report.logit_scale:.1f} {report.seconds:.0f}s"
        if report.accuracy is not None:
            checks.append((report.step, report.accuracy, round(report.seconds, 1)))
            splits.append((report.step, report.split["colour"], report.split["shape"]))
            line += f"  zero-shot {report.accuracy:.1%} (colour {report.split['colour']:.1%}, shape {report.split['shape']:.1%})"
        print(line, flush=True)
    weights = args.out / f"{name}.safetensors"
    save_weights(model, weights, {"model": config.model, "seed": str(config.seed), "steps": str(config.steps)})
    record = {
        "model": config.model,
        "config": open_clip.get_model_config(config.model),  # the towers as trained (the json may change later)
        "settings": {k: v for k, v in dataclasses.asdict(config).items() if k != "world"},
        "world": {
            "concepts": list(config.world.concepts),
            "held_out": sorted(" ".join(p) for p in config.world.exclude),
            "mix": dict(config.world.mix),
            "image_size": config.world.image_size,
            "two_colour_batches": config.world.two_colour_batches,
        },
        "seconds": round(time.time() - started, 1),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__},
        "loss_curve": curve,
        "zero_shot_checks": checks,  # (step, top-1, seconds)
        "zero_shot_colour_shape": splits,  # (step, colour right, shape right)
        "weights": weights.name,
        "weights_bytes": weights.stat().st_size,
    }
    (args.out / f"{name}.training.json").write_text(json.dumps(record, indent=1))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) in {record['seconds']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
