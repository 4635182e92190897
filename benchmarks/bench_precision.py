"""Precision (issue 19): the bare ViT-B-16 image tower at fp32, bf16 (weights cast) and int8 (dynamic,
Linear layers), batch 1 and 8, and one pipeline end to end (zero-shot, 80-prompt ensemble, on a
photo), each timed in turns in one run; with the same-answers figures at full size and random weights:
minimum cosine to fp32 for the image tower, the text tower and the dense features, and the zero-shot
labels compared wherever fp32's margin exceeds twice the measured error (near-ties set aside and counted).

Timings mean something only on a quiet machine: the script refuses to run while a CLIP Lab Mini
training runs or the load average is 1.5 or more, unless --force. `auto` is what
`components.precision` picks on this machine from its CPU flags (never from these timings).

    python benchmarks/bench_precision.py [--runs 5] [--force]
"""

from __future__ import annotations

import argparse
import os
import subprocess

from common import interleaved_ms, report
import torch
import torch.nn.functional as F
from PIL import Image

from app.examples import skimage_photo
from components import precision as precisions
from components.backbone import load_backbone
from components.zeroshot import ZeroShotClassifier

MODEL = "ViT-B-16"
PRECISIONS = ("fp32", "bf16", "int8")
LABELS = ["astronaut", "cat", "rocket", "cup of coffee", "dog", "motorcycle", "horse", "pizza"]
TEXTS = ["a photo of a cat", "an astronaut in a white suit", "a rocket on the launch pad", "a cup of coffee"]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def quiet_enough() -> tuple[bool, str]:
    training = subprocess.run(["pgrep", "-f", "components.mini.train"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    if training:
        return False, f"a Mini training is running (pids {training.split()})"
    if load >= 1.5:
        return False, f"the load average is {load:.2f} (≥ 1.5)"
    return True, f"load average {load:.2f}, no training"


def min_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])).min())


def run(runs: int) -> list[dict]:
    backbones = {p: load_backbone(MODEL, "random", "cpu", precision=p) for p in PRECISIONS}
    photos = [Image.open(skimage_photo(name)).convert("RGB") for name in PHOTOS]
    ref = backbones["fp32"]
    rows = []
    # -- the bare image tower --------------------------------------------------------------------------
    for batch in (1, 8):
        pixels = ref.pixels((photos * 2)[:batch])
        ms = interleaved_ms({p: (lambda b=b: b.encode_images(pixels)) for p, b in backbones.items()}, runs)
        for p in PRECISIONS:
            rows.append(dict(what="bare image tower", batch=batch, precision=p, ms=ms[p], vs_fp32=ms["fp32"] / ms[p]))
    # -- one pipeline end to end: zero-shot with the 80-prompt ensemble ----------------------------------
    classifiers = {p: ZeroShotClassifier(b, templates="imagenet80") for p, b in backbones.items()}
    for p, classify in classifiers.items():
        classify(photos[0], LABELS)  # the text cache: per precision, filled once
    ms = interleaved_ms({p: (lambda c=c: c(photos[0], LABELS)) for p, c in classifiers.items()}, runs)
    for p in PRECISIONS:
        rows.append(dict(what="zero-shot pipeline (8 labels, imagenet80, cached text)", batch=1, precision=p,
                         ms=ms[p], vs_fp32=ms["fp32"] / ms[p]))
    # -- same answers at full size ---------------------------------------------------------------------
    grey = [Image.new("RGB", (224, 224), (c, 255 - c, (5 * c) % 256)) for c in range(0, 256, 16)]
    images = photos + grey
    image_ref, text_ref = ref.encode_images(images), ref.encode_texts(TEXTS + LABELS)
    dense_ref = ref.dense(photos[1])
    for p in PRECISIONS[1:]:
        low = backbones[p]
        image_low, text_low = low.encode_images(images), low.encode_texts(TEXTS + LABELS)
        dense_low = low.dense(photos[1])
        cos_image, cos_text = min_cosine(image_ref, image_low), min_cosine(text_ref, text_low)
        labels_ref, labels_low = ref.encode_texts(LABELS), low.encode_texts(LABELS)
        scores_ref, scores_low = image_ref @ labels_ref.T, image_low @ labels_low.T
        err = float((scores_ref - scores_low).abs().max())  # the measured error, in cosine units
        top2 = scores_ref.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > 2 * err
        rows.append(dict(
            what="same answers (random weights)", precision=p,
            min_cos_image=cos_image, min_cos_text=cos_text,
            min_cos_dense=min_cosine(dense_ref.features, dense_low.features),
            min_cos_dense_global=min_cosine(dense_ref.global_embedding[None], dense_low.global_embedding[None]),
            score_error=err, labels_compared=int(clear.sum()), near_ties_set_aside=int((~clear).sum()),
            labels_identical=bool(torch.equal(scores_ref.argmax(1)[clear], scores_low.argmax(1)[clear])),
        ))
    rows.append(dict(what="auto on this machine", precision=precisions.resolve("auto", "cpu"),
                     why=precisions.auto_reason("cpu")[1], threads=torch.get_num_threads()))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force", action="store_true", help="run even on a busy machine (figures then mean little)")
    args = parser.parse_args()
    quiet, why = quiet_enough()
    if not quiet and not args.force:
        raise SystemExit(f"Not timing: {why}. Run again on a quiet machine (or --force).")
    rows = run(args.runs)
    rows.append(dict(what="conditions", note=why))
    report("precision", rows)
