"""Region layer: proposal sources, crop geometry (1× and 1.5×, clamped), summed embeddings, NMS."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from components import regions
from components.errors import InputError

SQUARES = {"red": (20, 40, (230, 20, 20)), "blue": (100, 40, (20, 20, 230)), "green": (170, 90, (20, 200, 20))}
SIDE = 48


def squares_image(names=("red", "blue", "green"), size=(240, 160), grey=128) -> Image.Image:
    w, h = size
    array = np.full((h, w, 3), grey, np.uint8)
    for name in names:
        x, y, colour = SQUARES[name]
        array[y : y + SIDE, x : x + SIDE] = colour
    return Image.fromarray(array)


def truth(name):
    x, y, _ = SQUARES[name]
    return np.array([x, y, x + SIDE, y + SIDE], np.float32)


def iou(a, b) -> float:
    return float(regions.iou_matrix(np.asarray(a)[None], np.asarray(b)[None])[0, 0])


# -- geometry ----------------------------------------------------------------------------------------
def test_scale_boxes_about_the_centre():
    out = regions.scale_boxes(np.array([[40, 40, 60, 60]]), 1.5, (100, 100))
    np.testing.assert_allclose(out, [[35, 35, 65, 65]])


def test_scale_boxes_clamped_at_borders_not_shifted():
    boxes = np.array([[0, 0, 20, 20], [90, 40, 100, 50], [10, 30, 50, 50]], np.float32)
    out = regions.scale_boxes(boxes, 1.5, (60, 100))  # (H, W)
    np.testing.assert_allclose(out, [[0, 0, 25, 25], [87.5, 37.5, 100, 52.5], [0, 25, 60, 55]])


def test_crops_sample_the_scaled_clamped_box():
    """Left 30 columns red, rest blue: the 1.5× crop of a box touching the colour edge takes in blue
    in proportion to the clamped geometry; the 1× crop does not."""
    array = np.zeros((100, 100, 3), np.uint8)
    array[:, :30] = (255, 0, 0)
    array[:, 30:] = (0, 0, 255)
    image = Image.fromarray(array)

    class Shape:  # what crop_pixels needs of a backbone
        image_size, mean, std = 32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

    boxes = np.array([[10, 0, 30, 20]], np.float32)
    one = regions.crop_pixels(Shape, image, boxes, 1.0)[0]
    wide = regions.crop_pixels(Shape, image, boxes, 1.5)[0]  # → (5, 0, 35, 25): 5 of 30 columns blue
    assert one.shape == (3, 32, 32)
    assert one[0].mean() == pytest.approx(1.0, abs=0.02) and one[2].mean() == pytest.approx(0.0, abs=0.02)
    assert wide[2].mean() == pytest.approx(5 / 30, abs=0.03)
    assert wide[0].mean() == pytest.approx(25 / 30, abs=0.03)


def test_region_embedding_is_the_normalised_sum_of_both_crops(oracle):
    image = squares_image()
    boxes = np.stack([truth("red"), [0, 0, 60, 60], [200, 120, 240, 160]])
    got = regions.region_embeddings(oracle, image, boxes)
    one = oracle.encode_images(regions.crop_pixels(oracle, image, boxes, 1.0))
    wide = oracle.encode_images(regions.crop_pixels(oracle, image, boxes, 1.5))
    torch.testing.assert_close(got, F.normalize(one + wide, dim=-1))
    assert not torch.allclose(got, one)  # the 1.5× crop really contributes
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(3))


def test_crops_are_encoded_in_batches_with_the_same_result(oracle):
    image = squares_image()
    boxes = np.array([[0, 0, 30, 30], [10, 10, 80, 80], [50, 20, 120, 90], [100, 40, 148, 88], [0, 0, 240, 160]], np.float32)
    before = oracle.image_forwards
    big = regions.region_embeddings(oracle, image, boxes, batch_size=32)
    assert oracle.image_forwards - before == 2 * len(boxes)
    small = regions.region_embeddings(oracle, image, boxes, batch_size=2)
    torch.testing.assert_close(big, small)


def test_a_pooled_region_is_the_normalised_mean_of_the_patches_its_box_covers(oracle):
    """A box on patch-cell boundaries: roi_align's adaptive samples fall on the cell centres, so the
    pooled embedding is exactly the renormalised mean of the covered cells' unit embeddings."""
    image = squares_image()  # 240 × 160
    features = oracle.dense(image)
    (H, W), (h, w) = features.image_size, features.grid_size
    cell_w, cell_h = W / w, H / h
    boxes = np.array([[1 * cell_w, 2 * cell_h, 4 * cell_w, 5 * cell_h], [0, 0, W, H]], np.float32)
    got = regions.pooled_region_embeddings(oracle, image, boxes)
    want = F.normalize(torch.stack([features.features[2:5, 1:4].reshape(-1, features.features.shape[-1]).mean(0),
                                    features.features.reshape(-1, features.features.shape[-1]).mean(0)]), dim=-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # a box inside one cell is that cell's embedding (bilinear at its centre, the cell's own centre)
    inside = np.array([[5 * cell_w + 1, 3 * cell_h + 1, 6 * cell_w - 1, 4 * cell_h - 1]], np.float32)
    torch.testing.assert_close(regions.pooled_region_embeddings(oracle, image, inside)[0],
                               features.features[3, 5], atol=1e-5, rtol=0)


def test_pooled_regions_reuse_the_dense_pass_and_need_no_crop_forward(oracle):
    from components import vild

    image = squares_image()
    before = oracle.image_forwards
    oracle.dense(image)
    one_pass = oracle.image_forwards - before  # the dense pass's forwards (its windows)
    runs = {}
    for how in regions.REGION_EMBEDDINGS:
        before = oracle.image_forwards
        runs[how] = vild.ViLD(oracle, region_embedding=how, sources=["dense"])(image, "red square; blue square")
        runs[how] = (runs[how], oracle.image_forwards - before)
    (crops, crop_forwards), (pooled, pooled_forwards) = runs["crops"], runs["pooled"]
    np.testing.assert_array_equal(crops.boxes, pooled.boxes)  # the same proposals, embedded two ways
    assert pooled_forwards == one_pass  # the proposals' dense map, reused; no crop encoded
    assert crop_forwards == one_pass + 2 * len(crops.boxes)
    torch.testing.assert_close(torch.as_tensor(pooled.embeddings).norm(dim=-1), torch.ones(len(pooled.boxes)))
    assert len(regions.embed_regions(oracle, image, np.zeros((0, 4)), "pooled")) == 0
    with pytest.raises(InputError, match="Unknown region embedding 'mean'; choose one of: crops, pooled"):
        regions.embed_regions(oracle, image, crops.boxes, "mean")


# -- NMS ---------------------------------------------------------------------------------------------
def test_nms_suppresses_above_the_threshold_only():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 7.5], [0, 0, 10, 5], [50, 50, 60, 60]], np.float32)
    # IoU(0, 1) = 0.75 > 0.6: suppressed; IoU(0, 2) = 0.5: kept; box 3 is elsewhere
    assert list(regions.ranked_nms(boxes, np.array([0, 1, 2, 3]), 0.6)) == [0, 2, 3]
    # the ranking, not the box order, decides who survives: box 1 first suppresses 0 and 2 (IoU 2/3)
    assert list(regions.ranked_nms(boxes, np.array([1, 0, 2, 3]), 0.6)) == [1, 3]


