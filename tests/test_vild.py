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
def test_one_box_per_named_square_and_nothing_else(oracle):
    result = vild.ViLD(oracle)(squares_image(), "red square; blue square")
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
