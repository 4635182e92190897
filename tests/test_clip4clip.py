"""CLIP4Clip: the metrics with ties in both directions, meanP by hand, retrieval meaning with the
oracle (the red clip ranks first for "a red video"), the on-disk cache, faiss exact/approximate,
evaluation from a CSV, and bad inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from components.clip4clip import (
    CACHE_ENV,
    EXACT_UP_TO,
    LOGIT_SCALE,
    MAX_FRAMES,
    MAX_WORDS,
    VideoIndex,
    default_cache_dir,
    mean_pool,
    multi_caption_metrics,
    parse_pairs,
    retrieval_metrics,
    similarity_matrix,
)
from components.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))
from generate_videos import VIDEOS, moving_square, write_video  # noqa: E402

CLIPS = ["red_square.mp4", "green_square.mp4", "blue_square.mp4", "yellow_stripes.webm", "red_then_blue.mp4"]


def test_constants_pinned():
    assert MAX_FRAMES == 12 and MAX_WORDS == 32
    assert LOGIT_SCALE == pytest.approx(100.0)
    assert 1_000 <= EXACT_UP_TO <= 100_000


# -- metrics ----------------------------------------------------------------------------------------
def test_metrics_on_a_hand_made_matrix_with_ties_both_directions():
    sim = np.array(
        [
            [0.9, 0.1, 0.9, 0.0],  # ground truth 0.9 ties with column 2 → ranks 0 and 1
            [0.5, 0.4, 0.3, 0.2],  # 0.4 is second → rank 1
            [0.1, 0.2, 0.3, 0.4],  # 0.3 is second → rank 1
            [0.7, 0.7, 0.7, 0.7],  # all four tie → ranks 0, 1, 2, 3
        ]
    )
    t2v = retrieval_metrics(sim)
    assert t2v.ranks.tolist() == [0, 1, 1, 1, 0, 1, 2, 3]  # 8 ranks for 4 queries
    assert t2v.R1 == pytest.approx(100 * 2 / 8)
    assert t2v.R5 == t2v.R10 == pytest.approx(100.0)
    assert t2v.MdR == pytest.approx(1 + 1)  # median of [0,0,1,1,1,1,2,3] = 1
    assert t2v.MnR == pytest.approx(9 / 8 + 1)

    v2t = retrieval_metrics(sim.T)
    # columns as queries: [.9,.5,.1,.7] → 0; [.1,.4,.2,.7] → 1; [.9,.3,.3,.7] → 2 and 3; [0,.2,.4,.7] → 0
    assert v2t.ranks.tolist() == [0, 1, 2, 3, 0]
    assert v2t.R1 == pytest.approx(100 * 2 / 5)
    assert v2t.MdR == pytest.approx(1 + 1) and v2t.MnR == pytest.approx(6 / 5 + 1)


def test_metrics_recall_at_5_and_10_and_half_median():
    # every row is 11, 10, ..., 0 across the columns: row i's ground truth (column i) has rank i
    sim = np.tile(np.arange(11, -1, -1, dtype=float), (12, 1))
    t2v = retrieval_metrics(sim)
    assert t2v.ranks.tolist() == list(range(12))
    assert (t2v.R1, t2v.R5, t2v.R10) == pytest.approx((100 / 12, 500 / 12, 1000 / 12))
    assert t2v.MdR == pytest.approx(6.5) and t2v.MnR == pytest.approx(6.5)
    # transposed: every row is constant, so all 12 positions tie with the ground truth in each row
    v2t = retrieval_metrics(sim.T)
    assert len(v2t.ranks) == 144
    assert (v2t.R1, v2t.R5, v2t.R10) == pytest.approx((100 * 12 / 144, 100 * 60 / 144, 100 * 120 / 144))
    assert v2t.MdR == pytest.approx(6.5)


def test_metrics_bad_input():
    with pytest.raises(InputError, match="square"):
        retrieval_metrics(np.zeros((2, 3)))
    with pytest.raises(InputError, match="NaN"):
        retrieval_metrics(np.array([[1.0, np.nan], [0.0, 1.0]]))


# -- similarity calculators ------------------------------------------------------------------------------
def test_mean_pool_normalises_each_frame_and_masks_padding():
    frames = np.array([[[3.0, 4.0], [0.0, 2.0], [100.0, 0.0]]])  # third frame is padding
    mask = np.array([[True, True, False]])
    expected = np.array([0.3, 0.9]) / np.linalg.norm([0.3, 0.9])  # mean of (.6,.8) and (0,1)
    np.testing.assert_allclose(mean_pool(frames, mask)[0], expected, rtol=1e-6)
    # no valid frame: divided by 1, stays zero (no NaN)
    np.testing.assert_array_equal(mean_pool(frames, np.zeros((1, 3), bool)), np.zeros((1, 2)))


def test_extensions_by_hand():
    text = np.array([[1.0, 0.0]])
    frames = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    mask = np.array([[True, True, False]])
    assert similarity_matrix(text, frames, mask, "max")[0, 0] == pytest.approx(1.0)
    assert similarity_matrix(text, frames, mask, "meanP")[0, 0] == pytest.approx(1 / np.sqrt(2))
    w = np.exp(100 * np.array([1.0, 0.0]))
    w /= w.sum()
    pooled = w[0] * np.array([1.0, 0.0]) + w[1] * np.array([0.0, 1.0])
    assert similarity_matrix(text, frames, mask, "softmax")[0, 0] == pytest.approx(pooled[0] / np.linalg.norm(pooled))
    with pytest.raises(InputError, match="Unknown similarity"):
        similarity_matrix(text, frames, mask, "seqTransf")


# -- the index with the oracle -------------------------------------------------------------------------
@pytest.fixture()
def index(oracle, tmp_path):
    idx = VideoIndex(oracle, tmp_path / "cache")
    progress = idx.add_all([VIDEOS / name for name in CLIPS])
    assert [p.done for p in progress] == [1, 2, 3, 4, 5] and not any(p.skipped for p in progress)
    return idx


def test_red_video_ranks_first(index):
    result = index.search("a red video", k=5)
    assert result.names[0] == "red_square.mp4"
    assert result.names[1] == "red_then_blue.mp4"  # 5 of its 8 seconds are red
    assert result.logits == pytest.approx(100 * result.scores)
    assert result.frame_scores.shape == (5, MAX_FRAMES) and not result.approximate
    assert index.search("a blue video", k=1).names == ("blue_square.mp4",)
    assert index.search("yellow stripes", k=1).names == ("yellow_stripes.webm",)


def test_extensions_focus_on_the_matching_frames(index):
    scores = {}
    for method in ("meanP", "max", "softmax"):
        result = index.search("a blue video", k=5, similarity=method)
        scores[method] = dict(zip(result.names, result.scores))
        assert set(result.names[:2]) == {"blue_square.mp4", "red_then_blue.mp4"}
    assert index.search("a blue video", k=1).names[0] == "blue_square.mp4"
    mixed = "red_then_blue.mp4"  # 3 of 8 seconds blue
    assert scores["max"][mixed] > scores["softmax"][mixed] > scores["meanP"][mixed]
    assert scores["max"][mixed] == pytest.approx(scores["max"]["blue_square.mp4"], abs=0.02)


def test_video_to_text(index):
    result = index.captions("blue_square.mp4", "a red video\na blue video\na green video")
    assert result.ranking()[0][0] == "a blue video"
    assert result.scores.shape == (3,)
    # a file not in the index is encoded (through the cache) without being added
    result = index.captions(str(VIDEOS / "green_blink.gif"), ["a red video", "a green video"])
    assert result.ranking()[0][0] == "a green video" and len(index) == len(CLIPS)


def test_video_to_text_carries_each_frames_evidence(index, tmp_path):
    """Per-frame cosines (captions × frames), the frames' times, the content hash, and — when asked —
    the sampled frames themselves; meaning with the oracle: red_then_blue is red for 5 of 8 seconds."""
    result = index.captions("red_then_blue.mp4", ["a red video", "a blue video"], "max", thumbnails=True)
    assert result.frame_scores.shape == (2, 8) and result.times.tolist() == list(range(8))
    red, blue = result.frame_scores
    assert (red[:5] > blue[:5]).all() and (blue[5:] > red[5:]).all()
    assert result.scores == pytest.approx(result.frame_scores.max(axis=1))  # "max" is the best frame
    assert result.key == index.entry("red_then_blue.mp4").key and len(result.key) == 64
    assert len(result.thumbnails) == 8 and all(t.dtype == np.uint8 and t.ndim == 3 for t in result.thumbnails)
    assert tuple(result.thumbnails[0][0, 0]) != tuple(result.thumbnails[-1][0, 0])  # red first, blue last
    assert index.captions("red_then_blue.mp4", ["a red video"]).thumbnails == ()  # only when asked
    # a file not in the index: its frames come from this decode, then again from the file once cached
    copy = tmp_path / "copy.webm"
    copy.write_bytes((VIDEOS / "yellow_stripes.webm").read_bytes() + b"\0")  # not yet in the index
    other = tmp_path / "other.mp4"
    other.write_bytes((VIDEOS / "red_square.mp4").read_bytes() + b"\0")  # new content, same frames
    first = index.captions(str(other), ["a red video"], thumbnails=True)
    again = index.captions(str(other), ["a red video"], thumbnails=True)
    assert len(first.thumbnails) == len(first.times) == first.frame_scores.shape[1] > 0
    assert all((a == b).all() for a, b in zip(first.thumbnails, again.thumbnails))
    # an indexed video whose file is gone keeps its embeddings; its frames cannot be shown
    list(index.add([copy], ["gone.webm"]))
    copy.unlink()
    gone = index.captions("gone.webm", ["yellow stripes"], thumbnails=True)
    assert gone.thumbnails == () and gone.frame_scores.shape[1] == len(gone.times) > 0


def test_evaluation_from_the_bundled_csv(index):
    evaluation = index.evaluate(parse_pairs(VIDEOS / "eval_pairs.csv"))
    assert evaluation.similarity.shape == (4, 4)
    assert evaluation.text_to_video.R1 == 100.0 and evaluation.video_to_text.R1 == 100.0
    assert evaluation.text_to_video.MdR == 1.0
    np.testing.assert_allclose(
        evaluation.similarity[0, 0], index.search("a red video", k=1).scores[0], atol=1e-5
    )


def test_cache_survives_a_restart_and_nothing_is_encoded_twice(oracle, tmp_path):
    first = VideoIndex(oracle, tmp_path)
    first.add_all([VIDEOS / n for n in CLIPS[:3]])
    assert first.encoded_videos == 3
    forwards = oracle.image_forwards
    restarted = VideoIndex(oracle, tmp_path)  # a new process would do the same
    assert restarted.names() == first.names()
    progress = restarted.add_all([VIDEOS / n for n in CLIPS[:3]])
    assert all(p.cached for p in progress) and restarted.encoded_videos == 0
    assert oracle.image_forwards == forwards
    assert restarted.search("a green video", k=1).names == ("green_square.mp4",)
    # the same content under another name is the same video
    copy = tmp_path / "copy.mp4"
    copy.write_bytes((VIDEOS / "red_square.mp4").read_bytes())
    restarted.add_all([copy])
    assert len(restarted) == 3 and oracle.image_forwards == forwards
    # the cache is keyed by model and weights too
    files = list(tmp_path.glob("*/*.npz"))
    assert len(files) == 3 and all("oracle" in f.parent.name for f in files)


def test_cache_dir_is_configurable_and_outside_the_repo(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(CACHE_ENV)
    root = Path(__file__).resolve().parents[1]
    assert root not in default_cache_dir().parents and default_cache_dir().name == "video-index"


def test_a_bad_video_is_skipped_with_its_message(oracle, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    idx = VideoIndex(oracle, tmp_path / "cache", persist=False)
    progress = idx.add_all([VIDEOS / "red_square.mp4", broken, VIDEOS / "blue_square.mp4"])
    assert "not a video" in progress[1].skipped
    assert idx.names() == ["red_square.mp4", "blue_square.mp4"]


def test_same_name_different_content_gets_a_new_name(oracle, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_video(tmp_path / "a" / "clip.mp4", moving_square((200, 0, 0), 8))
    write_video(tmp_path / "b" / "clip.mp4", moving_square((0, 0, 200), 8))
    idx = VideoIndex(oracle, tmp_path / "cache", persist=False)
    idx.add_all([tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"])
    assert idx.names() == ["clip.mp4", "clip.mp4 (2)"]


def test_long_queries_are_cut_to_32_tokens(index):
    result = index.search("a red video " + "with many more words " * 20, k=1)
    assert index.backbone.count_tokens(result.query) <= MAX_WORDS
    assert result.notes and "cut" in result.notes[0]
    assert result.names[0] == "red_square.mp4"


# -- faiss: exact and approximate -------------------------------------------------------------------------
def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, n // 50), dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_search_equals_brute_force(oracle, tmp_path):
    idx = VideoIndex(oracle, tmp_path, persist=False)
    vectors = _clustered(300, 8)
    idx.add_embeddings([f"k{i}" for i in range(300)], [f"v{i}" for i in range(300)], [v[None] for v in vectors])
    query = oracle.encode_texts(["a red video"]).numpy()[0]
    result = idx.search("a red video", k=10)
    expected = np.argsort(-(vectors @ query), kind="stable")[:10]
    assert not result.approximate
    np.testing.assert_allclose(result.scores, (vectors @ query)[expected], atol=1e-5)


def test_approximate_beyond_the_threshold_and_incremental_adds(oracle, tmp_path):
    idx = VideoIndex(oracle, tmp_path, persist=False, exact_up_to=200)
    vectors = _clustered(1200, 8, seed=1)
    idx.add_embeddings([f"k{i}" for i in range(1000)], [f"v{i}" for i in range(1000)], [v[None] for v in vectors[:1000]])
    assert idx.approximate
    query_text = "a green video"
    query = oracle.encode_texts([query_text]).numpy()[0]
    result = idx.search(query_text, k=10)
    exact = set(np.argsort(-(vectors[:1000] @ query))[:10])
    assert result.approximate and len(set(int(n[1:]) for n in result.names) & exact) >= 8
    idx.add_embeddings([f"k{i}" for i in range(1000, 1200)], [f"v{i}" for i in range(1000, 1200)], [v[None] for v in vectors[1000:]])
    result = idx.search(query_text, k=10, similarity="max")  # extensions re-score a meanP shortlist
    assert len(result.names) == 10 and any("shortlist" in n or "candidates" in n for n in result.notes)


# -- bad inputs ---------------------------------------------------------------------------------------------
def test_bad_queries(oracle, tmp_path, index):
    empty = VideoIndex(oracle, tmp_path / "empty", persist=False)
    with pytest.raises(InputError, match="index is empty"):
        empty.search("a red video")
    with pytest.raises(InputError, match="Type a text query"):
        index.search("   ")
    with pytest.raises(InputError, match="Unknown similarity"):
        index.search("a red video", similarity="tightTransf")
    with pytest.raises(InputError, match="not in the index"):
        index.captions("nope.mp4", ["a red video"])
    with pytest.raises(InputError, match="at least one caption"):
        index.captions("red_square.mp4", "\n \n")
    with pytest.raises(InputError, match="Choose at least one video"):
        index.add_all([])


@pytest.mark.parametrize(
    "csv_text, message",
    [
        ("video,caption\nred_square.mp4,a red video\n", "at least two"),
        ("red_square.mp4\nblue_square.mp4,a blue video\n", "two columns"),
        ("video,caption\nred_square.mp4,a red video\nmissing.mp4,a thing\n", "not in the index"),
    ],
)
def test_bad_csv(index, csv_text, message):
    with pytest.raises(InputError, match=message):
        index.evaluate(parse_pairs(csv_text))


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes("video,caption\nä.mp4,x\nb.mp4,y\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-8"):
        parse_pairs(path)


def test_tiny_model_plumbing(tiny_vit, tmp_path):
    idx = VideoIndex(tiny_vit, tmp_path)
    idx.add_all([VIDEOS / n for n in CLIPS[:3]] + [VIDEOS / "green_blink.gif"])
    result = idx.search("a red video", k=3, similarity="softmax")
    assert len(result.names) == 3 and np.isfinite(result.scores).all()
    evaluation = idx.evaluate(parse_pairs(VIDEOS / "eval_pairs.csv")[:3])
    assert evaluation.similarity.shape == (3, 3)
    assert idx.entries[0].frames.shape == (4, tiny_vit.embed_dim)  # 4 s → 4 frames


def test_adding_can_be_stopped_and_keeps_what_was_done(oracle, tmp_path):
    idx = VideoIndex(oracle, tmp_path)
    steps = idx.add([VIDEOS / n for n in CLIPS])
    first = next(steps)
    steps.close()  # the person pressed stop
    assert first.done == 1 and idx.names() == [first.name]
    assert VideoIndex(oracle, tmp_path).names() == [first.name]  # the manifest was written


# -- the official multi-caption protocol (issue 18) -------------------------------------------------
# six captions of three videos: video 0 has captions 0 and 1, video 1 captions 2 and 5, video 2
# captions 3 and 4 (rows: captions, columns: videos)
MULTI_SIM = np.array(
    [
        [0.9, 0.2, 0.1],  # video 0's caption: its video first → rank 0
        [0.3, 0.5, 0.4],  # video 0's caption: third → rank 2
        [0.6, 0.7, 0.1],  # video 1's: first → 0
        [0.2, 0.8, 0.5],  # video 2's: second → 1
        [0.1, 0.3, 0.6],  # video 2's: first → 0
        [0.5, 0.1, 0.9],  # video 1's: third → 2
    ]
)
MULTI_OWNER = np.array([0, 0, 1, 2, 2, 1])


def test_multi_caption_text_to_video_ranks_each_caption_over_the_unique_videos():
    t2v, _ = multi_caption_metrics(MULTI_SIM, MULTI_OWNER)
    # tensor_text_to_video_metrics' order: caption slot by slot, video by video
    assert t2v.ranks.tolist() == [0, 0, 1, 2, 2, 0]
    assert t2v.R1 == pytest.approx(50.0) and t2v.R5 == t2v.R10 == pytest.approx(100.0)
    assert t2v.MdR == 1.0  # torch.median: the LOWER of the middle two (0, 1) + 1; numpy's would be 1.5
    assert t2v.MnR == pytest.approx(5 / 6 + 1)
    assert t2v.StdR == pytest.approx(np.sqrt(174 / 216))  # np.std of ranks + 1 (population)


def test_multi_caption_video_to_text_takes_the_best_caption_of_each_other_video():
    _, v2t = multi_caption_metrics(MULTI_SIM, MULTI_OWNER)
    # video j against video i's captions, the best of them: rows video 0..2 = [.9 .6 .2], [.5 .7 .8], [.4 .9 .6]
    assert v2t.ranks.tolist() == [0, 1, 1]
    assert v2t.R1 == pytest.approx(100 / 3) and v2t.MdR == 2.0 and v2t.MnR == pytest.approx(2 / 3 + 1)


def test_multi_caption_rejects_a_video_without_captions_and_bad_shapes():
    with pytest.raises(InputError, match="caption"):
        multi_caption_metrics(MULTI_SIM, np.array([0, 0, 0, 2, 2, 0]))  # video 1 has none
    with pytest.raises(InputError):
        multi_caption_metrics(MULTI_SIM, MULTI_OWNER[:4])


def test_evaluation_with_several_captions_per_video_uses_the_official_protocol(index):
    pairs = [
        ("red_square.mp4", "a red video"), ("green_square.mp4", "a green video"),
        ("red_square.mp4", "a blue video"), ("blue_square.mp4", "a blue video"),
        ("green_square.mp4", "yellow stripes"),
    ]
    evaluation = index.evaluate(pairs)
    assert evaluation.videos == ("red_square.mp4", "green_square.mp4", "blue_square.mp4")  # unique, in order
    assert evaluation.similarity.shape == (5, 3)  # captions × unique videos: no tied duplicate columns
    assert evaluation.caption_video.tolist() == [0, 1, 0, 2, 1]
    assert evaluation.pairs == tuple(pairs)
    t2v, v2t = multi_caption_metrics(evaluation.similarity, evaluation.caption_video)
    np.testing.assert_array_equal(evaluation.text_to_video.ranks, t2v.ranks)
    np.testing.assert_array_equal(evaluation.video_to_text.ranks, v2t.ranks)
    assert len(evaluation.text_to_video.ranks) == 5 and len(evaluation.video_to_text.ranks) >= 3
    assert any("multi-caption" in note for note in evaluation.notes)


def test_evaluation_text_to_video_and_video_to_text_differ_and_are_not_swapped(index):
    # one caption per video, chosen so that the two directions rank differently
    pairs = [
        ("red_square.mp4", "a red video"), ("red_then_blue.mp4", "a blue video"),
        ("blue_square.mp4", "a red video"), ("green_square.mp4", "a green video"),
    ]
    evaluation = index.evaluate(pairs)
    sim = evaluation.similarity
    assert sim.shape == (4, 4)
    t2v, v2t = retrieval_metrics(sim), retrieval_metrics(sim.T)
    assert t2v.ranks.tolist() != v2t.ranks.tolist()  # the case tells the directions apart
    np.testing.assert_array_equal(evaluation.text_to_video.ranks, t2v.ranks)
    np.testing.assert_array_equal(evaluation.video_to_text.ranks, v2t.ranks)
    assert (evaluation.text_to_video.R1, evaluation.text_to_video.MnR) != (evaluation.video_to_text.R1, evaluation.video_to_text.MnR)


# -- what the tab used to compute itself: the captions' softmax, the best frame, provenance ------------
def test_caption_probabilities_are_the_softmax_of_the_logits():
    from components.clip4clip import caption_probabilities

    logits = LOGIT_SCALE * np.array([0.30, 0.25, 0.10], np.float32)
    probs = caption_probabilities(logits)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    assert probs.sum() == pytest.approx(1.0) and int(np.argmax(probs)) == 0


def test_best_frame_skips_padding_and_falls_back_to_the_start():
    from components.clip4clip import best_frame

    times = np.array([0.5, 1.5, 2.5])
    assert best_frame(np.array([0.1, 0.4, 0.2, np.nan]), times) == 1.5  # the padding slot is NaN
    assert best_frame(np.full(4, np.nan), times) == 0.5  # no scored frame: the first
    assert best_frame(np.array([0.1, 0.2, 0.3, 0.9]), times) == 0.0  # a slot beyond the video's frames


def test_index_state_and_difference_name_the_videos(index):
    from components.clip4clip import index_difference, index_state

    state = index_state(index)
    assert state["videos"] == len(index) and len(state["digest"]) == 64
    assert set(state["keys"].values()) == set(index.names())
    assert index_difference(state, state) == ""
    then = dict(state, digest="0" * 64, videos=state["videos"] + 1, keys={**state["keys"], "f" * 64: "gone.mp4"})
    text = index_difference(then, state)
    assert "index differs" in text and "missing now: gone.mp4" in text and text.endswith("may differ.")


def test_one_index_per_backbone_in_the_process(oracle, monkeypatch, tmp_path):
    from components.clip4clip import forget_indexes, index_for, indexes

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    forget_indexes()
    try:
        first = index_for(oracle)
        assert index_for(oracle) is first and indexes() == [first]
        assert first.root == tmp_path
    finally:
        forget_indexes()
    assert indexes() == []


# -- query by an example image, and the rankings and figures as CSV (issue 21) --------------------------
def test_an_image_query_ranks_videos_and_finds_the_moment(index):
    from components.clip4clip import best_frame
    from components.clip4clip.collection import frame_at
    from testkit import solid

    result = index.search_image(solid((30, 60, 220)), k=5, label="a blue picture")
    assert result.names[0] == "blue_square.mp4" and result.query == "a blue picture"
    mixed = list(result.names).index("red_then_blue.mp4")
    moment = best_frame(result.frame_scores[mixed], index.entry("red_then_blue.mp4").times)
    assert moment >= 5.0  # its blue seconds
    # a frame of another video as the query: red_then_blue at 1 s is red
    red = index.search_image(frame_at(VIDEOS / "red_then_blue.mp4", 1.0), k=2)
    assert set(red.names) == {"red_square.mp4", "red_then_blue.mp4"}
    with pytest.raises(InputError, match="Unknown similarity"):
        index.search_image(solid((0, 0, 255)), similarity="best")


def test_rankings_and_figures_as_csv_read_back(index):
    import csv
    import io

    from components.exports import tables

    result = index.search("a red video", k=3)
    moments = [0.0, 1.5, None]
    rows = list(csv.DictReader(io.StringIO(tables.ranking_csv(result, moments))))
    assert [r["video"] for r in rows] == list(result.names) and [r["rank"] for r in rows] == ["1", "2", "3"]
    assert [float(r["cosine"]) for r in rows] == [float(s) for s in result.scores]  # full precision
    assert float(rows[0]["logit"]) == pytest.approx(100 * float(result.scores[0]))
    assert [r["best_moment_s"] for r in rows] == ["0.0", "1.5", ""]
    assert all(r["best_frame"].isdigit() for r in rows)
    evaluation = index.evaluate(parse_pairs(VIDEOS / "eval_pairs.csv"))
    metrics = list(csv.DictReader(io.StringIO(tables.metrics_csv(evaluation))))
    assert [m["direction"] for m in metrics] == ["text → video", "video → text"]
    assert float(metrics[0]["R@1"]) == pytest.approx(evaluation.text_to_video.R1)
    assert int(metrics[1]["ranks"]) == len(evaluation.video_to_text.ranks)
    matrix = list(csv.reader(io.StringIO(tables.matrix_csv(evaluation))))
    assert matrix[0] == ["caption", "ground_truth", *evaluation.videos]
    assert np.allclose(np.array([[float(v) for v in row[2:]] for row in matrix[1:]]), evaluation.similarity)
    path = tables.save(tables.metrics_csv(evaluation), "../../etc/passwd")
    assert Path(path).name == "etc_passwd.csv" and Path(path).read_text(encoding="utf-8").startswith("direction,")
