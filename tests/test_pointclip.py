"""PointCLIP: the projections pinned by hand and against a literal transcription of METHODS.md §7,
meaning with a shape oracle (flat vs tall), the loader's bad inputs, plumbing on the tiny model."""

from __future__ import annotations

import math
import re

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
import trimesh
from open_clip.transform import image_transform

from components import pointclip as pc
from components.backbone import ClipBackbone
from components.errors import InputError
from components.pointclouds import MAX_FILE_POINTS, load_point_cloud, normalize_points
from oracle import BIAS, DIM, IMAGE_BIAS, OracleClip

PI = math.pi


# -- constants as METHODS.md states them ---------------------------------------------------------
def test_view_angles_and_constants_equal_methods():
    assert pc.V1_VIEWS == (
        (0, 0, PI / 2), (PI / 2, 0, PI / 2), (PI, 0, PI / 2), (3 * PI / 2, 0, PI / 2),
        (0, -PI / 2, PI / 2), (0, PI / 2, PI / 2),
    )
    assert (pc.V1_DEPTH_SHIFT, pc.V1_RESOLUTION, pc.IMAGE_SIZE) == (1.6, 128, 224)
    assert pc.V1_WEIGHTS == (1,) * 6
    assert pc.PROMPT == "point cloud depth map of a {}."
    assert pc.V2_VIEWS == (
        (PI / 4, 0, PI / 2), (3 * PI / 4, 0, PI / 2), (5 * PI / 4, 0, PI / 2), (7 * PI / 4, 0, PI / 2),
        (0, 0, PI / 2), (PI / 2, 0, PI / 2), (PI, 0, PI / 2), (3 * PI / 2, 0, PI / 2),
        (0, -PI / 2, PI / 2), (0, PI / 2, PI / 2),
    )
    assert pc.V2_TILTS == ((0, PI / 9, 0),) * 8 + ((0, PI / 15, 0),) * 2
    assert (pc.V2_RESOLUTION, pc.V2_DEPTH, pc.V2_OBJ_RATIO, pc.V2_DEPTH_BIAS) == (112, 8, 0.8, 0.2)
    assert (pc.V2_MAXPOOL, pc.V2_MAXPOOL_PADDING) == ((1, 7, 7), (0, 2, 2))
    assert (pc.V2_GAUSSIAN_SIZE, pc.V2_GAUSSIAN_SIGMA) == (3, 3.0)
    assert pc.V2_WEIGHTS["ViT-B-16"] == (0.75, 0.75, 0.75, 0.25, 0.75, 1, 0.25, 1, 0.75, 0.25)


def test_rotation_is_rx_ry_rz_applied_as_p_r_transposed():
    a, b, c = 0.3, -0.7, 1.1
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    matrix = pc.euler_to_matrix([(a, b, c)])
    np.testing.assert_allclose(matrix[0].numpy(), rx @ ry @ rz, atol=1e-6)
    point = torch.tensor([[0.2, -0.4, 0.9]])
    np.testing.assert_allclose(pc.rotate(point, matrix)[0, :, 0].numpy(), (point.numpy() @ (rx @ ry @ rz).T)[0], atol=1e-6)


@pytest.mark.parametrize("projection, camera_side", [("v1", -1.0), ("v2", 1.0)])
def test_view_names_say_where_the_camera_is(projection, camera_side):
    """V1 looks along +z' from z' = −1.6; V2 keeps the max z' (the camera is on the +z' side)."""
    preset = pc.get_projection(projection)
    matrices = pc.euler_to_matrix(preset.angles)
    if preset.tilts:
        matrices = pc.euler_to_matrix(preset.tilts) @ matrices
    words = {"+x": (0, 1), "−x": (0, -1), "+z": (2, 1), "−z": (2, -1), "above": (1, 1), "below": (1, -1)}
    for name, matrix in zip(preset.view_names, matrices):
        camera = matrix.T.numpy() @ np.array([0, 0, camera_side])  # world direction towards the camera
        named = re.findall(r"[+−][xz]|above|below", name)
        assert named, name
        for word in named:
            axis, sign = words[word]
            assert camera[axis] * sign > 0.2, (name, camera)
        if "20° up" in name:
            assert camera[1] == pytest.approx(math.sin(PI / 9), abs=1e-5)
        if "12° tilt" in name:
            assert abs(camera[1]) == pytest.approx(math.cos(PI / 15), abs=1e-5)
        image_up = matrix.T.numpy() @ np.array([-1.0, 0, 0])  # rows grow with x': up is −x'
        if "above" not in name and "below" not in name:
            assert image_up[1] > 0.9, (name, image_up)  # side views stand upright


