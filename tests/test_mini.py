"""CLIP Lab Mini's training code and shipped weights: a few real steps, never a full training."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import open_clip
import pytest
import torch

from components import backbone as bb
from components import mini
from components.mini import data
from components.mini.training import TrainConfig, train
from conftest import TINY_VIT

SMOKE = TrainConfig(  # the tiny test ViT (64 px) keeps these runs to seconds
    model=TINY_VIT,
    steps=40, batch_size=24, warmup=5, report_every=1, eval_every=10_000, eval_scenes=16, workers=0,
    world=dataclasses.replace(data.WorldMix(), image_size=64, solid_instances=1),
)


def test_a_few_steps_make_the_contrastive_loss_fall():
    losses = [r.loss for r in train(SMOKE)]
    assert len(losses) == SMOKE.steps
    assert losses[0] > np.log(SMOKE.batch_size) - 0.5  # untrained: no better than chance
    assert np.mean(losses[-8:]) < np.mean(losses[:5]) - 0.3


def test_same_seed_same_steps():
    config = dataclasses.replace(SMOKE, steps=3)
    first = [(r.loss, r.captions) for r in train(config)]
    second = [(r.loss, r.captions) for r in train(config)]
    assert first == second
    other = [r.captions for r in train(dataclasses.replace(config, seed=1))]
    assert other != [c for _, c in first]


def test_reports_carry_the_batch_similarity_and_temperature():
    reports = list(train(dataclasses.replace(SMOKE, steps=2, learnable_temperature=False, temperature=0.1)))
    last = reports[-1]
    assert last.similarity.shape == (16, 16) and len(last.captions) == 16
    assert np.abs(last.similarity).max() <= 1 + 1e-5
    assert last.logit_scale == pytest.approx(10.0, rel=1e-5)  # fixed temperature 0.1
    assert last.accuracy is not None and 0 <= last.accuracy <= 1


def test_pairs_are_a_function_of_their_index():
    world = data.WorldMix(image_size=48)
    a, b = data.sample(17, 0, world, None), data.sample(17, 0, world, None)
    torch.testing.assert_close(a[0], b[0])
    assert a[1] == b[1]


def test_a_two_colour_batch_names_two_colours_and_no_held_out_combination():
    """The hard negatives for shape: in such a batch every scene and clip is drawn in the batch's two
    colours, so colour separates few pairs; an ordinary batch names most of the eight."""
    from components.world import scenes, splits

    world = data.WorldMix(mix=(("single", 0.5), ("objects", 0.2), ("relation", 0.1), ("clip", 0.2)), two_colour_batches=1.0)
    palette = data.batch_palette(0, 3, world)
    assert palette is not None and len(set(palette)) == 2
    _, texts = next(iter(data.PairStream(0, 48, world, start=3, steps=1)))
    named = {w.strip(".,") for t in texts for w in t.split()} & set(scenes.COLOURS)
    assert named and named <= set(palette), (palette, named)
    held_out = {f"{c} {s}" for c, s in splits.HELD_OUT_COMBINATIONS}
    assert not any(h in t for t in texts for h in held_out)
    _, ordinary = next(iter(data.PairStream(0, 48, dataclasses.replace(world, two_colour_batches=0.0), start=3, steps=1)))
    assert len({w.strip(".,") for t in ordinary for w in t.split()} & set(scenes.COLOURS)) >= 6


def test_script_writes_weights_that_load_through_the_real_checkpoint_path(tmp_path):
    from components.mini import train as script

    script.main(["--steps", "2", "--batch-size", "8", "--workers", "0", "--threads", "1", "--out", str(tmp_path),
                 "--mix", "single=0.6, solid=0", "--two-colour-batches", "0.5"])
    weights = tmp_path / f"{mini.MODEL}.safetensors"
    record = json.loads((tmp_path / f"{mini.MODEL}.training.json").read_text())
    assert record["settings"]["steps"] == 2 and record["weights_bytes"] == weights.stat().st_size
    assert record["world"]["mix"] == data.MIX | {"single": 0.6, "solid": 0.0}  # the mix the run drew, recorded
    assert record["world"]["two_colour_batches"] == 0.5
    assert record["config"] == open_clip.get_model_config(mini.MODEL)  # the towers the weights are for
    loaded = bb.load_backbone(mini.MODEL, str(weights), "cpu", fallback_to_random=False)
    assert loaded.weights == f"checkpoint:{weights.name}" and loaded.image_size == mini.IMAGE_SIZE
    assert loaded.context_length == 32


def test_script_trains_another_mini_config_at_its_own_input_size(tmp_path):
    """--model picks one of the configs beside the script (the first Mini, the ResNet Mini); scenes
    are drawn at that tower's input size, and the record names the model."""
    from components.mini import train as script

    assert {"clip-lab-mini", "clip-lab-mini-v1", "clip-lab-mini-rn"} <= set(script.mini_models())
    script.main(["--model", "clip-lab-mini-v1", "--steps", "1", "--batch-size", "4", "--workers", "0",
                 "--threads", "1", "--out", str(tmp_path), "--mix", "solid=0"])
    record = json.loads((tmp_path / "clip-lab-mini-v1.training.json").read_text())
    assert record["model"] == "clip-lab-mini-v1" and record["world"]["image_size"] == 112


