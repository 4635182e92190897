"""The PointCLIP tab through gradio_client: every endpoint, and bad input answered with a message
while the server keeps serving."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from app.examples import ASSETS
from appserver import running_demo
from components.pointclip_labels import MODELNET10

MODEL = "clip-lab-tiny-vit · random"
SHAPES = ASSETS / "shapes"
V2_WEIGHTS = [0.75, 0.75, 0.75, 0.25, 0.75, 1.0, 0.25, 1.0, 0.75, 0.25]


@pytest.fixture(scope="module")
def client():
    with running_demo() as (demo, url):
        yield Client(url, verbose=False)


def recognise(client, path, projection="v2", labels="table, chair, lamp", weights=V2_WEIGHTS, points=512, prompt="point cloud depth map of a {}.", up="y"):
    return client.predict(
        handle_file(str(path)), labels, projection, points, prompt, up, *weights, MODEL,
        api_name="/pointclip_recognise",
    )


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/pointclip_recognise", "/pointclip_reweight", "/pointclip_projection", "/pointclip_reset_weights",
        "/pointclip_preset",
    } <= endpoints


@pytest.mark.parametrize("projection, views", [("v2", 10), ("v1", 6)])
def test_recognise_then_reweight(client, projection, views):
    ranked, cloud, gallery, heat, notes = recognise(client, SHAPES / "chair.obj", projection)
    assert {c["label"] for c in ranked["confidences"]} == {"table", "chair", "lamp"}
    assert "Scatter3d" in str(cloud) or "scatter3d" in str(cloud)
    assert len(gallery) == views and gallery[0]["image"].endswith(".png")
    assert any(label in gallery[0]["caption"] for label in ("table", "chair", "lamp"))
    assert "heatmap" in str(heat).lower()
    assert "chair.obj" in notes and "512 points" in notes and "random" in notes
    weights = [0.0] * 10
    weights[1] = 1.0
    ranked2, note = client.predict(*weights, api_name="/pointclip_reweight")
    assert {c["label"] for c in ranked2["confidences"]} == {"table", "chair", "lamp"}
    assert "no new CLIP pass" in note and note.count(",") == views - 1


def test_projection_switch_and_reset_set_the_sliders(client):
    note, *sliders = client.predict("v1", api_name="/pointclip_projection")
    assert "V1" in note
    assert [s["value"] for s in sliders[:6]] == [1.0] * 6 and all(s["visible"] for s in sliders[:6])
    assert not any(s["visible"] for s in sliders[6:])
    assert sliders[0]["label"] == "view 1: from −z"
    note, *sliders = client.predict("v2", api_name="/pointclip_reset_weights")
    assert "ViT-B/16" in note and [s["value"] for s in sliders] == V2_WEIGHTS
    assert all(s["visible"] for s in sliders)


def test_label_preset(client):
    assert client.predict("ModelNet10", api_name="/pointclip_preset") == ", ".join(MODELNET10)


@pytest.mark.parametrize(
    "content, name, kwargs, message",
    [
        (b"", "empty.ply", {}, "empty"),
        (b"not a mesh at all", "noise.ply", {}, "could not be read"),
        (b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "vertices.off", {}, "no faces"),
        (b"nan nan nan\n", "nan.xyz", {}, "finite"),
        (b"0 0 0\n1 0 0\n0 1 0\n", "ok.xyz", {"labels": " , ;"}, "at least one label"),
        (b"0 0 0\n1 0 0\n0 1 0\n", "ok.xyz", {"prompt": "no slot"}, "exactly once"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, content, name, kwargs, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception) as info:
        recognise(client, path, "v1", weights=[1.0] * 10, **kwargs)
    assert message in str(info.value)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status
