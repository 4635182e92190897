"""The PointCLIP tab through gradio_client: every endpoint, and bad input answered with a message
while the server keeps serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.examples import ASSETS
from components.pointclip_labels import MODELNET10

MODEL = "clip-lab-tiny-vit · random"
SHAPES = ASSETS / "shapes"
V2_WEIGHTS = [0.75, 0.75, 0.75, 0.25, 0.75, 1.0, 0.25, 1.0, 0.75, 0.25]
GRID = "".join(f"{x} {y} {z}\n" for x in range(3) for y in range(3) for z in range(3)).encode()  # a valid small cloud


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app (tests/conftest.py)
    return app_client


def recognise(client, path, projection="v2", labels="table, chair, lamp", weights=V2_WEIGHTS, points=512, prompt="point cloud depth map of a {}.", up="y"):
    return client.predict(
        handle_file(str(path)), labels, projection, points, prompt, up, *weights, MODEL,
        api_name="/pointclip_recognise",
    )


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/pointclip_recognise", "/pointclip_reweight", "/pointclip_projection", "/pointclip_reset_weights",
        "/pointclip_preset", "/pointclip_replay",
    } <= endpoints


@pytest.mark.parametrize("projection, views", [("v2", 10), ("v1", 6)])
def test_recognise_then_reweight(client, projection, views):
    ranked, cloud, gallery, heat, notes, record, strip = recognise(client, SHAPES / "chair.obj", projection)
    assert {c["label"] for c in ranked["confidences"]} == {"table", "chair", "lamp"}
    assert "Scatter3d" in str(cloud) or "scatter3d" in str(cloud)
    assert len(gallery) == views and gallery[0]["image"].endswith(".png")
    assert any(label in gallery[0]["caption"] for label in ("table", "chair", "lamp"))
    assert "heatmap" in str(heat).lower()
    assert "chair.obj" in notes and "512 points" in notes and "random" in notes
    assert "Prompt: V1's “point cloud depth map of a {}.”" in notes  # a person's own labels
    # the strip: cloud → projected views (the gallery's own pictures) → per-view scores → fused prediction
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "512 points" in strip[0]["caption"] and f"{views} depth views" in strip[1]["caption"]
    assert strip[3]["caption"].endswith(f"→ “{ranked['label']}”")
    assert_views_step_is_the_gallery(strip[1], gallery, columns=5 if views == 10 else 3)
    weights = [0.0] * 10
    weights[1] = 1.0
    ranked2, note, *_ = client.predict(*weights, api_name="/pointclip_reweight")
    assert {c["label"] for c in ranked2["confidences"]} == {"table", "chair", "lamp"}
    assert "no new CLIP pass" in note and note.count(",") == views - 1


def assert_views_step_is_the_gallery(step, gallery, columns):
    """The views step is the gallery's pictures laid out in the strip's mosaic (compared after the
    strip's resize; both went through lossy image encodings)."""
    from app.howitworks import _fit, mosaic_picture

    def opened(item):
        return Image.open(item["path"] if isinstance(item, dict) else item).convert("RGB")

    expected = _fit(mosaic_picture([opened(item["image"]) for item in gallery], columns))
    picture = opened(step["image"])
    x = (picture.width - expected.width) // 2
    top = picture.crop((x, 0, x + expected.width, expected.height))
    assert np.abs(np.asarray(expected, float) - np.asarray(top, float)).mean() < 4


def test_a_run_record_replays_to_the_same_result(client, tmp_path):
    weights = [1.0, 0.5, 0.0, 0.25, 1.0, 1.0, 0, 0, 0, 0]
    ranked, *_, record, _strip = recognise(client, SHAPES / "mug.ply", "v1", weights=weights, labels="mug, lamp, chair")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "pointclip" and [saved["settings"][f"view{i}"] for i in range(1, 11)] == weights
    assert saved["inputs"]["3-D file"]["name"] == "mug.ply" and len(saved["inputs"]["3-D file"]["sha256"]) == 64
    assert set(saved["scores"]["ranking"]) == {"mug", "lamp", "chair"} and "random" in saved["weights"]
    replayed, *_ = client.predict(handle_file(record), handle_file(str(SHAPES / "mug.ply")), api_name="/pointclip_replay")
    assert replayed == ranked
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(str(SHAPES / "chair.obj")), api_name="/pointclip_replay")
    # a record written before the view weights were settings of their own still replays
    older = tmp_path / "older.json"
    settings = {k: v for k, v in saved["settings"].items() if not k.startswith("view")}
    older.write_text(json.dumps({**saved, "settings": {**settings, "view_weights": weights}}))
    replayed, *_ = client.predict(handle_file(str(older)), handle_file(str(SHAPES / "mug.ply")), api_name="/pointclip_replay")
    assert replayed == ranked
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "vild"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(str(SHAPES / "mug.ply")), api_name="/pointclip_replay")


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
        (GRID, "ok.xyz", {"labels": " , ;"}, "at least one label"),
        (GRID, "ok.xyz", {"prompt": "no slot"}, "exactly once"),
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


