"""Class names of the 3-D benchmarks PointCLIP reports on, as label presets.

The names live as data in `components/labelsets/` (`modelnet40.json`, `modelnet10.json`,
`scanobjectnn.json`), in the app's one label-set table; `PRESETS` maps each preset's short name to
its classes. Names are written as words ("flower pot", not "flower_pot"): PointCLIP's zero-shot
code replaces underscores with spaces before filling the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.labelsets import View, get_label_set, of_use

PRESETS: Mapping[str, tuple[str, ...]] = View(of_use("point clouds"), key=lambda s: s.short, value=lambda s: s.classes)

_SETS = {"MODELNET40": "modelnet40", "MODELNET10": "modelnet10", "SCANOBJECTNN": "scanobjectnn"}


def __getattr__(name: str):
    """`MODELNET40`, `MODELNET10`, `SCANOBJECTNN`: a set's classes, read from the table when first asked for."""
    if name in _SETS:
        return get_label_set(_SETS[name]).classes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def preset_text(name: str) -> str:
    """A preset as the comma-separated text the label box takes."""
    return ", ".join(PRESETS[name])


def preset_of(labels) -> str | None:
    """The preset whose classes are exactly `labels` (in order), else None: V2's view weights were
    published per benchmark, so a run on a preset's labels uses that benchmark's set."""
    return next((name for name, classes in PRESETS.items() if tuple(labels) == classes), None)
