"""The shared backbone: real loading code tested with local files, caches, honest weights."""

from __future__ import annotations

import copy
import re

import open_clip
import pytest
import torch
from open_clip import pretrained as oc_pretrained

from components import backbone as bb
from components.errors import WeightsError
from testkit import TINY_VIT, solid


@pytest.fixture()
def fresh_cache():
    bb.clear_cache()
    yield
    bb.clear_cache()


def _tiny_state_dict(seed: int = 1):
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_VIT, pretrained=None)
    return model, model.state_dict()


def test_checkpoint_by_path_gives_identical_embeddings(tmp_path, fresh_cache):
    model, state = _tiny_state_dict(seed=7)
    path = tmp_path / "tiny.pt"
    torch.save({"state_dict": state}, path)
    loaded = bb.load_backbone(TINY_VIT, str(path), "cpu", fallback_to_random=False)
    assert loaded.weights == "checkpoint:tiny.pt"
    assert not loaded.is_random
    image = solid((10, 200, 30))
    reference = bb.ClipBackbone(
        model, loaded.preprocess, loaded.tokenizer, model_name=TINY_VIT, weights="reference"
    )
    torch.testing.assert_close(loaded.encode_images([image]), reference.encode_images([image]))
    torch.testing.assert_close(loaded.encode_texts(["a green square"]), reference.encode_texts(["a green square"]))


def test_broken_checkpoint_gives_a_clear_message(tmp_path, fresh_cache):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="Could not load checkpoint:broken.pt"):
        bb.load_backbone(TINY_VIT, str(path), "cpu", fallback_to_random=False)
    fallback = bb.load_backbone(TINY_VIT, str(path), "cpu")
    assert fallback.is_random and "broken.pt" in fallback.weights_note


def test_unknown_tag_or_missing_file_is_named(fresh_cache):
    with pytest.raises(WeightsError, match="neither a pretrained tag"):
        bb.load_backbone(TINY_VIT, "/no/such/file.pt", "cpu", fallback_to_random=False)
    with pytest.raises(WeightsError, match="Unknown model"):
        bb.load_backbone("ViT-Q-99", "random", "cpu")


