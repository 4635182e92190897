"""A shipped list of common short answers to visual questions, grouped by answer type.

Where the list comes from: composed for CLIP Lab from general-knowledge categories, not copied from
any dataset or project. VQA v2's answers are mostly one or two words and fall into three types
(yes/no, number, other; Goyal et al. 2017); "other" is dominated by colours, everyday objects,
animals, food, places, activities, sports, weather and materials (and here shapes). Each group is a plain
enumeration of such words (digits for numbers, as VQA writes them), one data file per group in
`components/labelsets/` (`vqa_*.json`). ViLT's own answer vocabulary
(3 129 answers) lives in its checkpoint's `config.id2label` and is used by the ViLT engine instead.

`ANSWER_GROUPS` maps a group name to its answers; `ALL_ANSWERS` is every answer once, in group order.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.labelsets import View, get_label_set, of_use

ANSWER_GROUPS: Mapping[str, tuple[str, ...]] = View(of_use("answers"), key=lambda s: s.short, value=lambda s: s.classes)

_GROUPS = {  # the module's constants → the sets in components/labelsets/
    "YES_NO": "vqa_yes_no", "NUMBERS": "vqa_numbers", "COLOURS": "vqa_colours", "ANIMALS": "vqa_animals",
    "VEHICLES": "vqa_vehicles", "FOOD": "vqa_food", "OBJECTS": "vqa_objects", "PLACES": "vqa_places",
    "ACTIVITIES": "vqa_activities", "SPORTS": "vqa_sports", "WEATHER": "vqa_weather", "MATERIALS": "vqa_materials",
    "TIMES": "vqa_times", "SHAPES": "vqa_shapes",
}

# Nouns a question may use to name its answer type ("what animal is this?") → the group to offer.
KIND_WORDS: dict[str, str] = {
    "animal": "animals", "animals": "animals", "pet": "animals", "bird": "animals",
    "vehicle": "vehicles", "vehicles": "vehicles",
    "food": "food", "fruit": "food", "vegetable": "food", "drink": "food", "dish": "food", "meal": "food",
    "room": "places", "place": "places", "location": "places",
    "sport": "sports", "game": "sports",
    "material": "materials",
    "colour": "colours", "color": "colours",
    "object": "objects", "thing": "objects", "item": "objects",
    "time": "times",
    "weather": "weather",
    "shape": "shapes", "shapes": "shapes",
}


def _all_answers() -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for group in ANSWER_GROUPS.values() for a in group))


def __getattr__(name: str):
    """`ALL_ANSWERS` (every answer once, in group order) and each group's constant (`COLOURS`, …),
    read from the label-set table when first asked for."""
    if name == "ALL_ANSWERS":
        return _all_answers()
    if name in _GROUPS:
        return get_label_set(_GROUPS[name]).classes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def answers_for(group: str | None) -> tuple[str, ...]:
    """The answers of one group, or every answer for None / "all"."""
    if group in (None, "all"):
        return _all_answers()
    return ANSWER_GROUPS[group]
