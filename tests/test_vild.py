"""ViLD (CLIP-backed): the demo's prompts, scoring and filters, with the oracle on coloured squares."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from components import prompts, regions, vild
from components.errors import InputError
from test_regions import iou, squares_image, truth


# -- prompts -----------------------------------------------------------------------------------------
def test_vild_has_63_templates_with_the_this_is_rule():
    assert len(prompts.VILD_RAW_TEMPLATES) == 63 and len(prompts.VILD63_A) == 63
    filled = prompts.VILD63_A.fill("cat")
    assert filled[0] == "There is a cat in the scene."  # starts with "T": unchanged
    assert filled[2] == "This is a photo of a cat in the scene."
    assert filled[5] == "itap of a cat."  # starts with "i": unchanged
    assert "This is the plastic cat." in filled  # "the" gets it too
    assert "This is an embroidered cat." in filled  # "an" starts with "a"
    for raw, prompt in zip(prompts.VILD_RAW_TEMPLATES, filled):
        prefixed = raw.startswith("a") or raw.startswith("the")
        assert prompt.startswith("This is ") == prefixed


def test_article_follows_the_first_letter():
    assert prompts.vild_templates("apple") is prompts.VILD63_AN
    assert prompts.vild_templates("cat") is prompts.VILD63_A
    assert prompts.VILD63_AN.fill("apple")[0] == "There is an apple in the scene."
    assert vild.processed_name("Traffic_Light") == "traffic light"
    assert vild.processed_name("cup/mug.") == "cup or mug"


def test_single_template_without_prompt_engineering():
    assert prompts.vild_templates("cat", False).templates == ("This is a photo of a {}.",)
    assert prompts.vild_templates("owl", False).fill("owl") == ["This is a photo of an owl."]


def test_text_embedding_is_the_normalised_mean_of_normalised_prompts(tiny_vit):
    got = vild.text_embeddings(tiny_vit, ["Apple", "cat"])
    for row, name in zip(got, ["apple", "cat"]):
        prompt_embeddings = F.normalize(tiny_vit.encode_texts(prompts.vild_templates(name).fill(name)), dim=-1)
        torch.testing.assert_close(row, F.normalize(prompt_embeddings.mean(0), dim=0), atol=1e-5, rtol=1e-4)


# -- scoring and filters on hand-made numbers ------------------------------------------------------
def test_probabilities_are_softmax_of_100_cos():
    cosine = np.array([[0.20, 0.25, 0.21]])
    expected = np.exp(100 * cosine) / np.exp(100 * cosine).sum()
    np.testing.assert_allclose(vild.class_probabilities(cosine), expected, rtol=1e-9)


def test_boxes_whose_best_class_is_background_are_dropped():
    boxes = np.array([[0, 0, 50, 50], [100, 0, 150, 50]], np.float32)
    probs = np.array([[0.50, 0.45, 0.05], [0.30, 0.65, 0.05]])  # column 0 = background
    keep = vild.select_detections(boxes, probs, probs, score_threshold=0.0)
    assert list(keep) == [1]  # box 0's cat probability passes the threshold, but background wins


def test_nms_at_0_6_on_overlapping_boxes():
    boxes = np.array([[0, 0, 100, 100], [0, 0, 100, 80], [0, 0, 100, 50]], np.float32)  # IoU 0.8, 0.5 with box 0
    probs = np.array([[0.0, 1.0], [0.0, 0.99], [0.0, 0.98]])
    assert list(vild.select_detections(boxes, probs, probs, score_threshold=0, containment=0)) == [0, 2]
    assert list(vild.select_detections(boxes, probs, probs, score_threshold=0, containment=0, nms_iou=0.9)) == [0, 1, 2]


def test_score_area_and_count_filters():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 20, 11], [50, 50, 80, 80], [100, 100, 130, 130]], np.float32)
    probs = np.array([[0, 1.0], [0, 0.95], [0.05, 0.95], [0.15, 0.85]])
    # box 0: area 100 ≤ 220; box 1: 220, not > 220; box 3: score 0.85 < 0.9
    assert list(vild.select_detections(boxes, probs, probs)) == [2]
    assert len(vild.select_detections(boxes, probs, probs, score_threshold=0, min_area=0, max_boxes=2, containment=0)) == 2


def test_saturated_scores_are_ranked_by_cosine():
    boxes = np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float32)
    probs = np.array([[0.0, 1.0], [0.0, 1.0]])
    cosine = np.array([[0.0, 0.3], [0.0, 0.5]])
    assert list(vild.select_detections(boxes, probs, cosine)) == [1, 0]
    # ranked by score, the overlapping pair keeps the better cosine (the "score" order)
    overlapping = np.array([[0, 0, 100, 100], [5, 5, 100, 100]], np.float32)
    assert list(vild.select_detections(overlapping, probs, cosine, nms_order="score")) == [1]


# -- the demo's order: NMS over every proposal in proposal order, then the filters (issue 18) ---------
def test_nms_runs_first_over_all_proposals_in_proposal_order():
    # box 1 overlaps box 0 (IoU 0.82) and scores higher; the demo's NMS ranks by the proposal score
    # (here: proposal order), so box 0 wins, then passes the filters
    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105]], np.float32)
    probs = np.array([[0.05, 0.95], [0.01, 0.99]])
    assert list(vild.select_detections(boxes, probs, probs, containment=0)) == [0]
    assert list(vild.select_detections(boxes, probs, probs, containment=0, nms_order="score")) == [1]


def test_filters_come_after_nms():
    # box 0 is suppressing box 1 before its own low score removes it: nothing is left, as in the demo
    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105]], np.float32)
    probs = np.array([[0.5, 0.5], [0.02, 0.98]])
    assert list(vild.select_detections(boxes, probs, probs, containment=0)) == []
    assert list(vild.select_detections(boxes, probs, probs, containment=0, nms_order="score")) == [1]


def test_max_boxes_cuts_in_proposal_order_before_background_is_dropped():
    # three disjoint confident boxes, the first most like background: the demo keeps the first two
    # valid proposals, then drops the background one
    boxes = np.array([[0, 0, 50, 50], [100, 0, 150, 50], [200, 0, 250, 50]], np.float32)
    probs = np.array([[0.97, 0.03], [0.05, 0.95], [0.02, 0.98]])
    assert list(vild.select_detections(boxes, probs, probs, max_boxes=2)) == [1]
    assert list(vild.select_detections(boxes, probs, probs, max_boxes=2, nms_order="score")) == [2, 1]
    with pytest.raises(InputError, match="NMS order"):
        vild.select_detections(boxes, probs, probs, nms_order="random")


def test_the_pipeline_runs_the_demo_order_and_can_switch(oracle):
    result = vild.ViLD(oracle)(squares_image(), "red square; blue square")
    assert result.settings["nms_order"] == "proposals"
    by_score = result.select(nms_order="score")
    assert by_score.settings["nms_order"] == "score"
    expected = vild.select_detections(result.boxes, result.probs, result.cosine, **result.settings)
    np.testing.assert_array_equal(result.keep, expected)


# -- the oracle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", regions.REGION_EMBEDDINGS)
def test_one_box_per_named_square_and_nothing_else(oracle, how):
    result = vild.ViLD(oracle, region_embedding=how)(squares_image(), "red square; blue square")
    assert result.region_embedding == how
    assert result.classes == ("background", "red square", "blue square")
    detections = result.detections()
    assert sorted(d.label for d in detections) == ["blue square", "red square"]
    for d in detections:
        square = truth(d.label.split()[0])
        assert iou(d.box, square) >= 0.7
        assert d.top[0][0] == d.label
    # the green square and the grey background are not detected (background wins there)
    for d in detections:
        assert iou(d.box, truth("green")) == 0
    grey = np.flatnonzero([iou(b, truth("red")) == iou(b, truth("blue")) == iou(b, truth("green")) == 0 for b in result.boxes])
    assert all(result.probs[i].argmax() == 0 for i in grey)


def test_refiltering_needs_no_forward(oracle):
    result = vild.ViLD(oracle)(squares_image(), ["red square", "blue square"])
    before = oracle.image_forwards, oracle.text_forwards
    stricter = result.select(score_threshold=1.01)
    assert len(stricter.keep) == 0 and "Nothing detected" in stricter.message
    looser = result.select(containment=0, nms_iou=0.95)
    assert len(looser.keep) > len(result.keep)
    assert (oracle.image_forwards, oracle.text_forwards) == before


def test_no_proposals_is_nothing_detected_not_an_error(oracle):
    result = vild.ViLD(oracle, min_box_area=10**6)(squares_image(), "red square")
    assert len(result.boxes) == 0 and len(result.keep) == 0
    assert result.message.startswith("Nothing detected") and "no region proposals" in result.message
    assert result.embeddings.shape[0] == 0 and result.probs.shape == (0, 2)


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("categories", ["", " ; , ", None, []])
def test_no_categories(oracle, categories):
    with pytest.raises(InputError, match="at least one category"):
        vild.ViLD(oracle)(squares_image(), categories)


def test_background_alone_is_not_a_category(oracle):
    with pytest.raises(InputError, match="background"):
        vild.ViLD(oracle)(squares_image(), "background")


def test_a_thousand_categories_are_capped_with_a_note(tiny_vit):
    names = ";".join(f"thing {i}" for i in range(1000))
    one_box = regions.Proposals(np.array([[0, 0, 64, 64]], np.float32), np.zeros(1, np.int64), np.full(1, -1), (160, 240))
    result = vild.ViLD(tiny_vit, prompt_engineering=False)(squares_image(), names, proposals=one_box)
    assert len(result.categories) == vild.MAX_CATEGORIES
    assert any("1000 categories" in n and f"first {vild.MAX_CATEGORIES}" in n for n in result.notes)


def test_a_ten_pixel_image(oracle):
    with pytest.raises(InputError, match="10×10 pixels"):
        vild.ViLD(oracle)(Image.new("RGB", (10, 10)), "cat")


def test_tiny_model_plumbing(tiny_vit):
    result = vild.ViLD(tiny_vit, score_threshold=0.0, min_box_area=0)(squares_image(), "red; blue; green")
    n = len(result.boxes)
    assert n > 0 and result.embeddings.shape == (n, tiny_vit.embed_dim)
    assert result.probs.shape == (n, 4) and np.allclose(result.probs.sum(1), 1)
    assert np.isfinite(result.cosine).all()
    assert set(result.found) == set(regions.SOURCES)
    again = vild.ViLD(tiny_vit, score_threshold=0.0, min_box_area=0)(squares_image(), "red; blue; green")
    np.testing.assert_array_equal(result.keep, again.keep)  # same input, same result
    np.testing.assert_allclose(result.probs, again.probs)


def test_a_panorama_skips_dense_proposals_with_a_note(oracle):
    wide = Image.new("RGB", (700, 100), (128, 128, 128))
    wide.paste((230, 20, 20), (300, 30, 348, 78))
    result = vild.ViLD(oracle)(wide, "red square")
    assert any("Dense-CLIP proposals were skipped" in n for n in result.notes)
    assert "selective_search" in result.found and "dense" not in result.found


def test_showcase_orders_detections_then_likely_regions_then_the_rest():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.95, 0.05]])
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (5, 1))
    result = vild.ViLDResult(("background", "cat"), boxes, np.zeros(5, np.int64), np.zeros((5, 2)), np.log(probs), probs,
                             keep=np.array([2]), image_size=(10, 10), settings={})
    assert result.showcase(10) == [2, 1, 3, 0, 4]  # kept; foreground by score (0.8, 0.7); the rest in order
    assert result.showcase(2) == [2, 1]
    empty = vild.ViLDResult(("background", "cat"), np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros((0, 2)),
                            np.zeros((0, 2)), np.zeros((0, 2)), keep=np.zeros(0, np.int64), image_size=(10, 10), settings={})
    assert empty.showcase(4) == []


# -- image-guided detection: regions matched to a query image (issue 21) -------------------------------
def shapes_scene() -> Image.Image:
    """A red square and a blue disc (and a green square) on grey: the oracle tells them by colour."""
    from PIL import ImageDraw

    picture = squares_image(("red", "green"))
    x, y, _ = regions_squares()["blue"]
    ImageDraw.Draw(picture).ellipse([x, y, x + 47, y + 47], fill=(20, 20, 230))
    return picture


def regions_squares():
    from test_regions import SQUARES

    return SQUARES


def red_query() -> Image.Image:
    """Another picture of a red square: a different red, size and (thin, white) margin than the scene's."""
    picture = Image.new("RGB", (60, 56), (255, 255, 255))
    picture.paste((200, 30, 30), (4, 4, 56, 52))
    return picture


