"""GroupViT: grouping and labelling with the oracle, the official rules on hand-made matrices, the
official engine on a tiny random GroupViTConfig, plumbing on the tiny CLIP."""

import numpy as np
import pytest
import torch
from PIL import Image

from components import groupvit, labelsets
from components.errors import InputError, WeightsError
from components.groupvit import (
    GroupViT,
    OfficialGroupViT,
    chain,
    farthest_point_indices,
    label_groups,
    label_pixels,
)
from testkit import halves, solid

RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


def stripes(*colours, width=32, height=64) -> Image.Image:
    """Vertical stripes, each `width` pixels wide (a multiple of the oracle's 8-pixel patches)."""
    array = np.zeros((height, width * len(colours), 3), np.uint8)
    for i, colour in enumerate(colours):
        array[:, i * width : (i + 1) * width] = colour
    return Image.fromarray(array)


def regions(width=32, count=3, height=64):
    return [slice(i * width, (i + 1) * width) for i in range(count)]


# -- oracle: grouping must follow the colours, labels must name them ---------------------------------
def test_three_colour_regions_give_three_aligned_groups_labelled_right(oracle):
    result = GroupViT(oracle)(stripes(RED, GREEN, BLUE), ["red", "green", "blue"])
    assert result.num_groups == (64, 8)
    assert len(result.visible_groups()) == 3
    groups = []
    for region, name in zip(regions(), ["red", "green", "blue"]):
        values, counts = np.unique(result.group_map[:, region], return_counts=True)
        group = values[counts.argmax()]
        assert counts.max() / counts.sum() >= 0.95  # the region is one group
        groups.append(group)
        assert result.classes[result.group_classes[group]] == name
        assert (result.label_map[:, region] == result.classes.index(name)).mean() >= 0.95
    assert len(set(groups)) == 3  # three different groups
    assert result.applied_threshold == pytest.approx(0.95)
    assert (result.label_map >= 0).all()  # every region is named: no background


def test_background_rule_on_an_unnamed_region(oracle):
    # blue is not among the classes: its group scores 0.5 × 0.5 < 0.95 and becomes background
    result = GroupViT(oracle)(stripes(RED, GREEN, BLUE), ["red", "green"])
    red, green, blue = regions()
    assert (result.label_map[:, blue] == -1).mean() >= 0.95
    assert (result.label_map[:, red] == 0).mean() >= 0.95
    assert (result.label_map[:, green] == 1).mean() >= 0.95
    shares = dict(result.class_shares())
    assert shares["background"] == pytest.approx(1 / 3, abs=0.05)
    # with no threshold at all, the blue group gets a (wrong) class instead
    lenient = result.relabel(background_threshold=0.0)
    assert (lenient.label_map >= 0).all()


def test_top_k_keeps_only_the_image_level_classes(oracle):
    # a mostly-red image: with top-1, only "red" may label groups, so the small blue stripe, whose
    # unmasked favourite is "blue", falls back to red's masked softmax and fails the threshold
    image = stripes(RED, RED, RED, BLUE, width=32)
    result = GroupViT(oracle, top_k=1)(image, ["red", "blue"])
    assert result.top_classes.tolist() == [0]
    assert (result.label_map[:, 96:] == -1).mean() >= 0.95
    full = result.relabel(top_k=5)
    assert (full.label_map[:, 96:] == 1).mean() >= 0.95


def test_same_inputs_same_result_and_seeded_gumbel(oracle, tiny_vit):
    image = stripes(RED, GREEN, BLUE)
    a = GroupViT(oracle)(image, "red, green, blue")
    b = GroupViT(oracle)(image, "red, green, blue")
    np.testing.assert_array_equal(a.group_map, b.group_map)
    photo = halves((200, 120, 30), (30, 60, 200), size=(160, 96))
    g1 = GroupViT(tiny_vit, gumbel=True, seed=3)(photo, "a, b, c")
    g2 = GroupViT(tiny_vit, gumbel=True, seed=3)(photo, "a, b, c")
    np.testing.assert_array_equal(g1.group_map, g2.group_map)
    np.testing.assert_array_equal(g1.stage_assignments[1], g2.stage_assignments[1])
    assert g1.settings["gumbel"] and g1.settings["seed"] == 3


