"""The DepthCLIP tab through gradio_client: its endpoint on the motorcycle example (ground truth and
comparison), on another photo, with the dense extension, the "How it works" strip drawn from the same
run, a run record that replays to the same depth, and bad input answered with a message while the
server keeps serving. The paper's RN50 is swapped for a tiny ResNet with the same channel ratio
(CLIP_LAB_DEPTHCLIP_MODEL), except in one call that checks the real default."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image
from gradio_client import Client, handle_file

from app.examples import skimage_photo
from appserver import TINY_DEPTHCLIP, environment
from components import depthclip as dc
from components import features

TINY = "clip-lab-tiny-vit · random"
WORDS = ", ".join(dc.WORDS)
BINS = ", ".join(str(b) for b in dc.BINS)


def paths_of(downloads) -> list[str]:
    return [d["path"] if isinstance(d, dict) else d for d in downloads]


def exported_depth(downloads) -> tuple[np.ndarray, dict]:
    """The downloads of a depth run: the `.npy` (metres, read back by numpy) and the legend JSON."""
    paths = paths_of(downloads)
    assert sorted(p.rsplit("-", 1)[-1] for p in paths) == ["legend.json", "m.npy", "mm.png"]
    metres = np.load(next(p for p in paths if p.endswith(".npy")), allow_pickle=False)
    legend = json.loads(open(next(p for p in paths if p.endswith("-legend.json")), encoding="utf-8").read())
    return metres, legend


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app runs DepthCLIP on the tiny ResNet
    return app_client


def estimate(client, image, *, source="layer4", words=WORDS, bins=BINS, temperature=0.1, flip=True, height=128,
             normalization="imagenet", method="naclip"):
    return client.predict(
        handle_file(image), source, words, bins, temperature, flip, height, normalization, method, TINY,
        api_name="/depthclip_estimate",
    )


def test_endpoint_is_named(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/depthclip_estimate", "/depthclip_replay"} <= set(endpoints)


def test_motorcycle_with_ground_truth(client):
    depth, compare, downloads, status, truth, comparison, gallery, relief, notes, record, strip = estimate(
        client, skimage_photo("motorcycle_left"))
    assert depth.endswith(".png")
    assert "clip-lab-tiny-rn-depth" in status and "random" in status and "meaningless" in status
    assert "4×6 map" in status  # 128 px high → 128×192 input → 4×6 layer4 cells
    assert truth and truth.endswith(".png")
    assert "Scale-invariant" in comparison and "δ1 after median scaling" in comparison and "Spearman" in comparison
    assert "flat map at the median" in comparison
    assert len(gallery) == 7 and "giant → 1.00 m" in gallery[0]["caption"]
    assert relief["type"] == "plotly" and "994.978" in relief["plot"]
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "Per-word maps" in strip[1]["caption"] and "4×6 grid" in strip[0]["caption"]
    # The last step is this run's depth picture (the same image, not a re-run), caption band below.
    main = Image.open(depth).convert("RGB")
    shown = strip[-1]["image"]
    step = Image.open(shown["path"] if isinstance(shown, dict) else shown).convert("RGB")
    top = step.crop((0, 0, step.width, round(main.height * step.width / main.width))).resize((64, 64))
    assert np.abs(np.asarray(main.resize((64, 64)), float) - np.asarray(top, float)).mean() < 4
    # The slider compares the scaled prediction with the ground truth, one size: the photo's.
    photo_size = Image.open(skimage_photo("motorcycle_left")).size
    assert "ground truth" in compare["label"] and "dark = near" in compare["label"]
    pair = [Image.open(p["path"] if isinstance(p, dict) else p) for p in compare["value"]]
    assert pair[0].size == pair[1].size and max(pair[0].size) <= 1024
    assert pair[0].size[0] / pair[0].size[1] == pytest.approx(photo_size[0] / photo_size[1], abs=0.01)
    # The downloads read back as the depth in metres: .npy exactly, the 16-bit PNG within 1 mm.
    metres, legend = exported_depth(downloads)
    assert metres.shape == photo_size[::-1] and legend["png"]["unit"] == "millimetre"
    with Image.open(next(p for p in paths_of(downloads) if p.endswith("-mm.png"))) as png:
        assert png.mode in ("I;16", "I")
        assert np.abs(np.asarray(png) / 1000.0 - metres).max() <= 0.001
    assert float(np.median(metres)) == pytest.approx(json.loads(open(record).read())["scores"]["depth_m"]["median"], abs=1e-5)
    saved = json.loads(open(record).read())
    assert saved["tab"] == "depthclip" and saved["settings"]["height"] == 128
    assert "clip-lab-tiny-rn-depth" in saved["weights"] and len(saved["scores"]["word_mean_probability"]) == 7


def test_a_run_record_replays_to_the_same_depth(client, tmp_path):
    photo = skimage_photo("coffee")
    depth, *_, record, _ = estimate(client, photo, bins="0.5, 1, 1.5, 2, 3, 4, 5", flip=False, height=96)
    replayed, _, _, status, *_ = client.predict(handle_file(record), handle_file(photo), api_name="/depthclip_replay")
    # the run embedded this image with these view settings: the replay answers from those features
    # (components.features), identically
    assert "re-scored" in status
    assert np.array_equal(np.asarray(Image.open(replayed)), np.asarray(Image.open(depth)))
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/depthclip_replay")
    saved = json.loads(open(record).read())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "lseg"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(photo), api_name="/depthclip_replay")


def test_new_bins_on_the_same_image_reuse_the_features(client):
    estimate(client, skimage_photo("astronaut"))
    depth, _, _, status, _, _, _, _, notes, *_ = estimate(client, skimage_photo("astronaut"), bins="0.5, 1, 2, 3, 4, 5, 6")
    assert "re-scored" in status and "did not run again" in notes
    assert "bins 0.5–6 m" in status


def test_other_photo_has_no_ground_truth_and_dense_extension(client):
    _, compare, downloads, status, truth, comparison, gallery, relief, *_ = estimate(
        client, skimage_photo("coffee"), source="dense", words="close, far", bins="1, 3", flip=False
    )
    assert truth is None and "motorcycle example" in comparison
    assert "clip-lab-tiny-vit" in status and "extension" in status
    assert len(gallery) == 2
    # Without ground truth the slider compares the depth with the photo itself, at the photo's size.
    assert "photo" in compare["label"] and "ground truth" not in compare["label"]
    left, right = (Image.open(p["path"] if isinstance(p, dict) else p).convert("RGB") for p in compare["value"])
    photo = Image.open(skimage_photo("coffee")).convert("RGB")
    assert left.size == right.size == photo.size
    assert np.abs(np.asarray(right, float) - np.asarray(photo, float)).mean() < 4
    metres, legend = exported_depth(downloads)
    assert 1.0 - 1e-6 <= metres.min() and metres.max() <= 3.0 + 1e-6 and legend["depth_m"]["max"] <= 3.0 + 1e-6


def test_paper_default_backbone_is_rn50(client):
    """With no override the tab loads RN50 · openai (components.backbone.load_paper_backbone);
    offline it falls back to random and says so."""
    saved = {k: os.environ.pop(k) for k in TINY_DEPTHCLIP}
    try:
        _, _, _, status, *_ = estimate(client, skimage_photo("chelsea"), height=64)
    finally:
        os.environ.update(saved)
    assert "RN50" in status and "2048 ch" in status and "meaningless" in status


@pytest.mark.parametrize(
    "upload, kwargs, message",
    [
        ("text", {}, "not an image"),
        ("good", dict(words=" , "), "distance words"),
        ("good", dict(bins="1, 2"), "7 words but 2 bins"),
        ("good", dict(bins="1, two, 3"), "not a number"),
        ("good", dict(temperature=0), "positive number"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, upload, kwargs, message):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    image = str(path) if upload == "text" else skimage_photo("chelsea")
    with pytest.raises(Exception) as info:
        estimate(client, image, **kwargs)
    assert message in str(info.value)
    status, _, _ = client.predict(TINY, api_name="/model_status")
    assert "Ready" in status


# -- the handler called directly, without a server ---------------------------------------------------
@pytest.fixture(scope="module")
def ctx():
    from app.context import AppContext, Settings

    with environment(TINY_DEPTHCLIP):
        yield AppContext(Settings("clip-lab-tiny-vit", "random", "cpu"))


def test_estimate_called_directly_reuses_embedded_features(ctx):
    from app.tabs import depthclip

    with environment(TINY_DEPTHCLIP):
        s = depthclip.TAB.defaults(image=skimage_photo("motorcycle_left"), height=128, model=ctx.default_choice)
        features.CACHE.clear()  # earlier tests may have embedded this photo at this height
        first = depthclip.estimate(ctx, s)
        assert "computed" in first.outputs["status"] and "4×6 map" in first.outputs["status"]
        assert first.outputs["truth"] is not None and "Scale-invariant" in first.outputs["comparison"]
        assert len(first.outputs["words_gallery"]) == 7 and len(first.steps) == 4
        assert first.scores["grid"] == [4, 6] and "clip-lab-tiny-rn-depth" in first.weights
        again = depthclip.estimate(ctx, s.replace(bins="0.5, 1, 2, 3, 4, 5, 6", kept=first.keep))
        assert "re-scored" in again.outputs["status"] and "did not run again" in again.notes[0]
        other = depthclip.estimate(ctx, s.replace(image=skimage_photo("coffee"), kept=first.keep))
        assert "computed" in other.outputs["status"] and other.outputs["truth"] is None


def test_the_tab_names_the_paper_backbone_through_the_one_table():
    from app.tabs import depthclip
    from components.backbone import PAPER_BACKBONES

    assert PAPER_BACKBONES[depthclip.ROLE] == dc.BACKBONE == ("RN50", "openai")
    assert "**RN50 · openai**" in depthclip.TAB.runs