def test_failed_pretrained_load_falls_back_to_random_with_a_banner(fresh_cache, monkeypatch):
    # A real tag whose weights are not in the cache, with the Hub out of reach (HF_HUB_OFFLINE).
    monkeypatch.setattr(bb, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setitem(oc_pretrained._PRETRAINED, TINY_VIT, {"lab": {"hf_hub": "clip-lab/absent/"}})
    backbone = bb.load_backbone(TINY_VIT, "lab", "cpu")
    assert backbone.weights == bb.RANDOM_WEIGHTS
    assert "not in the Hugging Face cache" in backbone.weights_note

    from app.context import AppContext, Settings

    ctx = AppContext(Settings(TINY_VIT, "lab", "cpu"))
    ctx.backbone()
    banner = ctx.banner()
    assert "random" in banner and "meaningless" in banner and "Hugging Face cache" in banner


# Absolute paths as a server has them (POSIX homes and temp folders, Windows drives).
SERVER_PATH = re.compile(r"(?:/root|/home|/tmp|/var|/usr|/opt|/Users)/|\b[A-Za-z]:\\")


def test_page_texts_name_no_server_paths(fresh_cache, monkeypatch, tmp_path):
    """The banner, the model status and the video index's status line say what is wrong or where
    things live in words; the folders themselves go to the operator's log, never to the page."""
    from huggingface_hub import constants

    from app.context import AppContext, Settings
    from app.tabs.clip4clip import index_status
    from components.clip4clip import VideoIndex

    monkeypatch.setattr(bb, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setitem(oc_pretrained._PRETRAINED, TINY_VIT, {"lab": {"hf_hub": "clip-lab/absent/"}})
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    texts = []
    for pretrained in ("lab", str(tmp_path / "missing.pt"), str(broken)):  # not cached, no file, unreadable
        ctx = AppContext(Settings(TINY_VIT, pretrained, "cpu"))
        backbone = ctx.backbone()  # random weights, or CLIP Lab Mini standing in where it ships
        assert backbone.is_random or backbone.is_mini
        texts += [ctx.banner(), ctx.status(), backbone.weights_note, ctx.stand_in_reason()]
    assert "HF_HOME" in texts[0] and any("broken.pt" in text for text in texts[-4:])

    # CLIP Lab Mini standing in (a tiny random model under its name, whether or not its file ships)
    from app import context
    from components import mini

    stand_in = copy.copy(bb.load_backbone(TINY_VIT, "random", "cpu"))
    stand_in.model_name = mini.MODEL
    real_load = context.load_backbone
    monkeypatch.setattr(context, "load_backbone", lambda model, *a, **k: stand_in if model == mini.MODEL else real_load(model, *a, **k))
    bb.clear_cache()  # the loop above cached random weights for the broken file
    ctx = AppContext(Settings(TINY_VIT, str(broken), "cpu"))
    assert ctx.backbone() is stand_in and "broken.pt" in ctx.status() and "broken.pt" in ctx.banner()
    texts += [ctx.banner(), ctx.status()]
    index = VideoIndex(backbone, tmp_path / "video-index", persist=False)
    texts.append(index_status(index))
    for text in texts:
        assert not SERVER_PATH.search(text), text
        assert constants.HF_HUB_CACHE not in text and str(tmp_path) not in text, text


def test_pretrained_tag_is_read_from_the_hugging_face_cache(tmp_path, fresh_cache, monkeypatch):
    """Lay out a Hugging Face cache by hand, as a download would leave it, and load a tag from it."""
    from safetensors.torch import save_file

    model, state = _tiny_state_dict(seed=3)
    snapshot = tmp_path / "models--clip-lab--tiny" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "open_clip_model.safetensors")
    (tmp_path / "models--clip-lab--tiny" / "refs").mkdir()
    (tmp_path / "models--clip-lab--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(bb, "_hub_reachable", lambda timeout=3.0: pytest.fail("must not touch the Hub"))
    monkeypatch.setitem(oc_pretrained._PRETRAINED, TINY_VIT, {"lab": {"hf_hub": "clip-lab/tiny/"}})

    loaded = bb.load_backbone(TINY_VIT, "lab", "cpu", fallback_to_random=False, cache_dir=str(tmp_path))
    assert loaded.weights == "pretrained:lab"
    expected = model.eval().state_dict()
    for name, tensor in loaded.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], msg=name)


def test_one_instance_per_model_weights_device_and_lru_bound(fresh_cache, monkeypatch):
    a = bb.load_backbone(TINY_VIT, "random", "cpu")
    assert bb.load_backbone(TINY_VIT, "random", "cpu") is a
    monkeypatch.setattr(bb, "MAX_CACHED_MODELS", 1)
    b = bb.load_backbone("clip-lab-tiny-rn", "random", "cpu")
    assert bb.cached_backbones() == [b]


def test_random_weights_are_the_same_in_every_load(fresh_cache):
    first = bb.load_backbone(TINY_VIT, "random", "cpu").encode_texts(["a cat"])
    bb.clear_cache()
    second = bb.load_backbone(TINY_VIT, "random", "cpu").encode_texts(["a cat"])
    torch.testing.assert_close(first, second)


def test_repeated_labels_run_the_text_encoder_zero_times(tiny_vit, monkeypatch):
    calls = []
    original = tiny_vit.model.encode_text

    def counting(tokens, normalize=False):
        calls.append(len(tokens))
        return original(tokens, normalize=normalize)

    monkeypatch.setattr(tiny_vit.model, "encode_text", counting)
    first = tiny_vit.text_classifier(["zebra", "okapi"], "imagenet80")
    assert sum(calls) == 2 * 80
    calls.clear()
    again = tiny_vit.text_classifier(["okapi", "zebra"], "imagenet80")
    assert calls == []
    torch.testing.assert_close(again, first.flip(0))
    tiny_vit.encode_texts(["a zebra"])
    tiny_vit.encode_texts(["a zebra"])
    assert sum(calls) == 1


def test_text_classifier_is_the_prompt_ensemble(tiny_vit):
    """normalise each template's embedding, average, renormalise."""
    from components.prompts import get_template_set

    imagenet80 = get_template_set("imagenet80")
    label = "tapir"
    per_template = tiny_vit.encode_texts(imagenet80.fill(label))
    expected = torch.nn.functional.normalize(per_template.mean(0), dim=0)
    torch.testing.assert_close(tiny_vit.text_classifier([label], imagenet80)[0], expected, atol=1e-5, rtol=1e-5)


