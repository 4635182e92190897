"""The LSeg and GroupViT tabs through gradio_client: every endpoint, and bad input answered with a
message while the server keeps serving."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from app.examples import skimage_photo
from appserver import running_demo

MODEL = "clip-lab-tiny-vit · random"


@pytest.fixture(scope="module")
def client():
    with running_demo() as (demo, url):
        yield Client(url, verbose=False)


def lseg_segment(client, image, labels="dog, grass, other", threshold=0.0, regulariser="none"):
    return client.predict(
        handle_file(image), labels, 14.29, threshold, regulariser, 1, "raw", "naclip", "1× (one window)", MODEL,
        api_name="/lseg_segment",
    )


def groupvit_segment(client, image, engine="clip", preset="pascal_voc_20", extra="rocket, flag"):
    return client.predict(
        handle_file(image), engine, preset, extra, 64, 8, 3, False, 0, 0.95, 5, "naclip", MODEL,
        api_name="/groupvit_segment",
    )


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/lseg_segment", "/lseg_rescore", "/groupvit_segment", "/groupvit_relabel", "/groupvit_preset_threshold",
    } <= endpoints


def test_lseg_segment_and_rescore(client):
    overlay, shares, heatmaps, notes = lseg_segment(client, skimage_photo("chelsea"), threshold=0.4)
    assert overlay["value"]["image"].endswith((".png", ".jpeg", ".jpg"))
    names = {a["label"] for a in overlay["value"]["annotations"]}
    assert set(overlay["color_map"]) == names
    assert names <= {"dog", "grass", "other"} and names
    rows = shares["data"]
    assert [r[0] for r in rows] == ["dog", "grass", "other", "background"]
    assert sum(r[1] for r in rows) == pytest.approx(100, abs=0.1)
    assert 1 <= len(heatmaps) <= 3 and heatmaps[0]["image"].endswith((".png", ".jpeg", ".jpg"))
    assert "% of pixels" in heatmaps[0]["caption"]
    assert "random" in notes
    overlay2, shares2, _, notes2 = client.predict(50.0, 0.0, "bottleneck", 2, api_name="/lseg_rescore")
    assert [r[0] for r in shares2["data"]] == ["dog", "grass", "other"]  # threshold off: no background row
    assert "bottleneck × 2" in notes2


def test_groupvit_segment_relabel_and_presets(client):
    segmentation, groups, stage1, table, notes = groupvit_segment(client, skimage_photo("astronaut"))
    assert segmentation["value"]["image"].endswith((".png", ".jpeg", ".jpg"))
    assert groups.endswith((".png", ".jpeg", ".jpg")) and stage1.endswith((".png", ".jpeg", ".jpg"))
    rows = table["data"]
    assert 1 <= len(rows) <= 8
    assert sum(r[1] for r in rows) == pytest.approx(100, abs=0.1)
    assert "Top-5" in notes and "CLIP-backed" in notes
    _, _, _, table2, notes2 = client.predict(0.0, 1, api_name="/groupvit_relabel")
    assert "Top-1" in notes2 and "min(0.00" in notes2
    assert all(r[4] == "yes" for r in table2["data"])
    assert client.predict("pascal_context_59", api_name="/groupvit_preset_threshold") == 0.35
    assert client.predict("coco_80", api_name="/groupvit_preset_threshold") == 0.95


def test_groupvit_official_engine_says_weights_are_missing(client):
    with pytest.raises(Exception) as info:
        groupvit_segment(client, skimage_photo("coffee"), engine="official")
    assert "not in this machine" in str(info.value)
    assert "groupvit-gcc-yfcc" in str(info.value)


@pytest.mark.parametrize(
    "tab, upload, labels, message",
    [
        ("lseg", "text", "cat", "not an image"),
        ("lseg", "good", " , ", "at least one label"),
        ("lseg", "good", ",".join(f"l{i}" for i in range(500)), "limit"),
        ("lseg", "tiny", "cat", "at least 16 pixels"),
        ("groupvit", "empty", "cat", "empty"),
        ("groupvit", "nothing", "", "Pick a label set"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, tab, upload, labels, message):
    from PIL import Image

    files = {"empty": tmp_path / "empty.png", "text": tmp_path / "notes.png", "tiny": tmp_path / "dot.png"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a picture")
    Image.new("RGB", (1, 1)).save(files["tiny"])
    path = skimage_photo("chelsea") if upload in ("good", "nothing") else str(files[upload])
    with pytest.raises(Exception) as info:
        if tab == "lseg":
            lseg_segment(client, path, labels)
        else:
            groupvit_segment(client, path, preset="" if upload == "nothing" else "pascal_voc_20", extra=labels)
    assert message in str(info.value)
    overlay, *_ = lseg_segment(client, skimage_photo("coffee"), "cup, table")
    assert overlay["value"]["annotations"]
