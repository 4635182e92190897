"""The ActionCLIP and CLIP4Clip tabs through gradio_client: every endpoint, and bad inputs that
come back as messages while the server keeps serving."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from appserver import running_demo
from app.examples import ASSETS
from components.prompts import ACTIONCLIP16

VIDEOS = ASSETS / "videos"
MODEL = "clip-lab-tiny-vit · random"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cache = tmp_path_factory.mktemp("video-index")
    previous = os.environ.get("CLIP_LAB_VIDEO_CACHE")
    os.environ["CLIP_LAB_VIDEO_CACHE"] = str(cache)
    from components import clip4clip

    clip4clip.forget_indexes()  # indexes made before this module used another cache
    try:
        with running_demo() as (demo, url):
            yield Client(url, verbose=False)
    finally:
        clip4clip.forget_indexes()
        if previous is None:
            os.environ.pop("CLIP_LAB_VIDEO_CACHE", None)
        else:
            os.environ["CLIP_LAB_VIDEO_CACHE"] = previous


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/actionclip_recognise", "/actionclip_rescore", "/actionclip_preset",
        "/clip4clip_search", "/clip4clip_search_submit", "/clip4clip_captions", "/clip4clip_evaluate",
        "/clip4clip_add", "/clip4clip_add_examples", "/clip4clip_status",
        "/actionclip_replay", "/clip4clip_replay", "/clip4clip_captions_replay", "/clip4clip_evaluate_replay",
    } <= endpoints


def test_actionclip_recognise_and_rescore(client):
    top, film, heat, agreement, votes, notes, record, strip = client.predict(
        handle_file(str(VIDEOS / "red_then_blue.mp4")), None, "red, blue, green",
        list(ACTIONCLIP16.templates), 8, 3, MODEL, api_name="/actionclip_recognise",
    )
    assert {c["label"] for c in top["confidences"]} == {"red", "blue", "green"}
    assert len(film) == 8 and all(item["caption"].split(" s · ")[0] for item in film)
    assert heat is not None and "templates" in agreement
    assert len(votes["data"]) == 16
    assert "8.0 s" in notes and "64 frames" in notes
    # switching templates off re-scores the kept features (the model is the kept run's)
    top2, film2, _, agreement2, votes2, _notes, strip2 = client.predict(
        list(ACTIONCLIP16.templates[:4]), 3, api_name="/actionclip_rescore",
    )
    assert len(votes2["data"]) == 4 and "of 4 templates" in agreement2 and len(film2) == 8
    assert len(strip2) == 4 and "of 4 prompts" in strip2[2]["caption"]  # the strip follows the re-scoring


def test_actionclip_list_of_images(client, tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200), (0, 200, 0)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (64, 48), colour).save(paths[-1])
    top, film, *_ = client.predict(
        None, [handle_file(str(p)) for p in paths], "red, blue",
        list(ACTIONCLIP16.templates), 8, 2, MODEL, api_name="/actionclip_recognise",
    )
    # 3 images for T = 8 segments: the official sampler repeats them (slot i shows image i·3 // 8)
    assert len(film) == 8 and len(top["confidences"]) == 2


def test_actionclip_preset(client):
    labels = client.predict("ucf101", api_name="/actionclip_preset")
    assert labels.startswith("apply eye makeup, apply lipstick") and labels.count(",") == 100


# -- ActionCLIP's handlers called directly, without a server ---------------------------------------
def test_actionclip_handlers_called_directly(ctx):
    from app.tabs import actionclip

    s = actionclip.TAB.defaults(video=str(VIDEOS / "red_then_blue.mp4"), labels="red, blue, green", top_k=3,
                                model=ctx.default_choice)
    answer = actionclip.recognise(ctx, s)
    assert set(answer.outputs) == {"top", "filmstrip", "heat", "agreement", "votes"}
    assert set(answer.outputs["top"]) == {"red", "blue", "green"} and len(answer.outputs["filmstrip"]) == 8
    assert len(answer.outputs["votes"]) == 16 and len(answer.steps) == 4
    assert answer.scores["agreeing_templates"] <= 16 and "random" in answer.weights
    # the re-score reads only the kept features: the same templates give the same prediction
    again = actionclip.rescore(ctx, s, answer.keep)
    assert again.outputs["top"] == answer.outputs["top"] and again.keep is None
    fewer = actionclip.rescore(ctx, s.replace(templates=list(ACTIONCLIP16.templates[:2])), answer.keep)
    assert len(fewer.outputs["votes"]) == 2 and "of 2 templates" in fewer.outputs["agreement"]


def test_actionclip_direct_errors_say_what_to_do(ctx):
    from app.tabs import actionclip
    from components.errors import InputError

    s = actionclip.TAB.defaults(model=ctx.default_choice)
    with pytest.raises(InputError, match="Upload a video"):
        actionclip.recognise(ctx, s)
    with pytest.raises(InputError, match="Recognise a video first"):
        actionclip.rescore(ctx, s, None)


def test_clip4clip_search_captions_evaluate(client):
    gallery, ranking, notes, status, record, strip = client.predict(
        "a red video", 3, "meanP", MODEL, api_name="/clip4clip_search",
    )
    from app.tabs.clip4clip import ranking_record_csv  # the page turns the record into a CSV after a search
    from components.exports.tables import RANKING_HEADER

    rows = list(csv.DictReader(open(ranking_record_csv(record), encoding="utf-8")))
    assert list(rows[0]) == list(RANKING_HEADER) and [r["video"] for r in rows] == [r[1] for r in ranking["data"]]
    saved = json.loads(open(record).read())["scores"]["ranking"]
    for row, shown, (name, cosine, moment, frame) in zip(rows, ranking["data"], saved):
        # the CSV has the figures in full (the table shows them rounded) and the same best moment
        assert float(row["cosine"]) == cosine and round(cosine, 4) == shown[2]
        assert float(row["best_moment_s"]) == moment and round(moment, 1) == shown[4]
        assert row["best_frame"] == ("" if frame is None else str(frame))
    assert any(float(r["cosine"]) != s[2] for r, s in zip(rows, ranking["data"]))  # not the rounded table
    assert ranking_record_csv(None) is None
    assert len(gallery) == 3 and len(ranking["data"]) == 3  # the bundled clips were indexed on demand
    assert "videos" in status and "exact" in status
    gallery, *_ = client.predict("a blue video", 2, "softmax", MODEL, api_name="/clip4clip_search_submit")
    assert len(gallery) == 2
    label, table, notes, record, strip = client.predict(
        "blue_square.mp4", None, "a red video\na blue video", "max", MODEL, api_name="/clip4clip_captions",
    )
    assert len(table["data"]) == 2 and "blue_square.mp4" in notes and len(strip) == 4
    metrics, matrix, notes, status, record, strip, figures = client.predict(
        handle_file(str(VIDEOS / "eval_pairs.csv")), "meanP", MODEL, api_name="/clip4clip_evaluate",
    )
    assert [Path(f).name for f in figures] == ["clip4clip-metrics.csv", "clip4clip-similarity.csv"]
    assert [row[0] for row in metrics["data"]] == ["text → video", "video → text"]
    assert matrix is not None and "4 pairs" in notes and len(strip) == 4


def test_clip4clip_index_endpoints(client, tmp_path):
    status, log, pick, gallery = client.predict(MODEL, api_name="/clip4clip_add_examples")
    assert "from the cache" in log or "encoded" in log
    copy = tmp_path / "my clip.mp4"
    copy.write_bytes((VIDEOS / "green_square.mp4").read_bytes())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"nope")
    status, log, pick, gallery = client.predict(
        [handle_file(str(copy)), handle_file(str(broken))], MODEL, api_name="/clip4clip_add",
    )
    assert "broken.mp4" in log and "not a video" in log
    status, pick, gallery = client.predict(MODEL, api_name="/clip4clip_status")
    assert "videos" in status and len(gallery) >= 5


def _picture(item):
    from PIL import Image

    image = item["image"] if isinstance(item, dict) and "image" in item else item
    return Image.open(image["path"] if isinstance(image, dict) else image).convert("RGB")


def _top_part_matches(main, step, tolerance=6.0):
    """`step` (a strip picture: the fitted picture above its caption) shows `main` near-exactly."""
    import numpy as np

    width = min(step.width, main.width)  # _fit only shrinks; a narrow picture is centred
    height = round(main.height * width / main.width)
    left = (step.width - width) // 2
    top = step.crop((left, 0, left + width, height)).resize((64, 64))
    return np.abs(np.asarray(main.resize((64, 64)), float) - np.asarray(top, float)).mean() < tolerance


def test_actionclip_strip_comes_from_the_run_and_the_record_replays(client, tmp_path):
    import json

    from app.howitworks import mosaic_picture

    video = str(VIDEOS / "red_then_blue.mp4")
    args = ("red, blue, green", list(ACTIONCLIP16.templates[:6]), 4, 2, MODEL)
    top, film, heat, agreement, votes, notes, record, strip = client.predict(
        handle_file(video), None, *args, api_name="/actionclip_recognise",
    )
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert [s["caption"][:2] for s in strip] == ["1.", "2.", "3.", "4."]
    # step 1 is this run's filmstrip (the same thumbnails the gallery shows), not a re-sampling
    assert _top_part_matches(mosaic_picture([_picture(f) for f in film], columns=4), _picture(strip[0]))
    assert "of 6 prompts" in strip[2]["caption"] and "of 6 templates" in agreement
    saved = json.loads(open(record).read())
    assert saved["tab"] == "actionclip" and saved["settings"]["T"] == 4
    assert len(saved["inputs"]["video"]["sha256"]) == 64 and "random" in saved["weights"]
    assert list(saved["scores"]["top"])[:2] == [c["label"] for c in top["confidences"]]
    replayed, film2, *_ = client.predict(handle_file(record), handle_file(video), None, api_name="/actionclip_replay")
    assert replayed == top and [f["caption"] for f in film2] == [f["caption"] for f in film]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(str(VIDEOS / "blue_square.mp4")), None,
                       api_name="/actionclip_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "clip4clip"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(video), None, api_name="/actionclip_replay")


def test_actionclip_record_of_images_replays_with_the_images(client, tmp_path):
    import json

    from PIL import Image

    paths = []
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])
    files = [handle_file(str(p)) for p in paths]
    top, *_, record, strip = client.predict(
        None, files, "red, blue", list(ACTIONCLIP16.templates[:2]), 8, 2, MODEL, api_name="/actionclip_recognise",
    )
    assert len(strip) == 4
    assert set(json.loads(open(record).read())["inputs"]) == {"image 1", "image 2"}
    replayed, *_ = client.predict(handle_file(record), None, files, api_name="/actionclip_replay")
    assert replayed == top
    with pytest.raises(Exception, match="made with 2 images"):
        client.predict(handle_file(record), None, files[:1], api_name="/actionclip_replay")
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), None, files[::-1], api_name="/actionclip_replay")


def test_the_ranking_csv_of_a_record_that_is_not_a_search_is_empty(tmp_path):
    from app.tabs.clip4clip import ranking_record_csv

    for text in ("not json", "{}", '{"scores": {"ranking": []}}', '{"scores": {"ranking": [["a", 0.5]]}}'):
        (tmp_path / "record.json").write_text(text)
        assert ranking_record_csv(str(tmp_path / "record.json")) is None
    assert ranking_record_csv(str(tmp_path / "missing.json")) is None


def test_clip4clip_strip_and_replay_with_the_index_state(client, tmp_path):
    import json

    from app.howitworks import mosaic_picture

    gallery, ranking, notes, status, record, strip = client.predict(
        "a blue video", 2, "max", MODEL, api_name="/clip4clip_search",
    )
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "a blue video" in strip[0]["caption"]
    # step 2 shows the ranked videos exactly as the gallery does, in the same order
    assert _top_part_matches(mosaic_picture([_picture(g) for g in gallery], columns=2), _picture(strip[1]))
    saved = json.loads(open(record).read())
    assert saved["tab"] == "clip4clip" and saved["settings"] == {"query": "a blue video", "k": 2, "similarity": "max"}
    assert saved["inputs"] == {} and saved["index"]["videos"] >= 2
    assert all(len(key) == 64 for key in saved["index"]["keys"])
    assert [r[1] for r in ranking["data"]] == [name for name, *_ in saved["scores"]["ranking"]]
    replayed, ranking2, notes2, *_ = client.predict(handle_file(record), api_name="/clip4clip_replay")
    assert ranking2["data"] == ranking["data"] and "Same index" in notes2
    # an index that held other videos is named in the replay's notes
    changed = dict(saved["index"], digest="0" * 64, videos=saved["index"]["videos"] + 1,
                   keys={**saved["index"]["keys"], "f" * 64: "gone.mp4"})
    other = tmp_path / "changed.json"
    other.write_text(json.dumps({**saved, "index": changed}))
    _, ranking3, notes3, *_ = client.predict(handle_file(str(other)), api_name="/clip4clip_replay")
    assert "index differs" in notes3 and "gone.mp4" in notes3
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**saved, "tab": "actionclip"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(wrong)), api_name="/clip4clip_replay")


def _index_of_the_server():
    """The index this module's client searches inside the in-process server (its own, which shows the
    shared examples too), to recompute a run's arrays."""
    from components import clip4clip

    owned = [index for index in clip4clip.indexes() if index.owner]
    (index,) = owned  # one client, one browser id
    return index


