"""The shape probe (components/mini/shape_probe.py): the towers it compares are the ones the model card
names — Mini's own ViT, open_clip's ModifiedResNet — and a run is a pure function of its seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer

from components.mini import shape_probe as probe
from components.mini.training import TrainConfig, create


def test_the_mini_vit_probed_is_minis_own_image_tower():
    probed = probe.tower("mini-vit")[0].state_dict()
    shipped = create(TrainConfig()).visual.state_dict()
    assert {k: v.shape for k, v in probed.items()} == {k: v.shape for k, v in shipped.items()}
    assert isinstance(probe.tower("mini-vit-avg-pool")[0], VisionTransformer)
    assert probe.tower("mini-vit-avg-pool")[0].pool_type == "avg"


@pytest.mark.parametrize("name", sorted(probe.TOWERS))
def test_every_tower_maps_a_scene_to_one_score_per_shape(name):
    net = probe.tower(name)
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, len(probe.scenes.SHAPES))
    if name == "modified-resnet":
        assert isinstance(net[0], ModifiedResNet)


def test_a_run_is_a_function_of_its_seed_and_scores_each_size(monkeypatch):
    monkeypatch.setattr(probe, "BATCH", 16)
    monkeypatch.setattr(probe, "EVAL_SCENES", 24)
    monkeypatch.setattr(probe, "EVAL_EVERY", 2)
    data = probe.training_scenes(64)
    assert data[0].shape == (64, 64, 64, 3) and data[0].dtype == torch.uint8
    assert set(data[1].tolist()) <= set(range(len(probe.scenes.SHAPES)))
    first, second = (probe.run("small-cnn", data, steps=4) for _ in range(2))
    strip = lambda record: [{k: v for k, v in c.items() if k != "seconds"} for c in record["checks"]]  # noqa: E731
    assert strip(first) == strip(second) and [c["step"] for c in first["checks"]] == [2, 4]
    for check in first["checks"]:
        assert {"shape", *probe.scenes.SIZES} <= set(check) and all(0 <= check[k] <= 1 for k in ("shape", *probe.scenes.SIZES))
    assert first["chance"] == pytest.approx(1 / 8) and first["parameters"] > 0 and np.isfinite(first["checks"][-1]["loss"])
