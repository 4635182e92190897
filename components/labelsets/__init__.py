"""Label sets as data: the class names of standard benchmarks (and the VQA tab's answer lists).

Each set is one JSON file in this folder — `name`, `title`, `short` (what a picker or group calls
it), `use` ("images", "actions", "point clouds", "answers"), `order`, `source`, `licence`, `labels`
and, where the benchmark's own spelling differs, `raw` (its names verbatim) — read once, on first
use, into one table (`table()`). Names are spelled as words CLIP can read ("dining table", not
"diningtable"; "apply eye makeup", not "ApplyEyeMakeup"). Background is never a class here: methods
that predict background have their own rule for it.

The names other modules import are views over that table: `LABEL_SETS` (the image and action sets),
`components.video_labelsets.ACTION_LABEL_SETS`, `components.pointclip_labels.PRESETS`,
`components.vqa_answers.ANSWER_GROUPS`, and the constants (`PASCAL_VOC_20`, `KINETICS400`, …).
Other code may add a set at run time with `register()`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
USES = ("images", "actions", "point clouds", "answers")


@dataclass(frozen=True)
class LabelSet:
    """A named, ordered list of class names."""

    name: str  # key, e.g. "pascal_voc_20"
    title: str  # what a person reads, e.g. "PASCAL VOC (20 classes)"
    classes: tuple[str, ...]
    source: str = ""
    short: str = ""  # the name a picker or answer group uses, e.g. "ModelNet40", "yes/no"
    use: str = ""  # one of USES
    licence: str = ""
    raw: tuple[str, ...] = ()  # the benchmark's own spelling, where `classes` rewrites it

    def __post_init__(self):
        if not self.classes:
            raise ValueError(f"label set {self.name!r} has no classes")
        if len({c.casefold() for c in self.classes}) != len(self.classes):
            raise ValueError(f"label set {self.name!r} repeats a class")
        if self.raw and len(self.raw) != len(self.classes):
            raise ValueError(f"label set {self.name!r}: {len(self.raw)} raw names for {len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classes


def _read(path: Path) -> tuple[int, LabelSet]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("name") != path.stem:
        raise ValueError(f"{path.name}: its name {data.get('name')!r} is not its file name")
    if data.get("use") not in USES:
        raise ValueError(f"{path.name}: use {data.get('use')!r} is not one of {USES}")
    label_set = LabelSet(
        name=data["name"], title=data["title"], classes=tuple(data["labels"]), source=data.get("source", ""),
        short=data.get("short") or data["title"], use=data["use"], licence=data.get("licence", ""),
        raw=tuple(data.get("raw", ())),
    )
    return int(data.get("order", 0)), label_set


@functools.cache
def _shipped() -> dict[str, LabelSet]:
    """Every set shipped in this folder, in the files' `order`; read once, on first use."""
    read = sorted((_read(path) for path in FOLDER.glob("*.json")), key=lambda pair: (pair[0], pair[1].name))
    return {s.name: s for _, s in read}


_registered: dict[str, LabelSet] = {}  # sets added at run time (register), after the shipped ones


def table() -> dict[str, LabelSet]:
    """The one table: every label set by name (shipped, then registered)."""
    return {**_shipped(), **_registered}


class View(Mapping):
    """A read-only, lazily evaluated view of the table: the sets `where` selects, keyed by `key`,
    each given as `value` (the set itself, or its classes)."""

    def __init__(self, where: Callable[[LabelSet], bool], key: Callable[[LabelSet], str] = lambda s: s.name,
                 value: Callable[[LabelSet], object] = lambda s: s):
        self._where, self._key, self._value = where, key, value

    def _items(self) -> dict:
        return {self._key(s): self._value(s) for s in table().values() if self._where(s)}

    def __getitem__(self, key):
        return self._items()[key]

    def __iter__(self) -> Iterator:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"View({list(self)})"


def of_use(*uses: str) -> Callable[[LabelSet], bool]:
    return lambda s: s.use in uses


# The class sets a tab offers as presets: images (segmentation, detection) and actions (video).
LABEL_SETS: Mapping[str, LabelSet] = View(lambda s: s.use in ("images", "actions", ""))


def register(label_set: LabelSet) -> LabelSet:
    """Add a set (another tab's own classes); a name already taken must hold the same classes."""
    existing = table().get(label_set.name)
    if existing is not None:
        if existing.classes != label_set.classes:
            raise ValueError(f"label set {label_set.name!r} is already registered with other classes")
        return existing
    _registered[label_set.name] = label_set
    return label_set


def get_label_set(name: str) -> LabelSet:
    try:
        return table()[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; known: {', '.join(table())}") from None


_CONSTANTS = {"PASCAL_VOC_20": "pascal_voc_20", "PASCAL_CONTEXT_59": "pascal_context_59", "COCO_80": "coco_80"}


def __getattr__(name: str):
    """The module's named sets (`PASCAL_VOC_20`, …), read from the table when first asked for."""
    if name in _CONSTANTS:
        return get_label_set(_CONSTANTS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