def test_clip4clip_captions_strip_comes_from_the_run_and_the_record_replays(client, tmp_path):
    import json

    import numpy as np

    from app.howitworks import bars_picture, grid_picture, mosaic_picture, text_picture
    from components.video import CLIP4CLIP_SAMPLING, load_video

    captions = "a red video\na blue video\nyellow stripes"
    label, table, notes, record, strip = client.predict(
        "red_then_blue.mp4", None, captions, "max", MODEL, api_name="/clip4clip_captions",
    )
    assert [s["caption"][:2] for s in strip] == ["1.", "2.", "3.", "4."]
    # step 1: the frames CLIP4Clip sampled (1 per second: 8 from the 8 s clip), not a stand-in
    sampled = load_video(str(VIDEOS / "red_then_blue.mp4"), CLIP4CLIP_SAMPLING)
    assert len(sampled.frames) == 8 and strip[0]["caption"].startswith("1. 8 frames sampled at 1 per second")
    thumbs = []
    for frame in sampled.frames:
        thumb = frame.convert("RGB")
        thumb.thumbnail((160, 160))
        thumbs.append(thumb)
    assert _top_part_matches(mosaic_picture(thumbs, columns=4), _picture(strip[0]))
    # step 2: the captions as given; step 3: the (8 frames × 3 captions) cosine grid of this run
    assert _top_part_matches(text_picture("Captions", captions.splitlines()), _picture(strip[1]))
    result = _index_of_the_server().captions("red_then_blue.mp4", captions, "max")
    assert result.frame_scores.shape == (3, 8) and "8 frames in time, columns: 3 captions" in strip[2]["caption"]
    assert _top_part_matches(grid_picture(result.frame_scores.T), _picture(strip[2]))
    # step 4: the pooled scores, ranked as the table; with "max" each is the best frame's cosine
    np.testing.assert_allclose(result.scores, result.frame_scores.max(axis=1), atol=1e-6)
    assert [row[1] for row in table["data"]] == [c for c, _ in result.ranking()]
    bars = bars_picture([c for c, _ in result.ranking()], [s for _, s in result.ranking()], "max cosine")
    assert _top_part_matches(bars, _picture(strip[3])) and "max over frames" in strip[3]["caption"]
    saved = json.loads(open(record).read())
    assert saved["tab"] == "clip4clip_captions" and saved["inputs"] == {}
    assert saved["settings"] == {"indexed_video": "red_then_blue.mp4", "captions": captions, "similarity": "max"}
    assert saved["indexed_video"]["sha256"] == result.key and len(result.key) == 64 and "random" in saved["weights"]
    assert [c for c, _ in saved["scores"]["ranking"]] == [row[1] for row in table["data"]]
    label2, table2, notes2, _, strip2 = client.predict(handle_file(record), None, api_name="/clip4clip_captions_replay")
    assert label2 == label and table2["data"] == table["data"] and "Same video" in notes2
    assert [s["caption"] for s in strip2] == [s["caption"] for s in strip]
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**saved, "tab": "clip4clip"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(wrong)), None, api_name="/clip4clip_captions_replay")