# -- V1 by hand ------------------------------------------------------------------------------------
def test_v1_known_points_land_on_hand_computed_pixels_and_depths():
    # View 1 is Rz(π/2): (x, y, z) → (−y, x, z); z' = z + 1.6; row from −y/z', column from x/z'.
    points = np.array([[0.0, 0.0, 0.0], [25 / 128, 0.0, 0.4], [0.0, 0.5, -0.6], [0.0, 0.0, -2.0], [0.9, 0.0, -1.0]])
    maps = pc.project_v1(points)
    assert maps.shape == (6, 128, 128)
    view = maps[0]
    # (0,0,0): z' 1.6, u = v = 0 → row = col = ceil(64 − 0.5) = 64
    assert view[64, 64] == pytest.approx(1.6)
    # (25/128,0,0.4): z' 2.0, v = 25/256 → col = ceil(70.25 − 0.5) = 70 (without the −0.5 it would be 71)
    assert view[64, 70] == pytest.approx(2.0)
    # (0,0.5,−0.6): z' 1.0, u = −0.5 → row = ceil(0.5·64 − 0.5) = 32 (up is up)
    assert view[32, 64] == pytest.approx(1.0)
    # (0,0,−2): z' = −0.4 < 0, dropped; (0.9,0,−1): v = 0.9/0.6 = 1.5, off the map. Nothing else lit.
    assert int((view != 0).sum()) == 3
    # background exactly 0
    assert view[0, 0] == 0 and view[127, 127] == 0


def test_v1_two_points_on_one_pixel_give_the_harmonic_mean():
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.4], [0.3, 0.3, 0.3]])  # the first two share pixel (64, 64)
    view = pc.project_v1(points)[0]
    assert view[64, 64] == pytest.approx(2 / (1 / 1.6 + 1 / 2.0), rel=1e-6)  # 1.7778, not the mean 1.8
    assert view[64, 64] != pytest.approx(1.8, abs=1e-3)


def test_v1_side_views_see_the_axes_they_should():
    # a point high up (+y) is in the upper half of every side view; a point at +x is on one side
    maps = pc.project_v1(np.array([[0.0, 0.8, 0.0], [0.05, 0.0, 0.0]]))
    for view in maps[:4]:
        rows = torch.nonzero(view)[:, 0]
        assert rows.min() < 40 and rows.max() >= 60


# -- V2 by hand -------------------------------------------------------------------------------------
def test_v2_grid_on_a_tiny_case():
    # one view, no rotation: A = (0,0,0), B = (1,0.5,0.5), C = (0.001,0.001,0.02).
    # bounding box (0,0,0)–(1,0.5,0.5): centre (0.5,0.25,0.25), largest side 1.
    # A → (−1,−0.5,−0.5)·(0.8,0.8,1) → row ceil(0.1·112)=12, col ceil(0.3·112)=34, zc (0.25+0.2)/1.2·6 = 2.25
    # C → row ceil(0.1008·112)=12, col ceil(0.3008·112)=34, zc (0.27+0.2)/1.2·6 = 2.35: same cell, bin 3
    # B → row ceil(0.9·112)=101, col ceil(0.7·112)=79, zc (0.75+0.2)/1.2·6 = 4.75, bin 5
    views = torch.tensor([[0.0, 1.0, 0.001], [0.0, 0.5, 0.001], [0.0, 0.5, 0.02]]).unsqueeze(0)  # (1, 3, N)
    grid = pc.v2_grid(views)
    assert grid.shape == (1, 8, 112, 112)
    assert grid[0, 3, 12, 34] == pytest.approx(2.35, abs=1e-5)  # scatter-max keeps C's 2.35, not A's 2.25
    assert grid[0, 5, 101, 79] == pytest.approx(4.75, abs=1e-5)
    assert int((grid != 0).sum()) == 2


def test_v2_depth_bin_is_taken_before_clipping_and_values_clip_to_1_6():
    # z at the extremes of the largest side: zc = (0 + 0.2)/1.2·6 = 1 and (1 + 0.2)/1.2·6 = 6
    views = torch.tensor([[0.0, 0.0], [0.0, 0.0], [-1.0, 1.0]]).unsqueeze(0)
    grid = pc.v2_grid(views)
    lit = torch.nonzero(grid[0])
    assert sorted(lit[:, 0].tolist()) == [1, 6]
    assert sorted(grid[0][grid[0] != 0].tolist()) == pytest.approx([1.0, 6.0])


def test_v2_densify_is_maxpool_1x7x7_padding_2_and_makes_110():
    grid = torch.zeros(1, 2, 112, 112)
    grid[0, 1, 50, 60] = 3.0
    dense = pc.v2_densify(grid)
    assert dense.shape == (1, 2, 110, 110)
    # output o covers input o−2 … o+4: input 50 reaches outputs 46 … 52
    lit = torch.nonzero(dense[0, 1])
    assert (lit[:, 0].min(), lit[:, 0].max(), lit[:, 1].min(), lit[:, 1].max()) == (46, 52, 56, 62)
    assert dense[0, 1, 46:53, 56:63].eq(3.0).all() and int((dense != 0).sum()) == 49
    # the same numbers as torch's max_pool3d on a random sparse grid
    random = (torch.rand(3, 8, 112, 112) > 0.9) * torch.rand(3, 8, 112, 112) * 6
    reference = F.max_pool3d(random.unsqueeze(1), (1, 7, 7), stride=1, padding=(0, 2, 2)).squeeze(1)
    assert torch.equal(pc.v2_densify(random), reference)