def test_drop_containing_keeps_parts_and_drops_containers_of_the_same_group():
    boxes = np.array([[10, 10, 20, 20], [0, 0, 40, 40], [12, 12, 18, 18], [0, 0, 40, 40]], np.float32)
    groups = np.array([1, 1, 1, 2])
    assert list(regions.drop_containing(boxes, np.array([0, 1, 2, 3]), groups, 0.9)) == [0, 2, 3]
    assert list(regions.drop_containing(boxes, np.array([0, 1, 2, 3]), groups, 0.0)) == [0, 1, 2, 3]


# -- proposals ---------------------------------------------------------------------------------------
def test_selective_search_finds_each_square_deterministically():
    image = squares_image()
    boxes = regions.selective_search(image)
    for name in SQUARES:
        assert max(iou(b, truth(name)) for b in boxes) > 0.9
    np.testing.assert_array_equal(boxes, regions.selective_search(image))


def test_selective_search_boxes_are_in_the_original_pixels():
    image = squares_image().resize((960, 640), Image.NEAREST)  # 4× larger: downscaled for the search
    boxes = regions.selective_search(image, max_side=240)
    red = truth("red") * 4
    assert max(iou(b, red) for b in boxes) > 0.85


def test_dense_boxes_threshold_each_map_into_components():
    maps = np.zeros((2, 10, 10), np.float32)
    maps[0, 1:3, 1:4] = 1.0  # two blobs for label 0
    maps[0, 6:9, 6:8] = 0.8
    maps[1] = 0.5  # flat: proposes nothing
    boxes, labels, scores = regions.dense_boxes(maps, (100, 200))  # image H=100, W=200
    np.testing.assert_allclose(boxes, [[20, 10, 80, 30], [120, 60, 160, 90]])
    assert list(labels) == [0, 0] and scores[0] > scores[1]


def test_propose_dense_boxes_follow_the_labels(oracle):
    image = squares_image()
    text = oracle.encode_texts(["red", "green"])
    proposals = regions.propose(image, backbone=oracle, text=text, sources=("dense",))
    assert set(proposals.labels) == {0, 1}
    red = proposals.boxes[proposals.labels == 0]
    assert max(iou(b, truth("red")) for b in red) > 0.4


def test_propose_caps_and_deduplicates():
    image = Image.open(__import__("app.examples", fromlist=["x"]).skimage_photo("astronaut")).convert("RGB")
    proposals = regions.propose(image, sources=("selective_search",), max_proposals=25, min_area=400)
    assert len(proposals) == 25 and proposals.found["selective_search"] > 25
    overlap = regions.iou_matrix(proposals.boxes, proposals.boxes) - np.eye(25)
    assert overlap.max() <= regions.DEDUP_IOU + 1e-6
    assert regions.box_areas(proposals.boxes).min() >= 400


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sources": ("rpn",)}, "Unknown proposal source"),
        ({"sources": ()}, "at least one proposal source"),
        ({"max_proposals": 0}, "between 1 and"),
    ],
)
def test_bad_proposal_settings(kwargs, message):
    with pytest.raises(InputError, match=message):
        regions.propose(squares_image(), **kwargs)


def test_a_ten_pixel_image_is_refused():
    with pytest.raises(InputError, match="at least 16 pixels"):
        regions.propose(Image.new("RGB", (10, 10)))
