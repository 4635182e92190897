"""Below the fp32 floor (issue 19): every image pipeline end to end at the app's `auto` precision
against the bare fp32 forward of the same views, crops or frames (the same method, the same work),
with its fp32 and int8 runs beside it, all timed in turns in one run; for LSeg and GroupViT also the
tab with what it draws and Gradio sends, at `auto`.

Targets: the pipeline at `auto` ≤ 0.5× the fp32 bare forward, the tab ≤ 0.7×. `auto` is what
`components.precision` picks on this machine from its CPU flags (bf16 with AMX, else fp32), never
from these timings; on a CPU without AMX the `auto` column is the fp32 one and the targets cannot be
met. Full-size architectures, random weights (speed does not depend on the weights). Timings mean
something only on a quiet machine: it refuses to run beside a Mini training or at load ≥ 1.5.

    python benchmarks/bench_auto.py [--runs 5] [--force]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from common import interleaved_ms, report
from PIL import Image

from app.examples import skimage_photo
from bench_precision import quiet_enough
from components import precision as precisions
from components.backbone import load_backbone
from components.dense import resnet_stages

PRECISIONS = ("fp32", "auto", "int8")


def views_of(backbone, call) -> int:
    """How many images the image tower encodes in one `call()` (after a warm-up call)."""
    call()
    before = backbone.image_forwards
    call()
    return backbone.image_forwards - before


def pipelines(folder: Path) -> list[dict]:
    """Each pipeline: name, model, make(backbone) -> call, bare(fp32 backbone, views) -> call, and
    for a tab its drawing `tab(result)`."""
    import bench_groupvit
    import bench_lseg
    from app.tabs.groupvit import outputs as groupvit_outputs
    from app.tabs.lseg import outputs as lseg_outputs
    from bench_detection import CAPTION, CATEGORIES
    from bench_pointclip import LABELS as POINT_LABELS, cloud
    from bench_video import make_clips
    from components import pointclip as pc
    from components.actionclip import ActionCLIP
    from components.depthclip import DepthCLIP
    from components.glip import GLIP
    from components.groupvit import GroupViT
    from components.labelsets import PASCAL_VOC_20
    from components.lseg import LSeg
    from components.vild import ViLD
    from components.zeroshot import ZeroShotClassifier

    astronaut = Image.open(skimage_photo("astronaut")).convert("RGB")
    motorcycle = Image.open(skimage_photo("motorcycle_left")).convert("RGB")
    points = cloud(1024)
    clip = str(make_clips(folder, 1, seconds=4)[0])
    labels = ["astronaut", "cat", "rocket", "cup of coffee", "dog"]
    actions = ["running", "jumping", "swimming", "cooking", "dancing"]

    def same_views(image):
        return lambda fp32, views: (lambda p=fp32.pixels([image]).repeat(max(1, views), 1, 1, 1): fp32.encode_images(p))

    def same_point_views(fp32, views):
        pixels = pc.to_clip_input(pc.PointCLIP(fp32, projection="v2").project(points), fp32.image_size)
        return lambda: fp32.encode_images(pixels, batch_size=len(pixels))

    def same_frames(fp32, views):
        frames = list(ActionCLIP(fp32).sample(clip).frames)
        return lambda: fp32.encode_images(frames)

    def depth_trunk(fp32, views):
        pixels = DepthCLIP(fp32).pixels(motorcycle).to(fp32.device)

        def bare():
            with torch.inference_mode():
                resnet_stages(fp32.model.visual, pixels)
        return bare

    lseg_sent, groupvit_sent = bench_lseg.tab_sender(), bench_groupvit.tab_sender()
    voc = list(PASCAL_VOC_20.classes)
    return [
        dict(name="zero-shot (80 prompts, 5 labels)", model="ViT-B-16", input="astronaut",
             make=lambda b: lambda: ZeroShotClassifier(b, templates="imagenet80")(astronaut, labels), bare=same_views(astronaut)),
        dict(name="LSeg (8 labels)", model="ViT-B-16", input="astronaut",
             make=lambda b: lambda: LSeg(b)(astronaut, bench_lseg.LABELS), bare=same_views(astronaut),
             tab=lambda result: lseg_sent(lseg_outputs(astronaut, result, []))),
        dict(name="GroupViT, CLIP-backed (VOC 20)", model="ViT-B-16", input="astronaut",
             make=lambda b: lambda: GroupViT(b)(astronaut, voc), bare=same_views(astronaut),
             tab=lambda result: groupvit_sent(groupvit_outputs(astronaut, result, []))),
        dict(name="ViLD, pooled (UI defaults, proposals included)", model="ViT-B-16", input="astronaut",
             make=lambda b: lambda: ViLD(b, region_embedding="pooled")(astronaut, CATEGORIES), bare=same_views(astronaut)),
        dict(name="GLIP, pooled (UI defaults, proposals included)", model="ViT-B-16", input="astronaut",
             make=lambda b: lambda: GLIP(b, region_embedding="pooled")(astronaut, CAPTION), bare=same_views(astronaut)),
        dict(name="DepthCLIP (image + flip)", model="RN50", input="motorcycle",
             make=lambda b: lambda: DepthCLIP(b)(motorcycle), bare=depth_trunk),
        dict(name="PointCLIP V2 (10 views)", model="ViT-B-16", input="1024 points",
             make=lambda b: lambda: pc.PointCLIP(b, projection="v2")(points, POINT_LABELS), bare=same_point_views),
        dict(name="ActionCLIP (8 frames, decoding included)", model="ViT-B-16", input="generated clip",
             make=lambda b: lambda: ActionCLIP(b)(clip, actions), bare=same_frames),
    ]


def run(quick: bool = False, runs: int | None = None) -> list[dict]:
    runs = runs or (3 if quick else 5)
    auto = precisions.resolve("auto", "cpu")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for spec in pipelines(Path(folder)):
            backbones = {p: load_backbone(spec["model"], "random", "cpu", precision=p) for p in PRECISIONS}
            calls = {p: spec["make"](b) for p, b in backbones.items()}
            views = views_of(backbones["fp32"], calls["fp32"])
            timed = {"bare fp32": spec["bare"](backbones["fp32"], views), **{f"pipeline {p}": c for p, c in calls.items()}}
            if "tab" in spec:
                timed["tab auto"] = lambda c=calls["auto"], tab=spec["tab"]: tab(c())
            ms = interleaved_ms(timed, runs)
            bare = ms["bare fp32"]
            row = dict(pipeline=spec["name"], model=spec["model"], input=spec["input"], views=views, auto=auto,
                       bare_fp32_ms=bare, **{f"{k.replace(' ', '_')}_ms": v for k, v in ms.items() if k != "bare fp32"},
                       auto_vs_bare_fp32=ms["pipeline auto"] / bare, int8_vs_bare_fp32=ms["pipeline int8"] / bare,
                       fp32_vs_bare_fp32=ms["pipeline fp32"] / bare, target="auto ≤ 0.5× (tab ≤ 0.7×)")
            if "tab" in spec:
                row["tab_auto_vs_bare_fp32"] = ms["tab auto"] / bare
            print(row, flush=True)
            rows.append(row)
    rows.append(dict(pipeline="auto on this machine", auto=auto, why=precisions.auto_reason("cpu")[1],
                     threads=torch.get_num_threads()))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force", action="store_true", help="run even on a busy machine (figures then mean little)")
    args = parser.parse_args()
    quiet, why = quiet_enough()
    if not quiet and not args.force:
        raise SystemExit(f"Not timing: {why}. Run again on a quiet machine (or --force).")
    rows = run(runs=args.runs)
    rows.append(dict(pipeline="conditions", note=why))
    report("auto", rows)