def test_v2_smoothing_is_a_normalised_3x3_gaussian_sigma_3():
    g = math.exp(-1 / 18)  # exp(−1²/(2·3²))
    total = (1 + 2 * g) ** 2
    kernel = pc.gaussian_kernel()
    np.testing.assert_allclose(kernel.numpy(), np.outer([g, 1, g], [g, 1, g]) / total, rtol=1e-6)
    assert kernel[1, 1].item() == pytest.approx(0.119571, abs=1e-6)
    grid = torch.zeros(1, 1, 11, 11)
    grid[0, 0, 5, 5] = 1.0
    smooth = pc.v2_smooth(grid)
    assert smooth.shape == (1, 1, 11, 11)
    np.testing.assert_allclose(smooth[0, 0, 4:7, 4:7].numpy(), kernel.numpy(), rtol=1e-6)
    random = torch.rand(2, 8, 20, 20)
    reference = F.conv3d(random.unsqueeze(1), kernel.view(1, 1, 1, 3, 3), padding=(0, 1, 1)).squeeze(1)
    torch.testing.assert_close(pc.v2_smooth(random), reference, atol=1e-6, rtol=1e-5)


def test_v2_squeeze_max_over_depth_own_max_inverted():
    grid = torch.zeros(1, 3, 2, 2)
    grid[0, 0, 0, 0], grid[0, 2, 0, 0] = 1.0, 4.0  # max over depth 4
    grid[0, 1, 1, 1] = 2.0
    image = pc.v2_squeeze(grid)
    np.testing.assert_allclose(image[0].numpy(), [[0.0, 1.0], [1.0, 0.5]])


def test_v2_full_projection_shapes_and_white_background():
    images = pc.project_v2(_mesh_cloud(FLAT_BOX))
    assert images.shape == (10, 110, 110)
    assert torch.all(images[:, 0, 0] == 1.0)  # corners are background: white
    assert torch.allclose(images.amin(dim=(1, 2)), torch.zeros(10))  # each view's nearest surface is black
    clip_input = pc.to_clip_input(images)
    assert clip_input.shape == (10, 3, 224, 224)
    # bilinear with align_corners=True keeps the corners exactly
    assert torch.equal(clip_input[:, 0, 0, 0], images[:, 0, 0])
    assert torch.equal(clip_input[:, 1, -1, -1], images[:, -1, -1])


# -- against a literal transcription of METHODS.md §7 ----------------------------------------------
def _reference_v1(points):
    p = torch.as_tensor(points, dtype=torch.float32)
    out = []
    for angles in pc.V1_VIEWS:
        r = pc.euler_to_matrix([angles])[0]
        q = p @ r.T
        z = q[:, 2] + 1.6
        row = torch.ceil((q[:, 0] / (z + 1e-12) + 1) * 128 / 2 - 0.5)
        col = torch.ceil((q[:, 1] / (z + 1e-12) + 1) * 128 / 2 - 0.5)
        num, den = torch.zeros(128, 128), torch.zeros(128, 128)
        for i in range(len(p)):
            if 0 <= row[i] <= 127 and 0 <= col[i] <= 127 and z[i] >= 0:
                num[int(row[i]), int(col[i])] += z[i] / (z[i] + 1e-12)
                den[int(row[i]), int(col[i])] += 1 / (z[i] + 1e-12)
        den[den == 0] = 1
        out.append(num / den)
    return torch.stack(out)


def _reference_v2(points):
    p = torch.as_tensor(points, dtype=torch.float32)
    images = []
    for angles, tilt in zip(pc.V2_VIEWS, pc.V2_TILTS):
        q = p @ pc.euler_to_matrix([angles])[0].T @ pc.euler_to_matrix([tilt])[0].T
        q = q - torch.tensor([-0.5, -0.5, -1.5])
        hi, lo = q.max(0).values, q.min(0).values
        q = (q - (hi + lo) / 2) / (hi - lo).max() * 2
        q[:, :2] *= 0.8
        x = torch.ceil((q[:, 0] + 1) / 2 * 112).clip(1, 110)
        y = torch.ceil((q[:, 1] + 1) / 2 * 112).clip(1, 110)
        zc = ((q[:, 2] + 1) / 2 + 0.2) / 1.2 * 6
        zbin = torch.ceil(zc)
        value = zc.clip(1, 6)
        grid = torch.zeros(8, 112, 112)
        for i in range(len(p)):
            cell = (int(zbin[i]), int(x[i]), int(y[i]))
            grid[cell] = max(grid[cell], value[i])
        dense = F.max_pool3d(grid[None, None], (1, 7, 7), stride=1, padding=(0, 2, 2))
        kernel = pc.gaussian_kernel().view(1, 1, 1, 3, 3)
        smooth = F.conv3d(dense, kernel, padding=(0, 1, 1))
        image = smooth.max(dim=2).values[0, 0]
        images.append(1 - image / image.max())
    return torch.stack(images)


def test_projections_match_a_literal_transcription_of_methods():
    rng = np.random.default_rng(3)
    points, _, _ = normalize_points(rng.normal(size=(300, 3)) * [1.0, 0.5, 0.8])
    np.testing.assert_allclose(pc.project_v1(points).numpy(), _reference_v1(points).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pc.project_v2(points).numpy(), _reference_v2(points).numpy(), atol=2e-6)


