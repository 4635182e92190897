"""ActionCLIP: meaning with the oracle (the pattern seen in most segments wins), the exact recipe by
hand (meanP over raw features, softmax per template, probabilities averaged), plumbing on the tiny
model, label presets and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import torch
import torchvision.transforms as T_

from components.actionclip import LOGIT_SCALE, T, TEMPLATES, ActionCLIP, as_template_set, frame_pixels
from components.errors import InputError
from components.prompts import ACTIONCLIP16
from components.video import load_video
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))
from generate_videos import VIDEOS  # noqa: E402

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)


def frames_of(colours, size=(64, 64)) -> list[Image.Image]:
    return [Image.new("RGB", size, c) for c in colours]


def test_constants_pinned():
    assert T == 8 and LOGIT_SCALE == 100.0
    assert TEMPLATES is ACTIONCLIP16 and len(TEMPLATES) == 16
    assert TEMPLATES.templates[0] == "a photo of action {}" and TEMPLATES.templates[-1] == "The woman is {}"


@pytest.mark.parametrize("majority, minority", [("red", "blue"), ("blue", "red")])
def test_label_of_the_pattern_seen_in_most_segments_wins(oracle, majority, minority):
    colour = {"red": RED, "blue": BLUE}
    # 8 one-second images → 8 segments: 5 of the majority colour, then 3 of the minority
    video = frames_of([colour[majority]] * 5 + [colour[minority]] * 3)
    result = ActionCLIP(oracle)(video, ["green", "red", "blue"])
    assert result.top_label == majority
    assert result.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert [label for label, _ in result.frame_top_labels()] == [majority] * 5 + [minority] * 3
    assert result.frame_probs.shape == (8, 3)
    assert result.agreement == 1.0 and len(result.agreeing_templates()) == 16


def test_bundled_clip_changes_label_over_time(oracle):
    """red_then_blue.mp4: 5 s red then 3 s blue; 8 segment centres → 5 red frames, 3 blue."""
    result = ActionCLIP(oracle)(str(VIDEOS / "red_then_blue.mp4"), ["red", "blue", "green"])
    assert result.top_label == "red"
    assert [label for label, _ in result.frame_top_labels()] == ["red"] * 5 + ["blue"] * 3
    assert result.indices.tolist() == [3, 11, 19, 27, 35, 43, 51, 59]
    np.testing.assert_allclose(result.times, result.indices / 8.0)


def _oracle_raw(rgb) -> np.ndarray:
    """The oracle's unnormalised image feature of a solid colour, from its definition."""
    c = np.asarray(rgb, float) / 255
    grey = c.mean()
    return np.array([*(c - grey), grey, 1 - grey, 0.05, 0, 0])


def test_per_template_softmax_average_matches_a_hand_computation(oracle):
    # templates that embed differently under the oracle, so the ensembles below can differ
    templates = ["a bright {} clip", "a dark {} clip", "{}"]
    labels = ["bright", "dark"]
    colours = [(128, 128, 128), (255, 0, 255), (10, 10, 10)]
    result = ActionCLIP(oracle, templates=templates)(frames_of(colours), labels)

    # 3 frames for T = 8 segments: the official sampler repeats them, slot i showing frame i·3 // 8
    assert result.indices.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    raw = np.stack([_oracle_raw(colours[i]) for i in result.indices])
    video = raw.mean(0)
    video /= np.linalg.norm(video)  # meanP over raw features, then normalise
    text = oracle.encode_texts([t.replace("{}", l) for t in templates for l in labels]).numpy().reshape(3, 2, -1)
    cos = text @ video  # (P, L), template-major
    per_template = np.exp(LOGIT_SCALE * cos)
    per_template /= per_template.sum(1, keepdims=True)
    expected = per_template.mean(0)

    np.testing.assert_allclose(result.similarity, cos, atol=2e-4)
    np.testing.assert_allclose(result.template_probs, per_template, atol=2e-3)
    np.testing.assert_allclose(result.probs, expected, atol=2e-3)
    np.testing.assert_allclose(result.frame_features, raw, atol=2e-3)

    # the alternatives this recipe is not: they give measurably different numbers here
    unit_mean = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).mean(0)
    unit_mean /= np.linalg.norm(unit_mean)
    assert np.abs(text @ unit_mean - cos).max() > 5e-3  # mean of normalised frames
    ensemble = text.mean(0)
    ensemble /= np.linalg.norm(ensemble, axis=1, keepdims=True)
    embedding_average = np.exp(LOGIT_SCALE * ensemble @ video)
    embedding_average /= embedding_average.sum()
    assert np.abs(embedding_average - expected).max() > 0.2  # ensemble of embeddings


def test_template_toggles_rescore_without_an_image_forward(oracle):
    video = frames_of([RED] * 3 + [GREEN] * 5)
    action = ActionCLIP(oracle)
    full = action(video, ["red", "green"])
    chosen = list(ACTIONCLIP16.templates[::4])
    before = oracle.image_forwards
    subset = ActionCLIP(oracle, templates=chosen).score(full.frame_features, ["red", "green"])
    assert oracle.image_forwards == before
    assert subset.templates == tuple(chosen)
    rows = [ACTIONCLIP16.templates.index(t) for t in chosen]
    np.testing.assert_allclose(subset.probs, full.template_probs[rows].mean(0), atol=1e-6)