def test_embeddings_are_unit_length_and_batched(tiny_vit):
    images = [solid((i * 20, 100, 200 - i * 20)) for i in range(5)]
    out = tiny_vit.encode_images(images, batch_size=2)
    assert out.shape == (5, 32) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    # batches of two against batches of one: CPU kernels are picked by batch size, so float32 sums may
    # differ in the last bits (unit vectors: 1e-5 is far below any meaningful change)
    one_by_one = torch.cat([tiny_vit.encode_images([im]) for im in images])
    torch.testing.assert_close(out, one_by_one, rtol=1e-4, atol=1e-5)


def test_labels_with_braces_do_not_break_templates(tiny_vit):
    assert tiny_vit.text_classifier(["{odd} label"], "single").shape == (1, 32)


def test_seeded_draws_repeat_and_leave_the_callers_random_state_alone():
    before = torch.get_rng_state()
    with bb.seeded_rng(5):
        a = torch.rand(4)
    with bb.seeded_rng(5):
        b = torch.rand(4)
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), before)


def test_tower_accessors_rebuild_the_towers_own_embedding(tiny_vit, tiny_rn):
    """The parts pipelines take from the backbone (tokens, blocks, pool; stages, attention pool)
    compose back into the tower's own un-normalised embedding."""
    import torch
    from PIL import Image

    picture = Image.new("RGB", (80, 60), (200, 40, 40))
    for backbone in (tiny_vit, tiny_rn):
        pixels = backbone.pixels([picture])
        own = backbone.encode_images(pixels, normalize=False)
        with torch.inference_mode():
            if backbone.is_resnet:
                rebuilt = backbone.attention_pool(backbone.resnet_stages(pixels)["layer4"])
                assert backbone.patch_size == 32
            else:
                tokens = backbone.vit_tokens(pixels)
                for block in backbone.vit_blocks():
                    tokens = block(tokens)
                rebuilt = backbone.vit_embedding(tokens)
                assert backbone.patch_size == backbone.visual.conv1.kernel_size[0]
        torch.testing.assert_close(rebuilt.float(), own, rtol=1e-4, atol=1e-5)
        unit = backbone.encode_images(pixels)
        torch.testing.assert_close(unit, own / own.norm(dim=-1, keepdim=True), rtol=1e-4, atol=1e-6)


def test_a_model_that_cannot_load_says_failed_not_loading_for_ever(monkeypatch):
    """The header polls `status()`; a failed load must show as failed (it once retried on every poll,
    so the page said "Loading…" for ever), while a run still retries it."""
    from app import context
    from app.context import AppContext, Settings

    calls = []

    def broken_load(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("no such architecture")

    monkeypatch.setattr(context, "load_backbone", broken_load)
    ctx = AppContext(Settings(TINY_VIT, "random", "cpu"))
    ctx.start_loading().exception()  # waits for the load itself, however long the machine takes
    for _ in range(3):
        assert ctx.status().startswith("**Failed:**") and "no such architecture" in ctx.status()
    assert len(calls) == 1
    with pytest.raises(RuntimeError):
        ctx.backbone()  # a run tries again
    assert len(calls) == 2


def test_each_shipped_mini_is_in_the_picker_and_its_banner_says_what_its_tower_is_for(fresh_cache):
    from app.context import AppContext, Settings, choice_name
    from components import mini

    banners = {}
    for model in mini.SHIPPED:
        if not mini.weights(model).is_file():
            pytest.skip(f"{mini.weights(model).name} is missing from assets/mini/")
        ctx = AppContext(Settings(model, mini.TAG, "cpu"))
        assert choice_name(model, mini.TAG) in ctx.choices
        assert ctx.backbone().is_mini and ctx.stand_in_reason() == ""
        banners[model] = ctx.banner()
    assert all("CLIP Lab Mini" in b and "world examples" in b for b in banners.values())
    # the ResNet Mini's coarse dense maps are said, with the Mini to pick for the dense tabs
    assert "ResNet" in banners[mini.RN_MODEL] and "one cell per 32 pixels" in banners[mini.RN_MODEL]
    assert f"pick {mini.MODEL}" in banners[mini.RN_MODEL] and "ResNet" not in banners[mini.MODEL]
