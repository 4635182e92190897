"""Generate the PointCLIP tab's example objects from trimesh primitives (ours to ship: CC0).

    .venv/bin/python assets/generate_shapes.py

Writes small meshes to assets/shapes/: a table, a chair, a lamp, a mug, a bottle and an
airplane-like shape, built by `components/world/solids.py` (the same builders CLIP Lab Mini's world
uses) from boxes, cylinders, cones, tori and solids of revolution, modelled z-up and saved y-up (the
axis PointCLIP's views treat as up). Each is saved in a different format so the examples also
exercise the loader. Deterministic: running it again gives the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.world.solids import build  # noqa: E402

OUT = ROOT / "assets" / "shapes"
FORMATS = {"table": "ply", "chair": "obj", "lamp": "stl", "mug": "ply", "bottle": "off", "airplane": "glb"}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, fmt in FORMATS.items():
        data = build(name).export(file_type=fmt)
        path = OUT / f"{name}.{fmt}"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
