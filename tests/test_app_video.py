"""The ActionCLIP and CLIP4Clip tabs through gradio_client: every endpoint, and bad inputs that
come back as messages while the server keeps serving."""

from __future__ import annotations

import os

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
    from app.tabs import clip4clip

    clip4clip._indexes.clear()  # indexes made before this module used another cache
    try:
        with running_demo() as (demo, url):
            yield Client(url, verbose=False)
    finally:
        clip4clip._indexes.clear()
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
    } <= endpoints


def test_actionclip_recognise_and_rescore(client):
    top, film, heat, agreement, votes, notes = client.predict(
        handle_file(str(VIDEOS / "red_then_blue.mp4")), None, "red, blue, green",
        list(ACTIONCLIP16.templates), 8, 3, MODEL, api_name="/actionclip_recognise",
    )
    assert {c["label"] for c in top["confidences"]} == {"red", "blue", "green"}
    assert len(film) == 8 and all(item["caption"].split(" s · ")[0] for item in film)
    assert heat is not None and "templates" in agreement
    assert len(votes["data"]) == 16
    assert "8.0 s" in notes and "64 frames" in notes
    # switching templates off re-scores the stored features
    top2, film2, _, agreement2, votes2 = client.predict(
        list(ACTIONCLIP16.templates[:4]), 3, MODEL, api_name="/actionclip_rescore",
    )
    assert len(votes2["data"]) == 4 and "of 4 templates" in agreement2 and len(film2) == 8


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
    assert len(film) == 3 and len(top["confidences"]) == 2


def test_actionclip_preset(client):
    labels = client.predict("UCF101 (101 actions)", api_name="/actionclip_preset")
    assert labels.startswith("apply eye makeup, apply lipstick") and labels.count(",") == 100


def test_clip4clip_search_captions_evaluate(client):
    gallery, ranking, notes, status = client.predict("a red video", 3, "meanP", MODEL, api_name="/clip4clip_search")
    assert len(gallery) == 3 and len(ranking["data"]) == 3  # the bundled clips were indexed on demand
    assert "videos" in status and "exact" in status
    gallery, *_ = client.predict("a blue video", 2, "softmax", MODEL, api_name="/clip4clip_search_submit")
    assert len(gallery) == 2
    label, table, notes = client.predict(
        "blue_square.mp4", None, "a red video\na blue video", "max", MODEL, api_name="/clip4clip_captions",
    )
    assert len(table["data"]) == 2 and "blue_square.mp4" in notes
    metrics, matrix, notes, status = client.predict(
        handle_file(str(VIDEOS / "eval_pairs.csv")), "meanP", MODEL, api_name="/clip4clip_evaluate",
    )
    assert [row[0] for row in metrics["data"]] == ["text → video", "video → text"]
    assert matrix is not None and "4 pairs" in notes


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
