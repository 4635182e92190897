"""CLIPasso's official default run on a GPU: 3 seeds × 2000 iterations, 16 strokes, 224², the seeds
batched together. Self-contained: run it on a CUDA machine from the repository root,

    python benchmarks/gpu_clipasso.py                      # fp32, random weights (speed only)
    python benchmarks/gpu_clipasso.py --precision bf16     # reduced precision for the RN101 loss (runs eagerly)
    python benchmarks/gpu_clipasso.py --precision both     # fp32 and bf16, with their losses side by side
    python benchmarks/gpu_clipasso.py --compile            # torch.compile the RN101 tower (warm-up compiles)
    python benchmarks/gpu_clipasso.py --unbatched          # also the seeds one after another, for comparison
    python benchmarks/gpu_clipasso.py --eager-iters 500    # also without the CUDA graph (500 iterations), for comparison

and on a CPU with tiny settings to check that it works:

    python benchmarks/gpu_clipasso.py --device cpu --tiny --iters 20 --seeds 2

The step is replayed as a CUDA graph (float32; `--no-graph` for eager). Prints sketch-iterations/s
(seeds × iterations / s) and total seconds, and the floor: the bare RN101 work of one step (forward +
backward of 5 sketch views per seed, forward of the 4 augmented image views) timed alone, eagerly
and as a CUDA graph. Writes JSON (default benchmarks/results/clipasso_gpu.json). Goal from the
issue: ≤ 90 s on an H100 (≥ 65 sketch-iterations/s); the original takes ~6 min per seed on a V100.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--strokes", type=int, default=16)
    ap.add_argument("--canvas", type=int, default=224)
    ap.add_argument("--loss-model", default="RN101")
    ap.add_argument("--saliency-model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="random", help="'random' (speed does not depend on weights) or 'openai'")
    ap.add_argument("--tiny", action="store_true", help="the tests' tiny models and a 64² canvas (CPU check)")
    ap.add_argument("--precision", default="fp32", choices=[*PRECISIONS, "both"])
    ap.add_argument("--no-tf32", action="store_true", help="keep matmuls/convs in strict fp32")
    ap.add_argument("--contiguous", action="store_true", help="NCHW loss tower instead of the default channels-last")
    ap.add_argument("--compile", action="store_true", help="torch.compile the loss tower's stages (compile time is not timed)")
    ap.add_argument("--early-stop", action="store_true", help="stop at ≤1e-5 change twice (default: run all iterations)")
    ap.add_argument("--unbatched", action="store_true", help="also run the seeds one after another, for comparison")
    ap.add_argument("--no-graph", action="store_true", help="run the step eagerly, not replayed as a CUDA graph")
    ap.add_argument("--eager-iters", type=int, default=0, help="also time this many iterations without the CUDA graph")
    ap.add_argument("--floor-iters", type=int, default=30)
    ap.add_argument("--image", default=None, help="image file (default: scikit-image's horse, CC0)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "clipasso_gpu.json"))
    return ap.parse_args(argv)


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None) -> dict:
    args = parse(argv)
    import open_clip
    from PIL import Image

    from components.backbone import load_backbone
    from components.clipasso import CLIPasso
    from components.clipasso import loss as closs

    device = args.device
    if device.startswith("cuda"):
        assert torch.cuda.is_available(), "no CUDA GPU: use --device cpu (with --tiny for a quick check)"
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = not args.no_tf32
        torch.backends.cudnn.allow_tf32 = not args.no_tf32
    if args.tiny:
        open_clip.add_model_config(ROOT / "tests" / "model_configs")
        args.loss_model, args.saliency_model, args.pretrained = "clip-lab-tiny-rn", "clip-lab-tiny-vit", "random"
        args.canvas = 64 if args.canvas == 224 else args.canvas
    if args.image:
        image = Image.open(args.image).convert("RGB")
    else:
        import skimage.data

        image = Image.open(Path(skimage.data.__file__).resolve().parent / "horse.png").convert("RGB")

    t0 = time.perf_counter()
    loss_backbone = load_backbone(args.loss_model, args.pretrained, device)
    saliency_backbone = load_backbone(args.saliency_model, args.pretrained, device)
    if args.contiguous:
        closs.fused_visual(loss_backbone).to(memory_format=torch.contiguous_format)
    if args.compile:
        compile_loss_tower(loss_backbone)
    load_s = time.perf_counter() - t0

    def sketcher(seeds, iters, autocast, graph):
        return CLIPasso(
            loss_backbone, saliency_backbone, num_strokes=args.strokes, num_iter=iters, seeds=tuple(seeds),
            canvas=args.canvas, min_delta=1e-5 if args.early_stop else 0.0, autocast=autocast, cuda_graph=graph,
        )

    def timed_run(seeds, autocast, label, graph=not args.no_graph, iters=args.iters):
        sketcher(seeds, 12, autocast, graph)(image)  # warm-up: cudnn autotuning, allocator, lazy copies
        sync(device)
        timed = sketcher(seeds, iters, autocast, graph)
        start = time.perf_counter()
        step = None
        for step in timed.sketch(image):
            if step.iteration % 200 == 0 and not step.done:
                print(f"  [{label}] iteration {step.iteration} · {time.perf_counter() - start:.1f} s", flush=True)
        sync(device)
        seconds = time.perf_counter() - start
        result = step.result
        return dict(
            seconds=seconds,
            iterations=result.iterations,
            seeds=len(seeds),
            cuda_graph=timed.cuda_graph,
            iterations_per_s=result.iterations / seconds,
            sketch_iterations_per_s=result.iterations * len(seeds) / seconds,
            best_seed=result.best_seed,
            seed_losses=[float(x) for x in result.seed_losses],
            early_stopped=result.early_stopped,
        )

    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    runs = {}
    for name in precisions:
        autocast = PRECISIONS[name]
        print(f"{name}: {args.seeds} seeds batched × {args.iters} iterations, {args.strokes} strokes, "
              f"{args.canvas}² on {device}", flush=True)
        runs[name] = dict(batched=timed_run(range(args.seeds), autocast, f"{name} batched"))
        if args.eager_iters:
            runs[name]["eager"] = timed_run(range(args.seeds), autocast, f"{name} eager", False, args.eager_iters)
        if args.unbatched:
            parts = [timed_run([s], autocast, f"{name} seed {s}") for s in range(args.seeds)]
            total = sum(p["seconds"] for p in parts)
            runs[name]["unbatched"] = dict(seconds=total, sketch_iterations_per_s=sum(p["iterations"] for p in parts) / total)
        runs[name]["floor"] = floor(loss_backbone, args, device, autocast)

    report = dict(
        machine=dict(
            python=platform.python_version(), torch=torch.__version__, device=device,
            gpu=torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads(),
        ),
        settings=dict(vars(args)),
        load_seconds=load_s,
        weights=dict(loss=loss_backbone.weights, saliency=saliency_backbone.weights),
        runs=runs,
        goal="≤ 90 s for 3 seeds × 2000 iterations on an H100 (≥ 65 sketch-iterations/s)",
    )
    for name, run in runs.items():
        b = run["batched"]
        print(f"{name}: {b['iterations']} iterations × {b['seeds']} seeds in {b['seconds']:.1f} s → "
              f"{b['iterations_per_s']:.1f} iterations/s, {b['sketch_iterations_per_s']:.1f} sketch-iterations/s; "
              f"floor (bare RN101 work) {run['floor']['sketch_iterations_per_s']:.1f} sketch-iterations/s "
              f"(as a CUDA graph: {run['floor'].get('cuda_graph', {}).get('sketch_iterations_per_s', '—')}); "
              f"losses {['%.4g' % x for x in b['seed_losses']]}")
        if "eager" in run:
            e = run["eager"]
            print(f"{name} without the CUDA graph: {e['iterations']} iterations × {e['seeds']} seeds in {e['seconds']:.1f} s "
                  f"→ {e['sketch_iterations_per_s']:.1f} sketch-iterations/s")
        if "unbatched" in run:
            print(f"{name} unbatched: {run['unbatched']['seconds']:.1f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"→ {out}")
    return report


def compile_loss_tower(backbone) -> None:
    """torch.compile the loss tower: `components.clipasso.loss.features` answers for this backbone
    from one compiled module (one graph per batch size and grad mode; compile time is spent in the
    warm-up run, which is not timed)."""
    import torch._dynamo

    from components.clipasso import loss as closs

    torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
    layers = tuple(closs.default_conv_weights(backbone))
    eager = closs.features

    class Tower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone

        def forward(self, pixels):
            return eager(self.backbone, pixels, layers)

    closs.fused_visual(backbone)  # made outside the compiled region
    tower = torch.compile(Tower(), dynamic=False)

    def features(b, pixels, wanted):
        if b is backbone and tuple(wanted) == layers:
            return tower(pixels)
        return eager(b, pixels, wanted)

    closs.features = features


def floor(backbone, args, device, autocast) -> dict:
    """The bare network work of one step, without our code: forward + backward of 5 sketch views per
    seed, forward (no autograd) of the 4 augmented image views; same tower (BN folded) and precision."""
    from components.clipasso import loss as closs

    size = backbone.image_size
    sketch = torch.randn(5 * args.seeds, 3, size, size, device=device)
    views = torch.randn(4, 3, size, size, device=device)
    kind = torch.device(device).type
    layers = closs.default_conv_weights(backbone)

    def step():
        with torch.autocast(kind, dtype=autocast or torch.float32, enabled=autocast is not None, cache_enabled=False):
            with torch.no_grad():
                closs.features(backbone, views, tuple(layers))
            x = sketch.clone().requires_grad_()
            maps, final = closs.features(backbone, x, tuple(layers))
            total = sum(m.float().square().mean() for m in maps.values()) + final.float().sum()
        torch.autograd.grad(total, [x])

    def per_step(fn):
        for _ in range(3):
            fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(args.floor_iters):
            fn()
        sync(device)
        return (time.perf_counter() - start) / args.floor_iters

    seconds = per_step(step)
    report = dict(ms_per_step=seconds * 1000, sketch_iterations_per_s=args.seeds / seconds)
    if kind == "cuda" and not args.no_graph:  # the same work replayed as one CUDA graph
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            seconds = per_step(graph.replay)
            report["cuda_graph"] = dict(ms_per_step=seconds * 1000, sketch_iterations_per_s=args.seeds / seconds)
        except RuntimeError as error:
            report["cuda_graph"] = dict(error=str(error)[:300])
    return report


if __name__ == "__main__":
    main()