def test_tiny_model_plumbing(tiny_vit):
    action = ActionCLIP(tiny_vit, T=4)
    result = action(str(VIDEOS / "green_square.mp4"), ["running", "jumping", "swimming"])
    assert result.probs.shape == (3,) and result.template_probs.shape == (16, 3)
    assert result.frame_probs.shape == (4, 3) and result.frame_features.shape == (4, 32)
    assert result.mask.all() and len(result.times) == 4
    assert np.isfinite(result.probs).all()
    assert len(result.template_votes()) == 16
    # the same video and labels give the same result
    again = action(str(VIDEOS / "green_square.mp4"), ["running", "jumping", "swimming"])
    np.testing.assert_array_equal(again.probs, result.probs)


def test_short_video_repeats_frames_as_the_official_sampler(oracle):
    # 3 frames for T = 8: indices i·N // T = 0 0 0 1 1 1 2 2 (ActionCLIP's _get_test_indices), no mask
    sampled = load_video(frames_of([RED, BLUE, GREEN]), ActionCLIP(oracle).sampling)
    assert sampled.indices.tolist() == [0, 0, 0, 1, 1, 1, 2, 2] and sampled.mask.all()
    assert any("repeated" in note for note in sampled.notes)
    result = ActionCLIP(oracle)(sampled, ["red", "blue", "green"])
    assert result.mask.tolist() == [True] * 8 and len(result.frame_probs) == 8
    # meanP over the 8 slots: red and blue weigh 3/8 each, green 2/8
    features = result.frame_features
    np.testing.assert_allclose(features[:3], np.repeat(features[:1], 3, axis=0))
    assert result.frame_top_labels()[0][0] == "red" and result.frame_top_labels()[-1][0] == "green"


def bordered(side: int, border: int) -> Image.Image:
    """White with a red frame `border` px wide: a crop that drops the border sees only white."""
    image = Image.new("RGB", (side, side), RED)
    image.paste(Image.new("RGB", (side - 2 * border, side - 2 * border), "white"), (border, border))
    return image


def test_test_time_frames_resize_the_short_side_to_256_then_centre_crop_224(oracle):
    # the official Augmentation.py at test time: Resize(input_size·256 // 224, bicubic), CenterCrop
    # (input_size), CLIP normalisation. The oracle's input is 64 px → short side 64·256 // 224 = 73.
    size = oracle.image_size
    scale = size * 256 // 224
    assert (size, scale) == (64, 73)
    pixels = frame_pixels(oracle, [bordered(scale, 4), Image.new("RGB", (2 * scale, scale), "white")])
    assert pixels.shape == (2, 3, size, size)
    rgb = pixels * torch.tensor(oracle.std).view(1, 3, 1, 1) + torch.tensor(oracle.mean).view(1, 3, 1, 1)
    torch.testing.assert_close(rgb[0], torch.ones(3, size, size), atol=1e-5, rtol=0)  # the border is cropped away
    # CLIP's own preprocess (short side straight to 64) keeps the red border in view
    plain = oracle.pixels([bordered(scale, 4)])[0] * torch.tensor(oracle.std).view(3, 1, 1) + torch.tensor(oracle.mean).view(3, 1, 1)
    assert plain[1, 0, 32] < 0.5  # green channel of the red border
    # a 224-px model: short side 256 (bicubic), centre 224
    reference = T_.Compose([T_.Resize(256, interpolation=T_.InterpolationMode.BICUBIC), T_.CenterCrop(224)])
    image = Image.fromarray((np.random.default_rng(0).random((300, 400, 3)) * 255).astype(np.uint8))
    assert np.asarray(reference(image)).shape == (224, 224, 3)


def test_frame_features_come_from_the_official_test_time_view(oracle):
    frames = [bordered(73, 4)] * 8
    result = ActionCLIP(oracle)(frames, ["red", "white"])
    with torch.inference_mode():
        expected = oracle.model.encode_image(frame_pixels(oracle, frames[:1]), normalize=False).float()
        plain = oracle.model.encode_image(oracle.pixels(frames[:1]), normalize=False).float()
    np.testing.assert_allclose(result.frame_features[0], expected[0].numpy(), atol=1e-6)
    assert not np.allclose(result.frame_features[0], plain[0].numpy(), atol=1e-3)


def test_bad_inputs(oracle):
    with pytest.raises(InputError, match="at least one label"):
        ActionCLIP(oracle)(frames_of([RED] * 2), [])
    with pytest.raises(InputError, match="at least one prompt template"):
        ActionCLIP(oracle, templates=[])
    with pytest.raises(InputError, match="exactly one"):
        as_template_set(["no slot here"])
    with pytest.raises(InputError, match="Upload a video"):
        ActionCLIP(oracle)(None, ["red"])


def test_action_label_sets():
    from components.labelsets import LABEL_SETS
    from components.video_labelsets import ACTION_LABEL_SETS, HMDB51, KINETICS400, UCF101

    assert (len(KINETICS400), len(UCF101), len(HMDB51)) == (400, 101, 51)
    for label_set in ACTION_LABEL_SETS.values():
        assert len({c.casefold() for c in label_set.classes}) == len(label_set.classes)
        assert LABEL_SETS[label_set.name] is label_set
    assert KINETICS400.classes[:2] == ("abseiling", "air drumming")
    assert UCF101.classes[0] == "apply eye makeup" and HMDB51.classes[0] == "brush hair"