def test_a_query_image_of_a_red_square_finds_the_red_square_not_the_blue_disc(oracle):
    result = vild.ViLD(oracle).match(shapes_scene(), red_query())
    detections = result.detections()
    assert detections, result.message
    # the best match is on the red square (the demo's NMS keeps the first, dense-CLIP, box: a little
    # loose); nothing is on the blue disc or the green square
    assert iou(detections[0].box, truth("red")) >= 0.6 and detections[0].label == vild.QUERY_LABEL
    for d in detections:
        assert iou(d.box, truth("blue")) == 0 and iou(d.box, truth("green")) == 0
    # ranked by the cosine itself, the tightest box around the red square wins
    assert iou(result.select(nms_order="score").detections()[0].box, truth("red")) >= 0.75
    # the disc is a worse match than every region on the red square
    on_red = [i for i, b in enumerate(result.boxes) if iou(b, truth("red")) >= 0.6]
    on_blue = [i for i, b in enumerate(result.boxes) if iou(b, truth("blue")) >= 0.6]
    assert on_red and on_blue and result.similarity[on_red].min() > result.similarity[on_blue].max()
    # the same scene asked with a blue query finds the disc instead: the query, not the scene, decides
    blue = vild.ViLD(oracle).match(shapes_scene(), Image.new("RGB", (40, 40), (40, 40, 210))).detections()
    assert blue and iou(blue[0].box, truth("blue")) >= 0.6
    assert all(iou(d.box, truth("red")) == 0 for d in blue)