# -- fidelity: the official rules on hand-made matrices ----------------------------------------------
def test_constants():
    assert groupvit.NUM_GROUP_TOKENS == (64, 8)
    assert groupvit.TOP_K == 5
    assert groupvit.BACKGROUND_THRESHOLD == 0.95
    assert groupvit.CONTEXT_BACKGROUND_THRESHOLD == 0.35
    assert groupvit.background_threshold_for("pascal_context_59") == 0.35
    assert groupvit.background_threshold_for("pascal_voc_20") == 0.95
    assert groupvit.TEMPLATES.templates == ("a photo of a {}.",)
    assert groupvit.MAX_LOGIT_SCALE == 100
    assert groupvit.OFFICIAL_MODEL == "nvidia/groupvit-gcc-yfcc"


def test_chained_assignment_equals_the_product_by_hand():
    a1 = torch.tensor([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [1.0, 0.0, 0.0], [0.0, 0.3, 0.7]])  # 4 × 3
    a2 = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])  # 3 × 2
    by_hand = [
        [0.5 * 0.9 + 0.5 * 0.2, 0.5 * 0.1 + 0.5 * 0.8],
        [0.1 * 0.9 + 0.2 * 0.2 + 0.7 * 0.4, 0.1 * 0.1 + 0.2 * 0.8 + 0.7 * 0.6],
        [0.9, 0.1],
        [0.3 * 0.2 + 0.7 * 0.4, 0.3 * 0.8 + 0.7 * 0.6],
    ]
    np.testing.assert_allclose(chain(a1, a2).numpy(), by_hand, rtol=1e-6)


def test_result_chains_its_own_stage_maps(tiny_vit):
    result = GroupViT(tiny_vit, num_group_tokens=(12, 4))(halves((200, 30, 30), (30, 30, 200), (160, 96)), "a, b")
    a1, a2 = result.stage_assignments
    n, k1 = a1.shape
    by_hand = np.array([[sum(a1[p, s] * a2[s, g] for s in range(k1)) for g in range(a2.shape[1])] for p in range(n)])
    np.testing.assert_allclose(result.chained, by_hand, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a1.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(a2.sum(1), 1, rtol=1e-5)
    # each pixel's group is the argmax of the chained map, upsampled bilinearly first
    h, w = result.grid_size
    up = torch.nn.functional.interpolate(
        torch.from_numpy(result.chained.T.reshape(1, -1, h, w)), size=result.image_size, mode="bilinear", align_corners=False
    )[0]
    np.testing.assert_array_equal(result.group_map, up.argmax(0).numpy())


def test_background_rule_on_a_crafted_case():
    # three groups, two classes; the best group score is 0.8, so the rule is min(0.95, 0.8) = 0.8
    affinity = torch.tensor([[0.8, 0.1], [0.05, 0.79], [0.3, 0.3]])
    group_map = torch.tensor([[0, 1, 2], [2, 1, 0]])
    labels, applied = label_pixels(group_map, affinity, 0.95)
    assert applied == pytest.approx(0.8)
    assert labels.tolist() == [[0, -1, -1], [-1, -1, 0]]
    labels, applied = label_pixels(group_map, affinity, 0.35)  # PASCAL Context's threshold
    assert applied == pytest.approx(0.35)
    assert labels.tolist() == [[0, 1, -1], [-1, 1, 0]]


def test_label_groups_masks_to_top_k_and_multiplies_the_softmaxes():
    group_logits = torch.tensor([[5.0, 1.0, 0.0, 4.0], [0.0, 3.0, 1.0, 0.0]])  # 2 groups × 4 classes
    image_logits = torch.tensor([1.0, 3.0, 2.0, 0.0])  # top-2: classes 1 and 2
    scores = label_groups(group_logits, image_logits, top_k=2)
    assert sorted(scores["top_classes"].tolist()) == [1, 2]
    full = torch.softmax(group_logits, -1)
    masked = torch.softmax(group_logits[:, [1, 2]], -1)
    expected = torch.zeros(2, 4)
    expected[:, [1, 2]] = masked * full[:, [1, 2]]
    np.testing.assert_allclose(scores["affinity"].numpy(), expected.numpy(), rtol=1e-6)
    assert scores["group_classes"].tolist() == [1, 1]  # group 0's favourite (class 0) is masked out
    np.testing.assert_allclose(scores["image_probs"].numpy(), torch.softmax(image_logits, -1).numpy())


def test_farthest_point_seeds_are_deterministic_and_skip_repeats():
    tokens = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), dim=-1)
    weights = torch.tensor([1.0, 1.0, 5.0, 0.0])  # token 3 is an empty segment: never a seed
    indices, active = farthest_point_indices(tokens, weights, 4)
    assert indices.tolist()[:2] == [2, 0]
    assert active.tolist() == [True, True, False, False]