def test_clip4clip_captions_of_an_uploaded_video_replay_with_that_video(client, tmp_path):
    import json

    from PIL import Image

    video = tmp_path / "mine.gif"  # not in the index: encoded for this run, not added
    frames = [Image.new("RGB", (48, 32), colour) for colour in [(0, 200, 0), (200, 0, 0), (0, 200, 0)]]
    frames[0].save(video, save_all=True, append_images=frames[1:], duration=1000, loop=0)
    label, table, notes, record, strip = client.predict(
        "blue_square.mp4", handle_file(str(video)), "a green video\na red video", "meanP", MODEL,
        api_name="/clip4clip_captions",
    )
    assert "mine.gif" in notes and len(strip) == 4 and "frames sampled at 1 per second" in strip[0]["caption"]
    saved = json.loads(open(record).read())
    assert saved["settings"]["indexed_video"] is None and saved["inputs"]["video"]["name"] == "mine.gif"
    assert len(saved["inputs"]["video"]["sha256"]) == 64 and "indexed_video" not in saved
    label2, table2, *_ = client.predict(handle_file(record), handle_file(str(video)), api_name="/clip4clip_captions_replay")
    assert label2 == label and table2["data"] == table["data"]
    with pytest.raises(Exception, match="made with the video mine.gif; upload it"):
        client.predict(handle_file(record), None, api_name="/clip4clip_captions_replay")
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(str(VIDEOS / "red_square.mp4")),
                       api_name="/clip4clip_captions_replay")


