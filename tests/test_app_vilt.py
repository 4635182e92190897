"""The ViLT tab through gradio_client: answer (CLIP engine, ViLT falling back), heat map, timing,
and bad input answered with a message while the server keeps serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.examples import skimage_photo

MODEL = "clip-lab-tiny-vit · random"


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app (tests/conftest.py)
    return app_client


def ask(client, question="What animal is this?", engine="clip", mode="shipped", candidates="", photo="chelsea"):
    return client.predict(
        handle_file(skimage_photo(photo)), question, engine, mode, candidates, "statement", 5, "attention", "all",
        MODEL, api_name="/vilt_answer",
    )


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/vilt_answer", "/vilt_heatmap", "/vilt_timing", "/vilt_replay"} <= endpoints


def assert_step_is(step, main_path):
    """The step's picture (above its caption) is the main output picture, resized into the strip."""
    main = Image.open(main_path).convert("RGB")
    picture = step["image"]
    picture = Image.open(picture["path"] if isinstance(picture, dict) else picture).convert("RGB")
    fitted_height = round(main.height * picture.width / main.width)
    top = picture.crop((0, 0, picture.width, fitted_height)).resize((64, 64))
    assert np.abs(np.asarray(main.resize((64, 64)), float) - np.asarray(top, float)).mean() < 4


def test_clip_engine_answers_and_heatmap(client):
    answers, heat_key, heat, notes, evidence, record, strip = ask(client)
    labels = [c["label"] for c in answers["confidences"]]
    assert len(labels) == 5
    assert heat_key["value"] == answers["label"] == labels[0]
    assert heat.endswith(".png")
    assert "animals" in notes and "CLIP engine" in notes
    assert [row[0] for row in evidence["data"]] == labels
    assert evidence["data"][0][2] == f"a photo of {'an' if labels[0][0] in 'aeiou' else 'a'} {labels[0]}."
    again, *_ = client.predict(labels[1], api_name="/vilt_heatmap")
    assert again.endswith(".png")
    # the strip: image embedding → statement prompts → scores → where the answer is (the main heat map)
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert strip[3]["caption"].endswith(f"where “{labels[0]}” is")
    assert_step_is(strip[3], heat)


def test_a_run_record_replays_to_the_same_result(client, tmp_path):
    answers, *_, record, _strip = ask(client, "What colour is the cat?", mode="own", candidates="orange; grey; black", photo="coffee")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "vilt" and saved["settings"]["candidates"] == "orange; grey; black"
    assert saved["scores"]["engine"] == "clip" and set(saved["scores"]["answers"]) == {"orange", "grey", "black"}
    assert len(saved["inputs"]["image"]["sha256"]) == 64 and "random" in saved["weights"]
    photo = handle_file(skimage_photo("coffee"))
    replayed, *_ = client.predict(handle_file(record), photo, api_name="/vilt_replay")
    assert replayed == answers
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/vilt_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "glip"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), photo, api_name="/vilt_replay")


def test_own_candidates(client):
    answers, *_ = ask(client, "What colour is the cat?", mode="own", candidates="orange; grey, black")
    assert {c["label"] for c in answers["confidences"]} == {"orange", "grey", "black"}


def test_vilt_engine_without_weights_falls_back_and_says_so(client):
    answers, heat_key, heat, notes, evidence, record, strip = ask(client, engine="vilt")
    assert "ViLT could not run" in notes and "Hugging Face cache" in notes
    assert "CLIP engine" in notes
    assert len(answers["confidences"]) == 5


def test_vilt_engine_with_weights_answers_from_its_label_map(client, tmp_path, monkeypatch):
    """The official path through the UI, with a tiny random ViLT standing in for the cached weights
    (the server runs in this process, so the tab's `vilt.load_vilt` can be swapped)."""
    from components import vilt
    from test_vilt import LABELS, build_tiny_vilt

    model, processor = build_tiny_vilt(tmp_path)
    monkeypatch.setattr(vilt, "load_vilt", lambda **_: vilt.ViltVQA(model, processor, source="tiny random ViLT"))
    answers, heat_key, heat, notes, evidence, record, strip = ask(client, "What colour is the ball?", engine="vilt")
    assert {c["label"] for c in answers["confidences"]} <= set(LABELS)
    assert len(answers["confidences"]) == 5
    assert heat_key["choices"] and [c[0] for c in heat_key["choices"]] == ["What", "colour", "is", "the", "ball"]
    assert "tiny random ViLT" in notes and "could not run" not in notes
    assert client.predict("ball", api_name="/vilt_heatmap")[0].endswith(".png")
    # the strip: patches → question words → word–patch alignment (the main heat map) → answers
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "patches of 32x32" in strip[0]["caption"] and "5 words" in strip[1]["caption"]
    assert "“What”" in strip[2]["caption"]
    assert_step_is(strip[2], heat)
    assert "tiny random ViLT" in json.loads(open(record).read())["weights"]


def test_timing_panel(client):
    plot, table = client.predict(handle_file(skimage_photo("coffee")), 384, 1, MODEL, api_name="/vilt_timing")
    assert plot is not None
    assert "measured ms" in table and "linear 32×32 patch projection" in table
    assert "384×576" in table  # coffee is 600×400: ViLT's resize


@pytest.mark.parametrize(
    "question, mode, candidates, message",
    [
        ("", "shipped", "", "Type a question"),
        ("x" * 2000, "shipped", "", "2000 characters"),
        ("What colour is it?", "own", " ,; ", "at least one label"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, question, mode, candidates, message):
    with pytest.raises(Exception) as info:
        ask(client, question, mode=mode, candidates=candidates)
    assert message in str(info.value)
    answers, *_ = ask(client)
    assert len(answers["confidences"]) == 5


# -- the handlers called directly, without a server --------------------------------------------------
def test_handlers_called_directly(ctx):
    from app.tabs import vilt as tab
    from components.errors import InputError

    s = tab.TAB.defaults(image=skimage_photo("coffee"), question="What colour is the cup?", mode="own",
                         candidates="white, black, red", model=ctx.default_choice)
    first = tab.answer(ctx, s)
    assert set(first.outputs["answers"]) == {"white", "black", "red"} and first.scores["engine"] == "clip"
    assert [row[0] for row in first.outputs["evidence"]] == list(first.outputs["answers"])
    assert len(first.steps) == 4 and "random" in first.weights
    # the same image again: its features come from the cache (components.features), the answers agree
    again = tab.answer(ctx, s)
    assert again.keep["features"] is first.keep["features"] and again.scores == first.scores
    other = tab.answer(ctx, s.replace(image=skimage_photo("chelsea")))
    assert other.keep["features"].key != first.keep["features"].key
    # the heat map of another answer from the kept run, without a forward
    shown = tab.show_heatmap(ctx, s.replace(heat_key="black"), first.keep)
    assert shown.outputs["heat"].size == first.outputs["heat"].size
    with pytest.raises(InputError, match="Answer a question first"):
        tab.show_heatmap(ctx, s, None)
    with pytest.raises(InputError, match="Type a question"):
        tab.answer(ctx, s.replace(question="  "))


def test_timing_called_directly(ctx):
    from app.tabs import vilt as tab

    timed = tab.timing(ctx, tab.TAB.defaults(image=skimage_photo("coffee"), runs=1, model=ctx.default_choice))
    assert timed.outputs["timing_plot"] is not None and "384×576" in timed.outputs["timing_notes"]
