"""Compare: every method's expected answer on one crafted image with the oracles, one dense pass shared,
the text tower run once per (label, template set), and results identical to the standalone pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from components import compare as cmp
from components import prompts
from components.errors import InputError
from components.groupvit import GroupViT
from components.lseg import LSeg
from components.vild import BACKGROUND, ViLD, processed_name
from components.zeroshot import ZeroShotClassifier
from testkit import halves
from oracle import oracle_backbone
from test_depthclip import depth_oracle

# Light red on the left, dark blue on the right: the colour words tell the halves apart (chroma
# axes) and so does brightness, which the depth oracle reads as distance (bright = near).
LIGHT_RED, DARK_BLUE = (255, 150, 150), (0, 0, 140)
LABELS = ["red", "blue"]
SIZE = (128, 64)  # (W, H): halves of 64×64, 8×8 oracle patches each
LEFT, RIGHT = np.array([0, 0, 64, 64]), np.array([64, 0, 128, 64])


def image() -> Image.Image:
    return halves(LIGHT_RED, DARK_BLUE, size=SIZE)


def run(backbone=None, depth=None, **kwargs):
    backbone = backbone or oracle_backbone()
    depth = depth or depth_oracle()
    return cmp.Compare(backbone, depth, depth_short_side=64, **kwargs)(image(), LABELS), backbone, depth


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def result():
    return run()[0]


# -- each method's answer --------------------------------------------------------------------------
def test_zero_shot_heat_map_peaks_on_each_labels_half(result):
    zs = result.zeroshot
    for label, half in (("red", slice(0, 64)), ("blue", slice(64, 128))):
        heat = zs.heatmap(label)
        assert heat.shape == (64, 128)
        other = slice(64, 128) if half.start == 0 else slice(0, 64)
        assert heat[:, half].min() > heat[:, other].max()
    assert np.isclose(zs.probs.sum(), 1.0)


def test_lseg_labels_each_half(result):
    label_map = result.lseg.label_map
    assert (label_map[:, :64] == 0).all() and (label_map[:, 64:] == 1).all()


def test_groupvit_groups_the_halves_and_names_them(result):
    gv = result.groupvit
    assert len(np.unique(gv.group_map[:, :64])) == 1 and len(np.unique(gv.group_map[:, 64:])) == 1
    assert gv.group_map[0, 0] != gv.group_map[0, -1]
    assert (gv.label_map[:, :64] == 0).all() and (gv.label_map[:, 64:] == 1).all()


def test_vild_boxes_each_half_with_its_label(result):
    detections = result.vild.detections()
    assert sorted(d.label for d in detections) == ["blue", "red"]
    for d in detections:
        assert iou(d.box, LEFT if d.label == "red" else RIGHT) >= 0.8


def test_depthclip_puts_the_bright_half_nearer(result):
    grid = result.depth.depth_grid  # 2×4 layer4 cells at 64 px high
    assert grid.shape == (2, 4)
    assert grid[:, :2].max() < grid[:, 2:].min()
    assert result.depth.words == tuple(cmp.dc.WORDS)  # DepthCLIP's own words, not the labels


def test_lseg_and_groupvit_agree_everywhere_here(result):
    agree = cmp.agreement(result.lseg, result.groupvit)
    assert agree.same == 1.0
    assert agree.per_label == (("red", 0.5, 0.5), ("blue", 0.5, 0.5))


# -- each from its own pipeline: the same answers as running them one by one ---------------------------
def test_results_equal_the_standalone_pipelines(result):
    backbone = oracle_backbone()
    picture = image()
    zs = ZeroShotClassifier(backbone, templates="single")(picture, LABELS)
    np.testing.assert_array_equal(zs.probs, result.zeroshot.probs)
    np.testing.assert_array_equal(zs.patch_similarity, result.zeroshot.patch_similarity)
    np.testing.assert_array_equal(LSeg(backbone)(picture, LABELS).label_map, result.lseg.label_map)
    gv = GroupViT(backbone)(picture, LABELS)
    np.testing.assert_array_equal(gv.label_map, result.groupvit.label_map)
    np.testing.assert_array_equal(gv.group_logits, result.groupvit.group_logits)
    vild = ViLD(backbone, max_proposals=cmp.VILD_MAX_PROPOSALS)(picture, LABELS)
    np.testing.assert_array_equal(vild.boxes[vild.keep], result.vild.boxes[result.vild.keep])
    np.testing.assert_allclose(vild.probs, result.vild.probs)


# -- sharing ------------------------------------------------------------------------------------------
def test_one_dense_pass_serves_zero_shot_lseg_groupvit_and_vild():
    result, backbone, _ = run()
    assert (result.dense_passes, result.dense_reused) == (1, 3)
    # Image forwards of the comparison = one dense pass + ViLD's crops. Run one by one, the four
    # pipelines pay three more dense passes, and nothing else differs.
    one_pass = oracle_backbone()
    one_pass.dense(image())
    dense_views = one_pass.image_forwards
    separate = oracle_backbone()
    picture = image()
    ZeroShotClassifier(separate, templates="single")(picture, LABELS)
    LSeg(separate)(picture, LABELS)
    GroupViT(separate)(picture, LABELS)
    ViLD(separate, max_proposals=cmp.VILD_MAX_PROPOSALS)(picture, LABELS)
    assert dense_views >= 2
    assert backbone.image_forwards == separate.image_forwards - 3 * dense_views


def test_vild_pooled_from_the_boards_one_dense_pass():
    """ViLD's regions pooled (the tab's CPU default) cost no crop forwards: the whole board is one
    dense pass, and ViLD's answer is the standalone pooled ViLD's, each half boxed with its label."""
    result, backbone, _ = run(vild_region_embedding="pooled")
    one_pass = oracle_backbone()
    one_pass.dense(image())
    assert (result.dense_passes, backbone.image_forwards) == (1, one_pass.image_forwards)
    alone = ViLD(oracle_backbone(), max_proposals=cmp.VILD_MAX_PROPOSALS, region_embedding="pooled")(image(), LABELS)
    np.testing.assert_array_equal(alone.boxes[alone.keep], result.vild.boxes[result.vild.keep])
    np.testing.assert_allclose(alone.probs, result.vild.probs)
    assert result.vild.region_embedding == "pooled"
    for d in result.vild.detections():
        assert iou(d.box, LEFT if d.label == "red" else RIGHT) >= 0.8
    assert sorted(d.label for d in result.vild.detections()) == ["blue", "red"]


def test_shared_dense_is_keyed_by_pixels_method_and_resolution():
    backbone = oracle_backbone()
    shared = cmp.SharedDense(backbone)
    first = shared.dense(image())
    assert shared.dense(image().copy()) is first  # another copy of the same pixels
    assert shared.dense(image(), "naclip", backbone.image_size) is first  # None = the model's size
    assert shared.dense(image(), "maskclip") is not first
    assert shared.dense(image(), None, 2 * backbone.image_size) is not first
    assert shared.dense(halves(DARK_BLUE, LIGHT_RED, size=SIZE)) is not first
    assert (shared.computed, shared.reused) == (4, 2)
    shared.image_forwards += 0  # counters land on the wrapped backbone
    assert shared.image_forwards == backbone.image_forwards and "image_forwards" not in vars(shared)


# -- the text tower: once per label and template set --------------------------------------------------
def recorded(backbone) -> list[tuple[int, ...]]:
    """Every token row the backbone's text tower encodes, in order."""
    rows: list[tuple[int, ...]] = []
    original = backbone.model.encode_text

    def encode_text(tokens, normalize=False):
        rows.extend(tuple(r) for r in tokens.tolist())
        return original(tokens, normalize=normalize)

    backbone.model.encode_text = encode_text
    return rows