# -- the shape oracle: flat vs tall ----------------------------------------------------------------
TALL, FLAT = 6, 7  # the oracle's free axes


class ShapeOracle(OracleClip.with_words({"tall": [0.0] * TALL + [1.0, 0.0], "flat": [0.0] * FLAT + [1.0]})):
    """Image embedding: the aspect of the non-background region of the view. Background is the
    corner pixel's value (V1: 0, V2: 1); the embedding puts height/(height+width) on the "tall"
    axis and width/(height+width) on the "flat" axis. Counts its image-tower calls."""

    calls: list[int]

    def encode_image(self, pixels, normalize: bool = False):
        self.calls = getattr(self, "calls", [])
        self.calls.append(len(pixels))
        grey = pixels[:, 0]
        foreground = (grey - grey[:, :1, :1]).abs() > 1e-3
        height = foreground.any(dim=2).sum(dim=1).float()
        width = foreground.any(dim=1).sum(dim=1).float()
        out = torch.zeros(len(pixels), DIM)
        out[:, BIAS] = IMAGE_BIAS
        out[:, TALL] = height / (height + width).clamp(min=1)
        out[:, FLAT] = width / (height + width).clamp(min=1)
        return F.normalize(out, dim=-1) if normalize else out


@pytest.fixture()
def shape_oracle():
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    model = ShapeOracle(tokenizer.tokenizer if hasattr(tokenizer, "tokenizer") else tokenizer, mean, std, 64)
    return ClipBackbone(model, image_transform(64, is_train=False, mean=mean, std=std), tokenizer,
                        model_name="shape-oracle", weights="oracle (test)")


def _mesh_cloud(mesh: trimesh.Trimesh, n=2048):
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=0)
    return normalize_points(points)[0]


FLAT_BOX = trimesh.creation.box(extents=[2.0, 0.3, 2.0])  # y is up: wide and low
TALL_CYLINDER = trimesh.creation.cylinder(radius=0.25, height=2.0, transform=trimesh.transformations.rotation_matrix(PI / 2, [1, 0, 0]))  # along y


@pytest.mark.parametrize("projection", ["v1", "v2"])
def test_oracle_tells_a_flat_box_from_a_tall_cylinder(shape_oracle, projection):
    model = pc.PointCLIP(shape_oracle, projection=projection)
    box = model(_mesh_cloud(FLAT_BOX), ["tall", "flat"])
    cylinder = model(_mesh_cloud(TALL_CYLINDER), ["tall", "flat"])
    assert box.top_label == "flat" and cylinder.top_label == "tall"
    # the evidence: every upright side view of the box says flat, of the cylinder tall
    sides = [i for i, name in enumerate(box.view_names) if "above" not in name and "below" not in name]
    assert all(box.view_top_labels()[i][0] == "flat" for i in sides)
    assert all(cylinder.view_top_labels()[i][0] == "tall" for i in sides)


def test_views_are_encoded_in_one_batch_and_fused_as_the_paper_says(shape_oracle):
    result = pc.PointCLIP(shape_oracle, projection="v2")(_mesh_cloud(FLAT_BOX), ["tall", "flat"])
    assert shape_oracle.model.calls == [10]  # ten views, one forward
    assert result.view_features.shape == (10, DIM) and result.view_similarity.shape == (10, 2)
    np.testing.assert_allclose(result.view_weights, pc.V2_WEIGHTS["ViT-B-16"])
    np.testing.assert_allclose(result.logits, (result.view_weights[:, None] * result.view_similarity).sum(0), rtol=1e-6)
    expected = np.exp(100 * result.logits / np.sqrt(10))
    np.testing.assert_allclose(result.probs, expected / expected.sum(), rtol=1e-4)


def test_view_weights_change_the_fused_result_without_a_new_forward(shape_oracle):
    # a board 2 wide (x), 1 high (y), 0.2 deep (z): flat from ±z, above and below; tall from ±x
    board = _mesh_cloud(trimesh.creation.box(extents=[2.0, 1.0, 0.2]))
    model = pc.PointCLIP(shape_oracle, projection="v1")
    result = model(board, ["tall", "flat"])
    assert [label for label, _ in result.view_top_labels()] == ["flat", "tall", "flat", "tall", "flat", "flat"]
    assert result.top_label == "flat"
    forwards = shape_oracle.image_forwards
    side_on = result.reweight([0, 1, 0, 1, 0, 0])
    assert shape_oracle.image_forwards == forwards  # re-fusing runs no image tower
    assert side_on.top_label == "tall"
    np.testing.assert_allclose(side_on.logits, result.view_similarity[[1, 3]].sum(0), rtol=1e-6)
    fresh = pc.PointCLIP(shape_oracle, projection="v1", view_weights=[0, 1, 0, 1, 0, 0])(board, ["tall", "flat"])
    np.testing.assert_allclose(side_on.logits, fresh.logits, rtol=1e-6)
    np.testing.assert_allclose(side_on.probs, fresh.probs, rtol=1e-5)
    with pytest.raises(InputError, match="one weight per view"):
        result.reweight([1, 1])
    with pytest.raises(InputError, match="at least one view"):
        result.reweight([0] * 6)
    with pytest.raises(InputError, match="≥ 0"):
        result.reweight([1, 1, 1, 1, 1, -1])


