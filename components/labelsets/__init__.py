"""Label sets as data: the class names of standard benchmarks, for presets in the tabs.

Each set is a named, ordered tuple of class names as the benchmark lists them, with names spelled as
words CLIP can read ("dining table", not "diningtable"). Background is never a class here: methods
that predict background have their own rule for it. Other tabs add their own sets with `register()`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSet:
    """A named, ordered list of class names."""

    name: str  # key, e.g. "pascal_voc_20"
    title: str  # what a person reads, e.g. "PASCAL VOC (20 classes)"
    classes: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        if not self.classes:
            raise ValueError(f"label set {self.name!r} has no classes")
        if len({c.casefold() for c in self.classes}) != len(self.classes):
            raise ValueError(f"label set {self.name!r} repeats a class")

    def __len__(self) -> int:
        return len(self.classes)


PASCAL_VOC_20 = LabelSet(
    "pascal_voc_20",
    "PASCAL VOC (20 classes)",
    (
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train",
        "tv monitor",
    ),
    "PASCAL VOC 2012 segmentation classes, background excluded (Everingham et al.)",
)

PASCAL_CONTEXT_59 = LabelSet(
    "pascal_context_59",
    "PASCAL Context (59 classes)",
    (
        "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
        "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
        "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
        "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
        "potted plant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
        "table", "track", "train", "tree", "truck", "tv monitor", "wall", "water", "window", "wood",
    ),
    "PASCAL Context, the 59 most frequent classes, background excluded (Mottaghi et al. 2014)",
)

COCO_80 = LabelSet(
    "coco_80",
    "COCO objects (80 classes)",
    (
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
        "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
        "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
        "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
        "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
        "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
        "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
        "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
        "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
        "teddy bear", "hair drier", "toothbrush",
    ),
    "COCO 2017 object categories (Lin et al. 2014)",
)

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (PASCAL_VOC_20, PASCAL_CONTEXT_59, COCO_80)}


def register(label_set: LabelSet) -> LabelSet:
    """Add a set (another tab's own classes); a name already taken must hold the same classes."""
    existing = LABEL_SETS.get(label_set.name)
    if existing is not None and existing.classes != label_set.classes:
        raise ValueError(f"label set {label_set.name!r} is already registered with other classes")
    LABEL_SETS[label_set.name] = label_set
    return label_set


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None
