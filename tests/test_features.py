"""Pay once, answer many times (components.features): content keys, the one bounded cache, features
reaching the main process's cache from a ZeroGPU worker, and every re-score endpoint answering
without one call of any layer of the model, identical to a fresh run."""

from __future__ import annotations

import pickle
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from app.examples import skimage_photo
from components import features
from components.dense import DenseFeatures, SharedDense
from components.features import FeatureCache, Features, content_key
from components.lseg import LSeg, LSegFeatures
from testkit import halves

RED, BLUE = (230, 20, 20), (20, 20, 230)


@contextmanager
def counting(*modules):
    """Counts calls of every layer of the given torch modules while the block runs."""
    calls = {"n": 0}

    def count(*_):
        calls["n"] += 1

    handles = [m.register_forward_pre_hook(count) for module in modules for m in module.modules()]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


# -- keys ---------------------------------------------------------------------------------------------
def test_content_key_is_the_pixels_not_the_copy_or_the_file():
    image = halves(RED, BLUE)
    assert content_key(image) == content_key(image.copy()) == content_key(image.convert("RGBA").convert("RGB"))
    assert content_key(image) == content_key(Image.fromarray(np.asarray(image)))
    assert content_key(image) != content_key(halves(BLUE, RED))
    assert content_key(image) != content_key(image.resize((64, 128)))  # same bytes count, other size
    assert content_key("ab", "c") != content_key("a", "bc") and content_key(1) != content_key(1.0) != content_key("1")
    assert content_key(np.zeros(3, np.float32)) != content_key(np.zeros(3, np.float64))
    assert content_key({"b": 1, "a": (2, None)}) == content_key({"a": (2, None), "b": 1})
    with pytest.raises(TypeError):
        content_key(object())


def test_keys_name_the_model_and_the_settings_that_change_the_features(tiny_vit, tiny_rn):
    image = halves(RED, BLUE)
    key = LSeg(tiny_vit).features_key(image, "red, blue")
    assert key == LSeg(tiny_vit, logit_scale=40.0, regulariser="depthwise").features_key(image.copy(), ["red", "blue"])
    assert key != LSeg(tiny_rn).features_key(image, "red, blue")
    assert key != LSeg(tiny_vit, dense_method="maskclip").features_key(image, "red, blue")
    assert key != LSeg(tiny_vit, templates="imagenet80").features_key(image, "red, blue")
    assert key != LSeg(tiny_vit).features_key(image, "red, green")


# -- the cache ------------------------------------------------------------------------------------------
def _features(key: str, floats: int = 10) -> DenseFeatures:
    import torch

    return DenseFeatures(features=torch.zeros(1, 1, floats), global_embedding=torch.zeros(0), image_size=(1, 1),
                         resized_size=(1, 1), patch_size=1, windows=1, method="naclip", key=key)