def test_clip4clip_captions_never_read_a_server_path_named_as_a_video(client):
    with pytest.raises(Exception, match="not in the index"):
        client.predict(str(VIDEOS / "red_square.mp4"), None, "a red video", "meanP", MODEL,
                       api_name="/clip4clip_captions")


def test_clip4clip_evaluate_strip_comes_from_the_run_and_the_record_replays(client, tmp_path):
    import json

    from app.howitworks import bars_picture, grid_picture
    from components.clip4clip import parse_pairs

    pairs_csv = VIDEOS / "eval_pairs.csv"
    metrics, matrix, notes, status, record, strip, _figures = client.predict(
        handle_file(str(pairs_csv)), "softmax", MODEL, api_name="/clip4clip_evaluate",
    )
    assert [s["caption"][:2] for s in strip] == ["1.", "2.", "3.", "4."]
    result = _index_of_the_server().evaluate(parse_pairs(pairs_csv), "softmax")
    n = len(result.captions)
    assert f"({n} x {n};" in strip[1]["caption"] or f"({n} × {n};" in strip[1]["caption"]
    assert _top_part_matches(grid_picture(result.similarity), _picture(strip[1]))
    t2v = result.text_to_video
    expected = bars_picture(["R@1", "R@5", "R@10"], [t2v.R1, t2v.R5, t2v.R10],
                            f"text → video: MdR {t2v.MdR:g}, MnR {t2v.MnR:.1f}", vmax=100.0)
    assert _top_part_matches(expected, _picture(strip[2]))
    assert [row[1] for row in metrics["data"]] == [round(result.text_to_video.R1, 2), round(result.video_to_text.R1, 2)]
    saved = json.loads(open(record).read())
    assert saved["tab"] == "clip4clip_evaluate" and saved["settings"] == {"similarity": "softmax"}
    assert saved["inputs"]["CSV"]["name"] == "eval_pairs.csv" and len(saved["inputs"]["CSV"]["sha256"]) == 64
    assert saved["scores"]["metrics"]["text → video"]["R@1"] == pytest.approx(t2v.R1)
    assert set(saved["videos"]) == set(result.videos)
    metrics2, _, notes2, _, _, strip2, _ = client.predict(
        handle_file(record), handle_file(str(pairs_csv)), api_name="/clip4clip_evaluate_replay",
    )
    assert metrics2["data"] == metrics["data"] and "Same videos" in notes2
    assert [s["caption"] for s in strip2] == [s["caption"] for s in strip]
    with pytest.raises(Exception, match="made with the CSV eval_pairs.csv; upload it"):
        client.predict(handle_file(record), None, api_name="/clip4clip_evaluate_replay")
    other_csv = tmp_path / "eval_pairs.csv"
    other_csv.write_text(pairs_csv.read_text() + "red_square.mp4,a red square\n")
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(str(other_csv)), api_name="/clip4clip_evaluate_replay")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**saved, "tab": "clip4clip_captions"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(wrong)), handle_file(str(pairs_csv)), api_name="/clip4clip_evaluate_replay")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c, p: c.predict(handle_file(str(p["junk"])), None, "run", list(ACTIONCLIP16.templates), 8, 3, MODEL,
                                api_name="/actionclip_recognise"), "not a video"),
        (lambda c, p: c.predict(handle_file(str(VIDEOS / "red_square.mp4")), None, " , ", list(ACTIONCLIP16.templates),
                                8, 3, MODEL, api_name="/actionclip_recognise"), "at least one label"),
        (lambda c, p: c.predict(handle_file(str(VIDEOS / "red_square.mp4")), None, "run", [], 8, 3, MODEL,
                                api_name="/actionclip_recognise"), "at least one prompt template"),
        (lambda c, p: c.predict("   ", 3, "meanP", MODEL, api_name="/clip4clip_search"), "Type a text query"),
        (lambda c, p: c.predict(handle_file(str(p["csv"])), "meanP", MODEL, api_name="/clip4clip_evaluate"), "two columns"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, call, message):
    paths = {"junk": tmp_path / "junk.mp4", "csv": tmp_path / "pairs.csv"}
    paths["junk"].write_bytes(b"\x00" * 3000)
    paths["csv"].write_text("video,caption\nonly-one-column\nred_square.mp4,a red video\n")
    with pytest.raises(Exception) as info:
        call(client, paths)
    assert message in str(info.value)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status