@pytest.mark.parametrize("templates", ["single", "imagenet80"])
def test_text_tower_runs_once_per_label_and_template_set(templates):
    """What is asserted, exactly. The text cache is per (label, template set), so the promise is "once per
    label and template set", not "once per label": (1) the prompts encoded number, per label, one per
    template of each set the methods use — zero-shot (`templates`), LSeg ("raw"), GroupViT ("single",
    zero-shot's default set, so shared with it), ViLD (its 63 prompts, plus its "background" class) — and
    nothing more; (2) every distinct prompt string is encoded at least once, and a string is encoded
    twice only when two *different* template sets both contain it (the 80 ImageNet prompts share a few
    strings with "single" and ViLD's 63; with the default "single" no string is encoded twice);
    (3) a second comparison with the same labels encodes nothing, on either backbone; (4) DepthCLIP's
    own backbone encodes its seven words once."""
    backbone, depth = oracle_backbone(), depth_oracle()
    rows, depth_rows = recorded(backbone), recorded(depth)
    result, *_ = run(backbone, depth, zeroshot_templates=templates)

    label_sets = [(prompts.get_template_set(templates), label) for label in LABELS]
    if templates != "single":
        label_sets += [(prompts.SINGLE, label) for label in LABELS]
    label_sets += [(prompts.RAW, label) for label in LABELS]
    label_sets += [(prompts.vild_templates(processed_name(n)), processed_name(n)) for n in (BACKGROUND, *LABELS)]
    per_set = [t.replace("{}", label) for template_set, label in label_sets for t in template_set.templates]
    assert len(rows) == len(per_set) == result.text_forwards
    assert len(set(rows)) == len(set(per_set))
    if templates == "single":
        assert len(rows) == len(set(rows)), "a prompt was encoded twice"
    else:
        assert len(set(rows)) < len(rows)  # the overlap between template sets, encoded once per set
    assert len(depth_rows) == len(cmp.dc.WORDS) == result.depth_text_forwards

    again = cmp.Compare(backbone, depth, depth_short_side=64, zeroshot_templates=templates)(image(), LABELS)
    assert again.text_forwards == 0 and again.depth_text_forwards == 0
    assert len(rows) == len(per_set) and len(depth_rows) == len(cmp.dc.WORDS)


