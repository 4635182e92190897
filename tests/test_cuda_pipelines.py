"""CPU/CUDA parity: every method pipeline gives the same results on a CUDA device as on the CPU.

DESIGN.md promises "CUDA is used when present (device='auto'), with the same results". Each test
builds the same pipeline twice on the tests' tiny random models, once on the CPU and once on the
device under test (`load_backbone(name, "random", device)` builds the same seeded weights on any
device), feeds both the same small inputs and compares what comes back: embeddings, probabilities,
maps and boxes allclose (TF32 off, so float32 on both sides), and the same choices (top labels,
argmax maps, rankings) wherever the CPU's choice is not a near-tie.

The device under test is $CLIP_LAB_TEST_DEVICE, else "cuda" when torch sees a GPU; with neither
(CI) the module is skipped. CLIP_LAB_TEST_DEVICE=cpu runs it CPU against CPU, a check of the test
itself. Frames are given as images and arrays (no video decoding), and nothing here needs gradio.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

DEVICE = os.environ.get("CLIP_LAB_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
if DEVICE is None:
    pytest.skip("no CUDA device", allow_module_level=True)

from components import dense, regions  # noqa: E402
from components.backbone import load_backbone  # noqa: E402
from testkit import TINY_RN, TINY_VIT, halves, solid  # noqa: E402

TINY_RN_DEPTH = "clip-lab-tiny-rn-depth"  # layer4 has 2 × embed channels, as DepthCLIP needs
ATOL, RTOL = 1e-4, 1e-3  # unit embeddings, cosines, probabilities, maps
NEAR_TIE = 1e-3  # reference scores closer than this may be chosen either way
LABELS = ["dog", "grass", "sky"]


# -- comparing ---------------------------------------------------------------------------------------
def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def close(got, want, what: str = "", atol: float = ATOL, rtol: float = RTOL) -> None:
    got, want = _np(got), _np(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} on {DEVICE}, {want.shape} on the CPU"
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=f"{what} differs on {DEVICE}")


def scaled_close(got, want, what: str = "") -> None:
    """For unnormalised features: tolerances relative to the largest magnitude."""
    scale = max(float(np.abs(_np(want)).max()), 1.0)
    close(got, want, what, atol=ATOL * scale)


def same_choice(scores, chosen, what: str = "", axis: int = 0, tol: float = NEAR_TIE) -> None:
    """`chosen` (indices along `axis` of the CPU's `scores`) picks the CPU's best everywhere, or an
    index that scores within `tol` of it: a near-tie may go either way, nothing else may."""
    scores, chosen = _np(scores), _np(chosen).astype(np.int64)
    picked = np.take_along_axis(scores, np.expand_dims(chosen, axis), axis).squeeze(axis)
    wrong = picked < scores.max(axis=axis) - tol
    assert not wrong.any(), f"{what}: {int(wrong.sum())} of {wrong.size} choices differ on {DEVICE}"


def same_order(values, got_order, want_order, what: str = "", tol: float = NEAR_TIE) -> None:
    """Two rankings of the CPU's `values` agree up to near-ties: the k-th pick on the device scores
    (on the CPU) what the CPU's k-th pick does."""
    values = _np(values)
    close(values[_np(got_order)], values[_np(want_order)], f"{what} ranking", atol=tol, rtol=0)


def on_device(backbone) -> None:
    want = torch.device(DEVICE).type
    assert {p.device.type for p in backbone.model.parameters()} == {want}, f"{backbone.describe()} left {DEVICE}"


# -- set-up -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def strict_float32():
    """TF32 off for matrix products and cuDNN convolutions: both sides compute in float32."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def cpu_backbone(name: str):
    return load_backbone(name, "random", "cpu")


def device_backbone(name: str):
    backbone = load_backbone(name, "random", DEVICE)
    on_device(backbone)
    return backbone


@pytest.fixture(scope="module")
def vit():
    """(CPU, device) tiny ViT backbones; each test's pipelines must leave the device one there."""
    pair = cpu_backbone(TINY_VIT), device_backbone(TINY_VIT)
    yield pair
    on_device(pair[1])


@pytest.fixture(scope="module")
def rn():
    pair = cpu_backbone(TINY_RN), device_backbone(TINY_RN)
    yield pair
    on_device(pair[1])


@pytest.fixture(scope="module")
def rn_depth():
    pair = cpu_backbone(TINY_RN_DEPTH), device_backbone(TINY_RN_DEPTH)
    yield pair
    on_device(pair[1])


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def scene(w: int = 112, h: int = 72) -> Image.Image:
    """Three coloured blocks on a noisy grey: structure for grouping and proposals, not a flat map."""
    rng = np.random.default_rng(1)
    array = np.clip(128 + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    array[8:40, 8:40] = (220, 30, 30)
    array[30:66, 60:100] = (30, 40, 210)
    array[48:70, 10:30] = (30, 190, 40)
    return Image.fromarray(array)


# -- the backbone -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [TINY_VIT, TINY_RN, TINY_RN_DEPTH])
def test_random_weights_are_the_same_on_both_devices(name):
    cpu, dev = cpu_backbone(name), device_backbone(name)
    want = cpu.model.state_dict()
    for key, tensor in dev.model.state_dict().items():
        assert torch.equal(tensor.cpu(), want[key]), key
    assert dev.logit_scale == pytest.approx(cpu.logit_scale, rel=1e-6)  # exp() on the device rounds its own way


@pytest.mark.parametrize("pair", ["vit", "rn"])
def test_encode_images_and_texts(pair, request):
    cpu, dev = request.getfixturevalue(pair)
    images = [noise(80, 64), halves((200, 30, 30), (30, 30, 200), (96, 64)), solid((10, 160, 90))]
    got = dev.encode_images(images)
    assert got.device.type == "cpu" and got.dtype == torch.float32  # the contract: CPU float32 rows
    close(got, cpu.encode_images(images), "image embeddings")
    pixels = cpu.pixels(images)  # an already normalised tensor takes the same path
    close(dev.encode_images(pixels, batch_size=2), cpu.encode_images(pixels), "image embeddings of a tensor")
    texts = ["a photo of a dog.", "grass", "a red square on a blue background"]
    close(dev.encode_texts(texts), cpu.encode_texts(texts), "text embeddings")


@pytest.mark.parametrize("templates", ["single", "imagenet80"])
def test_text_classifier(vit, templates):
    cpu, dev = vit
    close(dev.text_classifier(LABELS, templates), cpu.text_classifier(LABELS, templates), f"{templates} classifier")


# -- dense CLIP ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", dense.METHODS)
def test_dense_every_method(vit, method):
    cpu, dev = vit
    image = noise(100, 60, seed=2)  # 3 windows plus the standard view
    want, got = cpu.dense(image, method), dev.dense(image, method)
    assert (got.grid_size, got.windows, got.resized_size, got.method) == (
        want.grid_size, want.windows, want.resized_size, want.method
    )
    assert got.features.device.type == "cpu"
    close(got.features, want.features, f"{method} patch embeddings")
    close(got.global_embedding, want.global_embedding, f"{method} global embedding")


def test_dense_at_a_higher_resolution(vit):
    cpu, dev = vit
    image = noise(120, 90, seed=3)
    want, got = cpu.dense(image, "sclip", short_side=96), dev.dense(image, "sclip", short_side=96)
    assert got.windows == want.windows > 1
    close(got.features, want.features, "sclip patch embeddings at 96 px")


def test_resnet_dense_and_stage_maps(rn):
    cpu, dev = rn
    image = noise(100, 60, seed=4)
    want, got = cpu.dense(image), dev.dense(image)
    assert got.method == want.method == "maskclip"
    close(got.features, want.features, "ResNet value-path embeddings")
    close(got.global_embedding, want.global_embedding, "ResNet global embedding")
    pixels = cpu.pixels([image, noise(64, 64, seed=5)])
    with torch.inference_mode():
        stages_cpu = dense.resnet_stages(cpu.model.visual, pixels)
        stages_dev = dense.resnet_stages(dev.model.visual, pixels.to(DEVICE))
    for name, stage in stages_cpu.items():
        assert stages_dev[name].device.type == torch.device(DEVICE).type
        scaled_close(stages_dev[name], stage, f"ResNet {name} map")


# -- zero-shot ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dense_method", ["naclip", "maskclip"])
def test_zeroshot(vit, dense_method):
    from components.zeroshot import ZeroShotClassifier

    cpu, dev = vit
    image = halves((200, 30, 30), (30, 30, 200), size=(100, 60))
    want = ZeroShotClassifier(cpu, templates="single", dense_method=dense_method)(image, LABELS)
    got = ZeroShotClassifier(dev, templates="single", dense_method=dense_method)(image, LABELS)
    close(got.similarity, want.similarity, "image-label cosine")
    close(got.probs, want.probs, "class probabilities")
    same_choice(want.probs, LABELS.index(got.top_label), "top label")
    close(got.patch_similarity, want.patch_similarity, "patch-label cosine")
    close(got.heatmap(want.top_label), want.heatmap(want.top_label), "heat map")


# -- LSeg ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("regulariser", ["none", "bottleneck"])
def test_lseg(vit, regulariser):
    from components.lseg import LSeg

    cpu, dev = vit
    image = scene()
    settings = dict(regulariser=regulariser, block_depth=2, dense_method="naclip")
    want = LSeg(cpu, **settings)(image, "dog, grass, other")
    got = LSeg(dev, **settings)(image, "dog, grass, other")
    close(got.cosine, want.cosine, "patch-label cosine")
    close(got.logits, want.logits, "logits", atol=ATOL * want.logit_scale)
    close(got.confidence, want.confidence, "confidence")
    close(got.log_normaliser, want.log_normaliser, "log normaliser", atol=ATOL * want.logit_scale)
    same_choice(want.probability_maps(), got.label_map, "label map")
    close(got.shares, want.shares, "label shares", atol=0.01, rtol=0)


def test_lseg_on_a_resnet(rn):
    from components.lseg import LSeg

    cpu, dev = rn
    image = scene(96, 64)
    want = LSeg(cpu, templates="imagenet80")(image, "grass, sky")
    got = LSeg(dev, templates="imagenet80")(image, "grass, sky")
    close(got.cosine, want.cosine, "patch-label cosine")
    same_choice(want.probability_maps(), got.label_map, "label map")


# -- GroupViT -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("gumbel", [False, True])
def test_groupvit_clip_backed(vit, gumbel):
    from components.groupvit import GroupViT

    cpu, dev = vit
    image = scene(160, 96)
    settings = dict(num_group_tokens=(12, 4), gumbel=gumbel, seed=3)
    want = GroupViT(cpu, **settings)(image, "dog, grass, sky, car")
    got = GroupViT(dev, **settings)(image, "dog, grass, sky, car")
    for stage, (a, b) in enumerate(zip(got.stage_assignments, want.stage_assignments), 1):
        close(a, b, f"stage-{stage} assignment")
    close(got.chained, want.chained, "chained assignment")
    close(got.group_embeddings, want.group_embeddings, "group embeddings")
    close(got.image_probs, want.image_probs, "image-level class probabilities")
    close(got.affinity, want.affinity, "group-class affinity")
    _same_groupvit_maps(got, want)


def _same_groupvit_maps(got, want) -> None:
    h, w = want.grid_size
    chained = torch.from_numpy(want.chained.T.reshape(1, -1, h, w))
    up = F.interpolate(chained, size=want.image_size, mode="bilinear", align_corners=False)[0]
    same_choice(up, got.group_map, "group map")
    agree = got.group_map == want.group_map
    np.testing.assert_array_equal(got.label_map[agree], want.label_map[agree], err_msg=f"label map differs on {DEVICE}")


def test_groupvit_official_engine_on_a_tiny_random_model():
    """The transformers engine, built offline as test_groupvit builds it, moved to the device."""
    from components.groupvit import OfficialGroupViT
    from test_groupvit import tiny_official

    cpu = tiny_official()
    dev = OfficialGroupViT(copy.deepcopy(cpu.model), device=DEVICE)
    assert next(dev.model.parameters()).device.type == torch.device(DEVICE).type
    image, classes = halves((230, 20, 20), (20, 20, 230), (60, 40)), "red, blue, cat, dog, tree, sky, road"
    close(dev.encode_texts(["red", "cat"]), cpu.encode_texts(["red", "cat"]), "text embeddings")
    want, got = cpu(image, classes), dev(image, classes)
    for stage, (a, b) in enumerate(zip(got.stage_assignments, want.stage_assignments), 1):
        close(a, b, f"stage-{stage} attention")
    close(got.group_embeddings, want.group_embeddings, "group embeddings")
    close(got.image_logits, want.image_logits, "image logits", atol=ATOL * want.logit_scale)
    close(got.affinity, want.affinity, "affinity")
    _same_groupvit_maps(got, want)


# -- DepthCLIP ----------------------------------------------------------------------------------------
def _same_depth(got, want) -> None:
    """DepthCLIP's logits are 100 · dot / 0.1 = 1000 · dot: a 1e-5 difference in a feature is 1e-2 in
    a logit, so the logits, probabilities and depths (bins 1–3 m) get the feature tolerance scaled."""
    assert (got.grid_size, got.input_size, got.features_from) == (want.grid_size, want.input_size, want.features_from)
    close(got.features, want.features, "matched features")
    logit_tol = ATOL * 100 / want.temperature
    close(got.logits, want.logits, "logits (1000 · dot)", atol=logit_tol)
    close(got.probs, want.probs, "word probabilities", atol=logit_tol / 20)
    for name, depth in (("per-view depth", "view_depths"), ("depth grid", "depth_grid"), ("depth map", "depth")):
        close(getattr(got, depth), getattr(want, depth), f"{name} (m)", atol=logit_tol / 10)


@pytest.mark.parametrize("normalization", ["imagenet", "clip"])
def test_depthclip_layer4(rn_depth, normalization):
    from components.depthclip import DepthCLIP

    cpu, dev = rn_depth
    image = halves((250, 250, 250), (10, 10, 10), size=(96, 64))
    want = DepthCLIP(cpu, short_side=64, normalization=normalization)(image)
    got = DepthCLIP(dev, short_side=64, normalization=normalization)(image)
    _same_depth(got, want)


def test_depthclip_dense_extension(vit):
    from components.depthclip import DepthCLIP

    cpu, dev = vit
    image = scene(96, 64)
    want = DepthCLIP(cpu, features="dense", dense_method="clearclip")(image)
    got = DepthCLIP(dev, features="dense", dense_method="clearclip")(image)
    _same_depth(got, want)


# -- PointCLIP ----------------------------------------------------------------------------------------
def box_cloud(n: int = 1024, seed: int = 0) -> np.ndarray:
    """Points on the surface of a flat box, inside the unit sphere."""
    rng = np.random.default_rng(seed)
    half = np.array([0.8, 0.3, 0.5])
    points = rng.uniform(-1, 1, (n, 3)) * half
    face = rng.integers(0, 3, n)
    points[np.arange(n), face] = rng.choice([-1.0, 1.0], n) * half[face]
    return (points / np.linalg.norm(points, axis=1).max()).astype(np.float32)


@pytest.mark.parametrize("projection", ["v1", "v2"])
def test_pointclip(vit, projection):
    from components.pointclip import PointCLIP

    cpu, dev = vit
    cloud, labels = box_cloud(), ["table", "chair", "lamp", "box"]
    want = PointCLIP(cpu, projection=projection)(cloud, labels)
    got = PointCLIP(dev, projection=projection)(cloud, labels)
    np.testing.assert_array_equal(got.maps, want.maps)  # the projection never touches the model
    close(got.view_features, want.view_features, "view embeddings")
    close(got.view_similarity, want.view_similarity, "view-label cosine")
    close(got.logits, want.logits, "fused logits")
    close(got.probs, want.probs, "probabilities")
    same_choice(want.logits, labels.index(got.top_label), "top label")


# -- ViLD and GLIP ------------------------------------------------------------------------------------
def squares():
    from test_regions import squares_image

    return squares_image()


def fixed_proposals() -> regions.Proposals:
    boxes = np.array(
        [[20, 40, 68, 88], [100, 40, 148, 88], [170, 90, 218, 138],  # the three squares
         [0, 0, 240, 160], [10, 30, 80, 100], [60, 20, 200, 150]],  # the image, loose boxes
        np.float32,
    )
    return regions.Proposals(boxes, np.zeros(len(boxes), np.int64), np.full(len(boxes), -1), (160, 240))


def test_region_embeddings(vit):
    cpu, dev = vit
    image, boxes = squares(), fixed_proposals().boxes
    want, got = regions.region_embeddings(cpu, image, boxes), regions.region_embeddings(dev, image, boxes)
    close(got, want, "region embeddings")


def test_dense_proposals(vit):
    from components.vild import text_embeddings

    cpu, dev = vit
    image = squares()
    names = ["red square", "blue square", "green square"]
    text_cpu, text_dev = text_embeddings(cpu, names), text_embeddings(dev, names)
    close(text_dev, text_cpu, "ViLD text embeddings")
    maps_cpu, maps_dev = regions.dense_similarity(cpu, image, text_cpu), regions.dense_similarity(dev, image, text_dev)
    close(maps_dev, maps_cpu, "dense similarity maps")
    want = regions.propose(image, backbone=cpu, text=text_cpu, sources=("dense",))
    got = regions.propose(image, backbone=dev, text=text_dev, sources=("dense",))
    np.testing.assert_array_equal(got.boxes, want.boxes, err_msg=f"dense-CLIP proposals differ on {DEVICE}")
    np.testing.assert_array_equal(got.labels, want.labels)


def test_vild_on_given_proposals(vit):
    from components.vild import ViLD

    cpu, dev = vit
    settings = dict(score_threshold=0.0, min_box_area=0)
    want = ViLD(cpu, **settings)(squares(), "red; blue; green", proposals=fixed_proposals())
    got = ViLD(dev, **settings)(squares(), "red; blue; green", proposals=fixed_proposals())
    close(got.embeddings, want.embeddings, "region embeddings")
    close(got.cosine, want.cosine, "region-class cosine")
    close(got.probs, want.probs, "class probabilities (softmax of 100 · cos)", atol=100 * ATOL)
    same_choice(want.probs, got.probs.argmax(1), "best class per region", axis=1, tol=100 * ATOL)
    np.testing.assert_array_equal(got.keep, want.keep, err_msg=f"detections differ on {DEVICE}")


def test_vild_end_to_end_with_dense_proposals(vit):
    from components.vild import ViLD

    cpu, dev = vit
    settings = dict(score_threshold=0.0, min_box_area=0, sources=("dense",))
    want = ViLD(cpu, **settings)(squares(), "red square; blue square; green square")
    got = ViLD(dev, **settings)(squares(), "red square; blue square; green square")
    np.testing.assert_array_equal(got.boxes, want.boxes, err_msg=f"proposals differ on {DEVICE}")
    close(got.cosine, want.cosine, "region-class cosine")
    close(got.probs, want.probs, "class probabilities", atol=100 * ATOL)
    np.testing.assert_array_equal(got.keep, want.keep, err_msg=f"detections differ on {DEVICE}")


def test_glip(vit):
    from components.glip import GLIP

    cpu, dev = vit
    caption = "A red square and a blue square."
    want = GLIP(cpu, threshold=0.0)(squares(), caption, proposals=fixed_proposals())
    got = GLIP(dev, threshold=0.0)(squares(), caption, proposals=fixed_proposals())
    assert [p.text for p in got.phrases] == [p.text for p in want.phrases]
    close(got.embeddings, want.embeddings, "region embeddings")
    close(got.cosine, want.cosine, "phrase-region cosine")
    close(got.scores, want.scores, "phrase × region scores", atol=100 * ATOL)
    assert [(p, r) for p, r, _ in got.grounded] == [(p, r) for p, r, _ in want.grounded]
    close([s for *_, s in got.grounded], [s for *_, s in want.grounded], "grounding scores", atol=100 * ATOL)
    dense_want = GLIP(cpu, threshold=0.0, sources=("dense",))(squares(), caption)
    dense_got = GLIP(dev, threshold=0.0, sources=("dense",))(squares(), caption)
    np.testing.assert_array_equal(dense_got.boxes, dense_want.boxes, err_msg=f"proposals differ on {DEVICE}")
    close(dense_got.scores, dense_want.scores, "scores on dense proposals", atol=100 * ATOL)


# -- ViLT ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_vilt(tmp_path_factory):
    """(CPU model, device model, processor): test_vilt's tiny random ViLT, built offline."""
    from test_vilt import build_tiny_vilt

    model, processor = build_tiny_vilt(tmp_path_factory.mktemp("vilt-cuda"))
    return model, copy.deepcopy(model).to(DEVICE), processor


@pytest.mark.parametrize("alignment", ["attention", "ipot"])
def test_vilt_official_engine(tiny_vilt, alignment):
    from components.vilt import ViltVQA

    cpu_model, dev_model, processor = tiny_vilt
    image, question = halves((200, 30, 30), (30, 30, 200), size=(160, 96)), "What colour is the balls?"
    want = ViltVQA(cpu_model, processor, alignment=alignment)(image, question)
    got = ViltVQA(dev_model, processor, alignment=alignment)(image, question)
    assert got.heat_keys == want.heat_keys
    close(got.candidate_scores, want.candidate_scores, "answer probabilities (sigmoid)")
    index = {a: i for i, a in enumerate(want.candidates)}
    same_order(want.candidate_scores, [index[a] for a in got.answers], [index[a] for a in want.answers], "answers")
    close(got.heat_maps, want.heat_maps, f"{alignment} word-patch maps")


def test_vilt_clip_engine(vit):
    from components.vilt import ClipVQA

    cpu, dev = vit
    image = halves((200, 30, 30), (30, 30, 200), size=(100, 60))
    want = ClipVQA(cpu)(image, "What colour is the ball?")
    got = ClipVQA(dev)(image, "What colour is the ball?")
    assert got.prompts == want.prompts
    close(got.candidate_scores, want.candidate_scores, "prompt cosine")
    probs = torch.softmax(cpu.logit_scale * torch.from_numpy(want.candidate_scores), 0).numpy()
    index = {a: i for i, a in enumerate(want.candidates)}
    same_order(probs, [index[a] for a in got.answers], [index[a] for a in want.answers], "answers")
    for key in set(got.heat_keys) & set(want.heat_keys):
        close(got.heat_maps[got.heat_keys.index(key)], want.heat_maps[want.heat_keys.index(key)], f"heat map of {key}")


def test_vilt_timing_panel_runs_on_the_device(vit):
    """Timings are not results; what each embedder was fed and produced must match."""
    from components.vilt import time_visual_embeddings

    cpu, dev = vit
    image = solid((90, 90, 90), size=(96, 64))
    want = time_visual_embeddings(image, cpu, runs=1, warmup=0)
    got = time_visual_embeddings(image, dev, runs=1, warmup=0)
    assert got.device == str(dev.device)
    assert (got.input_sizes, got.output_shapes) == (want.input_sizes, want.output_shapes)
    assert np.all(got.measured_ms > 0)


# -- ActionCLIP and CLIP4Clip, on frames given as images and arrays ------------------------------------
def frames(colours, size=(64, 48), as_arrays=False, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for colour in colours:
        array = np.clip(np.asarray(colour) + rng.normal(0, 10, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        out.append(array if as_arrays else Image.fromarray(array))
    return out


RED, GREEN, BLUE = (220, 30, 30), (30, 190, 40), (30, 40, 210)


@pytest.mark.parametrize("as_arrays", [False, True])
def test_actionclip(vit, as_arrays):
    from components.actionclip import ActionCLIP

    cpu, dev = vit
    video = frames([RED] * 3 + [BLUE] * 3 + [GREEN] * 2, as_arrays=as_arrays)
    labels = ["running", "jumping", "swimming"]
    want = ActionCLIP(cpu, T=4)(video, labels)
    got = ActionCLIP(dev, T=4)(video, labels)
    np.testing.assert_array_equal(got.indices, want.indices)
    scaled_close(got.frame_features, want.frame_features, "raw frame features")
    close(got.similarity, want.similarity, "video-prompt cosine")
    close(got.template_probs, want.template_probs, "per-template probabilities", atol=100 * ATOL)
    close(got.probs, want.probs, "probabilities", atol=100 * ATOL)
    close(got.frame_probs, want.frame_probs, "per-frame probabilities", atol=100 * ATOL)
    same_choice(want.probs, labels.index(got.top_label), "top label", tol=100 * ATOL)


def _index_pair(vit, tmp_path):
    from components.clip4clip import VideoIndex

    cpu, dev = vit
    # separate caches: embeddings are cached per model and weights, not per device
    indexes = VideoIndex(cpu, tmp_path / "cpu", persist=False), VideoIndex(dev, tmp_path / "device", persist=False)
    videos = [
        frames([RED] * 4, seed=1),
        frames([BLUE] * 3 + [RED] * 2, as_arrays=True, seed=2),
        frames([GREEN, BLUE, GREEN], seed=3),
    ]
    names = ["red", "blue_then_red", "green_blue"]
    for index in indexes:
        progress = index.add_all(videos, names)
        assert not any(p.skipped for p in progress) and index.encoded_videos == 3
    return indexes, videos


def test_clip4clip_frames_captions_and_evaluation(vit, tmp_path):
    (want_index, got_index), videos = _index_pair(vit, tmp_path)
    for want, got in zip(want_index.entries, got_index.entries):
        assert (got.key, got.name) == (want.key, want.name)
        close(got.frames, want.frames, f"frame embeddings of {want.name}")
    captions = ["a red video", "a blue video", "a green video"]
    want = want_index.captions("blue_then_red", captions)
    got = got_index.captions("blue_then_red", captions)
    close(got.scores, want.scores, "caption cosine")
    same_order(want.scores, got.order, want.order, "captions")
    pairs = [("red", "a red video"), ("blue_then_red", "a blue video"), ("green_blue", "a green video")]
    for method in ("meanP", "max", "softmax"):
        want_eval, got_eval = want_index.evaluate(pairs, method), got_index.evaluate(pairs, method)
        close(got_eval.similarity, want_eval.similarity, f"{method} similarity matrix")
        for want_row, got_row in zip(want_eval.similarity, got_eval.similarity):
            same_order(want_row, np.argsort(-got_row), np.argsort(-want_row), f"{method} videos per caption")


def test_clip4clip_search(vit, tmp_path):
    pytest.importorskip("faiss")
    (want_index, got_index), _ = _index_pair(vit, tmp_path)
    for method in ("meanP", "softmax"):
        want = want_index.search("a blue video", k=3, similarity=method)
        got = got_index.search("a blue video", k=3, similarity=method)
        close(got.scores, want.scores, f"{method} search scores")
        scores = dict(zip(want.names, want.scores))
        close([scores[n] for n in got.names], want.scores, f"{method} search ranking", atol=NEAR_TIE, rtol=0)
        rows = {n: i for i, n in enumerate(want.names)}
        close(got.frame_scores, want.frame_scores[[rows[n] for n in got.names]], f"{method} frame scores")


def test_seeded_draws_on_the_device_leave_its_random_state_alone():
    # ViLT's patch sampling draws on the device; random weights are built under a seed too
    from components.backbone import seeded_rng

    def state():
        return torch.cuda.get_rng_state() if DEVICE.startswith("cuda") else torch.get_rng_state()

    before = state()
    with seeded_rng(5, DEVICE):
        a = torch.rand(4, device=DEVICE)
    with seeded_rng(5, DEVICE):
        b = torch.rand(4, device=DEVICE)
    assert torch.equal(a, b)
    assert torch.equal(state(), before)