def test_cache_drops_the_least_recently_used_within_entries_and_bytes():
    cache = FeatureCache(max_entries=2, max_bytes=100)
    a, b, c = _features("a"), _features("b"), _features("c")
    assert a.nbytes == 40
    cache.put(a), cache.put(b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put(c)
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    cache.put(_features("d", 20))  # 80 bytes: c and a (40 each) cannot both stay beside it
    assert list(cache._entries) == ["d"] and cache.nbytes == 80
    huge = _features("huge", 1000)
    assert cache.put(huge) is huge and "huge" not in cache and cache.nbytes == 80  # too big to keep
    assert (cache.hits, cache.misses) == (1, 0)
    with pytest.raises(TypeError):
        cache.put(_features(""))  # unkeyed features are not cached


def test_embed_or_reuse_pays_once(tiny_vit):
    cache = FeatureCache()
    model, image = LSeg(tiny_vit), halves(RED, BLUE)
    first, reused = cache.embed_or_reuse(model, image, "red, blue")
    assert not reused and isinstance(first, LSegFeatures) and first.key == model.features_key(image, "red, blue")
    with counting(tiny_vit.model) as calls:
        again, reused = cache.embed_or_reuse(LSeg(tiny_vit, logit_scale=40.0), image.copy(), ["red", "blue"])
    assert reused and again is first and calls["n"] == 0


def test_unpickled_features_join_the_receiving_processs_cache(tiny_vit):
    embedded = LSeg(tiny_vit).embed(halves(RED, BLUE), "red, blue")
    features.CACHE.clear()
    arrived = pickle.loads(pickle.dumps(embedded))
    assert features.CACHE.get(embedded.key) is arrived
    np.testing.assert_array_equal(arrived.cosine, embedded.cosine)
    assert isinstance(arrived, Features) and arrived.labels == ("red", "blue")


def test_a_zerogpu_workers_features_fill_the_main_processs_cache(tiny_vit, monkeypatch):
    """Under ZeroGPU's own wrappers (tests/zerogpu.py) a GPU endpoint runs in a forked worker and its
    result comes back pickled: the features it returns land in the main process's cache, and the
    main process re-scores them without a model call."""
    import os

    from app.widgets import user_errors
    from zerogpu import zero_gpu

    image = halves(RED, BLUE)

    def segment():
        embedded = features.CACHE.embed(LSeg(tiny_vit), image, "red, blue")
        return os.getpid(), embedded

    features.CACHE.clear()
    with zero_gpu(monkeypatch) as record:
        worker, embedded = user_errors(segment)()
    assert worker != os.getpid() and record.requests
    assert features.CACHE.get(embedded.key) is embedded
    with counting(tiny_vit.model) as calls:
        rescored = LSeg(None, logit_scale=50.0)(features.CACHE.get(embedded.key))
    assert calls["n"] == 0
    fresh = LSeg(tiny_vit, logit_scale=50.0)(image, "red, blue")
    np.testing.assert_array_equal(rescored.label_map, fresh.label_map)
    np.testing.assert_array_equal(rescored.confidence, fresh.confidence)


def test_shared_dense_is_a_view_of_the_protocol(tiny_vit):
    shared = SharedDense(tiny_vit)
    image = halves(RED, BLUE)
    first = shared.dense(image)
    assert first.key == shared.features_key(image) and shared.dense(image.copy()) is first
    assert (shared.computed, shared.reused) == (1, 1)
    assert features.model_identity(shared) == features.model_identity(tiny_vit)


# -- every re-score endpoint: no model call, the same answer as a fresh run ------------------------------
@pytest.fixture(scope="module")
def small_photo(tmp_path_factory) -> str:
    """chelsea at 160×120: the re-score tests' upload (small, so they stay quick on a loaded CPU)."""
    path = tmp_path_factory.mktemp("photos") / "chelsea-small.png"
    with Image.open(skimage_photo("chelsea")) as photo:
        photo.convert("RGB").resize((160, 120)).save(path)
    return str(path)


def test_lseg_rescore_endpoint_runs_no_layer_and_matches_a_fresh_segment(ctx, small_photo):
    from app.tabs import lseg

    backbone = ctx.backbone()
    s = lseg.TAB.defaults(image=small_photo, labels="cat, floor, other", model=ctx.default_choice)
    first = lseg.segment(ctx, s)
    changed = s.replace(temperature=50.0, threshold=0.4, regulariser="bottleneck", blocks=2)
    with counting(backbone.model) as calls:
        again = lseg.rescore(ctx, changed, first.keep)
        again = lseg.rescore(ctx, changed, again.keep)
    assert calls["n"] == 0
    fresh = lseg.segment(ctx, changed)
    assert again.outputs["shares"] == fresh.outputs["shares"] and again.notes == fresh.notes


def test_groupvit_relabel_endpoint_runs_no_layer_and_matches_a_fresh_segment(ctx, small_photo):
    from app.tabs import groupvit

    backbone = ctx.backbone()
    s = groupvit.TAB.defaults(image=small_photo, preset="", extra="cat, floor, wall, blanket",
                              model=ctx.default_choice)
    first = groupvit.segment(ctx, s)
    changed = s.replace(threshold=0.2, top_k=2)
    with counting(backbone.model) as calls:
        again = groupvit.relabel(ctx, changed, first.keep)
    assert calls["n"] == 0
    fresh = groupvit.segment(ctx, changed)
    assert again.outputs["table"] == fresh.outputs["table"] and again.notes == fresh.notes
    shown, fresh_shown = again.outputs["segmentation"]["value"][1], fresh.outputs["segmentation"]["value"][1]
    assert [name for _, name in shown] == [name for _, name in fresh_shown]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(shown, fresh_shown))


def test_depthclip_estimate_on_an_embedded_image_runs_no_layer_and_matches_a_fresh_run(ctx, small_photo):
    """The DepthCLIP tab's re-score path: the same image and view settings with new bins and
    temperature answer from the cache; the result equals a fresh run's."""
    from app.tabs import depthclip
    from appserver import TINY_DEPTHCLIP, environment
    from components.backbone import load_paper_backbone

    with environment(TINY_DEPTHCLIP):
        backbone = load_paper_backbone(depthclip.ROLE, "cpu")
        s = depthclip.TAB.defaults(image=small_photo, height=96, model=ctx.default_choice)
        features.CACHE.clear()
        depthclip.estimate(ctx, s)
        changed = s.replace(bins="0.5, 1, 2, 3, 4, 5, 6", temperature=0.3)
        with counting(backbone.model) as calls:
            again = depthclip.estimate(ctx, changed)
        assert calls["n"] == 0 and "re-scored" in again.outputs["status"]
        features.CACHE.clear()
        fresh = depthclip.estimate(ctx, changed)
    assert "computed" in fresh.outputs["status"] and again.scores == fresh.scores


def test_vilt_second_question_on_an_image_runs_no_image_layer(ctx, small_photo):
    from app.tabs import vilt

    backbone = ctx.backbone()
    s = vilt.TAB.defaults(image=small_photo, question="What colour is the cup?", mode="own",
                          candidates="white, black, red", model=ctx.default_choice)
    vilt.answer(ctx, s)
    other = s.replace(question="What is on the table?", candidates="cup, plate, book")
    with counting(backbone.model.visual) as calls:
        again = vilt.answer(ctx, other)
    assert calls["n"] == 0
    features.CACHE.clear()
    assert vilt.answer(ctx, other).scores == again.scores
