"""The Compare tab through gradio_client on the tiny models: the board, its PNG download, the
GroupViT vs LSeg view, the shared work stated, and a bad input answered while the server keeps serving.
DepthCLIP's RN50 is swapped for the tiny ResNet (CLIP_LAB_DEPTHCLIP_MODEL), as in the DepthCLIP tab's tests."""

from __future__ import annotations


import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.examples import skimage_photo
from appserver import TINY_DEPTHCLIP, environment, running_demo

TINY = "clip-lab-tiny-vit · random"


@pytest.fixture(scope="module")
def client():
    with environment(TINY_DEPTHCLIP), running_demo() as (demo, url):
        yield Client(url, verbose=False)


def compare(client, image, labels, *, method="naclip", templates="single", proposals=5, score=0.9, height=64):
    return client.predict(
        handle_file(image), labels, method, templates, proposals, score, height, TINY, api_name="/compare_run"
    )


def test_endpoint_is_named(client):
    assert "/compare_run" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_board_download_and_side_by_side(client):
    board, download, status, record, lseg_png, groupvit_png, this_run = compare(client, skimage_photo("chelsea"), "cat, floor, wall")
    captions = [item["caption"] for item in board]
    assert len(board) == 6
    assert captions[0].startswith("The image") and "cat, floor, wall" in captions[0]
    for caption, word in zip(captions[1:], ("Zero-shot", "LSeg", "GroupViT", "ViLD", "DepthCLIP")):
        assert caption.startswith(word)
    with Image.open(download) as png:
        assert png.format == "PNG" and png.width > 900 and png.height > 300
    assert lseg_png.endswith(".png") and groupvit_png.endswith(".png")
    assert "1 dense pass" in status and "reused 3 times" in status
    assert "clip-lab-tiny-rn-depth" in status and "meaningless" in status
    assert "same label to" in this_run and "| cat |" in this_run


def test_repeated_labels_cost_no_text_forward(client):
    compare(client, skimage_photo("coffee"), "cup, table")
    *_, status, _, _, _, _ = compare(client, skimage_photo("astronaut"), "cup, table", templates="imagenet80", proposals=10)
    assert "80 ImageNet" not in status  # the status speaks of counts, not settings
    first_line = [line for line in status.split("\n\n") if line.startswith("**Shared work:**")][0]
    assert "reused 3 times" in first_line
    *_, status, _, _, _, _ = compare(client, skimage_photo("astronaut"), "cup, table", templates="imagenet80", proposals=10)
    assert "0 prompts went through the text tower" in status and "0 for DepthCLIP" in status


def test_bad_input_is_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception, match="at least one label"):
        compare(client, skimage_photo("chelsea"), " , ; ")
    assert len(compare(client, skimage_photo("chelsea"), "cat")[0]) == 6


def test_a_run_record_replays_to_the_same_board(client):
    import json

    photo = skimage_photo("coffee")
    board, _, _, record, *_ = compare(client, photo, "cup, saucer, table")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "compare" and saved["settings"]["labels"] == "cup, saucer, table"
    assert set(saved["scores"]) == {"zeroshot", "lseg_shares", "groupvit_top_classes", "vild_detections", "depth_median_m"}
    replayed, _, _, again, *_ = client.predict(handle_file(record), handle_file(photo), api_name="/compare_replay")
    assert json.loads(open(again).read())["scores"] == saved["scores"]
    assert [item["caption"] for item in replayed] == [item["caption"] for item in board]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/compare_replay")