# -- the CLIP4Clip handlers called directly, without a server ---------------------------------------
@pytest.fixture()
def clip4clip_ctx(tmp_path, monkeypatch):
    from app.context import AppContext, Settings
    from components import clip4clip

    monkeypatch.setenv("CLIP_LAB_VIDEO_CACHE", str(tmp_path / "video-index"))
    clip4clip.forget_indexes()
    try:
        yield AppContext(Settings("clip-lab-tiny-vit", "random", "cpu"))
    finally:
        clip4clip.forget_indexes()


def test_clip4clip_handlers_called_directly(clip4clip_ctx):
    from app.scaffold import run_all
    from app.tabs.clip4clip import TAB, add_bundled, evaluate, rank_captions, replay_search, search

    ctx = clip4clip_ctx
    model = dict(model=ctx.default_choice)
    found = search(ctx, TAB.defaults(query="a red video", k=3, similarity="meanP", **model))
    assert len(found.outputs["gallery"]) == 3 and [r[0] for r in found.outputs["ranking"]] == [1, 2, 3]
    assert found.extra["index"]["videos"] >= 3 and len(found.scores["ranking"]) == 3 and len(found.steps) == 4
    again = replay_search(ctx, TAB.defaults(query="a red video", k=3, similarity="meanP", **model),
                          {"index": found.extra["index"]})
    assert again.notes[0].startswith("Same index") and again.scores == found.scores
    ranked = rank_captions(ctx, TAB.defaults(indexed_video="blue_square.mp4", video=None,
                                             captions="a red video\na blue video", similarity="max", **model))
    assert sum(ranked.outputs["caption_label"].values()) == pytest.approx(1.0)
    assert ranked.settings == {"indexed_video": "blue_square.mp4"} and ranked.extra["indexed_video"]["sha256"]
    measured = evaluate(ctx, TAB.defaults(CSV=str(VIDEOS / "eval_pairs.csv"), similarity="meanP", **model))
    assert [row[0] for row in measured.outputs["metrics"]] == ["text → video", "video → text"]
    added = run_all(add_bundled(ctx, TAB.defaults(**model)))
    assert "from the cache" in added.outputs["add_log"] and added.outputs["index_gallery"]