# -- plumbing on the tiny model ---------------------------------------------------------------------
@pytest.mark.parametrize("projection, views", [("v1", 6), ("v2", 10)])
def test_tiny_model_plumbing(tiny_vit, projection, views):
    cloud = _mesh_cloud(FLAT_BOX, 512)
    before = tiny_vit.image_forwards
    result = pc.PointCLIP(tiny_vit, projection=projection)(cloud, ["table", "chair", "lamp"])
    assert tiny_vit.image_forwards - before == views
    assert result.maps.shape[0] == views and result.view_similarity.shape == (views, 3)
    assert result.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(result.view_features).all()
    again = pc.PointCLIP(tiny_vit, projection=projection)(cloud, ["table", "chair", "lamp"])
    np.testing.assert_array_equal(again.logits, result.logits)  # same input, same result


def test_default_weights_and_prompt_choices(tiny_vit):
    assert pc.PointCLIP(tiny_vit, "v1").view_weights.tolist() == [1.0] * 6
    model = pc.PointCLIP(tiny_vit, "v2")
    np.testing.assert_allclose(model.view_weights, pc.V2_WEIGHTS["ViT-B-16"])
    assert "ViT-B/16" in model.weights_note
    assert pc.prompt_templates("").name == "pointclip"
    assert pc.prompt_templates("a depth image of a {}.").templates == ("a depth image of a {}.",)
    with pytest.raises(InputError, match="exactly once"):
        pc.prompt_templates("a depth map")
    with pytest.raises(InputError, match="Unknown projection"):
        pc.PointCLIP(tiny_vit, "v3")


@pytest.mark.parametrize(
    "points, message",
    [
        (np.zeros((0, 3)), "no points"),
        (np.zeros((5, 2)), "(N, 3)"),
        (np.array([[0.0, np.nan, 0.0], [1, 1, 1]]), "NaN"),
        (np.ones((10, 3)), "degenerate"),
    ],
)
def test_pipeline_refuses_bad_points(tiny_vit, points, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pc.PointCLIP(tiny_vit, "v1")(points, ["a"])


def test_pipeline_needs_labels(tiny_vit):
    with pytest.raises(InputError, match="at least one label"):
        pc.PointCLIP(tiny_vit, "v1")(_mesh_cloud(FLAT_BOX, 64), [])


# -- loading ----------------------------------------------------------------------------------------
def test_mesh_is_sampled_area_weighted_centred_and_unit(tmp_path):
    # two separate squares, the second with 4× the area: about 4/5 of the samples land on it
    small = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    large = trimesh.Trimesh([[3, 0, 0], [5, 0, 0], [5, 2, 0], [3, 2, 0]], [[0, 1, 2], [0, 2, 3]])
    path = tmp_path / "squares.ply"
    trimesh.util.concatenate([small, large]).export(path)
    cloud = load_point_cloud(str(path), num_points=4000)
    assert cloud.kind == "mesh" and cloud.points.shape == (4000, 3) and cloud.points.dtype == np.float32
    assert np.abs(cloud.points.mean(axis=0)).max() < 1e-5
    assert np.linalg.norm(cloud.points, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    original_x = cloud.points[:, 0] * cloud.radius + cloud.centre[0]
    assert (original_x > 2).mean() == pytest.approx(0.8, abs=0.03)
    again = load_point_cloud(str(path), num_points=4000)
    np.testing.assert_array_equal(cloud.points, again.points)  # seeded


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".off", ".stl", ".glb"])
def test_every_mesh_format_loads(tmp_path, suffix):
    path = tmp_path / f"box{suffix}"
    data = trimesh.creation.box(extents=[1, 2, 3]).export(file_type=suffix[1:])
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    cloud = load_point_cloud(str(path), num_points=256)
    assert cloud.kind == "mesh" and cloud.points.shape == (256, 3)
    assert np.ptp(cloud.points[:, 2]) > np.ptp(cloud.points[:, 0])  # the 3-long axis stays the longest


def test_text_and_numpy_clouds(tmp_path):
    text = tmp_path / "cloud.xyz"
    text.write_text("# x y z r g b\n0 0 0 255 0 0\n1, 0, 0, 0, 255, 0\n0 1 0 0 0 255\nnan 0 0 1 1 1\n0 0 1 9 9 9\n")
    cloud = load_point_cloud(str(text), num_points=16)
    assert cloud.kind == "point cloud" and cloud.points.shape == (4, 3) and cloud.source_points == 4
    assert any("NaN" in note for note in cloud.notes)
    array = np.random.default_rng(0).normal(size=(5000, 3)).astype(np.float32)
    np.save(tmp_path / "cloud.npy", array)
    np.savez_compressed(tmp_path / "cloud.npz", points=array)
    for name in ("cloud.npy", "cloud.npz"):
        loaded = load_point_cloud(str(tmp_path / name), num_points=1024)
        assert loaded.points.shape == (1024, 3)
        assert any("subsampled" in note and "5,000" in note for note in loaded.notes)


