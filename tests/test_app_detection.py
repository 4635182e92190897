"""The ViLD and GLIP tabs through gradio_client: every endpoint, and bad input answered with a message
while the server keeps serving."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from appserver import running_demo
from app.examples import ASSETS

MODEL = "clip-lab-tiny-vit · random"
SHAPES = str(ASSETS / "detection_shapes.png")
SOURCES = ["selective_search", "dense"]


@pytest.fixture(scope="module")
def client():
    with running_demo() as (demo, url):
        yield Client(url, verbose=False)


def vild_detect(client, image=SHAPES, categories="red square; blue circle", score=0.0, proposals_shown=False, **kw):
    return client.predict(
        handle_file(image), categories, score, 0.6, 220, 25, 0.9, kw.get("sources", SOURCES), 20, "1",
        proposals_shown, MODEL, api_name="/vild_detect",
    )


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/vild_detect", "/vild_filter", "/vild_box", "/glip_ground", "/glip_filter"} <= endpoints


def test_vild_detect_filter_and_box(client):
    picture, table, box_choice, bars, notes = vild_detect(client)
    assert picture["image"] and isinstance(picture["annotations"], list)
    assert "proposals" in notes
    rows = table["data"]
    assert len(rows) == len(picture["annotations"]) <= 25
    assert all(row[1] in ("red square", "blue circle") for row in rows)  # score 0: whatever the weights
    if rows:
        assert box_choice["value"] is not None and bars is not None
        again = client.predict(box_choice["value"], api_name="/vild_box")
        assert again is not None
    # the proposals view and stricter filters, from the saved result
    shown, table2, _, _, notes2 = client.predict(0.0, 0.6, 220, 25, 0.9, True, api_name="/vild_filter")
    assert len(shown["annotations"]) >= len(rows)
    assert all(a["label"].startswith("proposal") for a in shown["annotations"])
    _, table3, _, _, notes3 = client.predict(1.0, 0.6, 220, 25, 0.9, False, api_name="/vild_filter")
    assert table3["data"] == [] and "Nothing detected" in notes3


def test_glip_ground_and_filter(client):
    picture, phrases, heatmap, table, notes = client.predict(
        handle_file(SHAPES), "A red square. A blue circle.", 0.0, 0.6, 2, 0.9, SOURCES, 20, "1", MODEL,
        api_name="/glip_ground",
    )
    assert "red square" in phrases and "blue circle" in phrases
    assert heatmap is not None
    assert len(table["data"]) == len(picture["annotations"]) <= 4
    assert all(":" in a["label"] for a in picture["annotations"])  # "phrase:score"
    picture2, _, _, table2, notes2 = client.predict(1.0, 0.6, 2, 0.9, api_name="/glip_filter")
    assert picture2["annotations"] == [] and "Nothing grounded" in notes2


@pytest.mark.parametrize(
    "call, message",
    [
        ("vild_no_categories", "at least one category"),
        ("vild_tiny_image", "at least 16 pixels"),
        ("vild_no_sources", "proposal source"),
        ("glip_empty_caption", "Write a caption"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, call, message):
    tiny = tmp_path / "tiny.png"
    from PIL import Image

    Image.new("RGB", (10, 10), "red").save(tiny)
    with pytest.raises(Exception) as info:
        if call == "vild_no_categories":
            vild_detect(client, categories=" ; ")
        elif call == "vild_tiny_image":
            vild_detect(client, image=str(tiny))
        elif call == "vild_no_sources":
            vild_detect(client, sources=[])
        else:
            client.predict(handle_file(SHAPES), "  ", 0.5, 0.6, 5, 0.9, SOURCES, 20, "1", MODEL, api_name="/glip_ground")
    assert message in str(info.value)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status


def test_a_thousand_categories_get_a_note(client):
    categories = ";".join(f"thing {i}" for i in range(1000))
    *_, notes = vild_detect(client, categories=categories, sources=["selective_search"])
    assert "1000 categories" in notes