# -- image → video, CSV exports, the operator's collection ---------------------------------------------
def test_clip4clip_search_by_an_image_or_a_frame_of_a_video(client):
    gallery, ranking, notes, status, record, table = client.predict(
        None, handle_file(str(VIDEOS / "red_then_blue.mp4")), 6.5, 3, "meanP", MODEL, api_name="/clip4clip_search_image",
    )
    assert len(gallery) == 3 and len(ranking["data"]) == 3
    assert "the frame at 6.5 s of red_then_blue.mp4" in notes and "best at" in gallery[0]["caption"]
    rows = list(csv.DictReader(open(table, encoding="utf-8")))
    assert [r["video"] for r in rows] == [r[1] for r in ranking["data"]]
    assert all(float(r["best_moment_s"]) >= 0 and r["best_frame"] != "" for r in rows)
    saved = json.loads(open(record).read())
    assert saved["tab"] == "clip4clip_search_image" and saved["inputs"]["query_video"]["name"] == "red_then_blue.mp4"
    # the record replays with its video uploaded again: the same ranking, on the same index
    video = handle_file(str(VIDEOS / "red_then_blue.mp4"))
    _, replayed, replay_notes, *_ = client.predict(handle_file(record), None, video, api_name="/clip4clip_search_image_replay")
    assert replayed["data"] == ranking["data"] and "Same index" in replay_notes and "6.5 s" in replay_notes
    picture = ASSETS / "world" / "blue-circle.png"
    gallery, ranking, notes, _, image_record, _ = client.predict(handle_file(str(picture)), None, 0, 2, "max", MODEL,
                                                                 api_name="/clip4clip_search_image")
    assert len(ranking["data"]) == 2 and "the image blue-circle.png" in notes
    _, replayed, *_ = client.predict(handle_file(image_record), handle_file(str(picture)), None,
                                     api_name="/clip4clip_search_image_replay")
    assert replayed["data"] == ranking["data"]
    with pytest.raises(Exception, match="upload"):  # the picture is not in the record: it must come with it
        client.predict(handle_file(image_record), None, None, api_name="/clip4clip_search_image_replay")
    other = ASSETS / "world" / "green-heart.png"
    with pytest.raises(Exception, match="not the"):  # another picture than the record's is refused
        client.predict(handle_file(image_record), handle_file(str(other)), None, api_name="/clip4clip_search_image_replay")


