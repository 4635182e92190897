"""DepthCLIP: meaning with a ResNet-shaped oracle, fidelity to the paper's formula and constants, the
official code's layer4 path on tiny ResNets, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from open_clip.constants import IMAGENET_MEAN, IMAGENET_STD
from PIL import Image

from components import depthclip as dc
from components.backbone import load_backbone
from components.dense import resnet_stages
from components.errors import InputError
from testkit import halves, solid
from oracle import DIM, OracleVisual, oracle_backbone

TINY_RN_DEPTH = "clip-lab-tiny-rn-depth"  # layer4: 8·32 = 256 channels = 2 × embed 128


@pytest.fixture(scope="module")
def tiny_rn_depth():
    return load_backbone(TINY_RN_DEPTH, "random", "cpu")


# -- a ResNet-shaped oracle ---------------------------------------------------------------------------
# The seven words sit on a quarter circle in the oracle's (light, dark) plane: "giant" = pure light,
# "unseen" = pure dark, 15° apart. A grey patch of brightness g embeds as (light g, dark 1 - g), so
# its nearest word is set by g: brightness moves a patch from "giant" to "unseen".
ANGLES = [math.radians(15 * k) for k in range(7)]
DEPTH_WORDS = {word: [0, 0, 0, math.cos(a), math.sin(a), 0, 0, 0] for word, a in zip(dc.WORDS, ANGLES)}


def grey_for(angle: float) -> int:
    """Brightness (0–255) whose (light, dark) direction is `angle`: g / (1 - g) = cot(angle)."""
    return round(255 * math.cos(angle) / (math.cos(angle) + math.sin(angle)))


class OracleResNet(torch.nn.Module):
    """ModifiedResNet's interface over the colour oracle. layer4 is 1/32 of the input with 2·D
    channels: even channels hold each cell's oracle embedding, odd channels the embedding of the
    *inverted* colour, so reading the wrong half reverses every depth. The attention pool refuses
    to run: DepthCLIP must skip it."""

    def __init__(self, mean, std):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 1, 1)  # only its dtype is read
        self.colours = OracleVisual(mean, std)
        self.layer1 = self.layer2 = self.layer3 = torch.nn.Identity()
        self.output_dim = DIM
        self.image_size = 64

    def stem(self, x):
        return x

    def layer4(self, x):
        rgb = F.avg_pool2d(self.colours._rgb(x), 32).permute(0, 2, 3, 1)  # (N, h, w, 3)
        out = torch.zeros(*rgb.shape[:-1], 2 * DIM)
        out[..., 0::2] = self.colours.embed_colours(rgb)
        out[..., 1::2] = self.colours.embed_colours(1 - rgb)
        return out.permute(0, 3, 1, 2)

    def attnpool(self, x):
        raise AssertionError("DepthCLIP must skip the attention pool")

    def forward(self, pixels):
        return self.colours(pixels)


def depth_oracle(normalization: str = "imagenet"):
    backbone = oracle_backbone(extra_words=DEPTH_WORDS)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if normalization == "imagenet" else (backbone.mean, backbone.std)
    backbone.model.visual = OracleResNet(mean, std)
    return backbone


def stripes(greys, cell=32, height=64) -> Image.Image:
    array = np.zeros((height, cell * len(greys), 3), np.uint8)
    for k, g in enumerate(greys):
        array[:, k * cell : (k + 1) * cell] = g
    return Image.fromarray(array)


@pytest.mark.parametrize("normalization", ["imagenet", "clip"])
def test_oracle_each_word_region_gets_its_bin(normalization):
    """Seven stripes, each the brightness of one word, one layer4 cell wide: each stripe's depth is
    that word's bin, so depth rises from the brightest ("giant", 1 m) to the darkest ("unseen", 3 m)."""
    image = stripes([grey_for(a) for a in ANGLES])
    result = dc.DepthCLIP(depth_oracle(normalization), short_side=64, normalization=normalization)(image)
    assert result.grid_size == (2, 7)
    np.testing.assert_allclose(result.depth_grid, np.tile(dc.BINS, (2, 1)), atol=0.02)
    assert (result.probs.argmax(0) == np.arange(7)).all()
    centres = result.depth[32, 16::32]
    assert (np.diff(centres) > 0).all()