def test_match_scores_are_the_cosine_of_region_and_query_embeddings(oracle):
    query = red_query()
    result = vild.ViLD(oracle).match(shapes_scene(), query)
    # the query is embedded as a region covering all of it: 1× and 1.5× crops are the same picture
    whole = regions.region_embeddings(oracle, query, np.array([[0, 0, 90, 70]], np.float32))[0]
    np.testing.assert_allclose(result.query, whole.numpy(), atol=1e-6)
    pixels = regions.crop_pixels(oracle, query, np.array([[0, 0, 90, 70]], np.float32))
    np.testing.assert_allclose(result.query, oracle.encode_images(pixels)[0].numpy(), atol=1e-6)
    regions_again = regions.region_embeddings(oracle, shapes_scene(), result.boxes).numpy()
    np.testing.assert_allclose(result.similarity, regions_again @ result.query, atol=1e-6)
    # and the kept ones are select_matches' answer on those numbers, with the run's settings
    np.testing.assert_array_equal(result.keep, vild.select_matches(result.boxes, result.similarity, **result.settings))
    assert result.settings["similarity_threshold"] == vild.QUERY_THRESHOLD and "score_threshold" not in result.settings


def test_select_matches_runs_the_same_filters_on_the_cosine():
    boxes = np.array([[0, 0, 100, 100], [0, 0, 100, 80], [200, 0, 260, 60], [300, 0, 310, 10], [400, 0, 460, 60]],
                     np.float32)
    similarity = np.array([0.95, 0.97, 0.85, 0.99, 0.5])
    # box 1 overlaps box 0 (IoU 0.8): NMS in proposal order keeps box 0; box 3 is too small (100 px);
    # box 4 is below the threshold; the kept ones ranked by cosine
    assert list(vild.select_matches(boxes, similarity, similarity_threshold=0.8)) == [0, 2]
    # ranked by score instead: box 1 wins the overlap
    assert list(vild.select_matches(boxes, similarity, similarity_threshold=0.8, nms_order="score")) == [1, 2]
    assert list(vild.select_matches(boxes, similarity, similarity_threshold=0.0, min_area=0, containment=0)) == [3, 0, 2, 4]
    assert list(vild.select_matches(boxes, similarity, similarity_threshold=0.8, max_boxes=1)) == [0]
    # the same steps as the text scoring: a one-category probability table with the cosine as score
    probs = np.stack([np.zeros(5), similarity], 1)
    for order in vild.NMS_ORDERS:
        np.testing.assert_array_equal(vild.select_matches(boxes, similarity, similarity_threshold=0.8, nms_order=order),
                                      vild.select_detections(boxes, probs, probs, score_threshold=0.8, nms_order=order))


def test_refiltering_a_match_needs_no_forward_and_says_why_nothing_matched(oracle):
    result = vild.ViLD(oracle).match(shapes_scene(), red_query())
    before = oracle.image_forwards
    strict = result.select(similarity_threshold=1.01)
    assert oracle.image_forwards == before and len(strict.keep) == 0
    assert strict.message.startswith("Nothing detected") and "cosine" in strict.message
    assert strict.select(similarity_threshold=vild.QUERY_THRESHOLD).keep.tolist() == result.keep.tolist()
    with pytest.raises(TypeError):
        result.select(score_threshold=0.5)


def test_a_query_that_is_not_an_image(oracle):
    with pytest.raises(InputError, match="must be an image"):
        vild.ViLD(oracle).match(shapes_scene(), "red.png")
    with pytest.raises(InputError, match="at least 16 pixels"):
        vild.ViLD(oracle).match(shapes_scene(), Image.new("RGB", (8, 8), "red"))