def test_zero_shot_and_groupvit_share_the_single_prompt():
    backbone = oracle_backbone()
    rows = recorded(backbone)
    run(backbone)
    tokens = backbone.tokenize(["a photo of a red."])[0].tolist()
    assert rows.count(tuple(tokens)) == 1


# -- progress, bad input, the tiny models ---------------------------------------------------------------
def test_run_yields_progress_then_the_result():
    steps = list(cmp.Compare(oracle_backbone(), depth_oracle(), depth_short_side=64).run(image(), "red, blue"))
    assert [s.message for s in steps[:-1]] == [cmp.METHOD_NAMES[m] for m in cmp.METHODS]
    assert isinstance(steps[-1], cmp.CompareResult) and steps[-1].labels == ("red", "blue")


@pytest.mark.parametrize(
    "picture, labels, message",
    [
        (image(), " , ; ", "at least one label"),
        (Image.new("RGB", (1, 1)), "red", "at least 16 pixels"),
        (b"not a picture", "red", "not an image"),
    ],
)
def test_bad_input_says_what_to_do(picture, labels, message):
    with pytest.raises(InputError, match=message):
        cmp.Compare(oracle_backbone(), depth_oracle(), depth_short_side=64)(picture, labels)


@pytest.mark.parametrize(
    "settings, message",
    [(dict(dense_method="magic"), "dense method"), (dict(depth_short_side=10), "input height"), (dict(lseg_logit_scale=0), "temperature"),
     (dict(vild_region_embedding="magic"), "region embedding")],
)
def test_bad_settings_fail_before_any_forward(settings, message):
    backbone = oracle_backbone()
    with pytest.raises(InputError, match=message):
        cmp.Compare(backbone, depth_oracle(), **settings)
    assert backbone.image_forwards == 0 and backbone.text_forwards == 0


def test_depth_backbone_must_be_a_resnet(tiny_vit):
    with pytest.raises(InputError, match="ResNet"):
        cmp.Compare(tiny_vit, tiny_vit)


def test_tiny_models_plumbing(tiny_vit):
    from components.backbone import load_backbone

    depth = load_backbone("clip-lab-tiny-rn-depth", "random", "cpu")
    result = cmp.Compare(tiny_vit, depth, depth_short_side=64, vild_max_proposals=5)(image(), "red; blue; green")
    assert result.labels == ("red", "blue", "green") and result.dense_passes == 1
    assert result.lseg.label_map.shape == result.groupvit.label_map.shape == result.depth.depth.shape == (64, 128)
    assert len(result.vild.boxes) <= 5 and set(result.seconds) == set(cmp.METHODS)


def test_headline_holds_each_methods_main_numbers(result):
    numbers = cmp.headline(result)
    assert numbers["zeroshot"] == dict(result.zeroshot.ranking())
    assert set(numbers["lseg_shares"]) == set(result.lseg.labels)
    assert numbers["groupvit_top_classes"] == [result.groupvit.classes[int(i)] for i in result.groupvit.top_classes]
    assert len(numbers["vild_detections"]) == len(result.vild.keep)
    assert {d["class"] for d in numbers["vild_detections"]} <= set(result.labels)
    assert numbers["depth_median_m"] == float(np.nanmedian(result.depth.depth))
