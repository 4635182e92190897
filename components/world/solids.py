"""3-D solids with known names, as PointCLIP sees them: point clouds projected into depth maps.

Six primitives (cube, sphere, cylinder, cone, torus, pyramid) and six composite objects built from
trimesh primitives (table, chair, lamp, mug, bottle, airplane — the PointCLIP tab's example objects are
made by these same builders, `assets/generate_shapes.py`), their meshes in `components.world.meshes`.
`cloud(name, seed)` samples a seeded, randomly turned and stretched instance, normalised as uploads
are (unit sphere, PointNet's way); `depth_views(...)` projects it with the project's own PointCLIP
V1 / V2 code, so training and the tab see exactly the same pictures. Modelled z-up; clouds are y-up,
the axis PointCLIP's views treat as up.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# The names of `meshes.BUILDERS`, in its order (a test checks they agree), without importing trimesh
SOLIDS: tuple[str, ...] = (
    "cube", "sphere", "cylinder", "cone", "torus", "pyramid", "table", "chair", "lamp", "mug", "bottle", "airplane",
)
SAMPLED_POINTS = 4096  # points sampled once per solid; each instance draws its own subset


def build(name: str):
    """The solid's mesh (a trimesh.Trimesh), y-up."""
    from components.world import meshes

    return meshes.build(name)


@lru_cache(maxsize=None)
def _surface(name: str) -> np.ndarray:
    import trimesh

    points, _ = trimesh.sample.sample_surface(build(name), SAMPLED_POINTS, seed=np.random.default_rng(len(name)))
    return np.asarray(points, np.float64)


def cloud(name: str, seed: int, num_points: int = 1024) -> np.ndarray:
    """(num_points, 3) float32 points of a seeded instance of `name`: turned about the up axis, tilted a
    little, stretched up to ±15 % per axis, then centred and scaled into the unit sphere."""
    import trimesh

    from components.pointclouds import normalize_points

    rng = np.random.default_rng(seed)
    points = _surface(name)[rng.choice(SAMPLED_POINTS, num_points, replace=False)]
    points = points * rng.uniform(0.85, 1.15, 3)
    turn = trimesh.transformations.rotation_matrix(rng.uniform(0, 2 * np.pi), [0, 1, 0])[:3, :3]
    tilt = trimesh.transformations.rotation_matrix(rng.uniform(-0.2, 0.2), [1, 0, 0])[:3, :3]
    points = points @ (tilt @ turn).T + rng.normal(0, 0.004, points.shape)
    return normalize_points(points, name)[0]


def depth_views(points: np.ndarray, projection: str, size: int):
    """(V, 3, size, size) float32: PointCLIP's own projection of `points`, as the image tower gets it."""
    from components.pointclip import project, to_clip_input

    return to_clip_input(project(points, projection), size)