def test_up_axis_z_turns_z_up_files_to_y_up():
    cloud = np.array([[0, 0, 0], [0, 0, 1.0], [0.1, 0, 0], [0, 0.1, 0]])
    loaded = load_point_cloud(cloud, num_points=16, up_axis="z")
    top = loaded.points[1] - loaded.points[0]
    assert top[1] > 0.9 and abs(top[2]) < 1e-6


def test_large_clouds_are_subsampled_with_a_note():
    cloud = np.random.default_rng(1).normal(size=(200_000, 3))
    loaded = load_point_cloud(cloud, num_points=2048)
    assert loaded.points.shape == (2048, 3) and loaded.source_points == 200_000
    assert any("200,000" in note and "2,048" in note for note in loaded.notes)


def _bad_file(tmp_path, kind):
    if kind == "empty":
        path = tmp_path / "empty.ply"
        path.write_bytes(b"")
    elif kind == "unreadable":
        path = tmp_path / "noise.ply"
        path.write_bytes(b"this is not a mesh at all \x00\x01\x02")
    elif kind == "bad glb":
        path = tmp_path / "broken.glb"
        path.write_bytes(b"glTF" + bytes(range(64)))
    elif kind == "no faces":
        path = tmp_path / "vertices.off"
        path.write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    elif kind == "zero area":
        path = tmp_path / "flat.obj"
        path.write_text("v 0 0 0\nv 1 1 1\nv 2 2 2\nf 1 2 3\n")
    elif kind == "nan points":
        path = tmp_path / "nan.xyz"
        path.write_text("nan nan nan\ninf 0 0\n")
    elif kind == "one place":
        path = tmp_path / "same.xyz"
        path.write_text("1 2 3\n1 2 3\n1 2 3\n")
    elif kind == "10 M points":
        path = tmp_path / "huge.npy"  # a header promising 10 M points: refused before reading data
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10_000_000, 3)})
            f.write(b"\x00" * 64)
    elif kind == "too large":
        path = tmp_path / "huge.ply"
        with open(path, "wb") as f:
            f.truncate(30 * 2**20)  # sparse: 30 MB without writing them
    elif kind == "pickle":
        path = tmp_path / "objects.npy"
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "text not numbers":
        path = tmp_path / "words.txt"
        path.write_text("x y z\nhello world again\n")
    elif kind == "wrong suffix":
        path = tmp_path / "cloud.pcd"
        path.write_text("0 0 0\n")
    return str(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "empty"),
        ("unreadable", "could not be read"),
        ("bad glb", "could not be read"),
        ("no faces", "no faces"),
        ("zero area", "zero area"),
        ("nan points", "no points with finite coordinates"),
        ("one place", "degenerate"),
        ("10 M points", "limit is 5,000,000"),
        ("too large", "limit is 25 MB"),
        ("pickle", "Python objects"),
        ("text not numbers", "three numbers"),
        ("wrong suffix", "CLIP Lab reads"),
    ],
)
def test_bad_files_raise_input_error(tmp_path, kind, message):
    with pytest.raises(InputError, match=message):
        load_point_cloud(_bad_file(tmp_path, kind))


def test_ten_million_points_in_memory_are_refused_without_copying():
    huge = np.broadcast_to(np.zeros(3, np.float32), (10_000_000, 3))  # no memory behind it
    assert len(huge) > MAX_FILE_POINTS
    with pytest.raises(InputError, match="10,000,000 points"):
        load_point_cloud(huge)


@pytest.mark.parametrize("value, message", [(None, "Upload a 3-D file"), ("/no/such/file.ply", "could not be found"), (3, "Expected")])
def test_missing_inputs(value, message):
    with pytest.raises(InputError, match=message):
        load_point_cloud(value)


def test_point_count_limits():
    cloud = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(InputError, match="between"):
        load_point_cloud(cloud, num_points=10**6)
    with pytest.raises(InputError, match="up axis"):
        load_point_cloud(cloud, up_axis="x")


# -- V2's published view weights, all eight (issue 18) --------------------------------------------
PUBLISHED = {
    "ModelNet40": {
        "RN50": (.75, .75, .75, .75, .25, .5, 1, 1, .25, .25),
        "RN101": (.75, .75, .75, .25, .5, 1, .75, .25, .25, .25),
        "ViT-B-16": (.75, .75, .75, .25, .75, 1, .25, 1, .75, .25),
        "ViT-B-32": (.75, .75, .75, .75, .25, .5, .5, .75, .5, .5),
    },
    "ScanObjectNN": {
        "RN50": (.75, .75, .75, 1, 1, 1, 1, 1, .25, .25),
        "RN101": (.5, .5, .5, .75, .5, 1, 1, .75, .25, .25),
        "ViT-B-16": (.75, .75, .75, .5, .5, 1, .75, 1, .25, .25),
        "ViT-B-32": (.75, .75, .75, .5, .75, .75, .5, 1, .5, .75),
    },
}


def test_all_eight_published_v2_weight_sets_are_shipped():
    assert pc.V2_PUBLISHED_WEIGHTS == PUBLISHED
    assert pc.V2_WEIGHTS == PUBLISHED["ModelNet40"]


