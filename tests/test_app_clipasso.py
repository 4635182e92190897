"""CLIPasso tab through gradio_client: a streamed sketch, the abstraction ladder, stop, bad input."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client, handle_file

from appserver import running_demo
from app.tabs.clipasso import HORSE, SHARED
from components.clipasso.svg import from_svg

MODEL = "clip-lab-tiny-vit · random"
# strokes, iterations, seeds, backbones, layer2, layer3, semantic, width, lr, temperature, augmentations
SETTINGS = [4, 10, 1, SHARED, 1.0, 1.0, 0.1, 3.0, 1.0, 0.3, 4]


@pytest.fixture(scope="module")
def client():
    with running_demo() as (demo, url):
        yield Client(url, verbose=False)


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/clipasso_sketch", "/clipasso_ladder", "/clipasso_stop"} <= endpoints


def test_sketch_streams_previews_and_ends_with_svg_png_gif_and_saliency(client):
    job = client.submit(handle_file(HORSE), *SETTINGS, MODEL, api_name="/clipasso_sketch")
    outputs = job.result(timeout=300)
    preview, curve, status, png, gif, salient, svg = outputs
    assert preview.endswith(".png") and png.endswith(".png") and salient.endswith(".png")
    assert gif.endswith(".gif")
    assert "after 10 iterations" in status and "random weights" in status
    with open(svg) as f:
        assert from_svg(f.read()).shape == (4, 4, 2)
    assert len(job.outputs()) >= 1


def test_abstraction_ladder_gives_four_levels(client):
    gallery, preview, status = client.predict(
        handle_file(HORSE), *SETTINGS[1:], MODEL, api_name="/clipasso_ladder"
    )
    assert len(gallery) == 4 and [item["caption"] for item in gallery] == [
        "4 strokes", "8 strokes", "16 strokes", "32 strokes"]
    assert "32 strokes done" in status


def test_stop_ends_a_long_run(client):
    settings = list(SETTINGS)
    settings[1] = 2000
    job = client.submit(handle_file(HORSE), *settings, MODEL, api_name="/clipasso_sketch")
    deadline = time.time() + 120
    while not job.outputs() and time.time() < deadline:
        time.sleep(0.2)
    assert job.outputs(), "no preview was streamed"
    assert client.predict(api_name="/clipasso_stop") == "Stopped."
    deadline = time.time() + 60
    while not job.done() and time.time() < deadline:
        time.sleep(0.2)
    assert job.done()


@pytest.mark.parametrize("change, message", [(None, "empty"), ((8, None), "learning rate"), ((8, -1.0), "learning rate")])
def test_bad_input_gets_a_message_and_the_server_keeps_serving(client, tmp_path, change, message):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    settings = list(SETTINGS)
    upload = HORSE
    if change is None:
        upload = str(empty)
    else:
        settings[change[0]] = change[1]
    with pytest.raises(Exception) as info:
        client.predict(handle_file(upload), *settings, MODEL, api_name="/clipasso_sketch")
    assert message in str(info.value)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status
