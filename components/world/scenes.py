"""Scenes of flat shapes with known truth: what is where, how far, which pixels.

A scene is 1–4 objects, each a shape × colour × size, at a position, a small rotation and a depth
(metres, 1.00–2.75, DepthCLIP's range), on one of five backgrounds (plain, gradient, noise, stripes,
checks) that stands for a wall at 3.00 m. Depth shows the way it does in a photo, never through the
image row: farther objects are hazier (blended towards the air's colour) and blurrier (the camera is
focused at 1 m), and nearer objects hide farther ones. Objects float anywhere, so a vertical ramp
does not predict depth.

`render(scene, size)` draws it and returns the image with its truth: class and instance masks, the
visible boxes, a depth map. Everything is a pure function of the scene (and the scene of its seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# -- the vocabulary ------------------------------------------------------------------------------
COLOURS: dict[str, tuple[float, float, float]] = {  # name → RGB in [0, 1]
    "red": (0.86, 0.10, 0.10),
    "orange": (0.97, 0.52, 0.05),
    "yellow": (0.96, 0.88, 0.12),
    "green": (0.12, 0.68, 0.20),
    "blue": (0.12, 0.28, 0.92),
    "purple": (0.56, 0.18, 0.76),
    "white": (0.97, 0.97, 0.97),
    "black": (0.05, 0.05, 0.05),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond", "ring", "heart")
SIZES: dict[str, tuple[float, float]] = {  # name → object height as a fraction of the image side
    "small": (0.15, 0.19),
    "medium": (0.25, 0.30),
    "large": (0.38, 0.46),
}
NEAREST, FARTHEST = 1.00, 2.75  # object depths in metres (DepthCLIP's bins run 1.00 … 3.00)
BACKGROUND_DEPTH = 3.00  # the wall behind everything: DepthCLIP's last bin, "unseen"
HAZE = np.array([0.78, 0.80, 0.84], np.float32)  # the air's colour
MAX_HAZE = 0.5  # blend towards HAZE at the farthest depth
MAX_BLUR = 1.6  # Gaussian sigma in pixels of a 112-px image at the farthest depth
BACKGROUNDS = ("plain", "gradient", "noise", "stripes", "checks")
MAX_ROTATION = 15.0  # degrees; squares and diamonds stay nearly upright so they remain two shapes
SUPERSAMPLE = 2  # shapes are drawn at twice the size and box-filtered down (anti-aliasing)


def class_labels() -> list[str]:
    """The 64 colour × shape class names, "red circle" … "black heart"; class id = index + 1."""
    return [f"{colour} {shape}" for colour in COLOURS for shape in SHAPES]


_CLASS_ID = {label: i + 1 for i, label in enumerate(class_labels())}


@dataclass(frozen=True)
class SceneObject:
    """One object. centre: (x, y) as fractions of the image width and height (y down);
    extent: height as a fraction of the image side; angle: degrees; depth: metres."""

    shape: str
    colour: str
    size: str
    centre: tuple[float, float]
    extent: float
    angle: float
    depth: float

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def class_id(self) -> int:
        return _CLASS_ID[self.label]


@dataclass(frozen=True)
class Scene:
    """A scene: its objects (in drawing order, farthest first), background and the seed that made it.
    kind: "objects" (1–4 unrelated objects), "count" (copies of one object) or "relation" (two
    objects clearly apart, for "left of" / "above")."""

    objects: tuple[SceneObject, ...]
    background: str
    background_colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    seed: int
    kind: str = "objects"

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objects]


@dataclass(frozen=True)
class Rendered:
    """A drawn scene and its truth, all (H, W) = (size, size).

    image: uint8 RGB. classes: int16, 0 = background, else the class id of `class_labels()`.
    instances: int16, 0 = background, else 1 + the object's index in `scene.objects`.
    depth: float32 metres (BACKGROUND_DEPTH on the background). boxes: (N, 4) float32 pixel boxes
    (x0, y0, x1, y1) of each object's visible pixels (NaN if it is hidden).
    """

    scene: Scene
    image: np.ndarray
    classes: np.ndarray
    instances: np.ndarray
    depth: np.ndarray
    boxes: np.ndarray = field(repr=False)

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image)


# -- shapes as polygons in unit coordinates ([-1, 1]², y down) -------------------------------------
def _circle(cx=0.0, cy=0.0, r=1.0, n=40):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _star(points=5, inner=0.42):
    t = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t) + 0.08], 1)


_ARM = 0.32
# shape → [(polygon, fill)], drawn in order; fill 0 cuts a hole.
_POLYGONS: dict[str, list[tuple[np.ndarray, int]]] = {
    "circle": [(_circle(), 255)],
    "square": [(np.array([[-0.86, -0.86], [0.86, -0.86], [0.86, 0.86], [-0.86, 0.86]]), 255)],
    "triangle": [(np.array([[0.0, -1.0], [1.0, 0.78], [-1.0, 0.78]]), 255)],
    "star": [(_star(), 255)],
    "cross": [
        (np.array([[-_ARM, -1], [_ARM, -1], [_ARM, 1], [-_ARM, 1]]), 255),
        (np.array([[-1, -_ARM], [1, -_ARM], [1, _ARM], [-1, _ARM]]), 255),
    ],
    "diamond": [(np.array([[0.0, -1.0], [0.66, 0.0], [0.0, 1.0], [-0.66, 0.0]]), 255)],
    "ring": [(_circle(), 255), (_circle(r=0.55), 0)],
    "heart": [
        (_circle(-0.46, -0.38, 0.52), 255),
        (_circle(0.46, -0.38, 0.52), 255),
        (np.array([[-0.96, -0.22], [0.96, -0.22], [0.0, 0.96]]), 255),
    ],
}


@lru_cache(maxsize=4096)
def shape_mask(shape: str, side: int, angle: float = 0.0) -> np.ndarray:
    """(side, side) float32 coverage in [0, 1] of `shape` filling a side × side square, rotated by
    `angle` degrees about its centre; anti-aliased by supersampling."""
    big = side * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    a = math.radians(angle)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    for polygon, fill in _POLYGONS[shape]:
        xy = (polygon @ rotation.T + 1.0) * (big / 2.0)
        draw.polygon([tuple(p) for p in xy], fill=fill)
    small = canvas.resize((side, side), Image.BOX)
    return np.asarray(small, np.float32) / 255.0


# -- backgrounds ----------------------------------------------------------------------------------
def _muted(rng: np.random.Generator) -> tuple[float, float, float]:
    """A greyish colour (saturation ≤ 0.3, value 0.3–0.75): objects' colours stay the vivid ones."""
    import colorsys

    h, s, v = rng.uniform(0, 1), rng.uniform(0.0, 0.3), rng.uniform(0.3, 0.75)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def _background(kind: str, colours, size: int, rng: np.random.Generator) -> np.ndarray:
    a, b = (np.asarray(c, np.float32) for c in colours)
    if kind == "plain":
        return np.broadcast_to(a, (size, size, 3)).copy()
    if kind == "gradient":
        t = np.linspace(0, 1, size, dtype=np.float32)
        t = t[:, None] if rng.uniform() < 0.5 else t[None, :]
        t = np.broadcast_to(t, (size, size))[..., None]
        return a * (1 - t) + b * t
    if kind == "noise":
        cells = max(2, size // int(rng.integers(4, 12)))
        n = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
        n = np.asarray(Image.fromarray((n * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR), np.float32)
        t = (n / 255.0)[..., None]
        return a * (1 - t) + b * t
    period = int(rng.integers(6, 20)) * size / 112
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        u = x * math.cos(angle) + y * math.sin(angle)
        t = ((u // period) % 2)[..., None]
    else:  # checks
        t = (((x // period) + (y // period)) % 2)[..., None]
    return a * (1 - t) + b * t


# -- making scenes ---------------------------------------------------------------------------------
def _random_object(rng, shape=None, colour=None, size=None, exclude=frozenset(), palette=None) -> SceneObject:
    palette = palette or list(COLOURS)
    while True:
        s = shape or SHAPES[rng.integers(len(SHAPES))]
        c = colour or palette[rng.integers(len(palette))]
        if (c, s) not in exclude:
            break
        if shape and colour:
            raise ValueError(f"{c} {s} is excluded")
    z = size or list(SIZES)[rng.integers(len(SIZES))]
    lo, hi = SIZES[z]
    extent = float(rng.uniform(lo, hi))
    half = extent / 2
    centre = (float(rng.uniform(half, 1 - half)), float(rng.uniform(half, 1 - half)))
    angle = 0.0 if s in ("circle", "ring") else float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    return SceneObject(s, c, z, centre, extent, angle, float(rng.uniform(NEAREST, FARTHEST)))


def _box(o: SceneObject) -> tuple[float, float, float, float]:
    h = o.extent / 2
    return (o.centre[0] - h, o.centre[1] - h, o.centre[0] + h, o.centre[1] + h)


def _overlap(a, b) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def _place(rng, make, placed, max_overlap, tries=30):
    """Draw objects from `make()` until one overlaps every placed one by at most `max_overlap`."""
    for _ in range(tries):
        o = make()
        if all(_overlap(_box(o), _box(p)) <= max_overlap for p in placed):
            return o
    return None


def random_scene(
    seed: int,
    *,
    kind: str | None = None,
    count: int | None = None,
    exclude: frozenset = frozenset(),
    shape: str | None = None,
    colour: str | None = None,
    size: str | None = None,
    palette: tuple[str, ...] | None = None,
) -> Scene:
    """The scene of `seed`. kind: "objects" (1–4 objects, or `count`), "count" (2–4 copies of one
    colour × shape) or "relation" (two objects of different labels, clearly apart); default: drawn.
    exclude: (colour, shape) pairs never drawn (training excludes the held-out ones).
    shape / colour / size fix the first object (the only one when count == 1); palette: the colours
    drawn from (default all)."""
    rng = np.random.default_rng(seed)
    if kind is None:
        kind = ("objects", "objects", "objects", "count", "relation")[rng.integers(5)]
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    colours = (_muted(rng), _muted(rng))
    placed: list[SceneObject] = []
    if kind == "count":
        n = count or int(rng.integers(2, 5))
        first = _random_object(rng, shape, colour, size, exclude, palette)
        lo, hi = SIZES[first.size]
        for _ in range(n):
            o = _place(
                rng,
                lambda: replace(
                    _random_object(rng, first.shape, first.colour, first.size), extent=float(rng.uniform(lo, hi))
                ),
                placed,
                0.0,
                tries=60,
            )
            if o is not None:
                placed.append(o)
    elif kind == "relation":
        first = _random_object(rng, shape, colour, size, exclude, palette)
        placed.append(first)
        second = _place(rng, lambda: _random_object(rng, exclude=exclude, palette=palette), placed, 0.0, tries=60)
        for _ in range(60):
            if second is not None and second.label != first.label and _apart(first, second):
                break
            second = _place(rng, lambda: _random_object(rng, exclude=exclude, palette=palette), placed, 0.0)
        if second is not None:
            placed.append(second)
    else:
        n = count or int(rng.integers(1, 5))
        placed.append(_random_object(rng, shape, colour, size, exclude, palette))
        for _ in range(n - 1):
            o = _place(rng, lambda: _random_object(rng, exclude=exclude, palette=palette), placed, 0.35)
            if o is not None:
                placed.append(o)
    placed.sort(key=lambda o: -o.depth)  # farthest first: nearer objects are drawn over them
    return Scene(tuple(placed), background, colours, seed, kind)


def _apart(a: SceneObject, b: SceneObject, gap: float = 0.2) -> bool:
    dx, dy = abs(a.centre[0] - b.centre[0]), abs(a.centre[1] - b.centre[1])
    return max(dx, dy) >= gap + (a.extent + b.extent) / 4


def relation(a: SceneObject, b: SceneObject) -> str:
    """Where `a` is relative to `b`: "left of", "right of", "above" or "below" (the larger offset)."""
    dx, dy = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


# -- drawing ---------------------------------------------------------------------------------------
def render(scene: Scene, size: int = 112) -> Rendered:
    """Draw `scene` at size × size pixels, with its truth."""
    rng = np.random.default_rng([scene.seed, size])
    canvas = _background(scene.background, scene.background_colours, size, rng)
    classes = np.zeros((size, size), np.int16)
    instances = np.zeros((size, size), np.int16)
    depth = np.full((size, size), BACKGROUND_DEPTH, np.float32)
    for index, o in enumerate(scene.objects):
        far = (o.depth - NEAREST) / (FARTHEST - NEAREST)
        side = max(3, int(round(o.extent * size)))
        alpha = shape_mask(o.shape, side, round(o.angle, 1))
        blur = MAX_BLUR * far * size / 112
        pad = int(math.ceil(2 * blur))
        if blur > 0.3:
            alpha = np.pad(alpha, pad)
            image = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur))
            alpha = np.asarray(image, np.float32) / 255.0
        else:
            pad = 0
        x0 = int(round(o.centre[0] * size - side / 2)) - pad
        y0 = int(round(o.centre[1] * size - side / 2)) - pad
        h, w = alpha.shape
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, size), min(y0 + h, size)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        a = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        jitter = rng.normal(0, 0.03, 3).astype(np.float32)
        colour = np.clip(np.asarray(COLOURS[o.colour], np.float32) + jitter, 0, 1)
        colour = (1 - MAX_HAZE * far) * colour + MAX_HAZE * far * HAZE
        region = canvas[cy0:cy1, cx0:cx1]
        region[:] = region * (1 - a[..., None]) + colour * a[..., None]
        solid = a > 0.5
        classes[cy0:cy1, cx0:cx1][solid] = o.class_id
        instances[cy0:cy1, cx0:cx1][solid] = index + 1
        depth[cy0:cy1, cx0:cx1][solid] = o.depth
    noise = rng.normal(0, 0.012, canvas.shape).astype(np.float32)
    image = (np.clip(canvas + noise, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Rendered(scene, image, classes, instances, depth, visible_boxes(instances, len(scene.objects)))


def visible_boxes(instances: np.ndarray, count: int) -> np.ndarray:
    """(count, 4) pixel boxes (x0, y0, x1, y1) of each instance's pixels; NaN rows for hidden ones."""
    boxes = np.full((count, 4), np.nan, np.float32)
    for i in range(count):
        ys, xs = np.nonzero(instances == i + 1)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def draw_scene(seed: int, size: int = 112, **kwargs) -> Rendered:
    """`render(random_scene(seed, **kwargs), size)`."""
    return render(random_scene(seed, **kwargs), size)
