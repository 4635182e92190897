"""LSeg: meaning with the oracle, LSeg's formulas on hand-made cosines, plumbing on the tiny model."""

import numpy as np
import pytest
import torch
from PIL import Image

from components import lseg
from components.errors import InputError
from components.lseg import LSeg, regularise, score
from testkit import halves, solid


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


# -- oracle: the formula must put each label on its half --------------------------------------------
@pytest.mark.parametrize("regulariser", ["none", "depthwise", "bottleneck"])
def test_red_and_blue_halves_are_segmented(oracle, regulariser):
    image = halves((230, 20, 20), (20, 20, 230), size=(128, 64))  # red left, blue right
    result = LSeg(oracle, regulariser=regulariser, block_depth=2)(image, "red, blue")
    truth = np.zeros((64, 128), int)
    truth[:, 64:] = 1
    assert result.label_map.shape == (64, 128)
    assert (result.label_map == truth).mean() >= 0.95
    assert result.shares == pytest.approx([0.5, 0.5], abs=0.05)
    # the red probability is high on the red half, low on the blue half
    red = result.probability("red")
    assert red[:, :48].mean() > 0.9 > 0.1 > red[:, 80:].mean()


def test_swapped_label_order_swaps_nothing_in_space(oracle):
    image = halves((20, 20, 230), (230, 20, 20), size=(128, 64))  # blue left, red right
    result = LSeg(oracle)(image, ["red", "blue", "other"])
    assert (result.mask("blue")[:, :56]).mean() > 0.95
    assert (result.mask("red")[:, 72:]).mean() > 0.95


def test_other_catches_what_no_label_names(oracle):
    # grey has no chroma: "other" (the oracle's bias axis) must beat "red" and "blue" there
    image = halves((128, 128, 128), (230, 20, 20), size=(128, 64))
    result = LSeg(oracle)(image, "red, blue, other")
    assert result.mask("other")[:, :56].mean() > 0.95
    assert result.mask("red")[:, 72:].mean() > 0.95


# -- fidelity: LSeg's constants and formulas ----------------------------------------------------------
def test_constants():
    assert lseg.LOGIT_SCALE == pytest.approx(1 / 0.07)
    assert lseg.DEMO_LABELS == ("dog", "grass", "other")
    assert lseg.TEMPLATES == "raw"
    assert lseg.SMOOTHING_KERNEL.sum() == pytest.approx(1.0)
    assert lseg.SMOOTHING_KERNEL.shape == (3, 3)


def test_probabilities_are_softmax_of_temperature_times_cosine():
    cosine = torch.tensor([0.30, 0.10, -0.2])[:, None, None].repeat(1, 2, 2)  # (L=3, 2, 2)
    scored = score(cosine, (6, 6), logit_scale=1 / 0.07)
    expected = _softmax(np.array([0.30, 0.10, -0.2]) / 0.07)
    assert (scored["label_map"] == 0).all()
    np.testing.assert_allclose(scored["confidence"], expected[0], rtol=1e-5)
    np.testing.assert_allclose(scored["logits"][:, 0, 0], np.array([0.30, 0.10, -0.2]) / 0.07, rtol=1e-6)
    # a hotter temperature sharpens the same argmax
    hot = score(cosine, (6, 6), logit_scale=50)
    np.testing.assert_allclose(hot["confidence"], _softmax(np.array([0.30, 0.10, -0.2]) * 50)[0], rtol=1e-5)


def test_logits_are_upsampled_before_the_argmax():
    # two patches, the label flips between them: the boundary lands in the middle of the image
    cosine = torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]])  # (2, 1, 2)
    scored = score(cosine, (4, 8))
    assert scored["label_map"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]] * 4
    probs = np.stack([_softmax(v) for v in np.stack([scored["logits"][:, 0, 0], scored["logits"][:, 0, 1]])])
    np.testing.assert_allclose(scored["confidence"][0, 0], probs[0].max(), rtol=1e-5)


def test_background_threshold_on_a_crafted_case():
    # patch 0 is sure (p ≈ 0.94), patch 1 is torn between labels (p = 0.5)
    cosine = torch.tensor([[[0.40, 0.30]], [[0.20, 0.30]]])  # (2, 1, 2)
    scale = 1 / 0.07
    p_sure = _softmax(np.array([0.40, 0.20]) * scale)[0]
    assert 0.9 < p_sure < 0.95
    off = score(cosine, (1, 2), logit_scale=scale, background_threshold=0.0)
    assert off["label_map"].tolist() == [[0, 0]]  # tie at patch 1 goes to the first label
    on = score(cosine, (1, 2), logit_scale=scale, background_threshold=0.6)
    assert on["label_map"].tolist() == [[0, -1]]
    assert on["background_share"] == pytest.approx(0.5)
    strict = score(cosine, (1, 2), logit_scale=scale, background_threshold=0.95)
    assert strict["label_map"].tolist() == [[-1, -1]]


