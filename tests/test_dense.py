"""Dense CLIP: every mode's shape, ClearCLIP and NACLIP against a by-hand computation of their
formulas, window averaging, and the free global embedding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from components import dense
from components.errors import InputError
from testkit import halves, solid


def _noise(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("method", dense.METHODS)
def test_every_method_returns_unit_embeddings_over_the_image(tiny_vit, method):
    features = tiny_vit.dense(_noise(100, 60), method)
    # short side 64 → 64×112 (multiples of the 16-px patch) → a 4×7 grid from 3 windows
    assert features.features.shape == (4, 7, 32)
    assert features.windows == 3 and features.resized_size == (64, 112)
    assert features.image_size == (60, 100) and features.method == method
    torch.testing.assert_close(features.features.norm(dim=-1), torch.ones(4, 7))
    assert features.to_pixels(features.similarity(torch.eye(32)[:2])).shape == (2, 60, 100)


def test_resnet_uses_the_attention_pool_value_path(tiny_rn):
    features = tiny_rn.dense(_noise(100, 60))
    assert features.method == "maskclip"
    assert features.features.shape[-1] == 32
    pool = tiny_rn.model.visual.attnpool
    pixels = tiny_rn.pixels([solid((90, 30, 200))])
    with torch.no_grad():
        layer4 = dense.resnet_stages(tiny_rn.model.visual, pixels)["layer4"]
        by_hand = pool.c_proj(pool.v_proj(layer4[0, :, 0, 0]))
    got = tiny_rn.dense(solid((90, 30, 200))).features[0, 0]
    torch.testing.assert_close(got, torch.nn.functional.normalize(by_hand, dim=0), atol=1e-5, rtol=1e-4)


def test_global_embedding_is_clips_standard_view(tiny_vit):
    for image in (_noise(64, 64), _noise(90, 64, seed=1), _noise(64, 150, seed=2)):
        got = tiny_vit.dense(image).global_embedding
        torch.testing.assert_close(got, tiny_vit.encode_images([image])[0], atol=1e-5, rtol=1e-4)


def test_a_square_image_costs_one_forward(tiny_vit):
    before = tiny_vit.image_forwards
    tiny_vit.dense(_noise(200, 200))
    assert tiny_vit.image_forwards - before == 1


def _trunk(visual, pixels):
    with torch.no_grad():
        x = visual._embeds(pixels)
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
    return x


def _by_hand(visual, pixels, attention):
    """Last block as the papers write it, one head at a time, with explicit loops."""
    block = visual.transformer.resblocks[-1]
    x = _trunk(visual, pixels)[0]
    with torch.no_grad():
        y = block.ln_1(x)
        width = y.shape[1]
        heads = block.attn.num_heads
        d = width // heads
        W, b = block.attn.in_proj_weight, block.attn.in_proj_bias
        q = y @ W[:width].T + b[:width]
        k = y @ W[width : 2 * width].T + b[width : 2 * width]
        v = y @ W[2 * width :].T + b[2 * width :]
        outs = []
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            logits = attention(q[:, s], k[:, s], d)
            outs.append(torch.softmax(logits, dim=-1) @ v[:, s])
        out = torch.cat(outs, dim=1) @ block.attn.out_proj.weight.T + block.attn.out_proj.bias
        patches = visual.ln_post(out[1:]) @ visual.proj
    grid = int(math.isqrt(len(patches)))
    return torch.nn.functional.normalize(patches, dim=-1).reshape(grid, grid, -1)


def test_clearclip_equals_its_formula(tiny_vit):
    image = _noise(64, 64, seed=5)
    expected = _by_hand(tiny_vit.model.visual, tiny_vit.pixels([image]), lambda q, k, d: q @ q.T / math.sqrt(d))
    torch.testing.assert_close(tiny_vit.dense(image, "clearclip").features, expected, atol=1e-5, rtol=1e-4)


def test_naclip_equals_its_formula(tiny_vit):
    image = _noise(64, 64, seed=6)
    grid = 4

    def naclip(q, k, d):
        logits = k @ k.T / math.sqrt(d)
        for i in range(grid * grid):
            for j in range(grid * grid):
                (yi, xi), (yj, xj) = divmod(i, grid), divmod(j, grid)
                logits[1 + i, 1 + j] += math.exp(-((yi - yj) ** 2 + (xi - xj) ** 2) / (2 * 5.0**2))
        return logits

    expected = _by_hand(tiny_vit.model.visual, tiny_vit.pixels([image]), naclip)
    torch.testing.assert_close(tiny_vit.dense(image, "naclip").features, expected, atol=1e-5, rtol=1e-4)


def test_naclip_and_clearclip_differ_from_vanilla(tiny_vit):
    image = _noise(64, 64, seed=7)
    vanilla = tiny_vit.dense(image, "vanilla").features
    for method in ("naclip", "clearclip", "sclip", "maskclip"):
        assert not torch.allclose(tiny_vit.dense(image, method).features, vanilla, atol=1e-4)


def test_overlapping_windows_are_averaged(tiny_vit):
    """A 64×96 input is cut into windows at x = 0 and 32; the middle patch columns are the
    normalised mean of both windows' patches."""
    image = _noise(96, 64, seed=8)
    features = tiny_vit.dense(image, "clearclip")
    from torchvision.transforms.functional import normalize, to_tensor

    full = normalize(to_tensor(image), tiny_vit.mean, tiny_vit.std)
    windows = torch.stack([full[:, :, 0:64], full[:, :, 32:96]])
    with torch.no_grad():
        patches, _ = dense._vit_dense(tiny_vit.model.visual, windows, "clearclip")
    patches = torch.nn.functional.normalize(patches, dim=-1)
    expected_middle = torch.nn.functional.normalize(patches[0, :, 2:4] + patches[1, :, 0:2], dim=-1)
    torch.testing.assert_close(features.features[:, 2:4], expected_middle, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(features.features[:, 0:2], patches[0, :, 0:2], atol=1e-5, rtol=1e-4)


def test_oracle_dense_map_locates_colours(oracle):
    features = oracle.dense(halves((0, 0, 255), (255, 0, 0), size=(128, 64)))
    red = oracle.encode_texts(["red"])
    similarity = features.similarity(red)[0]
    assert similarity[:, 8:].min() > 0.5 > 0 > similarity[:, :8].max()


def test_bad_requests_are_refused_with_a_reason(tiny_vit):
    with pytest.raises(InputError, match="Unknown dense method"):
        tiny_vit.dense(_noise(64, 64), "magic")
    with pytest.raises(InputError, match="times wider"):
        tiny_vit.dense(_noise(700, 64))
    with pytest.raises(InputError, match="multiple of 16"):
        tiny_vit.dense(_noise(64, 64), short_side=70)


def test_towers_without_a_dense_path_say_so(oracle, tiny_vit, monkeypatch):
    bare = torch.nn.Module()
    bare.image_size, bare.patch_size = 64, 8
    monkeypatch.setattr(oracle.model, "visual", bare)
    with pytest.raises(InputError, match="CLIP ViT or ResNet image tower"):
        oracle.dense(_noise(64, 64))
    monkeypatch.setattr(tiny_vit.model.visual, "attn_pool", torch.nn.Identity())
    with pytest.raises(InputError, match="pools with attention"):
        tiny_vit.dense(_noise(64, 64))


# -- single-pass inference with interpolated position embeddings (NACLIP), the papers' setting --------
def test_position_embeddings_are_interpolated_as_naclip_does(tiny_vit):
    visual = tiny_vit.model.visual
    pe = visual.positional_embedding.detach()  # (1 + 4·4, C)
    assert dense.position_embedding(visual, 4, 4) is visual.positional_embedding  # the model's own grid
    got = dense.position_embedding(visual, 4, 6).detach()
    # interpolate_pos_encoding: bicubic with scale factors ((n + 0.1) / √N) per side, class position kept
    patch = pe[1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(patch, scale_factor=(4.1 / 4, 6.1 / 4), mode="bicubic")
    expected = torch.cat([pe[:1], expected.permute(0, 2, 3, 1).reshape(24, -1)])
    assert got.shape == (25, pe.shape[1])
    torch.testing.assert_close(got, expected)
    by_size = torch.nn.functional.interpolate(patch, size=(4, 6), mode="bicubic").permute(0, 2, 3, 1).reshape(24, -1)
    assert not torch.allclose(got[1:], by_size)  # the "+0.1" changes where the bicubic samples


def test_naclip_gaussian_on_a_rectangular_grid():
    window = dense.gaussian_window((2, 3), 5.0)
    positions = [(y, x) for y in range(2) for x in range(3)]  # row-major
    expected = torch.tensor([[math.exp(-((a - c) ** 2 + (b - d) ** 2) / 50.0) for c, d in positions] for a, b in positions])
    torch.testing.assert_close(window, expected)
    torch.testing.assert_close(dense.gaussian_window(4, 5.0), dense.gaussian_window((4, 4), 5.0))


def _tokens_any_grid(visual, pixels):
    """conv1 patches, class token, interpolated position embeddings, ln_pre, all blocks but the last."""
    with torch.no_grad():
        x = visual.conv1(pixels)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.reshape(1, 1, -1).expand(len(x), 1, -1), x], dim=1)
        x = visual.ln_pre(x + dense.position_embedding(visual, gh, gw))
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
    return x, (gh, gw)


