"""Short clips of one object doing one action, for ActionCLIP and CLIP4Clip.

Both methods pool frames with meanP, the mean of frame embeddings: it sees what the frames look like,
not their order. So every action here changes how each frame looks, and none is told apart only by
order:

- "staying still": the object, unchanged;
- "moving": it slides across, smeared by motion blur along its path;
- "spinning": it turns, blurred around its centre;
- "flashing": a bright glow around it pulses;
- "splitting": it breaks into two halves that drift apart.

Pairs that differ only in order — moving left vs right, growing vs shrinking, appearing vs
disappearing — give the same mean and cannot be told apart by meanP; the world has none of them, and
the tabs say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from components.world.scenes import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    SIZES,
    _background,
    _muted,
    shape_mask,
)

ACTIONS: tuple[str, ...] = ("staying still", "moving", "spinning", "flashing", "splitting")
ORDER_ONLY_ACTIONS = ("moving left vs moving right", "growing vs shrinking", "appearing vs disappearing")
FRAMES = 12  # at one frame a second (the rate a list of images plays at), CLIP4Clip samples all 12


@dataclass(frozen=True)
class Clip:
    """A clip's truth and frames. frames: FRAMES uint8 (size, size, 3) arrays."""

    colour: str
    shape: str
    action: str
    seed: int
    frames: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} {self.action}"

    def pil_frames(self) -> list[Image.Image]:
        return [Image.fromarray(f) for f in self.frames]


def _composite(canvas: np.ndarray, alpha: np.ndarray, colour, x0: int, y0: int) -> None:
    size = canvas.shape[0]
    h, w = alpha.shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, size), min(y0 + h, size)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    a = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None]
    region = canvas[cy0:cy1, cx0:cx1]
    region[:] = region * (1 - a) + np.asarray(colour, np.float32) * a


def _motion_blur(alpha: np.ndarray, length: int) -> np.ndarray:
    """Horizontal box blur of `length` pixels, widening the mask to hold the smear."""
    padded = np.pad(alpha, ((0, 0), (length, length)))
    cumulative = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (cumulative[:, length:] - cumulative[:, :-length])[:, : padded.shape[1] - length + 1] / length


def _glow(alpha: np.ndarray, radius: float) -> np.ndarray:
    pad = int(3 * radius)
    image = Image.fromarray((np.pad(alpha, pad) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(image, np.float32) / 255.0


def random_clip(
    seed: int,
    size: int = 112,
    *,
    action: str | None = None,
    colour: str | None = None,
    shape: str | None = None,
    exclude: frozenset = frozenset(),
) -> Clip:
    """The clip of `seed` (action, colour and shape drawn unless given; `exclude`d pairs never drawn)."""
    rng = np.random.default_rng([seed, 7])
    action = action or ACTIONS[rng.integers(len(ACTIONS))]
    while True:
        c = colour or list(COLOURS)[rng.integers(len(COLOURS))]
        s = shape or SHAPES[rng.integers(len(SHAPES))]
        if (c, s) not in exclude or (colour and shape):
            break
    lo, _ = SIZES["medium"]
    _, hi = SIZES["large"]
    side = int(round(rng.uniform(lo, hi) * size))
    background = _background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], (_muted(rng), _muted(rng)), size, rng)
    rgb = np.clip(np.asarray(COLOURS[c], np.float32) + rng.normal(0, 0.03, 3), 0, 1)
    cx, cy = rng.uniform(0.35, 0.65, 2) * size
    base_angle = 0.0 if s in ("circle", "ring") else float(rng.uniform(-10, 10))
    direction = 1 if rng.uniform() < 0.5 else -1
    frames = []
    for t in range(FRAMES):
        phase = t / (FRAMES - 1)
        canvas = background.copy()
        alpha = shape_mask(s, side, base_angle)
        x, y = cx - side / 2, cy - side / 2
        if action == "moving":
            x = (0.1 + 0.8 * (phase if direction > 0 else 1 - phase)) * size - side / 2
            length = max(2, int(0.35 * side))
            alpha = _motion_blur(alpha, length)
            x -= length  # the smear reaches `length` pixels each side of the shape
        elif action == "spinning":
            turn = 360.0 * phase * direction
            alpha = np.mean([shape_mask(s, side, round(base_angle + turn + k * 9.0, 1)) for k in range(5)], 0)
            if s in ("circle", "ring"):  # a turning circle looks still: spokes of shading show the turn
                alpha = alpha * (0.75 + 0.25 * _spokes(side, turn))
        elif action == "flashing":
            radius = 0.12 * side
            glow = np.clip(_glow(alpha, radius) * (2.0 if t % 2 == 0 else 1.3), 0, 1)
            pad = int(3 * radius)
            _composite(canvas, glow, (1.0, 1.0, 0.92), int(x) - pad, int(y) - pad)
        elif action == "splitting":
            gap = int(round(0.1 * side + 0.45 * side * phase))
            half = side // 2
            _composite(canvas, alpha[:, :half], rgb, int(x) - gap // 2, int(y))
            alpha = alpha[:, half:]
            x = x + half + gap - gap // 2
        _composite(canvas, alpha, rgb, int(round(x)), int(round(y)))
        noise = rng.normal(0, 0.012, canvas.shape).astype(np.float32)
        frames.append((np.clip(canvas + noise, 0, 1) * 255 + 0.5).astype(np.uint8))
    return Clip(c, s, action, seed, tuple(frames))


def _spokes(side: int, turn: float) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) - (side - 1) / 2
    return 0.5 + 0.5 * np.cos(4 * (np.arctan2(y, x) - math.radians(turn)))