# -- the official engine, offline ---------------------------------------------------------------------
def tiny_official(num_group_tokens=(8, 4, 0), num_output_groups=(8, 4, 4)):
    from transformers import GroupViTConfig, GroupViTModel

    stages = len(num_group_tokens)
    config = GroupViTConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=1),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_attention_heads=2, depths=[1] * stages,
            num_hidden_layers=stages, num_group_tokens=list(num_group_tokens),
            num_output_groups=list(num_output_groups), image_size=32, patch_size=8,
        ),
        projection_dim=16,
        projection_intermediate_dim=32,
    )
    torch.manual_seed(0)
    return OfficialGroupViT(GroupViTModel(config))


def test_official_engine_applies_the_official_rules_on_a_tiny_random_model():
    engine = tiny_official()
    result = engine(halves(RED, BLUE, (60, 40)), "red, blue, cat, dog, tree, sky, road", top_k=5)
    assert result.engine == "official"
    assert result.num_groups == (8, 4)
    assert result.grid_size == (4, 4)
    assert result.label_map.shape == result.group_map.shape == (40, 60)
    assert len(result.top_classes) == 5
    # the labels are the official rules applied to transformers' grouping
    labels, applied = label_pixels(torch.from_numpy(result.group_map), torch.from_numpy(result.affinity), 0.95)
    np.testing.assert_array_equal(result.label_map, labels.numpy())
    assert applied == pytest.approx(min(0.95, result.affinity.max()))
    np.testing.assert_allclose(result.chained, result.stage_assignments[0] @ result.stage_assignments[1], rtol=1e-5)
    again = engine(halves(RED, BLUE, (60, 40)), "red, blue, cat, dog, tree, sky, road", top_k=5)
    np.testing.assert_array_equal(again.label_map, result.label_map)


@pytest.mark.parametrize("tokens, outputs, groups", [((8, 4, 2, 0), (8, 4, 2, 2), (8, 2)), ((8, 0), (8, 8), (8, 8))])
def test_official_engine_chains_any_number_of_grouping_stages(tokens, outputs, groups):
    """Three stages chain as stage1 · stage2 · stage3; one stage is its own final grouping."""
    engine = tiny_official(tokens, outputs)
    image = halves(RED, BLUE, (32, 32))
    result = engine(image, "red, blue")
    assert result.num_groups == groups
    pixels = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1)
    pixels = (pixels - torch.tensor(engine.MEAN)[:, None, None]) / torch.tensor(engine.STD)[:, None, None]
    with torch.no_grad():
        attentions = engine.model.vision_model(pixels[None], output_attentions=True).attentions
    by_hand = attentions[0][0].T
    for stage in attentions[1:]:
        by_hand = by_hand @ stage[0].T
    np.testing.assert_allclose(result.chained, by_hand.numpy(), rtol=1e-4, atol=1e-6)


def test_official_weights_that_cannot_be_had_say_so_quickly(tmp_path):
    assert not groupvit.official_weights_cached(cache_dir=str(tmp_path))
    with pytest.raises(WeightsError, match="not in this machine's Hugging Face cache"):
        groupvit.load_official(cache_dir=str(tmp_path))