def test_oracle_brightness_ramp_orders_depth():
    """Patch embeddings move from "giant"/"extremely close" (bright) to "far"/"unseen" (dark) along a
    ramp: depth must rise monotonically from left to right, from near 1 m to near 3 m."""
    ramp = np.linspace(255, 0, 256)
    array = np.repeat(np.tile(ramp, (64, 1))[..., None], 3, axis=2).astype(np.uint8)
    result = dc.DepthCLIP(depth_oracle(), short_side=64, flip=False)(Image.fromarray(array))
    row = result.depth_grid[0]
    assert (np.diff(row) > 0).all()
    assert row[0] < 1.3 and row[-1] > 2.7
    assert (np.diff(result.depth[10]) >= -1e-6).all()  # the upsampled map keeps the order


def test_oracle_two_words_extremely_close_vs_far():
    """Only "extremely close" and "far": a bright half reads 1.50 m, a dark half 2.75 m."""
    backbone = depth_oracle()
    image = halves((250, 250, 250), (5, 5, 5), size=(128, 64))
    result = dc.DepthCLIP(backbone, words=["extremely close", "far"], bins=[1.5, 2.75], short_side=64)(image)
    np.testing.assert_allclose(result.depth_grid[:, :2], 1.5, atol=0.01)
    np.testing.assert_allclose(result.depth_grid[:, 2:], 2.75, atol=0.01)


