"""GLIP (CLIP-backed): the phrase splitter, the phrase × region scores, grounding with the oracle."""

import numpy as np
import pytest
from PIL import Image

from components import glip, regions
from components.errors import InputError
from test_regions import iou, squares_image, truth


def texts(caption, mode="caption"):
    phrases, explicit = glip.split_phrases(caption, mode)
    return [p.text for p in phrases], explicit


# -- the splitter: GLIP's run_ner and list prompts -----------------------------------------------------
def test_glip_demo_captions_chunk_as_run_ner():
    # GLIP's own demo captions: a string always goes through run_ner (DT? JJ* NN+), " . " or not,
    # and the determiner stays in the label
    assert texts("sofa . remote . dog . person . car . sky . plane .") == (
        ["sofa", "remote", "dog", "person", "car", "sky", "plane"], False)
    assert texts("A green umbrella. A pink striped umbrella.") == (["a green umbrella", "a pink striped umbrella"], False)


def test_run_ner_grammar_on_free_captions():
    assert texts("A red square and a blue square.")[0] == ["a red square", "a blue square"]
    # numbers and pronouns are not determiners; verbs end a phrase; "of" splits two noun phrases
    assert texts("There is a cat sitting on the sofa next to two dogs")[0] == ["a cat", "the sofa", "dogs"]
    assert texts("a dog is running on the grass")[0] == ["a dog", "the grass"]
    assert texts("a sleeping cat")[0] == ["cat"]  # VBG breaks the chunk, as NLTK tags it
    assert texts("man in a red shirt . the dog")[0] == ["man", "a red shirt", "the dog"]
    assert texts("A dog, a dog and a DOG")[0] == ["a dog"]  # lower-cased, kept once


def test_a_single_phrase_ending_in_space_dot():
    assert texts("person .") == (["person"], False)
    assert texts("a red square .") == (["a red square"], False)
    assert texts("red square .", mode="categories") == (["red square"], True)


def test_the_tagger_and_chunker_by_hand():
    assert [glip.tag(w) for w in ["the", "pink", "striped", "umbrella", ".", "is", "running", "two", "'s"]] == [
        "DT", "JJ", "JJ", "NN", "-", "-", "-", "-", "-"]
    assert glip.chunk(["DT", "JJ", "NN", "NN", "-", "JJ", "-", "NN", "DT"]) == [(0, 4), (7, 8)]
    assert glip.chunk(["DT", "DT", "NN"]) == [(1, 3)]  # one determiner at most


def test_categories_are_one_entity_per_name_as_written():
    phrases, categories = glip.split_phrases(["a green umbrella", "Remote", "dog"])
    assert categories and [p.text for p in phrases] == ["a green umbrella", "Remote", "dog"]
    caption, _ = glip.categories_caption([p.text for p in phrases])
    assert caption == "a green umbrella . Remote . dog . "  # GLIP's joined list prompt
    assert [caption[p.start : p.end] for p in phrases] == ["a green umbrella", "Remote", "dog"]
    assert [p.prompt for p in phrases] == ["green umbrella", "Remote", "dog"]
    assert texts("sofa . remote . man in a red shirt .", mode="categories") == (["sofa", "remote", "man in a red shirt"], True)
    with pytest.raises(InputError, match="prompt mode"):
        glip.split_phrases("dog", mode="words")


def test_phrase_spans_point_into_the_caption():
    caption = "A cup of coffee on a saucer with a spoon."
    phrases, _ = glip.split_phrases(caption)
    assert [caption[p.start : p.end] for p in phrases] == ["A cup", "coffee", "a saucer", "a spoon"]
    assert [p.text for p in phrases] == ["a cup", "coffee", "a saucer", "a spoon"]


def test_prompt_drops_a_leading_article():
    phrases, _ = glip.split_phrases("the dog . a cat .")
    assert [p.text for p in phrases] == ["the dog", "a cat"] and [p.prompt for p in phrases] == ["dog", "cat"]


@pytest.mark.parametrize("caption, message", [("", "Write a caption"), ("   ", "Write a caption"), (None, "Write a caption"),
                                              ("the a and of", "No noun phrase")])
def test_captions_without_phrases(caption, message):
    with pytest.raises(InputError, match=message):
        glip.split_phrases(caption)