def test_a_label_preset_picks_its_published_weights(client):
    note, *sliders = client.predict("v2", "ScanObjectNN", MODEL, api_name="/pointclip_preset_weights")
    assert "ScanObjectNN" in note and len(sliders) == 10 and all(s["visible"] for s in sliders)
    note, *_ = client.predict("v2", "", MODEL, api_name="/pointclip_preset_weights")  # your own labels
    assert "ModelNet40" in note


# -- the handlers called directly, without a server --------------------------------------------------
def test_handlers_called_directly(ctx):
    from app.tabs import pointclip
    from components.errors import InputError

    s = pointclip.TAB.defaults(cloud=str(SHAPES / "chair.obj"), labels="table, chair, lamp", points=512,
                               model=ctx.default_choice)
    answer = pointclip.recognise(ctx, s)
    assert set(answer.outputs) == {"ranked", "cloud_plot", "gallery", "heat"}
    assert set(answer.outputs["ranked"]) == {"table", "chair", "lamp"} and len(answer.outputs["gallery"]) == 10
    assert len(answer.steps) == 4 and list(answer.scores["view_weights"]) == V2_WEIGHTS
    # the sliders re-fuse the kept views: only view 2 counts
    only_second = s.replace(**{f"view{i}": 1.0 if i == 2 else 0.0 for i in range(1, 11)})
    again = pointclip.reweight(ctx, only_second, answer.keep)
    assert "0, 1, 0" in again.outputs["weights_note"] and set(again.outputs["ranked"]) == {"table", "chair", "lamp"}
    with pytest.raises(InputError, match="Run a recognition first"):
        pointclip.reweight(ctx, s, None)
    with pytest.raises(InputError, match="at least one label"):
        pointclip.recognise(ctx, s.replace(labels=" , "))


def test_the_notes_say_which_prompts_ran(ctx):
    """V2 on a preset with one of V2's backbones: each class's GPT prompt, and the note says so; the
    tiny test model and a person's own labels: V1's prompt, and the note says why."""
    from types import SimpleNamespace

    from app.tabs import pointclip
    from components.pointclip_labels import preset_text
    from test_pointclip import _encoded_texts, _oracle_as

    s = pointclip.TAB.defaults(cloud=str(SHAPES / "chair.obj"), labels=preset_text("ScanObjectNN"), points=256,
                               model=ctx.default_choice)
    notes = "\n".join(pointclip.recognise(ctx, s).notes)
    assert "Prompt: V1's" in notes and "not clip-lab-tiny" in notes and "RN50, RN101, ViT-B/32 and ViT-B/16" in notes

    oracle = _oracle_as("ViT-B-32")
    as_vit_b32 = SimpleNamespace(backbone=lambda choice: oracle)
    notes = "\n".join(pointclip.recognise(as_vit_b32, s).notes)
    assert "V2's GPT-written prompt of each class, published for ViT-B/32 on ScanObjectNN" in notes
    assert "This is a depth map of a bag." in notes  # the first class's prompt, as an example
    assert _encoded_texts(oracle, ["This is a depth map of a bag."])

    own = _oracle_as("ViT-B-32")
    notes = "\n".join(pointclip.recognise(SimpleNamespace(backbone=lambda choice: own), s.replace(labels="bag, bin")).notes)
    assert "Prompt: V1's" in notes and "only for the ModelNet40 and ScanObjectNN" in notes
    assert _encoded_texts(own, ["point cloud depth map of a bag."])
    v1 = "\n".join(pointclip.recognise(as_vit_b32, s.replace(projection="v1")).notes)
    assert "Prompt: V1's" in v1 and "GPT" not in v1
