"""CLIPasso tab through gradio_client: a streamed sketch, the abstraction ladder, stop, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from gradio_client import Client, handle_file

from appserver import finish, running_demo, wait_for
from app.examples import skimage_photo
from app.tabs.clipasso import HORSE, SHARED
from components.clipasso.svg import from_svg

MODEL = "clip-lab-tiny-vit · random"
# strokes, iterations, seeds, backbones, layer2, layer3, semantic, width, lr, temperature, augmentations
SETTINGS = [4, 10, 1, SHARED, 1.0, 1.0, 0.1, 3.0, 1.0, 0.3, 4]


@pytest.fixture(scope="module")
def client():
    with running_demo() as (demo, url):
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def sketched(client):
    """One streamed sketch run (4 strokes, 20 iterations, 2 seeds) shared by the tests that read it."""
    settings = list(SETTINGS)
    settings[1:3] = [20, 2]
    job = client.submit(handle_file(HORSE), *settings, MODEL, api_name="/clipasso_sketch")
    return finish(job), job


def path_of(item) -> str:
    return item["path"] if isinstance(item, dict) else item


def picture(item) -> Image.Image:
    image = item["image"] if isinstance(item, dict) and "image" in item else item
    return Image.open(image["path"] if isinstance(image, dict) else image).convert("RGB")


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/clipasso_sketch", "/clipasso_ladder", "/clipasso_stop", "/clipasso_replay"} <= endpoints


def test_sketch_streams_previews_and_ends_with_svg_png_gif_and_saliency(sketched):
    outputs, job = sketched
    preview, curve, status, png, gif, salient, svg, slider, record, strip = outputs
    assert preview.endswith(".png") and png.endswith(".png") and salient.endswith(".png")
    # the slider: the sketch against the padded photo it was drawn from, at the same size
    sketch_side, photo_side = (Image.open(path_of(p)).convert("RGB") for p in slider)
    assert sketch_side.size == photo_side.size == Image.open(preview).size
    assert np.abs(np.asarray(sketch_side, float) - np.asarray(Image.open(preview).convert("RGB"), float)).mean() < 1
    assert np.asarray(photo_side).std(axis=(0, 1)).max() > 10  # the photo, not a second sketch
    assert gif.endswith(".gif")
    assert "after 20 iterations" in status and "random weights" in status
    with open(svg) as f:
        assert from_svg(f.read()).shape == (4, 4, 2)
    assert len(job.outputs()) >= 1


def test_the_strip_is_made_from_the_same_run(sketched):
    (preview, _, _, _, gif, salient, _, _, record, strip), _job = sketched
    assert len(strip) == 5 and all(step["caption"] for step in strip)
    assert [step["caption"][:2] for step in strip] == ["1.", "2.", "3.", "4.", "5."]
    assert "Saliency" in strip[0]["caption"] and "Final sketch" in strip[-1]["caption"]
    saved = json.loads(open(record).read())
    assert f"seed {saved['scores']['best_seed']}" in strip[-1]["caption"]

    def top(step: Image.Image, size) -> np.ndarray:  # the step's picture, without its caption band
        return np.asarray(step.crop(((step.width - size[0]) // 2, 0, (step.width + size[0]) // 2, size[1])), float)

    # step 5 is the run's final sketch and step 1 its saliency picture, at full size (224 px fit in a
    # step); the gallery sends its pictures as WebP, so compare near-exactly
    final = Image.open(preview).convert("RGB")
    assert np.abs(top(picture(strip[-1]), final.size) - np.asarray(final, float)).mean() < 1
    shown = Image.open(salient).convert("RGB")
    assert np.abs(top(picture(strip[0]), shown.size) - np.asarray(shown, float)).mean() < 4
    # step 2 is the first frame of the run's own GIF: the best seed's strokes before optimisation,
    # and step 3 a frame half-way (an evaluation snapshot at iteration 10 of 20)
    with Image.open(gif) as animation:
        animation.seek(0)
        first = animation.convert("RGB")
    assert np.abs(top(picture(strip[1]), first.size) - np.asarray(first, float)).mean() < 1
    assert np.abs(np.asarray(first, float) - np.asarray(final, float)).mean() > 0.1  # the strokes moved
    assert "iteration 10 of 20" in strip[2]["caption"]


def test_a_run_record_replays_to_the_same_sketch(client, sketched, tmp_path):
    (preview, _, status, _, _, _, svg, _, record, _), _job = sketched
    saved = json.loads(open(record).read())
    assert saved["tab"] == "clipasso" and saved["model"] == MODEL
    assert saved["settings"]["strokes"] == 4 and saved["settings"]["seeds"] == 2
    assert len(saved["inputs"]["image"]["sha256"]) == 64 and "random" in saved["weights"]
    scores = saved["scores"]
    assert set(scores["seed_losses"]) == {"0", "1"} and scores["strokes"] == 4 and scores["iterations"] == 20
    assert scores["best_seed"] in (0, 1)
    again = client.predict(handle_file(record), handle_file(HORSE), api_name="/clipasso_replay")
    replayed, *_, svg_again, _slider, record_again, strip_again = again
    # the sketcher is deterministic for a seed on the CPU: the same strokes, pixel for pixel
    assert np.array_equal(np.asarray(Image.open(replayed)), np.asarray(Image.open(preview)))
    assert open(svg_again).read() == open(svg).read()
    assert json.loads(open(record_again).read())["scores"] == scores
    assert len(strip_again) == 5
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/clipasso_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "zeroshot"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(HORSE), api_name="/clipasso_replay")
    status_now, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status_now


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
    wait_for(job, job.outputs)  # waits while the job moves, however slow the machine
    assert job.outputs(), "no preview was streamed"
    assert client.predict(api_name="/clipasso_stop") == "Stopped."
    wait_for(job)
    assert job.done()
    # bounded by work, not time: the run ended well short of its 2000 iterations
    shown = [int(n) for n in re.findall(r"(?:Iteration|after) (\d+)", str(job.outputs()[-1][2]))]
    assert shown and shown[-1] < 2000, job.outputs()[-1][2]


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


# -- the handlers called directly, without a server -----------------------------------------------
def test_sketch_handler_called_directly_streams_and_ends_with_a_record(ctx):
    from app.scaffold import run_all
    from app.tabs.clipasso import TAB, sketch

    s = TAB.defaults(image=HORSE, strokes=4, iterations=10, seeds=1, backbones=SHARED, model=ctx.default_choice)
    answer = run_all(sketch(ctx, s))
    assert "after 10 iterations" in answer.outputs["status"] and "random weights" in answer.outputs["status"]
    assert answer.scores["strokes"] == 4 and answer.scores["iterations"] == 10 and len(answer.steps) == 5
    assert answer.outputs["svg"].endswith(".svg") and answer.outputs["gif"].endswith(".gif")
    sketch_side, photo_side = answer.outputs["slider"]
    assert sketch_side.size == photo_side.size
    assert np.array_equal(np.asarray(sketch_side.convert("L")), answer.outputs["preview"])  # the final sketch
    # the old display text of the backbones choice still means the shared model (records made before)
    old = s.replace(backbones=TAB.setting("backbones").value("The shared model picked above (quick, not the paper's)"))
    assert old.backbones == SHARED


def test_stop_sets_only_this_sessions_event(ctx):
    from app.tabs.clipasso import TAB, request_stop, stop_event

    mine, theirs = stop_event("mine"), stop_event("theirs")
    assert request_stop(ctx, TAB.defaults(), session="mine").outputs["status"] == "Stopped."
    assert mine.is_set() and not theirs.is_set()
    request_stop(ctx, TAB.defaults(), session="theirs")


def test_bad_number_from_a_direct_call_names_the_field(ctx):
    from components.errors import InputError
    from app.scaffold import run_all
    from app.tabs.clipasso import TAB, sketch

    s = TAB.defaults(image=HORSE, strokes=4, iterations=10, seeds=1, backbones=SHARED, lr=float("nan"),
                     model=ctx.default_choice)
    with pytest.raises(InputError, match="learning rate"):
        run_all(sketch(ctx, s))
