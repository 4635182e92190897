"""Class names of the 3-D benchmarks PointCLIP reports on, as label presets.

Names are written as words ("flower pot", not "flower_pot"): PointCLIP's zero-shot code replaces
underscores with spaces before filling the prompt.
"""

from __future__ import annotations

MODELNET40 = (
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone",
    "cup", "curtain", "desk", "door", "dresser", "flower pot", "glass box", "guitar", "keyboard",
    "lamp", "laptop", "mantel", "monitor", "night stand", "person", "piano", "plant", "radio",
    "range hood", "sink", "sofa", "stairs", "stool", "table", "tent", "toilet", "tv stand", "vase",
    "wardrobe", "xbox",
)  # Wu et al., 3D ShapeNets, CVPR 2015: the 40 ModelNet40 categories in their usual order

MODELNET10 = (
    "bathtub", "bed", "chair", "desk", "dresser", "monitor", "night stand", "sofa", "table", "toilet",
)  # the ModelNet10 subset

SCANOBJECTNN = (
    "bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf", "table", "bed",
    "pillow", "sink", "sofa", "toilet",
)  # Uy et al., ScanObjectNN, ICCV 2019: the 15 categories in their usual order

PRESETS: dict[str, tuple[str, ...]] = {
    "ModelNet40": MODELNET40,
    "ModelNet10": MODELNET10,
    "ScanObjectNN": SCANOBJECTNN,
}


def preset_text(name: str) -> str:
    """A preset as the comma-separated text the label box takes."""
    return ", ".join(PRESETS[name])
