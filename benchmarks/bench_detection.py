"""ViLD and GLIP tabs end to end vs the bare CLIP forward of the same crops; proposals timed apart.

Each region costs two crops (1× and 1.5×). Given the proposals, the pipelines crop (roi_align on the
full image), encode, and score; the bare reference is `encode_images` of the very same 2·N crops,
already made; the three are timed in turns. Target: ≤ 1.3× the bare encode, 0 text forwards on
repeated labels. Proposal time (selective search + the dense-CLIP forward) has its own column.

Then each tab end to end at the UI's defaults (both proposal sources, 60 regions, 63 prompts, text
cached, the app's `auto` precision), proposals included, with each region embedding
(`regions.REGION_EMBEDDINGS`): ViLD's crops (2 forwards a region) against the one-forward pooled mode
(the CPU default), timed in turns. Alone, for the default model:

    python benchmarks/bench_detection.py --end-to-end-only [--models ViT-B-16]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import interleaved_ms, report
from PIL import Image

from app.examples import ASSETS, skimage_photo
from components import precision as precisions
from components import regions
from components.backbone import load_backbone
from components.glip import GLIP
from components.vild import ViLD, text_embeddings

CATEGORIES = ["person", "flag", "helmet", "rocket", "cup"]
CAPTION = "An astronaut holding a helmet in front of a flag."


def run(quick: bool = False) -> list[dict]:
    rows = []
    runs = 5 if quick else 7
    models = ("ViT-B-32",) if quick else ("ViT-B-16", "ViT-B-32")
    n_proposals = 12 if quick else regions.MAX_PROPOSALS
    images = {
        "astronaut": Image.open(skimage_photo("astronaut")).convert("RGB"),
        "shapes": Image.open(ASSETS / "detection_shapes.png").convert("RGB"),
    }
    if quick:
        images.pop("shapes")
    for model in models:
        backbone = load_backbone(model, "random", "auto")
        for name, image in images.items():
            text = text_embeddings(backbone, CATEGORIES)
            start = time.perf_counter()
            proposals = regions.propose(image, backbone=backbone, text=text, max_proposals=n_proposals)
            proposal_ms = (time.perf_counter() - start) * 1000
            crops = regions.region_crops(backbone, image, proposals.boxes)
            calls = {
                "bare": lambda: backbone.encode_images(crops),
                "vild": lambda: ViLD(backbone)(image, CATEGORIES, proposals=proposals),
                "glip": lambda: GLIP(backbone)(image, CAPTION, proposals=proposals),
            }
            for call in calls.values():
                call()  # warm up, and fill the text cache
            warm_text = backbone.text_forwards
            times = interleaved_ms(calls, runs, warmup=False)
            bare_ms = times["bare"]
            for pipeline in ("vild", "glip"):
                pipeline_ms = times[pipeline]
                rows.append(
                    row := dict(
                        pipeline=pipeline,
                        model=model,
                        image=f"{name} {image.size[0]}×{image.size[1]}",
                        regions=len(proposals),
                        crops=len(crops),
                        proposal_ms=proposal_ms,
                        pipeline_ms=pipeline_ms,
                        bare_same_crops_ms=bare_ms,
                        ratio=pipeline_ms / bare_ms,
                        target="≤1.3",
                        repeat_text_forwards=backbone.text_forwards - warm_text,
                    )
                )
                print(row, flush=True)
    rows.extend(end_to_end(models, images, 2 if quick else 3))
    return rows


def end_to_end(models, images: dict, runs: int) -> list[dict]:
    rows = []
    precision = precisions.resolve("auto", "cpu")  # what the app runs on this machine
    for model in models:
        backbone = load_backbone(model, "random", "cpu", precision=precision)
        for name, image in images.items():
            rows.extend(_end_to_end(backbone, model, precision, name, image, runs))
    return rows


def _end_to_end(backbone, model: str, precision: str, name: str, image: Image.Image, runs: int) -> list[dict]:
    """Each tab at the UI's defaults, proposals included, crops against pooled, timed in turns."""
    calls = {}
    for how in regions.REGION_EMBEDDINGS:
        calls[f"vild {how}"] = lambda how=how: ViLD(backbone, region_embedding=how)(image, CATEGORIES)
        calls[f"glip {how}"] = lambda how=how: GLIP(backbone, region_embedding=how)(image, CAPTION)
    regions_embedded = len(calls["vild crops"]().boxes)  # warm up: text cache, selective search's code paths
    for call in calls.values():
        call()
    times = interleaved_ms(calls, runs, warmup=False)
    rows = []
    for pipeline in ("vild", "glip"):
        crops_ms, pooled_ms = times[f"{pipeline} crops"], times[f"{pipeline} pooled"]
        rows.append(row := dict(
            pipeline=f"{pipeline} end to end (UI defaults)", model=model, precision=precision,
            image=f"{name} {image.size[0]}×{image.size[1]}", regions=regions_embedded, crops_ms=crops_ms, pooled_ms=pooled_ms, pooled_vs_crops=pooled_ms / crops_ms,
        ))
        print(row, flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--end-to-end-only", action="store_true", help="only the tabs at the UI's defaults")
    parser.add_argument("--models", nargs="+", default=["ViT-B-16"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.end_to_end_only:
        astronaut = {"astronaut": Image.open(skimage_photo("astronaut")).convert("RGB")}
        report("detection_end_to_end", end_to_end(args.models, astronaut, args.runs))
    else:
        report("detection", run())
