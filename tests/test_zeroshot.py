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