def test_single_pass_on_a_non_square_image(tiny_vit):
    from torchvision.transforms.functional import normalize, to_tensor

    image = _noise(96, 64, seed=9)  # W 96, H 64: a 4 × 6 grid in one pass
    before = tiny_vit.image_forwards
    features = tiny_vit.dense(image, "vanilla", inference="single")
    assert tiny_vit.image_forwards - before == 2  # the whole image, then CLIP's standard view
    assert features.features.shape == (4, 6, 32) and features.windows == 1 and features.resized_size == (64, 96)
    visual = tiny_vit.model.visual
    pixels = normalize(to_tensor(image), tiny_vit.mean, tiny_vit.std)[None]
    x, _ = _tokens_any_grid(visual, pixels)
    with torch.no_grad():
        x = visual.transformer.resblocks[-1](x)
        expected = torch.nn.functional.normalize(visual.ln_post(x[0, 1:]) @ visual.proj, dim=-1).reshape(4, 6, -1)
    torch.testing.assert_close(features.features, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(features.global_embedding, tiny_vit.encode_images([image])[0], atol=1e-5, rtol=1e-4)
    # the windows path covers the same image from two overlapping windows instead
    assert tiny_vit.dense(image, "vanilla").windows == 2


def test_single_pass_naclip_uses_the_rectangular_neighbourhood(tiny_vit):
    from torchvision.transforms.functional import normalize, to_tensor

    image = _noise(96, 64, seed=10)
    visual = tiny_vit.model.visual
    pixels = normalize(to_tensor(image), tiny_vit.mean, tiny_vit.std)[None]
    x, (gh, gw) = _tokens_any_grid(visual, pixels)
    block = visual.transformer.resblocks[-1]
    with torch.no_grad():
        y = block.ln_1(x[0])
        width, heads = y.shape[1], block.attn.num_heads
        d = width // heads
        W, b = block.attn.in_proj_weight, block.attn.in_proj_bias
        k = y @ W[width : 2 * width].T + b[width : 2 * width]
        v = y @ W[2 * width :].T + b[2 * width :]
        outs = []
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            logits = k[:, s] @ k[:, s].T / math.sqrt(d)
            for i in range(gh * gw):
                for j in range(gh * gw):
                    (yi, xi), (yj, xj) = divmod(i, gw), divmod(j, gw)
                    logits[1 + i, 1 + j] += math.exp(-((yi - yj) ** 2 + (xi - xj) ** 2) / 50.0)
            outs.append(torch.softmax(logits, dim=-1) @ v[:, s])
        out = torch.cat(outs, dim=1) @ block.attn.out_proj.weight.T + block.attn.out_proj.bias
        expected = torch.nn.functional.normalize(visual.ln_post(out[1:]) @ visual.proj, dim=-1).reshape(gh, gw, -1)
    got = tiny_vit.dense(image, "naclip", inference="single").features
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_single_pass_on_the_native_square_equals_the_one_window(tiny_vit):
    image = _noise(64, 64, seed=11)
    torch.testing.assert_close(tiny_vit.dense(image, inference="single").features, tiny_vit.dense(image).features)
    with pytest.raises(InputError, match="inference"):
        tiny_vit.dense(image, inference="tiles")


def test_single_pass_on_a_resnet(tiny_rn):
    features = tiny_rn.dense(_noise(100, 60), inference="single")
    assert features.method == "maskclip" and features.windows == 1
    assert features.features.shape[:2] == (features.resized_size[0] // 32, features.resized_size[1] // 32)


def test_the_training_free_papers_setting(tiny_vit):
    from types import SimpleNamespace

    # NACLIP / ClearCLIP / SCLIP: short side 336 for a 224-px ViT-B/16, windows 224 at stride 112
    vit_b16 = SimpleNamespace(model=SimpleNamespace(visual=SimpleNamespace(
        conv1=torch.nn.Conv2d(3, 8, 16, 16), transformer=object())), image_size=224)
    assert dense.papers_short_side(vit_b16) == 336
    assert dense.papers_short_side(tiny_vit) == 96  # 1.5 × 64
    features = tiny_vit.dense(_noise(200, 200), short_side=dense.papers_short_side(tiny_vit))
    assert features.resized_size == (96, 96) and features.windows == 4  # windows at 0 and 32: stride = window / 2
