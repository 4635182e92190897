"""CLIPasso (Vinker et al., SIGGRAPH 2022): an image → an abstract sketch of a few Bézier strokes.

The strokes start where CLIP looks (components.clipasso.saliency), are rendered by our own
differentiable rasteriser (components.clipasso.rasterizer) and are moved by Adam so that CLIP sees
the sketch as it sees the image (components.clipasso.loss). Several seeds run as one batch, each with
its own random draws (start points and augmentations), as the official one-process-per-seed runs; the
one with the lowest clean-view loss is kept. Each seed stops early as the official painterly_rendering.py
stops a run: every evaluation is compared with that seed's best so far, and the second evaluation within
`min_delta` of it since the last improvement by more than `min_delta` ends the seed.

`CLIPasso(loss_backbone, saliency_backbone)` is the pipeline; `.sketch(image)` is a generator that
yields a `SketchStep` per iteration (for live previews) and ends with one whose `result` is the
`SketchResult`; it stops early when `stop` is set or when the generator is closed. `CLIPasso(...)(image)`
runs it to the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps

from components.clipasso import rasterizer, saliency
from components.clipasso.loss import FC_WEIGHT, NUM_AUG, SketchLoss, default_conv_weights
from components.clipasso.svg import to_png_array, to_svg
from components.errors import InputError

log = logging.getLogger(__name__)

NUM_STROKES = 16
ABSTRACTION_LEVELS = (4, 8, 16, 32)
NUM_ITER = 2000
NUM_SEEDS = 3
LR = 1.0  # Adam, on point coordinates in pixels
EVAL_EVERY = 10
MIN_DELTA = 1e-5  # painterly_rendering.py: only a drop below the best by more than this is an improvement
CANVAS = 224
MAX_STROKES = 64
MAX_ITER = 5000
MAX_SEEDS = 8


@dataclass(frozen=True)
class SketchResult:
    """The best sketch and the evidence behind it. Points are (x, y) in canvas pixels.

    strokes (N, 4, 2) of the best seed; raster (H, W) in [0, 1]; seed_losses (S,) best clean-view
    loss per seed; eval_iterations (E,) and eval_losses (E, S); train_losses (T, S) per iteration;
    initial_strokes (S, N, 4, 2); attention, edges (1 = background, XDoG), saliency: (H, W);
    target (H, W, 3) uint8, the padded square image; snapshots (F, N, 4, 2) of the best seed at each
    evaluation (the animation)."""

    strokes: np.ndarray
    svg: str
    raster: np.ndarray
    best_seed: int
    seeds: tuple[int, ...]
    seed_losses: np.ndarray
    eval_iterations: np.ndarray
    eval_losses: np.ndarray
    train_losses: np.ndarray
    initial_strokes: np.ndarray
    attention: np.ndarray
    edges: np.ndarray
    saliency: np.ndarray
    target: np.ndarray
    snapshots: np.ndarray
    iterations: int
    stopped: bool
    early_stopped: bool
    canvas: int
    width: float

    def png(self, scale: int = 2) -> np.ndarray:
        """(canvas·scale)² uint8 greyscale raster of the best sketch."""
        return to_png_array(self.strokes, self.canvas, scale, self.width)

    def frame_picks(self, max_frames: int = 40) -> np.ndarray:
        """Indices into `snapshots` of the frames that `frames(max_frames)` renders, in order."""
        return np.unique(np.linspace(0, len(self.snapshots) - 1, min(max_frames, len(self.snapshots))).round().astype(int))

    @property
    def snapshot_iterations(self) -> np.ndarray:
        """The iteration each snapshot was taken at; the last snapshot (the kept best strokes) gets
        `iterations`, the number of optimisation steps run."""
        return np.append(self.eval_iterations, self.iterations)[: len(self.snapshots)]

    def frames(self, max_frames: int = 40) -> np.ndarray:
        """(F, H, W) uint8 rasters of the best seed's strokes settling, at most `max_frames`
        (snapshots `frame_picks(max_frames)`); the first is the initial strokes."""
        picks = self.frame_picks(max_frames)
        control = torch.as_tensor(self.snapshots[picks], dtype=torch.float32)
        with torch.no_grad():
            paper = rasterizer.render(control, self.canvas, width=self.width)
        return (paper.numpy() * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class SketchStep:
    """Progress after `iteration` of `total`. best_loss: the lowest clean-view loss so far (over seeds,
    from the last evaluation). `loss` (S,) of this step per seed and `raster` (H, W) in [0, 1] of the
    current strokes of the leading seed are computed when read, so a loop that does not read them
    never waits for the GPU. The last step has done=True and carries the result."""

    iteration: int
    total: int
    best_loss: float
    step_loss: torch.Tensor = field(repr=False)
    lead_strokes: torch.Tensor = field(repr=False)
    render_fn: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    done: bool = False
    result: SketchResult | None = field(default=None, repr=False)

    @property
    def loss(self) -> np.ndarray:
        return self.step_loss.detach().float().cpu().numpy()

    @property
    def raster(self) -> np.ndarray:
        if self.result is not None:
            return self.result.raster
        with torch.no_grad():
            return self.render_fn(self.lead_strokes).float().cpu().numpy()

    @property
    def strokes(self) -> np.ndarray:
        return self.lead_strokes.detach().float().cpu().numpy()


def pad_to_square(image: Image.Image, size: int) -> Image.Image:
    """Pad to a white square around the image's centre, then resize to size × size (fix_scale)."""
    image = image.convert("RGB")
    w, h = image.size
    side = max(w, h)
    square = Image.new("RGB", (side, side), "white")
    square.paste(image, ((side - w) // 2, (side - h) // 2))
    return square.resize((size, size), Image.BICUBIC)


class CLIPasso:
    """`CLIPasso(loss_backbone, saliency_backbone, num_strokes=16, ...)`.

    loss_backbone: a CLIP ResNet (RN101 in the paper; layer maps via components.dense.resnet_stages),
    or a ViT for a quick run (block token maps). saliency_backbone: a CLIP ViT (ViT-B/32 in the paper).
    Hyperparameters are named and defaulted as in the paper / official code. autocast: a reduced
    precision for the loss tower (e.g. torch.bfloat16). cuda_graph: replay each step as a CUDA graph
    (default: on CUDA at full precision; falls back to eager steps, with a log line, if capture fails)."""

    def __init__(
        self,
        loss_backbone,
        saliency_backbone,
        *,
        num_strokes: int = NUM_STROKES,
        num_iter: int = NUM_ITER,
        seeds: Sequence[int] = (0, 1, 2),
        width: float = rasterizer.STROKE_WIDTH,
        lr: float = LR,
        softmax_temp: float = saliency.SOFTMAX_TEMP,
        conv_weights: dict[str, float] | None = None,
        fc_weight: float = FC_WEIGHT,
        num_aug: int = NUM_AUG,
        eval_every: int = EVAL_EVERY,
        min_delta: float = MIN_DELTA,
        canvas: int = CANVAS,
        segments: int = rasterizer.SEGMENTS,
        xdog_input: str = "image",
        autocast: torch.dtype | None = None,
        cuda_graph: bool | None = None,
    ):
        if not 1 <= int(num_strokes) <= MAX_STROKES:
            raise InputError(f"Use between 1 and {MAX_STROKES} strokes (got {num_strokes}).")
        if not 1 <= int(num_iter) <= MAX_ITER:
            raise InputError(f"Use between 1 and {MAX_ITER} iterations (got {num_iter}).")
        seeds = tuple(int(s) for s in seeds)
        if not 1 <= len(seeds) <= MAX_SEEDS or len(set(seeds)) != len(seeds):
            raise InputError(f"Give between 1 and {MAX_SEEDS} different seeds (got {list(seeds)}).")
        for name, value in (("width", width), ("learning rate", lr), ("temperature", softmax_temp)):
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"The {name} must be a positive number (got {value}).")
        if not (np.isfinite(fc_weight) and fc_weight >= 0):
            raise InputError(f"The semantic loss weight must be ≥ 0 (got {fc_weight}).")
        if xdog_input not in saliency.XDOG_INPUTS:
            raise InputError(f"The XDoG input must be one of {', '.join(saliency.XDOG_INPUTS)} (got {xdog_input!r}).")
        self.xdog_input = xdog_input  # "clip-normalised": the official code's (see saliency.xdog_input)
        self.loss_backbone = loss_backbone
        self.saliency_backbone = saliency_backbone
        self.num_strokes = int(num_strokes)
        self.num_iter = int(num_iter)
        self.seeds = seeds
        self.width = float(width)
        self.lr = float(lr)
        self.softmax_temp = float(softmax_temp)
        self.conv_weights = dict(conv_weights) if conv_weights is not None else default_conv_weights(loss_backbone)
        if any(not np.isfinite(v) or v < 0 for v in self.conv_weights.values()):
            raise InputError("Layer loss weights must be ≥ 0.")
        if not any(self.conv_weights.values()) and fc_weight == 0:
            raise InputError("All loss weights are 0: nothing would move the strokes.")
        self.fc_weight = float(fc_weight)
        self.num_aug = int(num_aug)
        self.eval_every = max(1, int(eval_every))
        self.min_delta = float(min_delta)
        self.canvas = int(canvas)
        self.segments = int(segments)
        self.autocast = autocast  # e.g. torch.bfloat16: run the loss backbone in reduced precision
        self.device = loss_backbone.device
        # One optimisation step replayed as a CUDA graph: RN101 on a few views is launch-bound on a GPU
        # (2.2× faster on an H100). Full precision only: bf16 autocast under replay made an illegal
        # memory access there (torch 2.11), and ran slower than float32 anyway. None: wherever it applies.
        graphable = torch.device(self.device).type == "cuda" and autocast is None
        self.cuda_graph = graphable if cuda_graph is None else bool(cuda_graph) and graphable

    # -- initialisation ------------------------------------------------------------------------------
    def initialise(self, image: Image.Image) -> dict[str, np.ndarray]:
        """The padded target, attention, XDoG edges, saliency and the initial strokes of every seed."""
        square = pad_to_square(image, self.canvas)
        attention = saliency.clip_attention_map(self.saliency_backbone, square, self.canvas)
        edges = saliency.xdog(saliency.xdog_input(square, self.saliency_backbone, self.xdog_input))
        sal = saliency.saliency_map(attention, edges)
        if int((sal > 0).sum()) < self.num_strokes:  # a blank image: fall back to attention alone
            sal = attention + 1e-6
        starts = np.stack([
            saliency.initial_strokes(sal, self.num_strokes, np.random.default_rng(seed), self.softmax_temp)
            for seed in self.seeds
        ])
        return dict(target=np.asarray(square), attention=attention, edges=edges, saliency=sal, strokes=starts)

    # -- optimisation ----------------------------------------------------------------------------------
    def render(self, control: torch.Tensor) -> torch.Tensor:
        return rasterizer.render(control, self.canvas, width=self.width, segments=self.segments)

    def sketch(self, image: Image.Image, stop: threading.Event | Callable[[], bool] | None = None) -> Iterator[SketchStep]:
        """Yield a SketchStep per iteration; the last has done=True and the SketchResult.
        Setting `stop` (an Event or a callable returning True) ends the run after the current
        iteration, with the best sketch found so far."""
        should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
        init = self.initialise(image)
        target = torch.tensor(init["target"], dtype=torch.float32).permute(2, 0, 1) / 255.0
        loss_fn = SketchLoss(self.loss_backbone, target, conv_weights=self.conv_weights, fc_weight=self.fc_weight,
                             autocast=self.autocast)
        points = torch.tensor(init["strokes"], device=self.device, requires_grad=True)
        # every augmentation of the run, drawn up front and moved to the device once: each seed from its
        # own generator, as the official runs (one process per seed) draw their own; (iters, seeds, views, 11)
        params = torch.stack([
            loss_fn.params(self.num_iter * self.num_aug, np.random.default_rng(seed)).reshape(self.num_iter, self.num_aug, 11)
            for seed in self.seeds
        ], dim=1)
        step = _graphed_step(self, loss_fn, points, params[0]) if self.cuda_graph else None
        step = step or _EagerStep(self, loss_fn, points)
        n_seeds = len(self.seeds)
        best_loss = np.full(n_seeds, np.inf)
        best_points = points.detach().clone()
        active = np.ones(n_seeds, bool)
        frozen_mask = None  # device mask of seeds that stopped early
        armed = np.zeros(n_seeds, bool)  # painterly_rendering.py's `terminate`, per seed
        eval_iterations, eval_losses, train_losses, snapshots = [], [], [], []
        stopped = False
        steps = 0
        lead = 0
        for iteration in range(self.num_iter):
            if should_stop():
                stopped = True
                break
            if iteration % self.eval_every == 0:
                with torch.no_grad():
                    clean, _ = loss_fn(self.render(points), None)
                clean = clean.cpu().numpy().astype(np.float64)
                # as the official painterly_rendering.py: delta = loss − best so far; a drop by more than
                # min_delta is an improvement (kept, disarms); |delta| ≤ min_delta stops an armed seed,
                # else arms it; a loss worse by more than min_delta changes nothing
                delta = clean - best_loss
                near = np.abs(delta) <= self.min_delta
                active &= ~(near & armed)
                armed = np.where(delta < -self.min_delta, False, armed | near)
                best_loss = self._keep_best(clean, best_loss, best_points, points)
                lead = int(np.argmin(best_loss))
                eval_iterations.append(iteration)
                eval_losses.append(clean)
                snapshots.append(points.detach().cpu().numpy().copy())  # .cpu() on a CPU tensor aliases it
                if not active.any():
                    break
                if not active.all():
                    frozen_mask = torch.as_tensor(~active, device=self.device)
            frozen = points.detach().clone() if frozen_mask is not None else None
            loss = step(params[iteration])
            steps += 1
            if frozen is not None:  # seeds that stopped early keep their strokes (no host sync)
                with torch.no_grad():
                    points.copy_(torch.where(frozen_mask[:, None, None, None], frozen, points))
            train_losses.append(loss)
            yield SketchStep(iteration + 1, self.num_iter, float(best_loss.min()), loss.detach(),
                             points.detach()[lead].clone(), self.render)
        iterations = steps
        # a last evaluation of where the strokes ended
        with torch.no_grad():
            clean, _ = loss_fn(self.render(points), None)
        clean = clean.cpu().numpy().astype(np.float64)
        best_loss = self._keep_best(clean, best_loss, best_points, points)
        eval_iterations.append(iterations)
        eval_losses.append(clean)
        snapshots.append(points.detach().cpu().numpy().copy())  # .cpu() on a CPU tensor aliases it
        lead = int(np.argmin(best_loss))
        strokes = best_points[lead].cpu().numpy()
        snaps = np.stack(snapshots)[:, lead]
        with torch.no_grad():
            raster = self.render(best_points[lead]).cpu().numpy()
        result = SketchResult(
            strokes=strokes,
            svg=to_svg(strokes, self.canvas, self.width),
            raster=raster,
            best_seed=self.seeds[lead],
            seeds=self.seeds,
            seed_losses=best_loss,
            eval_iterations=np.asarray(eval_iterations),
            eval_losses=np.stack(eval_losses),
            train_losses=torch.stack(train_losses).float().cpu().numpy() if train_losses else np.zeros((0, n_seeds)),
            initial_strokes=init["strokes"],
            attention=init["attention"],
            edges=init["edges"],
            saliency=init["saliency"],
            target=init["target"],
            snapshots=np.concatenate([snaps, strokes[None]]),
            iterations=iterations,
            stopped=stopped,
            early_stopped=not stopped and iterations < self.num_iter,
            canvas=self.canvas,
            width=self.width,
        )
        yield SketchStep(iterations, self.num_iter, float(best_loss.min()), torch.as_tensor(clean),
                         best_points[lead], self.render, done=True, result=result)

    def _keep_best(self, clean, best_loss, best_points, points) -> np.ndarray:
        better = clean - best_loss < -self.min_delta  # an improvement as painterly_rendering.py counts one
        mask = torch.as_tensor(better, device=self.device)
        best_points[mask] = points.detach()[mask]
        return np.where(better, clean, best_loss)

    def __call__(self, image: Image.Image, stop=None) -> SketchResult:
        step = None
        for step in self.sketch(image, stop):
            pass
        return step.result


class _EagerStep:
    """One optimisation step: render, loss over this step's views, gradient, Adam. Returns the loss
    per seed (B,)."""

    def __init__(self, sketcher: CLIPasso, loss_fn: SketchLoss, points: torch.Tensor, capturable: bool = False):
        self.sketcher, self.loss_fn, self.points = sketcher, loss_fn, points
        self.optimiser = torch.optim.Adam([points], lr=sketcher.lr, capturable=capturable)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            grids = self.loss_fn.grids(params) if self.sketcher.num_aug else None
            loss, _ = self.loss_fn(self.sketcher.render(self.points), grids)
            (grad,) = torch.autograd.grad(loss.sum(), [self.points])
        self.points.grad = grad
        self.optimiser.step()
        return loss.detach()


class _GraphedStep:
    """The same step captured once as a CUDA graph and replayed: this step's augmentation parameters
    are copied into a fixed input buffer, and the loss comes out of a fixed output buffer (copied,
    as the next replay overwrites it). Adam runs `capturable`, its state on the device."""

    def __init__(self, eager: _EagerStep, first_params: torch.Tensor):
        self.params = first_params.clone()
        points, optimiser = eager.points, eager.optimiser
        start = points.detach().clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(3):
                eager(self.params)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread-local: other visitors' requests may use the GPU from their own threads meanwhile
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.loss = eager(self.params)
        # undo the warm-up: the same start and a fresh Adam, in the buffers the graph reads
        with torch.no_grad():
            points.copy_(start)
            for state in optimiser.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        self.params.copy_(params)
        self.graph.replay()
        return self.loss.clone()


def _graphed_step(sketcher: CLIPasso, loss_fn: SketchLoss, points: torch.Tensor, first_params: torch.Tensor):
    """A _GraphedStep, or None (with a log line) where this step cannot be captured."""
    start = points.detach().clone()
    try:
        return _GraphedStep(_EagerStep(sketcher, loss_fn, points, capturable=True), first_params)
    except RuntimeError as error:  # an operation that syncs with the host, an unsupported kernel
        log.warning("CLIPasso: CUDA graph capture failed (%s); running the step eagerly", error)
        with torch.no_grad():
            points.copy_(start)
        points.grad = None
        return None