def test_depthwise_regulariser_is_the_fixed_kernel_per_label():
    logits = torch.zeros(2, 5, 5)
    logits[0, 2, 2] = 16.0
    logits[1] = 3.0
    out = regularise(logits, "depthwise", 1)
    np.testing.assert_allclose(out[0, 1:4, 1:4].numpy(), [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert out[0].sum() == pytest.approx(16.0)
    np.testing.assert_allclose(out[1].numpy(), 3.0)  # a constant map stays constant (replicate pad)


def test_bottleneck_adds_back_the_max_over_labels_taken_before_smoothing():
    logits = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0))
    smoothed = regularise(logits, "depthwise", 1)
    out = regularise(logits, "bottleneck", 1)
    np.testing.assert_allclose(out.numpy(), (smoothed + logits.max(dim=0).values).numpy(), rtol=1e-6)
    # two blocks: LeakyReLU between them
    two = regularise(logits, "depthwise", 2)
    by_hand = regularise(torch.nn.functional.leaky_relu(smoothed, 0.01), "depthwise", 1)
    np.testing.assert_allclose(two.numpy(), by_hand.numpy(), rtol=1e-6)


def test_regulariser_removes_an_isolated_wrong_patch():
    cosine = torch.zeros(2, 5, 5)
    cosine[0] = 0.3
    cosine[1] = 0.1
    cosine[1, 2, 2] = 0.35  # one patch says label 1, its neighbours all say label 0
    plain = score(cosine, (5, 5))
    smooth = score(cosine, (5, 5), regulariser="depthwise")
    assert plain["label_map"][2, 2] == 1
    assert (smooth["label_map"] == 0).all()


# -- pay once, answer many ----------------------------------------------------------------------------
def test_rescore_needs_no_forward_and_equals_a_fresh_run(oracle):
    image = halves((230, 20, 20), (20, 20, 230), size=(128, 64))
    first = LSeg(oracle)(image, "red, blue, other")
    images, texts = oracle.image_forwards, oracle.text_forwards
    again = first.rescore(logit_scale=50.0, background_threshold=0.7, regulariser="bottleneck")
    assert (oracle.image_forwards, oracle.text_forwards) == (images, texts)
    fresh = LSeg(oracle, logit_scale=50.0, background_threshold=0.7, regulariser="bottleneck")(image, "red, blue, other")
    np.testing.assert_array_equal(again.label_map, fresh.label_map)
    np.testing.assert_allclose(again.confidence, fresh.confidence, rtol=1e-6)
    with pytest.raises(TypeError):
        first.rescore(temperature=3)


def test_probability_maps_sum_to_one(oracle):
    result = LSeg(oracle)(halves((230, 20, 20), (20, 230, 20)), "red, green, blue")
    total = sum(result.probability(label) for label in result.labels)
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)
    stacked = np.stack([result.probability(label) for label in result.labels])
    np.testing.assert_allclose(result.probability_maps(), stacked, rtol=1e-4, atol=1e-6)
    assert result.probability_maps((16, 32)).shape == (3, 16, 32)
    assert result.table()[0][0] == "red" and len(result.table()) == 3


# -- plumbing on the tiny random model ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["naclip", "clearclip", "sclip", "maskclip", "vanilla"])
def test_tiny_model_every_dense_method(tiny_vit, method):
    image = halves((200, 30, 30), (30, 30, 200), size=(100, 60))
    result = LSeg(tiny_vit, dense_method=method, templates="raw")(image, ["dog", "grass", "other"])
    assert result.label_map.shape == (60, 100)
    assert result.cosine.shape[0] == 3 and np.isfinite(result.cosine).all()
    assert result.shares.sum() + result.background_share == pytest.approx(1.0)
    assert result.dense_method == method


def test_same_inputs_same_result(tiny_vit):
    image = halves((200, 30, 30), (30, 30, 200), size=(90, 70))
    a = LSeg(tiny_vit, background_threshold=0.4)(image, "a, b, c")
    b = LSeg(tiny_vit, background_threshold=0.4)(image, "a, b, c")
    np.testing.assert_array_equal(a.label_map, b.label_map)