@pytest.mark.parametrize("dataset", ["ModelNet40", "ScanObjectNN"])
@pytest.mark.parametrize("model", ["RN50", "RN101", "ViT-B-32", "ViT-B-16"])
def test_v2_weights_are_picked_by_backbone_and_label_preset(dataset, model):
    from types import SimpleNamespace

    assert pc.default_view_weights("v2", model, dataset) == PUBLISHED[dataset][model]
    assert pc.default_view_weights("v2", f"{model}-quickgelu", dataset) == PUBLISHED[dataset][model]
    pipeline = pc.PointCLIP(SimpleNamespace(model_name=model), "v2", label_preset=dataset)
    np.testing.assert_allclose(pipeline.view_weights, PUBLISHED[dataset][model])
    shown = model.replace("ViT-B-", "ViT-B/")
    assert shown in pipeline.weights_note and dataset in pipeline.weights_note
    assert "published" in pipeline.weights_note


def test_v2_weights_fall_back_and_say_so():
    from types import SimpleNamespace

    # ModelNet10 and a person's own labels: ModelNet40's set; a backbone without one: ViT-B/16's
    assert pc.default_view_weights("v2", "RN50", "ModelNet10") == PUBLISHED["ModelNet40"]["RN50"]
    assert pc.default_view_weights("v2", "RN50", None) == PUBLISHED["ModelNet40"]["RN50"]
    assert pc.default_view_weights("v2", "clip-lab-mini", "ScanObjectNN") == PUBLISHED["ScanObjectNN"]["ViT-B-16"]
    note = pc.PointCLIP(SimpleNamespace(model_name="clip-lab-mini"), "v2", label_preset="ScanObjectNN").weights_note
    assert "ViT-B/16" in note and "ScanObjectNN" in note and "clip-lab-mini" in note
    note = pc.PointCLIP(SimpleNamespace(model_name="RN101"), "v2").weights_note
    assert "RN101" in note and "ModelNet40" in note
    # weights given by hand: the note names the published set they equal, or calls them the person's own
    given = pc.PointCLIP(SimpleNamespace(model_name="RN50"), "v2", view_weights=PUBLISHED["ScanObjectNN"]["RN101"])
    assert "RN101" in given.weights_note and "ScanObjectNN" in given.weights_note
    own = pc.PointCLIP(SimpleNamespace(model_name="RN50"), "v2", view_weights=[1] * 10)
    assert "own" in own.weights_note
    assert pc.default_view_weights("v1", "RN50", "ScanObjectNN") == (1.0,) * 6


# -- V2's GPT prompts ----------------------------------------------------------------------------------
V2_PROMPT_BACKBONES = ("RN50", "RN101", "ViT-B-32", "ViT-B-16")


def test_v2_prompt_data_covers_every_class_of_both_presets_for_all_four_backbones():
    from components.pointclip_labels import MODELNET40, SCANOBJECTNN

    table = pc.v2_prompt_table()
    assert set(table) == {"ModelNet40", "ScanObjectNN"}
    for dataset, classes in (("ModelNet40", MODELNET40), ("ScanObjectNN", SCANOBJECTNN)):
        assert tuple(table[dataset]) == V2_PROMPT_BACKBONES
        for backbone in V2_PROMPT_BACKBONES:
            prompts = table[dataset][backbone]
            assert tuple(prompts) == classes  # every class, in the preset's order
            assert all(isinstance(p, str) and len(p.strip()) > 10 for p in prompts.values())
    # spot checks against the official best_param.py (METHODS.md §7 quotes the first)
    assert table["ModelNet40"]["ViT-B-16"]["cone"] == "A 3D model of a cone would look like a cone shape."
    assert table["ScanObjectNN"]["RN50"]["bag"] == "This view shows a bag from the side."
    assert pc.v2_prompts("ViT-B-32-quickgelu", "ModelNet40") is table["ModelNet40"]["ViT-B-32"]
    assert pc.v2_prompts("clip-lab-mini", "ModelNet40") is None
    assert pc.v2_prompts("RN50", "ModelNet10") is None and pc.v2_prompts("RN50", None) is None
    data = __import__("json").loads(pc.V2_PROMPTS_FILE.read_text(encoding="utf-8"))
    assert "MIT" in data["licence"] and "yangyangyang127/PointCLIP_V2" in data["source"]
    assert "Copyright (c) 2023 Xiangyang ZHU, Renrui ZHANG" in data["licence_text"]
    assert "Permission is hereby granted" in data["licence_text"]  # the MIT notice, as it asks of copies


def _oracle_as(model_name: str) -> ClipBackbone:
    """A fresh shape oracle (empty text cache) that calls itself `model_name`, with a spy on its text
    tower: `backbone.encoded` lists the token rows every text forward received."""
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    model = ShapeOracle(tokenizer.tokenizer if hasattr(tokenizer, "tokenizer") else tokenizer, mean, std, 64)
    backbone = ClipBackbone(model, image_transform(64, is_train=False, mean=mean, std=std), tokenizer,
                            model_name=model_name, weights="oracle (test)")
    backbone.encoded = []
    encode_text = model.encode_text

    def spy(tokens, normalize=False):
        backbone.encoded.extend(tuple(row) for row in tokens.tolist())
        return encode_text(tokens, normalize=normalize)

    model.encode_text = spy
    return backbone


