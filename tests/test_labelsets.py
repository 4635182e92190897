"""Label sets as data: every shipped file loads into the one table, and every name the code imported
before the sets became data files still gives the same labels.

"Before" is read from git (the modules as they were at `BEFORE`, when the names were Python
strings), not from a copy kept here."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from components import labelsets, pointclip_labels, video_labelsets, vqa_answers

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "b1e7f4d"  # the last commit with the label sets written as Python
OLD_MODULES = ("labelsets", "video_labelsets", "pointclip_labels", "vqa_answers")
FIELDS = {"name", "title", "short", "use", "order", "source", "licence", "labels"}


def _git_show(path: str) -> str:
    try:
        return subprocess.run(["git", "show", f"{BEFORE}:{path}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"git history with {BEFORE} is not available here")


@pytest.fixture(scope="module")
def before():
    """The four modules as they were at BEFORE, executed apart from today's (the old video module
    registers its sets in the old labelsets table, as it did)."""
    old: dict[str, types.ModuleType] = {}
    saved = sys.modules.get("components.labelsets")
    try:
        for name in OLD_MODULES:
            module = sys.modules[f"_before_{name}"] = types.ModuleType(f"_before_{name}")  # dataclasses look it up
            if name == "video_labelsets":
                sys.modules["components.labelsets"] = old["labelsets"]
            exec(compile(_git_show(f"components/{name}.py"), f"{BEFORE}:{name}.py", "exec"), module.__dict__)
            old[name] = module
    finally:
        sys.modules["components.labelsets"] = saved
        for name in OLD_MODULES:
            sys.modules.pop(f"_before_{name}", None)
    return types.SimpleNamespace(**old)


def test_every_shipped_set_loads_and_repeats_no_label():
    files = sorted(labelsets.FOLDER.glob("*.json"))
    assert len(files) == len(labelsets.table()) >= 22
    orders = []
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert FIELDS <= set(data), f"{path.name} lacks {FIELDS - set(data)}"
        assert data["name"] == path.stem and data["use"] in labelsets.USES
        assert data["title"] and data["source"] and data["licence"], path.name
        labels = data["labels"]
        assert labels and all(isinstance(x, str) and x.strip() == x and x for x in labels), path.name
        assert len({x.casefold() for x in labels}) == len(labels), f"{path.name} repeats a label"
        assert not data.get("raw") or len(data["raw"]) == len(labels)
        assert labelsets.get_label_set(path.stem).classes == tuple(labels)
        orders.append(data["order"])
    assert len(set(orders)) == len(orders), "two files share an order"


def test_the_table_is_read_only_when_first_used():
    code = ("import components.labelsets as L, components.video_labelsets, components.pointclip_labels, "
            "components.vqa_answers; assert L._shipped.cache_info().currsize == 0; "
            "L.LABEL_SETS['coco_80']; assert L._shipped.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_image_sets_are_as_before(before):
    for name in ("PASCAL_VOC_20", "PASCAL_CONTEXT_59", "COCO_80"):
        old, new = getattr(before.labelsets, name), getattr(labelsets, name)
        assert (new.name, new.title, new.classes, new.source) == (old.name, old.title, old.classes, old.source)
    # the old table held the image sets and (once the video module was imported) the action sets
    assert list(labelsets.LABEL_SETS) == list(before.labelsets.LABEL_SETS)
    for name, old in before.labelsets.LABEL_SETS.items():
        assert labelsets.LABEL_SETS[name].classes == old.classes and labelsets.LABEL_SETS[name].title == old.title


def test_action_sets_are_as_before(before):
    old = before.video_labelsets
    assert list(video_labelsets.ACTION_LABEL_SETS) == list(old.ACTION_LABEL_SETS)
    for name in ("KINETICS400", "UCF101", "HMDB51"):
        assert getattr(video_labelsets, name).classes == getattr(old, name).classes
        assert getattr(video_labelsets, name).title == getattr(old, name).title
        assert getattr(video_labelsets, f"{name}_RAW").split() == getattr(old, f"{name}_RAW").split()
        assert video_labelsets.ACTION_LABEL_SETS[getattr(old, name).name] is getattr(video_labelsets, name)
    assert not hasattr(video_labelsets, "dataclass"), "the fallback class is gone"


def test_point_cloud_presets_are_as_before(before):
    old = before.pointclip_labels
    assert dict(pointclip_labels.PRESETS) == old.PRESETS and list(pointclip_labels.PRESETS) == list(old.PRESETS)
    for name in ("MODELNET40", "MODELNET10", "SCANOBJECTNN"):
        assert getattr(pointclip_labels, name) == getattr(old, name)
    assert pointclip_labels.preset_text("ModelNet10") == old.preset_text("ModelNet10")


ADDED_VQA_GROUPS = ("shapes",)  # added since: "What shape is this?" had no group (vqa_shapes.json)


def test_vqa_answers_are_as_before(before):
    old = before.vqa_answers
    assert list(vqa_answers.ANSWER_GROUPS) == [*old.ANSWER_GROUPS, *ADDED_VQA_GROUPS]
    for group, answers in old.ANSWER_GROUPS.items():
        # the old "objects" named "flag" twice; a set names each answer once, first place kept
        assert vqa_answers.ANSWER_GROUPS[group] == tuple(dict.fromkeys(answers)), group
    for name in labelsets_constants(old):
        if name != "ALL_ANSWERS":  # checked below, with the added groups' answers at its end
            assert getattr(vqa_answers, name) == tuple(dict.fromkeys(getattr(old, name))), name
    added = [a for g in ADDED_VQA_GROUPS for a in vqa_answers.ANSWER_GROUPS[g] if a not in old.ALL_ANSWERS]
    assert vqa_answers.ALL_ANSWERS == tuple(dict.fromkeys([*old.ALL_ANSWERS, *added]))
    assert vqa_answers.KIND_WORDS == {**old.KIND_WORDS, "shape": "shapes", "shapes": "shapes"}
    for group in (None, "all"):
        assert vqa_answers.answers_for(group) == vqa_answers.ALL_ANSWERS
    for group in ("colours", "numbers"):
        assert vqa_answers.answers_for(group) == tuple(dict.fromkeys(old.answers_for(group)))


def labelsets_constants(module) -> list[str]:
    return [n for n, v in vars(module).items() if n.isupper() and isinstance(v, tuple)]


def test_register_adds_a_set_and_refuses_a_clash():
    extra = labelsets.LabelSet("test_extra_set", "Extra (2)", ("a", "b"))
    try:
        assert labelsets.register(extra) is extra and labelsets.get_label_set("test_extra_set") is extra
        assert labelsets.register(labelsets.LabelSet("test_extra_set", "Extra", ("a", "b"))) is extra
        with pytest.raises(ValueError, match="already registered"):
            labelsets.register(labelsets.LabelSet("coco_80", "COCO", ("person",)))
    finally:
        labelsets._registered.pop("test_extra_set", None)
    with pytest.raises(ValueError, match="unknown label set"):
        labelsets.get_label_set("imagenet")