def test_imagenet_templates_and_resnet(tiny_rn):
    result = LSeg(tiny_rn, templates="imagenet80")(solid((0, 200, 0), (80, 64)), "grass, sky")
    assert result.label_map.shape == (64, 80)
    assert result.templates == "imagenet80"


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, labels, message",
    [
        (solid((1, 2, 3)), " , ; ", "at least one label"),
        (solid((1, 2, 3)), ",".join(f"label {i}" for i in range(500)), "limit"),
        (Image.new("RGB", (1, 1)), "cat", "at least 16 pixels"),
        (Image.new("L", (8000, 8000)), "cat", "megapixels"),
        (42, "cat", "Expected an image"),
        (b"this is not a picture", "cat", "not an image"),
    ],
)
def test_bad_input_says_what_to_do(oracle, image, labels, message):
    with pytest.raises(InputError, match=message):
        LSeg(oracle)(image, labels)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(regulariser="gaussian"), "regulariser"),
        (dict(logit_scale=0), "temperature"),
        (dict(background_threshold=1.5), "background threshold"),
        (dict(dense_method="magic"), "dense method"),
    ],
)
def test_bad_settings_say_what_to_do(oracle, settings, message):
    with pytest.raises(InputError, match=message):
        LSeg(oracle, **settings)(solid((200, 0, 0)), "red")


def test_more_than_16_labels_match_one_full_softmax():
    # the labels are upsampled 16 at a time and their log-normalisers combined: with 40 labels the
    # confidence, label map and normaliser must equal one softmax over all 40 upsampled logits
    torch.manual_seed(0)
    cosine = torch.rand(40, 3, 4) * 0.4
    cosine[37, 0, 0] = cosine[5, 2, 3] = cosine[20, 1, 1] = 0.6  # winners in the first, second and third chunk
    scored = score(cosine, (7, 9), logit_scale=50, background_threshold=0.05)
    up = torch.nn.functional.interpolate((50 * cosine)[None], size=(7, 9), mode="bilinear", align_corners=False)[0]
    probs = torch.softmax(up.double(), dim=0)
    confidence, winner = probs.max(dim=0)
    np.testing.assert_allclose(scored["log_normaliser"], torch.logsumexp(up.double(), dim=0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(scored["confidence"], confidence.numpy(), rtol=1e-4, atol=1e-7)
    expected = torch.where(confidence < 0.05, -1, winner).numpy()
    np.testing.assert_array_equal(scored["label_map"], expected)
    assert {0, 1, 2} <= {int(i) // 16 for i in np.unique(expected) if i >= 0}  # every chunk wins somewhere


def test_single_pass_dense_inference_is_a_setting(tiny_vit):
    image = Image.fromarray((np.random.default_rng(3).random((64, 96, 3)) * 255).astype(np.uint8))
    single = LSeg(tiny_vit, inference="single")(image, ["red", "blue"])
    windows = LSeg(tiny_vit)(image, ["red", "blue"])
    assert single.cosine.shape == windows.cosine.shape == (2, 4, 6)
    assert not np.allclose(single.cosine, windows.cosine)
    features = tiny_vit.dense(image, inference="single")
    text = tiny_vit.text_classifier(("red", "blue"), lseg.TEMPLATES)
    np.testing.assert_allclose(single.cosine, features.similarity(text).numpy(), atol=1e-6)
    with pytest.raises(InputError, match="inference"):
        LSeg(tiny_vit, inference="tiles")


def test_named_resolutions_give_the_dense_input(tiny_vit):
    from components import dense
    from components.zeroshot import scaled_short_side

    assert lseg.RESOLUTION == "1x" and set(lseg.RESOLUTIONS) == {"1x", "1.5x", "2x", "papers", "single"}
    assert lseg.dense_input(tiny_vit) == {"short_side": tiny_vit.image_size, "inference": "windows"}
    assert lseg.dense_input(tiny_vit, "2x") == {"short_side": scaled_short_side(tiny_vit, 2.0), "inference": "windows"}
    assert lseg.dense_input(tiny_vit, "papers")["short_side"] == dense.papers_short_side(tiny_vit)
    assert lseg.dense_input(tiny_vit, "single") == {"short_side": tiny_vit.image_size, "inference": "single"}
    with pytest.raises(InputError, match="resolution"):
        lseg.dense_input(tiny_vit, "1× (one window)")  # display text is the tab's, never the pipeline's