def test_an_unknown_model_config_is_refused_with_the_choices(capsys):
    from components.mini import train as script

    with pytest.raises(SystemExit):
        script.main(["--model", "ViT-B-16", "--steps", "1"])
    err = capsys.readouterr().err
    assert "argument --model: invalid choice: 'ViT-B-16'" in err and "clip-lab-mini-rn" in err


@pytest.mark.parametrize("text, message", [
    ("sky=0.5", "unknown kind 'sky'"),
    ("single", "is not KIND=SHARE"),
    ("single=lots", "is not KIND=SHARE"),
    ("single=-1", "must be a number, 0 or more"),
    ("single=nan", "must be a number, 0 or more"),
    ("single=inf", "must be a number, 0 or more"),
    (",".join(f"{k}=0" for k in data.MIX), "add up to 0"),
])
def test_a_malformed_mix_is_refused_with_what_is_wrong(text, message):
    from components.mini import train as script

    with pytest.raises(SystemExit, match=message):
        script.parse_mix(text)
    assert script.parse_mix("") == data.MIX and script.parse_mix("clip=0.2")["clip"] == 0.2


@pytest.mark.parametrize("share", ["2", "-0.1", "nan", "half", ""])
def test_a_two_colour_share_outside_0_to_1_is_refused_with_the_option_named(share, capsys):
    from components.mini import train as script

    with pytest.raises(SystemExit):
        script.main(["--two-colour-batches", share, "--steps", "1"])
    assert f"argument --two-colour-batches: must be a share from 0 to 1, not {share!r}" in capsys.readouterr().err


def _shipped(model: str) -> bb.ClipBackbone:
    if not mini.weights(model).is_file():
        pytest.skip(f"the shipped weights of {model} are missing")
    return bb.load_backbone(model, mini.TAG, "cpu", fallback_to_random=False)


@pytest.mark.parametrize("model", mini.SHIPPED)
def test_shipped_weights_fit_and_load_into_an_ordinary_open_clip_model(model):
    shipped = _shipped(model)
    assert mini.weights(model).stat().st_size <= 10 * 1024 * 1024
    assert shipped.is_mini and not shipped.is_random and "Mini" in shipped.weights
    assert (model, mini.TAG) in bb.MODEL_CHOICES  # in the picker
    plain = open_clip.create_model(model, pretrained=str(mini.weights(model)))  # open_clip alone
    tokens = open_clip.get_tokenizer(model)(["a red star"])
    with torch.no_grad():
        expected = plain.encode_text(tokens, normalize=True)
    torch.testing.assert_close(shipped.encode_texts(["a red star"]), expected)


def test_each_minis_clipasso_judge_is_the_other_tower_and_all_weights_fit_in_20_mb():
    from components.world import meaning

    shipped = sorted(mini.WEIGHTS_DIR.glob("*.safetensors"))
    assert {p.stem for p in shipped} == set(mini.SHIPPED)
    assert sum(p.stat().st_size for p in shipped) <= 20 * 1024 * 1024, [p.name for p in shipped]
    vit, resnet = _shipped(mini.MODEL), _shipped(mini.RN_MODEL)
    assert vit.is_vit and not resnet.is_vit
    # the sketches one draws are judged by the other: never by the tower the sketch's loss used
    assert meaning.load_judge(vit) is resnet and meaning.load_judge(resnet) is vit
    assert meaning.judge_model(None) == mini.RN_MODEL  # random weights, the oracle: the ResNet judges


def test_clipassos_saliency_for_the_resnet_mini_comes_from_the_vit_mini(monkeypatch):
    """CLIPasso places its first strokes from a ViT's attention: a ViT loss tower is its own, the
    ResNet Mini gets the ViT Mini (which knows its world), any other ResNet the paper's ViT-B/32."""
    vit, resnet = _shipped(mini.MODEL), _shipped(mini.RN_MODEL)
    assert bb.clipasso_saliency_backbone(vit, "cpu") is vit
    assert bb.clipasso_saliency_backbone(resnet, "cpu") is vit
    monkeypatch.setattr(bb, "load_paper_backbone", lambda role, device="auto", **k: f"paper {role}")
    other = copy.copy(resnet)
    other.model_name = "RN50"
    assert bb.clipasso_saliency_backbone(other, "cpu") == "paper clipasso_saliency"