def test_clip4clip_collection_through_the_app(client, tmp_path, monkeypatch, tiny_vit):
    from components.clip4clip import collection as library

    source = tmp_path / "library"
    (source / "nested").mkdir(parents=True)
    for name in ("red_square.mp4", "blue_square.mp4"):
        (source / name).write_bytes((VIDEOS / name).read_bytes())
    (source / "nested" / "green_square.mp4").write_bytes((VIDEOS / "green_square.mp4").read_bytes())
    out = tmp_path / "collection"
    library.index_collection(source, out, make_backbone=lambda: tiny_vit, progress=False)
    library.build_index(out)
    monkeypatch.setenv(library.COLLECTION_ENV, str(out))
    gallery, ranking, notes, status, record, table = client.predict(
        "a red video", None, 3, MODEL, api_name="/clip4clip_collection_search",
    )
    names = [row[1] for row in ranking["data"]]
    assert sorted(names) == ["blue_square.mp4", "nested/green_square.mp4", "red_square.mp4"]
    assert len(gallery) == 3 and all(" at " in item["caption"] for item in gallery)  # best moments, decoded
    assert "3 videos" in status and "clip-lab-tiny-vit" in status
    page = " ".join(map(str, (gallery, ranking, notes, status, open(record).read(), open(table).read())))
    assert str(tmp_path) not in page  # the collection's server paths stay off the page
    rows = list(csv.DictReader(open(table, encoding="utf-8")))
    assert [r["video"] for r in rows] == names and all(float(r["duration_s"]) > 0 for r in rows)
    picture = ASSETS / "world" / "blue-circle.png"
    _, ranking2, notes2, *_ = client.predict("ignored", handle_file(str(picture)), 2, MODEL,
                                             api_name="/clip4clip_collection_search")
    assert len(ranking2["data"]) == 2 and "the text was not used" in notes2
    # a text search replays from its record alone, against the collection open now
    _, replayed, replay_notes, *_ = client.predict(handle_file(record), None, api_name="/clip4clip_collection_search_replay")
    assert replayed["data"] == ranking["data"] and "Same collection" in replay_notes
    smaller = tmp_path / "smaller"
    (source / "nested" / "green_square.mp4").unlink()
    library.index_collection(source, smaller, make_backbone=lambda: tiny_vit, progress=False)
    monkeypatch.setenv(library.COLLECTION_ENV, str(smaller))
    _, replayed, replay_notes, *_ = client.predict(handle_file(record), None, api_name="/clip4clip_collection_search_replay")
    assert "differs from the recorded one" in replay_notes and "videos 3 then, 2 now" in replay_notes
    assert str(tmp_path) not in replay_notes
