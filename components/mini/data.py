"""Training pairs (image, caption) drawn from the generated world, on the fly.

Sample `index` of a run with seed `seed` is a pure function of (seed, index): the same run always sees
the same pairs whatever the loader's timing. A pair is one of: a scene with 1–4 objects, a count scene,
a relation scene, an empty wall, one frame of an action clip, or one PointCLIP view of a solid. The
held-out colour × shape combinations (`components.world.splits`) never appear unless a run asks for
them, and training seeds never meet the held-out or example seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from components import mini
from components.depthclip import WORDS
from components.world import captions, clips, scenes, splits

# kind → share of the pairs (the mix the shipped model was trained with; v3 had single 0.36, solid 0.17)
MIX: dict[str, float] = {
    "single": 0.45,
    "objects": 0.14,
    "count": 0.08,
    "relation": 0.07,
    "empty": 0.02,
    "clip": 0.16,
    "solid": 0.08,
}
SOLID_INSTANCES = 24  # seeded instances per solid, projected once (both projections, every view)
MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's image statistics (open_clip's default for new models)
STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class WorldMix:
    """What a training run draws. concepts: the caption kinds allowed (see `captions.CONCEPTS`);
    exclude: (colour, shape) pairs never shown; mix: kind → share."""

    concepts: tuple[str, ...] = captions.CONCEPTS
    exclude: frozenset = splits.HELD_OUT_COMBINATIONS
    mix: tuple[tuple[str, float], ...] = tuple(MIX.items())
    image_size: int = mini.IMAGE_SIZE
    solid_instances: int = SOLID_INSTANCES
    # Share of batches drawn in only two colours: their negatives share colours, so the loss can fall
    # only by telling shapes apart (colour alone separates most pairs of an ordinary batch). The
    # shipped model was trained without (0.0); see its model card for what 0.5 did in a pilot and 0.25
    # in a full run (`--two-colour-batches` of the training script).
    two_colour_batches: float = 0.0

    def kinds(self) -> tuple[list[str], np.ndarray]:
        names = [k for k, _ in self.mix]
        shares = np.array([s for _, s in self.mix], np.float64)
        return names, shares / shares.sum()


@dataclass
class SolidPool:
    """Every view of `instances` seeded instances of each solid, projected once: (label, map)."""

    image_size: int
    instances: int = SOLID_INSTANCES
    views: list[tuple[str, torch.Tensor]] = field(default_factory=list)

    def build(self) -> "SolidPool":
        from components.world import solids  # trimesh, on first use: it costs the page's start-up (issue 20)

        for s, name in enumerate(solids.SOLIDS):
            for k in range(self.instances):
                points = solids.cloud(name, seed=splits.SEED_RANGES["train"][0] + 1000 * s + k)
                for projection in ("v1", "v2"):
                    for view in solids.depth_views(points, projection, self.image_size):
                        self.views.append((name, view[0].to(torch.float16)))
        return self


def normalise(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → CLIP-normalised (3, H, W) float32."""
    x = torch.from_numpy(image).permute(2, 0, 1).float().div_(255)
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def scene_seed(seed: int, index: int) -> int:
    start, stop = splits.SEED_RANGES["train"]
    return start + (seed * 1_000_003 + index * 7_919) % (stop - start)


def batch_palette(seed: int, batch: int | None, world: WorldMix) -> tuple[str, ...] | None:
    """The two colours batch `batch` is drawn in, or None (all colours)."""
    if batch is None:
        return None
    rng = np.random.default_rng([seed, batch, 1])
    if rng.uniform() >= world.two_colour_batches:
        return None
    return tuple(str(c) for c in rng.choice(list(scenes.COLOURS), 2, replace=False))


def sample(
    index: int, seed: int, world: WorldMix, pool: SolidPool | None, palette: tuple[str, ...] | None = None
) -> tuple[torch.Tensor, str]:
    """Pair `index` of run `seed`: (image as the tower gets it, (3, S, S) float32; caption).
    palette: the colours scenes and clips are drawn in (default all)."""
    rng = np.random.default_rng([seed, index])
    names, shares = world.kinds()
    kind = names[rng.choice(len(names), p=shares)]
    size = world.image_size
    s = scene_seed(seed, index)
    if kind == "clip":
        colour = palette[rng.integers(len(palette))] if palette else None
        clip = clips.random_clip(s, size, exclude=world.exclude, colour=colour)
        frame = clip.frames[rng.integers(len(clip.frames))]
        if rng.uniform() < 0.5:
            template = captions.ACTION_TEMPLATES[rng.integers(len(captions.ACTION_TEMPLATES))]
            return normalise(frame), template.replace("{}", clip.action)
        return normalise(frame), captions.clip_caption(clip, world.concepts)
    if kind == "solid" and pool is not None and pool.views:
        name, view = pool.views[rng.integers(len(pool.views))]
        view = view.float().expand(3, -1, -1).clone()  # PointCLIP feeds depth maps unnormalised
        return view, f"point cloud depth map of a {name}."
    if kind == "empty":
        scene = scenes.Scene((), scenes.BACKGROUNDS[rng.integers(5)], (scenes._muted(rng), scenes._muted(rng)), s)
        text = "an empty wall." if rng.uniform() < 0.5 else f"This object is {WORDS[-1]}"
        return normalise(scenes.render(scene, size).image), text
    if kind == "single":
        scene = scenes.random_scene(s, kind="objects", count=1, exclude=world.exclude, palette=palette)
    elif kind == "objects":
        count = int(rng.integers(2, 5))
        scene = scenes.random_scene(s, kind="objects", count=count, exclude=world.exclude, palette=palette)
    else:
        scene = scenes.random_scene(s, kind=kind, exclude=world.exclude, palette=palette)
    return normalise(scenes.render(scene, size).image), captions.caption(scene, rng, world.concepts)


class PairStream(torch.utils.data.IterableDataset):
    """Batches of run `seed` from step `start` on: (images (B, 3, S, S), captions)."""

    def __init__(self, seed: int, batch_size: int, world: WorldMix, start: int = 0, steps: int | None = None):
        self.seed, self.batch_size, self.world, self.start, self.steps = seed, batch_size, world, start, steps

    def __iter__(self):
        pool = SolidPool(self.world.image_size, self.world.solid_instances).build() if dict(self.world.mix).get("solid", 0) > 0 else None
        step = self.start
        while self.steps is None or step < self.start + self.steps:
            palette = batch_palette(self.seed, step, self.world)
            pairs = [
                sample(step * self.batch_size + i, self.seed, self.world, pool, palette) for i in range(self.batch_size)
            ]
            yield torch.stack([p[0] for p in pairs]), [p[1] for p in pairs]
            step += 1