# -- grounding on hand-made numbers ------------------------------------------------------------------
def test_each_phrase_grounds_its_boxes_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60], [80, 80, 90, 90]], np.float32)
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.3, 0.1, 0.6], [0.6, 0.2, 0.2]])  # bg, p0, p1
    grounded = glip.ground(boxes, probs, probs)
    assert grounded == ((0, 0, 0.9), (1, 2, 0.6))  # box 1 suppressed by NMS; box 3 is background
    assert glip.ground(boxes, probs, probs, threshold=0.15) == ((0, 0, 0.9), (0, 3, 0.2), (1, 2, 0.6), (1, 3, 0.2))


# -- the oracle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", regions.REGION_EMBEDDINGS)
def test_a_caption_naming_two_of_three_squares_grounds_exactly_those(oracle, how):
    result = glip.GLIP(oracle, region_embedding=how)(squares_image(), "A red square and a blue square.")
    assert result.region_embedding == how
    assert [p.text for p in result.phrases] == ["a red square", "a blue square"]  # run_ner keeps "a"
    assert [p.prompt for p in result.phrases] == ["red square", "blue square"]  # what CLIP reads
    assert result.grounded_phrases() == ["a red square", "a blue square"]
    assert len(result.grounded) == 2
    for p, r, score in result.grounded:
        colour = result.phrases[p].prompt.split()[0]
        assert iou(result.boxes[r], truth(colour)) >= 0.7
        assert iou(result.boxes[r], truth("green")) == 0
        assert score >= glip.THRESHOLD
    labels = [label for _, label in result.labelled_boxes()]
    assert labels == ["a red square:1.00", "a blue square:1.00"]
    # the same squares as a list of categories: one entity per name, GLIP's joined caption
    listed = glip.GLIP(oracle)(squares_image(), ["red square", "blue square"])
    assert listed.explicit and listed.caption == "red square . blue square . "
    assert [label for _, label in listed.labelled_boxes()] == ["red square:1.00", "blue square:1.00"]


def test_score_matrix_is_softmax_over_background_and_phrases(oracle):
    result = glip.GLIP(oracle)(squares_image(), "red . green .", mode="categories")
    assert result.scores.shape == (2, len(result.boxes))
    expected = np.exp(100 * result.cosine) / np.exp(100 * result.cosine).sum(1, keepdims=True)
    np.testing.assert_allclose(result.probs, expected, rtol=1e-6)
    np.testing.assert_allclose(result.scores, expected[:, 1:].T, rtol=1e-6)


def test_regrounding_needs_no_forward_and_says_when_nothing_passes(oracle):
    result = glip.GLIP(oracle)(squares_image(), "red square . blue square .")
    before = oracle.image_forwards, oracle.text_forwards
    none = result.select(threshold=1.01)
    assert none.grounded == () and none.message.startswith("Nothing grounded")
    assert (oracle.image_forwards, oracle.text_forwards) == before


def test_no_proposals_is_nothing_grounded_not_an_error(oracle):
    result = glip.GLIP(oracle, sources=("dense",), max_proposals=1, dense_threshold=2.0)(squares_image(), ["red"])
    assert len(result.boxes) == 0 and "no region proposals" in result.message


def test_a_thousand_phrases_are_capped_with_a_note(tiny_vit):
    caption = " . ".join(f"thing {i}" for i in range(1000))
    one_box = regions.Proposals(np.array([[0, 0, 64, 64]], np.float32), np.zeros(1, np.int64), np.full(1, -1), (160, 240))
    result = glip.GLIP(tiny_vit, prompt_engineering=False)(squares_image(), caption, proposals=one_box, mode="categories")
    assert len(result.phrases) == glip.MAX_PHRASES
    assert any("1000 phrases" in n for n in result.notes)


def test_a_ten_pixel_image(oracle):
    with pytest.raises(InputError, match="at least 16 pixels"):
        glip.GLIP(oracle)(Image.new("RGB", (10, 10)), "red")


def test_tiny_model_plumbing(tiny_vit):
    result = glip.GLIP(tiny_vit, threshold=0.0)(squares_image(), "A red square. A blue square.")
    assert result.scores.shape == (2, len(result.boxes)) and np.isfinite(result.scores).all()
    assert all(0 <= s <= 1 for _, _, s in result.grounded)


def test_best_regions_rank_by_the_best_phrase_score(oracle):
    result = glip.GLIP(oracle)(squares_image(), "red . green .", mode="categories")
    best = result.best_regions(3)
    assert len(best) == min(3, len(result.boxes))
    top = result.scores.max(0)
    assert list(top[best]) == sorted(top, reverse=True)[: len(best)]
    none = glip.GLIP(oracle, sources=("dense",), max_proposals=1, dense_threshold=2.0)(squares_image(), ["red"])
    assert none.best_regions(3).size == 0