# -- presets and plumbing -----------------------------------------------------------------------------
def test_presets_are_shipped_as_data():
    assert len(labelsets.PASCAL_VOC_20) == 20
    assert len(labelsets.PASCAL_CONTEXT_59) == 59
    assert len(labelsets.COCO_80) == 80
    assert groupvit.preset_classes("coco_80")[0] == "person"
    assert groupvit.preset_classes("") == ()
    with pytest.raises(InputError, match="Unknown label set"):
        groupvit.preset_classes("imagenet")


def test_tiny_model_plumbing(tiny_vit):
    image = halves((200, 30, 30), (30, 30, 200), size=(100, 60))
    result = GroupViT(tiny_vit)(image, labelsets.PASCAL_VOC_20.classes)
    h, w = result.grid_size
    assert result.stage_assignments[0].shape[0] == h * w
    assert result.stage1_map.shape == result.group_map.shape == result.label_map.shape == (60, 100)
    assert result.group_shares().sum() == pytest.approx(1.0)
    assert sum(s for _, s in result.class_shares()) == pytest.approx(1.0)
    assert any("fewer than 64" in n for n in result.notes)


def test_relabel_needs_no_forward(oracle):
    result = GroupViT(oracle)(stripes(RED, GREEN, BLUE), "red, green")
    before = (oracle.image_forwards, oracle.text_forwards)
    relabelled = result.relabel(background_threshold=0.1)
    assert (oracle.image_forwards, oracle.text_forwards) == before
    assert relabelled.applied_threshold == pytest.approx(0.1)
    np.testing.assert_array_equal(relabelled.group_map, result.group_map)


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, labels, message",
    [
        (solid((1, 2, 3)), "", "at least one label"),
        (solid((1, 2, 3)), ",".join(f"label {i}" for i in range(500)), "limit"),
        (Image.new("RGB", (1, 1)), "cat", "at least 16 pixels"),
        (Image.new("L", (8000, 8000)), "cat", "megapixels"),
        ("not/a/file.png", "cat", "could not be found"),
        ([1, 2, 3], "cat", "Expected an image"),
    ],
)
def test_bad_input_says_what_to_do(oracle, image, labels, message):
    with pytest.raises(InputError, match=message):
        GroupViT(oracle)(image, labels)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(num_group_tokens=(64,)), "two stages"),
        (dict(num_group_tokens=(0, 8)), "two stages"),
        (dict(background_threshold=2.0), "background threshold"),
        (dict(top_k=0), "top-1"),
    ],
)
def test_bad_settings(oracle, settings, message):
    with pytest.raises(InputError, match=message):
        GroupViT(oracle, **settings)


def test_skipping_groups_that_cannot_win_changes_no_pixel():
    generator = torch.Generator().manual_seed(1)
    for scale in (1.0, 8.0, 30.0):  # flat to near one-hot assignments
        assignment = torch.softmax(scale * torch.randn(6 * 5, 40, generator=generator), dim=1)
        full = torch.nn.functional.interpolate(
            assignment.T.reshape(1, 40, 6, 5), size=(37, 29), mode="bilinear", align_corners=False
        )[0].argmax(0)
        np.testing.assert_array_equal(groupvit.assignment_argmax(assignment, (6, 5), (37, 29)).numpy(), full.numpy())


def test_gumbel_noise_is_seeded_and_off_by_default():
    tokens = torch.nn.functional.normalize(torch.randn(50, 6, generator=torch.Generator().manual_seed(0)), dim=-1)
    seeds = tokens[:5]

    def run(gumbel, seed):
        generator = torch.Generator().manual_seed(seed)
        # a high temperature lets the noise decide most hard assignments while refining
        return groupvit.group_tokens(tokens, seeds, gumbel=gumbel, generator=generator, assign_temperature=10.0)

    plain_a, plain_b = run(False, 0), run(False, 1)
    torch.testing.assert_close(plain_a[1], plain_b[1])  # no noise: the seed does not matter
    noisy_a, noisy_a2, noisy_b = run(True, 0), run(True, 0), run(True, 1)
    torch.testing.assert_close(noisy_a[1], noisy_a2[1])
    assert not torch.allclose(noisy_a[1], noisy_b[1])
    assert not torch.allclose(noisy_a[1], plain_a[1])