# -- fidelity: the paper's constants and formula --------------------------------------------------------
def test_paper_constants():
    assert dc.WORDS == ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
    assert dc.BINS == (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
    assert dc.TEMPERATURE == 0.1 and dc.LOGIT_SCALE == 100.0
    assert dc.BACKBONE == ("RN50", "openai")
    assert dc.TEMPLATES.fill("far") == ["This object is far"]
    assert dc.NORMALIZATION == "imagenet"


def test_depth_on_a_hand_made_logit_map():
    """depth = Σ softmax(logits) · bin with the paper's bins, cell by cell."""
    logits = torch.zeros(7, 2, 2)
    logits[:, 0, 0] = 0.0  # all equal → the mean of the bins
    logits[3, 0, 1] = 60.0  # one word dominates → its bin
    logits[[1, 5], 1, 0] = 60.0  # two tie → the mean of their bins
    logits[:, 1, 1] = torch.tensor([0.3, -1.0, 2.0, 0.5, 0.0, 1.2, -0.4])
    depth, probs = dc.depth_from_logits(logits)
    p = np.exp([0.3, -1.0, 2.0, 0.5, 0.0, 1.2, -0.4])
    p /= p.sum()
    expected = [[sum(dc.BINS) / 7, 2.25], [(1.5 + 2.75) / 2, float(p @ np.array(dc.BINS))]]
    np.testing.assert_allclose(depth.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(0).numpy(), 1.0, rtol=1e-6)


def test_logits_are_1000_times_the_dot_product():
    feats = torch.zeros(1, 1, 2, 4)
    feats[0, 0, 0] = torch.tensor([0.5, 0.0, 0.0, 0.0])  # a half-vector: not renormalised
    feats[0, 0, 1] = torch.tensor([0.0, 0.3, 0.4, 0.0])
    text = torch.eye(4)[:3]
    logits = dc.depth_logits(feats, text)
    assert logits.shape == (1, 3, 1, 2)
    np.testing.assert_allclose(logits[0, :, 0, 0].numpy(), [500.0, 0.0, 0.0])
    np.testing.assert_allclose(logits[0, :, 0, 1].numpy(), [0.0, 300.0, 400.0], rtol=1e-6)
    np.testing.assert_allclose(dc.depth_logits(feats, text, temperature=1.0).numpy(), logits.numpy() / 10)


def test_channel_matching_is_the_official_nearest_interpolation():
    maps = F.normalize(torch.randn(2, 3, 5, 64), dim=-1)
    matched = dc.match_channels(maps, 32)
    official = F.interpolate(maps.reshape(1, -1, 64), scale_factor=0.5).reshape(2, 3, 5, 32)
    torch.testing.assert_close(matched, official)
    torch.testing.assert_close(matched, maps[..., [2 * i for i in range(32)]])
    assert matched.norm(dim=-1).max() < 1.0  # not renormalised
    with pytest.raises(InputError, match="twice as many channels"):
        dc.match_channels(maps, 48)


def test_flip_average_and_upsampling():
    a = torch.tensor([[1.0, 2.0, 3.0]])
    of_flipped = torch.tensor([[30.0, 20.0, 10.0]])
    np.testing.assert_allclose(dc.flip_average(a, of_flipped).numpy(), [[5.5, 11.0, 16.5]])
    up = dc.upsample(torch.tensor([[1.0, 3.0], [5.0, 7.0]]), (3, 5))
    # align_corners=True: the corners keep the cell values exactly; the middle is the mean
    assert up[0, 0] == 1.0 and up[0, -1] == 3.0 and up[-1, 0] == 5.0 and up[-1, -1] == 7.0
    assert float(up[1, 2]) == pytest.approx(4.0)


def test_pipeline_is_the_official_formula_on_a_tiny_resnet(tiny_rn_depth):
    """Every step by hand, the official code's way: layer4 → L2 over channels → (B, HW, C) nearest
    interpolation ×0.5 → 100 · f @ text / 0.1 → softmax over words → Σ p · bin → flip average →
    bilinear, align_corners=True."""
    image = halves((200, 40, 40), (30, 60, 220), size=(150, 70))
    estimator = dc.DepthCLIP(tiny_rn_depth, short_side=64)
    result = estimator(image)
    pixels = estimator.pixels(image)
    assert pixels.shape == (2, 3, 64, 128)
    resized = np.asarray(image.resize((128, 64), Image.BICUBIC), np.float32) / 255
    expected0 = (resized - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(pixels[0].permute(1, 2, 0).numpy(), expected0, atol=1e-5)
    torch.testing.assert_close(pixels[1], pixels[0].flip(-1))

    with torch.no_grad():
        layer4 = resnet_stages(tiny_rn_depth.model.visual, pixels)["layer4"]  # (2, 256, 2, 4)
        B, C, h, w = layer4.shape
        img_f = layer4.reshape(B, C, h * w).permute(0, 2, 1)  # (B, HW, C)
        img_f = img_f / img_f.norm(dim=-1, keepdim=True)
        img_f = F.interpolate(img_f, scale_factor=0.5)
        text = tiny_rn_depth.encode_texts([f"This {dc.OBJECT} is {w}" for w in dc.WORDS])  # normalised
        logits = 100.0 * img_f @ text.T
        logits = logits.permute(0, 2, 1).reshape(B, 7, h, w) / 0.1
        depth = (F.softmax(logits, dim=1) * torch.tensor(dc.BINS).view(1, 7, 1, 1)).sum(1, keepdim=True)
        depth = 0.5 * (depth[0:1] + depth[1:2].flip(-1))
        up = F.interpolate(depth, size=(70, 150), mode="bilinear", align_corners=True)[0, 0]
    np.testing.assert_allclose(result.logits, logits.numpy(), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(result.depth_grid, depth[0, 0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.depth, up.numpy(), rtol=1e-5, atol=1e-5)
    assert result.depth.shape == (70, 150)
    assert result.features.shape == (2, 2, 4, 128)


def test_probabilities_and_views_carry_the_depth(tiny_rn_depth):
    result = dc.DepthCLIP(tiny_rn_depth, short_side=96)(halves((250, 250, 250), (10, 10, 10), size=(96, 96)))
    bins = np.array(dc.BINS)[:, None, None]
    np.testing.assert_allclose((result.probs * bins).sum(0), result.depth_grid, rtol=1e-5)
    np.testing.assert_allclose(result.view_depths.mean(0), result.depth_grid, rtol=1e-5)
    assert result.word_map("far").shape == (96, 96)
    shares = result.word_shares()
    assert [s[0] for s in shares] == list(dc.WORDS) and sum(s[2] for s in shares) == pytest.approx(1.0, abs=1e-5)


def test_rn50_layer4_matches_2048_to_1024_channels():
    """The paper's architecture (random weights): layer4 has 2048 channels, text 1024."""
    rn50 = load_backbone("RN50", "random", "cpu")
    result = dc.DepthCLIP(rn50, short_side=64)(solid((120, 90, 60), size=(96, 64)))
    assert result.features.shape == (2, 2, 3, 1024)
    assert "2048 ch" in result.features_from and "1024" in result.features_from
    assert np.isfinite(result.depth).all()
    assert dc.BINS[0] - 1e-6 <= result.depth.min() and result.depth.max() <= dc.BINS[-1] + 1e-6


def test_mismatched_resnet_gives_a_clear_error_before_any_forward(tiny_rn):
    forwards = tiny_rn.image_forwards
    with pytest.raises(InputError, match="256 channels for a 32-d embedding"):
        dc.DepthCLIP(tiny_rn, short_side=64)
    assert tiny_rn.image_forwards == forwards


# -- pay once, answer many; determinism ---------------------------------------------------------------
def test_rescore_needs_no_image_forward(tiny_rn_depth):
    image = halves((250, 200, 10), (10, 20, 200), size=(128, 64))
    first = dc.DepthCLIP(tiny_rn_depth, short_side=64)(image)
    forwards = tiny_rn_depth.image_forwards
    new_bins = [0.5, 1, 2, 4, 8, 16, 32]
    again = dc.DepthCLIP(tiny_rn_depth, bins=new_bins, temperature=0.5, short_side=64).rescore(first)
    assert tiny_rn_depth.image_forwards == forwards
    fresh = dc.DepthCLIP(tiny_rn_depth, bins=new_bins, temperature=0.5, short_side=64)(image)
    np.testing.assert_allclose(again.depth, fresh.depth, rtol=1e-6)
    assert again.temperature == 0.5 and list(again.bins) == new_bins
    forwards = tiny_rn_depth.image_forwards
    fewer = dc.DepthCLIP(tiny_rn_depth, words=["close", "far"], bins=[1, 2], short_side=64).rescore(first)
    assert fewer.probs.shape[0] == 2 and tiny_rn_depth.image_forwards == forwards


def test_same_input_same_result_and_flip_off(tiny_rn_depth):
    image = halves((250, 200, 10), (10, 20, 200), size=(128, 64))
    a = dc.DepthCLIP(tiny_rn_depth, short_side=64)(image)
    b = dc.DepthCLIP(tiny_rn_depth, short_side=64)(image)
    np.testing.assert_array_equal(a.depth, b.depth)
    single = dc.DepthCLIP(tiny_rn_depth, short_side=64, flip=False)(image)
    assert single.features.shape[0] == 1 and not single.flip
    # a batch of one against a batch of two (the image and its mirror): CPU libraries (oneDNN) pick
    # kernels by batch size, so float32 sums may differ in the last bits; same batch stays exact above
    np.testing.assert_allclose(single.depth_grid, a.view_depths[0], rtol=1e-4, atol=1e-5)


def test_dense_extension_on_a_vit(tiny_vit):
    result = dc.DepthCLIP(tiny_vit, features="dense", dense_method="clearclip")(halves((200, 30, 30), (30, 30, 200)))
    assert result.depth.shape == (64, 128) and result.flip
    assert "extension" in result.features_from
    assert np.isfinite(result.depth).all()


def test_dense_extension_on_the_oracle_orders_depth():
    backbone = oracle_backbone(extra_words=DEPTH_WORDS)  # its own forward_dense: 8-px patches
    image = halves((250, 250, 250), (5, 5, 5), size=(128, 64))
    result = dc.DepthCLIP(backbone, features="dense")(image)
    assert result.depth[:, :40].mean() < 1.1 and result.depth[:, -40:].mean() > 2.9


# -- helpers: 3-D lifting, ground truth, comparison ---------------------------------------------------------
def test_lift_to_points_is_a_pinhole_back_projection():
    depth = np.full((20, 30), 2.0)
    depth[0, 0] = np.nan
    points, rows, cols = dc.lift_to_points(depth, focal=10.0, principal=(0.0, 0.0))
    assert len(points) == 20 * 30 - 1
    i = np.flatnonzero((rows == 5) & (cols == 10))[0]
    np.testing.assert_allclose(points[i], [2.0, 1.0, 2.0])
    many, _, _ = dc.lift_to_points(np.ones((500, 700)), max_points=5000)
    assert len(many) <= 5000


def test_middlebury_disparity_to_depth():
    d = np.array([[0.0, 60.0], [np.nan, np.inf]])
    depth = dc.disparity_to_depth(d)
    fb = 994.978 * 0.193001
    np.testing.assert_allclose(depth[0], [fb / 31.086, fb / (60 + 31.086)])
    assert np.isnan(depth[1]).all()


def test_motorcycle_ground_truth_loads_from_scikit_image():
    from pathlib import Path

    from app.examples import skimage_photo

    disparity = dc.load_disparity(Path(skimage_photo("motorcycle_left")).with_name("motorcycle_disp.npz"))
    truth = dc.disparity_to_depth(disparity)
    assert truth.shape == (500, 741)
    assert 0.01 < np.isnan(truth).mean() < 0.2
    assert 1.5 < np.nanmin(truth) and np.nanmax(truth) < 6


def test_reference_depth_only_for_the_reference_photo_itself():
    from pathlib import Path

    from app.examples import skimage_photo

    left = skimage_photo("motorcycle_left")
    reference = dc.StereoReference(left, str(Path(left).with_name("motorcycle_disp.npz")))
    image = Image.open(left).convert("RGB")
    truth = dc.reference_depth(image, reference)
    np.testing.assert_array_equal(truth, dc.disparity_to_depth(dc.load_disparity(reference.disparity)))
    assert dc.reference_depth(image.copy(), reference) is truth  # by pixels, however it came; loaded once
    changed = np.asarray(image).copy()
    changed[0, 0] ^= 1
    assert dc.reference_depth(Image.fromarray(changed), reference) is None
    assert dc.reference_depth(image.resize((370, 250)), reference) is None


def test_relief_points_use_the_calibration_camera_and_the_pixel_colours():
    image = Image.fromarray(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    depth = np.full((4, 6), 2.0)
    calibration = dc.StereoCalibration(focal_px=10.0, baseline_mm=1.0, doffs_px=0.0, cx=0.0, cy=0.0)
    points, colours = dc.relief_points(image, depth, calibration)
    expected, rows, cols = dc.lift_to_points(depth, focal=10.0, principal=(0.0, 0.0))
    np.testing.assert_allclose(points, expected)
    np.testing.assert_array_equal(colours, np.asarray(image)[rows, cols])
    assumed, _ = dc.relief_points(image, depth)
    np.testing.assert_allclose(assumed, dc.lift_to_points(depth)[0])


def test_compare_depth_is_scale_invariant():
    truth = np.linspace(1, 4, 100).reshape(10, 10)
    truth[0, 0] = np.nan
    c = dc.compare_depth(2 * truth, truth)
    assert c.valid_pixels == 99
    assert c.scale == pytest.approx(0.5) and c.delta1 == 1.0 and c.abs_rel == pytest.approx(0, abs=1e-12)
    assert c.spearman == pytest.approx(1.0) and c.raw_delta1 == 0.0
    t = truth[np.isfinite(truth)]
    assert c.flat_delta1 == pytest.approx(np.mean(np.maximum(np.median(t) / t, t / np.median(t)) < 1.25))
    reversed_ = dc.compare_depth(5 - truth, truth)
    assert reversed_.spearman == pytest.approx(-1.0)
    assert np.isnan(dc.compare_depth(np.full((10, 10), 2.0), truth).spearman)
    with pytest.raises(InputError, match="no known depth"):
        dc.compare_depth(truth, np.full((10, 10), np.nan))


def test_load_disparity_refuses_pickles(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable"):
        dc.load_disparity(path)


# -- bad inputs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(words=["far"], bins=[2.0]), "between 2 and 20 distance words; got 1"),
        (dict(words=[f"w{i}" for i in range(21)], bins=list(range(1, 22))), "between 2 and 20"),
        (dict(bins=[1.0, 2.0]), "7 words but 2 bins"),
        (dict(bins=[1, 2, 3, 4, 5, 6, float("nan")]), "positive numbers"),
        (dict(bins=[1, 2, 3, 4, 5, 6, -1]), "positive numbers"),
        (dict(temperature=0), "positive number"),
        (dict(temperature=float("nan")), "positive number"),
        (dict(short_side=8000), "between 64 and 768"),
        (dict(normalization="sepia"), "Unknown normalisation"),
        (dict(features="layer3"), "Unknown feature source"),
    ],
)
def test_bad_settings(tiny_rn_depth, kwargs, message):
    with pytest.raises(InputError, match=message):
        dc.DepthCLIP(tiny_rn_depth, **kwargs)


def test_layer4_needs_a_resnet(tiny_vit):
    with pytest.raises(InputError, match="need a CLIP ResNet"):
        dc.DepthCLIP(tiny_vit)


def test_extreme_aspect_ratio(tiny_rn_depth):
    with pytest.raises(InputError, match="at most 4 times wider"):
        dc.DepthCLIP(tiny_rn_depth, short_side=64)(solid((1, 2, 3), size=(1000, 20)))


@pytest.mark.parametrize(
    "text, message",
    [("", "distance words"), (" , ;", "distance words"), ("far", "at least 2"), (",".join(f"w{i}" for i in range(30)), "at most 20")],
)
def test_parse_words_bad(text, message):
    with pytest.raises(InputError, match=message):
        dc.parse_words(text)


def test_parse_words_and_bins():
    assert dc.parse_words("giant, extremely close;far") == ("giant", "extremely close", "far")
    assert dc.parse_bins("1.00, 1.50 2;3") == (1.0, 1.5, 2.0, 3.0)
    with pytest.raises(InputError, match="“abc” is not a number"):
        dc.parse_bins("1, abc, 3")
    with pytest.raises(InputError, match="one depth bin"):
        dc.parse_bins("  ")
