"""Zero-shot classification: meaning with the oracle, plumbing with the tiny model."""

import numpy as np
import pytest

from components.zeroshot import ZeroShotClassifier
from testkit import halves, solid


@pytest.mark.parametrize("templates", ["single", "imagenet80"])
def test_red_ranks_first_on_a_red_image(oracle, templates):
    result = ZeroShotClassifier(oracle, templates=templates)(solid((230, 20, 20)), ["blue", "red", "green"])
    assert result.top_label == "red"
    assert result.probs.sum() == pytest.approx(1.0, abs=1e-5)
    # the exact cosine the oracle's construction implies: red chroma against red chroma
    assert result.similarity[1] > 0.5 > 0 > result.similarity[0]


def test_probabilities_are_softmax_of_scaled_cosine(oracle):
    result = ZeroShotClassifier(oracle, templates="single")(solid((20, 20, 230)), ["red", "blue"])
    expected = np.exp(100 * result.similarity) / np.exp(100 * result.similarity).sum()
    np.testing.assert_allclose(result.probs, expected, rtol=1e-4)


def test_heatmap_peaks_on_the_red_half(oracle):
    image = halves((20, 20, 230), (230, 20, 20), size=(128, 64))  # blue left, red right
    result = ZeroShotClassifier(oracle)(image, ["red", "blue"])
    heat = result.heatmap("red")
    assert heat.shape == (64, 128)
    assert heat[:, 72:].mean() > 0.5 > 0 > heat[:, :56].mean()
    peak_col = np.unravel_index(heat.argmax(), heat.shape)[1]
    assert peak_col >= 64
    assert result.heatmap("blue")[:, :56].mean() > 0.5


def test_tiny_model_plumbing(tiny_vit):
    image = halves((200, 30, 30), (30, 30, 200), size=(100, 60))
    result = ZeroShotClassifier(tiny_vit, templates="single", dense_method="clearclip")(image, ["a", "b", "c"])
    assert result.probs.shape == (3,)
    assert result.patch_similarity.shape[0] == 3
    assert result.heatmap().shape == (60, 100)
    assert np.isfinite(result.patch_similarity).all()


def test_heat_map_resolution_is_a_multiple_of_the_input_in_whole_patches(tiny_vit):
    from components import dense
    from components.zeroshot import RESOLUTIONS, scaled_short_side

    size, patch = tiny_vit.image_size, tiny_vit.patch_size
    assert RESOLUTIONS == (1.0, 1.5, 2.0)
    assert scaled_short_side(tiny_vit, 1.0) == size  # one model-sized window
    for factor in RESOLUTIONS:
        side = scaled_short_side(tiny_vit, factor)
        assert side % patch == 0 and side >= size and abs(side - factor * size) <= patch / 2
    assert scaled_short_side(tiny_vit, 0.5) == size  # never below the input
    assert scaled_short_side(tiny_vit, dense.PAPERS_FACTOR) == dense.papers_short_side(tiny_vit)


# -- reference images (issue 21) ----------------------------------------------------------------------
def test_a_red_image_is_most_like_the_red_reference(oracle):
    from components.zeroshot import compare_references

    references = [solid((20, 20, 230)), solid((200, 40, 40), (40, 30)), solid((20, 200, 20))]
    result = compare_references(oracle, halves((230, 20, 20), (210, 30, 30)), references, ["blue", "red", "green"])
    assert result.ranking()[0][0] == "red" and result.probs.sum() == pytest.approx(1.0, abs=1e-9)
    # a blue image, the same references: the blue one wins; the references, not their order, decide
    assert compare_references(oracle, solid((30, 30, 220)), references, ["blue", "red", "green"]).ranking()[0][0] == "blue"


def test_reference_scores_are_the_softmax_of_scaled_image_cosines(oracle):
    from components.zeroshot import compare_references

    image, references = solid((230, 20, 20)), [solid((20, 20, 230)), solid((230, 120, 20))]
    result = compare_references(oracle, image, references)
    embedded = oracle.encode_images([image, *references])  # CLIP's standard view of each
    np.testing.assert_allclose(result.similarity, (embedded[1:] @ embedded[0]).numpy(), atol=1e-6)
    expected = np.exp(100 * result.similarity) / np.exp(100 * result.similarity).sum()
    np.testing.assert_allclose(result.probs, expected, rtol=1e-6)
    assert result.names == ("reference 1", "reference 2")
    # the image itself as a reference: cosine 1
    assert compare_references(oracle, image, [image]).similarity[0] == pytest.approx(1.0, abs=1e-6)


def test_references_are_bounded(tiny_vit):
    from components.errors import InputError
    from components.zeroshot import MAX_REFERENCES, compare_references

    with pytest.raises(InputError, match="at least one reference"):
        compare_references(tiny_vit, solid((1, 2, 3)), [])
    with pytest.raises(InputError, match=f"the limit is {MAX_REFERENCES}"):
        compare_references(tiny_vit, solid((1, 2, 3)), [solid((9, 9, 9))] * (MAX_REFERENCES + 1))
