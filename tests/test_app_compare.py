"""The Compare tab on the tiny models, called directly and through gradio_client: the board, its PNG
download, the GroupViT vs LSeg view, the shared work stated, and a bad input answered while the server
keeps serving. DepthCLIP's RN50 is swapped for the tiny ResNet (CLIP_LAB_DEPTHCLIP_MODEL), as in the
DepthCLIP tab's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.examples import skimage_photo
from appserver import TINY_DEPTHCLIP, environment

TINY = "clip-lab-tiny-vit · random"


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's app runs DepthCLIP on the tiny ResNet
    return app_client


def compare(client, image, labels, *, method="naclip", templates="single", proposals=5, regions="pooled", score=0.9,
            height=64):
    return client.predict(
        handle_file(image), labels, method, templates, proposals, regions, score, height, TINY, api_name="/compare_run"
    )


def test_endpoint_is_named(client):
    assert "/compare_run" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_board_download_and_side_by_side(client):
    board, download, status, lseg_png, groupvit_png, this_run, notes, record = compare(
        client, skimage_photo("chelsea"), "cat, floor, wall"
    )
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
    status = compare(client, skimage_photo("astronaut"), "cup, table", templates="imagenet80", proposals=10)[2]
    assert "80 ImageNet" not in status  # the status speaks of counts, not settings
    first_line = [line for line in status.split("\n\n") if line.startswith("**Shared work:**")][0]
    assert "reused 3 times" in first_line
    status = compare(client, skimage_photo("astronaut"), "cup, table", templates="imagenet80", proposals=10)[2]
    assert "0 prompts went through the text tower" in status and "0 for DepthCLIP" in status


def test_bad_input_is_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception, match="at least one label"):
        compare(client, skimage_photo("chelsea"), " , ; ")
    assert len(compare(client, skimage_photo("chelsea"), "cat")[0]) == 6


def test_a_run_record_replays_to_the_same_board(client):
    import json

    photo = skimage_photo("coffee")
    board, *_, record = compare(client, photo, "cup, saucer, table")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "compare" and saved["settings"]["labels"] == "cup, saucer, table"
    assert set(saved["scores"]) == {"zeroshot", "lseg_shares", "groupvit_top_classes", "vild_detections", "depth_median_m"}
    replayed, *_, again = client.predict(handle_file(record), handle_file(photo), api_name="/compare_replay")
    assert json.loads(open(again).read())["scores"] == saved["scores"]
    assert [item["caption"] for item in replayed] == [item["caption"] for item in board]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/compare_replay")
    # a record from before "Region embeddings" existed embedded ViLD's regions as crops, and replays so
    assert saved["settings"]["region_embedding"] == "pooled"
    crops, *_, crops_record = compare(client, photo, "cup, saucer, table", regions="crops")
    older = json.loads(open(crops_record).read())
    del older["settings"]["region_embedding"]
    path = Path(record).with_name("compare-before-region-embeddings.json")
    path.write_text(json.dumps(older))
    *_, replayed_older = client.predict(handle_file(str(path)), handle_file(photo), api_name="/compare_replay")
    again = json.loads(open(replayed_older).read())
    assert again["settings"]["region_embedding"] == "crops" and again["scores"] == older["scores"]


def test_compare_directly_without_a_server():
    from app.context import AppContext, Settings
    from app.tabs import compare as tab

    ctx = AppContext(Settings("clip-lab-tiny-vit", "random", "cpu"))
    with environment(TINY_DEPTHCLIP):
        s = tab.TAB.defaults(image=skimage_photo("chelsea"), labels="cat, floor", proposals=5, depth_side=64,
                             model=ctx.default_choice)
        answer = tab.compare(ctx, s)
        assert "clip-lab-tiny-rn-depth" in tab.runs_text()
    board = answer.outputs["board"]
    assert [caption.split(":")[0] for _, caption in board][1:] == ["Zero-shot", "LSeg", "GroupViT", "ViLD", "DepthCLIP"]
    for view, tile in (("lseg", board[2][0]), ("groupvit", board[3][0])):  # the board's tiles, as lossless PNGs
        with Image.open(answer.outputs[view]) as png:
            assert png.format == "PNG" and np.array_equal(np.asarray(png.convert("RGB")), np.asarray(tile))
    with Image.open(answer.outputs["download"]) as png:
        assert png.format == "PNG" and png.width == 3 * (max(t.width for t, _ in board) + 16)
    assert set(answer.scores) == {"zeroshot", "lseg_shares", "groupvit_top_classes", "vild_detections", "depth_median_m"}
    assert "1 dense pass" in answer.outputs["status"] and "same label to" in answer.outputs["this_run"]
    assert "DepthCLIP: clip-lab-tiny-rn-depth" in answer.weights
