"""Action label sets for the video tabs: Kinetics-400, UCF101 and HMDB51 class names.

The names live as data in `components/labelsets/` (`kinetics400.json`, `ucf101.json`,
`hmdb51.json`), in the app's one label-set table. Names are as each benchmark lists them, in its
order: Kinetics-400's are already words; UCF101's CamelCase folder names and HMDB51's snake_case
names are kept verbatim in each file's `raw` (`UCF101_RAW`, `HMDB51_RAW` here) and given as words
("ApplyEyeMakeup" → "apply eye makeup", "ride_bike" → "ride bike") for CLIP to read, as
ActionCLIP's label lists do.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.labelsets import LabelSet, View, get_label_set, of_use

ACTION_LABEL_SETS: Mapping[str, LabelSet] = View(of_use("actions"))

_SETS = {"KINETICS400": "kinetics400", "UCF101": "ucf101", "HMDB51": "hmdb51"}


def _raw_text(name: str) -> str:
    """A set's names as the benchmark spells them, one a line (the form these constants had)."""
    label_set = get_label_set(name)
    return "\n" + "\n".join(label_set.raw or label_set.classes) + "\n"


def __getattr__(name: str):
    """`KINETICS400`, `UCF101`, `HMDB51` and their `_RAW` names, read from the table when first asked for."""
    if name in _SETS:
        return get_label_set(_SETS[name])
    if name.endswith("_RAW") and name[: -len("_RAW")] in _SETS:
        return _raw_text(_SETS[name[: -len("_RAW")]])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