def _encoded_texts(backbone: ClipBackbone, candidates) -> set[str]:
    """Which of `candidates` the spy saw go through the text tower (compared as tokens)."""
    seen = set(backbone.encoded)
    return {text for text in candidates if tuple(backbone.tokenize([text])[0].tolist()) in seen}


@pytest.mark.parametrize("dataset", ["ModelNet40", "ScanObjectNN"])
@pytest.mark.parametrize("model_name", ["RN50", "RN101", "ViT-B-32", "ViT-B-16-quickgelu"])
def test_v2_presets_encode_the_gpt_prompt_of_each_class(dataset, model_name):
    from components.pointclip_labels import PRESETS

    backbone = _oracle_as(model_name)
    classes = PRESETS[dataset]
    published = pc.v2_prompt_table()[dataset][model_name.removesuffix("-quickgelu")]
    model = pc.PointCLIP(backbone, "v2", label_preset=dataset)
    text, prompts = model.text_features(classes)
    gpt = [published[c] for c in classes]
    assert prompts == tuple(gpt)
    assert _encoded_texts(backbone, gpt) == set(gpt)  # one text forward per class prompt, no template
    assert not _encoded_texts(backbone, [pc.PROMPT.format(c) for c in classes])
    assert len(backbone.encoded) == len(set(gpt))
    np.testing.assert_allclose(text.numpy(), backbone.encode_texts(gpt).numpy(), rtol=1e-6)
    note = model.prompts_note(classes)
    shown = model_name.removesuffix("-quickgelu").replace("ViT-B-", "ViT-B/")
    assert "GPT-written" in note and shown in note and dataset in note


def test_the_v2_result_is_scored_against_the_gpt_prompts():
    from components.pointclip_labels import SCANOBJECTNN

    backbone = _oracle_as("ViT-B-16")
    result = pc.PointCLIP(backbone, "v2", label_preset="ScanObjectNN")(_mesh_cloud(FLAT_BOX, 256), SCANOBJECTNN)
    gpt = [pc.v2_prompt_table()["ScanObjectNN"]["ViT-B-16"][c] for c in SCANOBJECTNN]
    assert result.prompts == tuple(gpt) and result.templates == "pointclip-v2-gpt:ScanObjectNN"
    text = backbone.encode_texts(gpt).numpy()
    np.testing.assert_allclose(result.view_similarity, result.view_features @ text.T, rtol=1e-5, atol=1e-6)
    assert result.prompts_note == pc.PointCLIP(backbone, "v2", label_preset="ScanObjectNN").prompts_note(SCANOBJECTNN)


@pytest.mark.parametrize(
    "model_name, projection, preset, labels, prompt, why",
    [
        ("RN50", "v2", None, ("chair", "table", "lamp"), "", "only for the ModelNet40 and ScanObjectNN"),
        ("RN50", "v2", "ModelNet10", None, "", "only for the ModelNet40 and ScanObjectNN"),
        ("clip-lab-mini", "v2", "ModelNet40", None, "", "not clip-lab-mini"),
        ("RN50", "v2", "ScanObjectNN", None, "a scan of a {}.", "prompt of your own"),
        ("RN50", "v1", "ModelNet40", None, "", ""),
    ],
)
def test_other_cases_keep_the_template_and_say_why(model_name, projection, preset, labels, prompt, why):
    from components.pointclip_labels import PRESETS

    backbone = _oracle_as(model_name)
    labels = labels or PRESETS[preset]
    templates = pc.prompt_templates(prompt)
    model = pc.PointCLIP(backbone, projection, label_preset=preset, templates=templates)
    _, prompts = model.text_features(labels)
    filled = [templates.templates[0].format(label) for label in labels]
    assert _encoded_texts(backbone, filled) == set(filled)
    every_gpt = {p for by in pc.v2_prompt_table().values() for prompts in by.values() for p in prompts.values()}
    assert not _encoded_texts(backbone, every_gpt)
    assert prompts == ()
    note = model.prompts_note(labels)
    assert note.startswith("Prompt: ") and templates.templates[0] in note and why in note


def test_a_persons_own_labels_are_scored_against_v1s_prompt():
    backbone = _oracle_as("ViT-B-16")
    result = pc.PointCLIP(backbone, "v2")(_mesh_cloud(FLAT_BOX, 256), ["tall", "flat"])
    assert result.prompts == () and result.templates == "pointclip" and "V1's" in result.prompts_note
    assert _encoded_texts(backbone, ["point cloud depth map of a tall.", "point cloud depth map of a flat."])
    assert result.top_label == "flat"


def test_gpt_prompts_can_be_switched_off():
    from components.pointclip_labels import SCANOBJECTNN

    backbone = _oracle_as("ViT-B-32")
    model = pc.PointCLIP(backbone, "v2", label_preset="ScanObjectNN", gpt_prompts=False)
    _, prompts = model.text_features(SCANOBJECTNN)
    assert prompts == () and "switched off" in model.prompts_note(SCANOBJECTNN)
    assert _encoded_texts(backbone, [pc.PROMPT.format(c) for c in SCANOBJECTNN])
