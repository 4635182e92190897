"""The app as its users' scripts meet it: launched in-process, every endpoint called through
gradio_client, bad input answered with a message while the server keeps serving."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from app.examples import skimage_photo


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app (tests/conftest.py)
    return app_client


def test_every_endpoint_is_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/zeroshot_classify", "/zeroshot_heatmap", "/model_status", "/pick_model"} <= endpoints


def test_model_status_and_random_weights_banner(client):
    status, banner, _timer = client.predict("clip-lab-tiny-vit · random", api_name="/model_status")
    assert "clip-lab-tiny-vit" in status
    assert "random" in banner and "meaningless" in banner


def test_zeroshot_classify_and_heatmap(client):
    labels = "astronaut, cat, rocket"
    ranked, bars, heat_label, heat, notes, record, strip = client.predict(
        handle_file(skimage_photo("astronaut")),
        labels,
        "single",
        "naclip",
        1.0,
        "clip-lab-tiny-vit · random",
        api_name="/zeroshot_classify",
    )
    assert {c["label"] for c in ranked["confidences"]} == {"astronaut", "cat", "rocket"}
    assert heat_label["value"] == ranked["label"]
    assert heat.endswith(".png")
    again, *_ = client.predict("cat", api_name="/zeroshot_heatmap")  # re-scores the kept run: no forward
    assert again is None or again.endswith(".png")
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    # The strip's last step is the heat map of this run (not a re-run), with its caption below.
    import numpy as np
    from PIL import Image

    main = Image.open(heat).convert("RGB")
    picture = strip[-1]["image"]
    step = Image.open(picture["path"] if isinstance(picture, dict) else picture).convert("RGB")
    fitted_height = round(main.height * step.width / main.width)
    top = step.crop((0, 0, step.width, fitted_height)).resize((64, 64))
    assert np.abs(np.asarray(main.resize((64, 64)), float) - np.asarray(top, float)).mean() < 4


def test_a_run_record_replays_to_the_same_result(client, tmp_path):
    import json

    photo = skimage_photo("coffee")
    args = ("cup of coffee, cup of tea, bowl", "single", "clearclip", 1.5, "clip-lab-tiny-vit · random")
    ranked, *_, record, _strip = client.predict(handle_file(photo), *args, api_name="/zeroshot_classify")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "zeroshot" and saved["settings"]["method"] == "clearclip"
    assert saved["settings"]["resolution"] == 1.5  # the value, not the display text
    assert len(saved["inputs"]["image"]["sha256"]) == 64 and "random" in saved["weights"]
    replayed, *_ = client.predict(handle_file(record), handle_file(photo), api_name="/zeroshot_replay")
    assert replayed == ranked
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/zeroshot_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "lseg"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(photo), api_name="/zeroshot_replay")
    # A record written when the resolution was display text still replays.
    older = tmp_path / "older.json"
    older.write_text(json.dumps({**saved, "settings": {**saved["settings"], "resolution": "1.5×"}}))
    replayed, *_ = client.predict(handle_file(str(older)), handle_file(photo), api_name="/zeroshot_replay")
    assert replayed == ranked


@pytest.mark.parametrize(
    "upload, labels, message",
    [
        ("empty", "cat", "empty"),
        ("text", "cat", "not an image"),
        ("good", " , ;", "at least one label"),
        ("good", ",".join(f"l{i}" for i in range(101)), "limit"),
    ],
)
def test_bad_input_gets_a_message_and_server_keeps_serving(client, tmp_path, upload, labels, message):
    files = {
        "empty": tmp_path / "empty.png",
        "text": tmp_path / "notes.png",
        "good": skimage_photo("chelsea"),
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a picture")
    with pytest.raises(Exception) as info:
        client.predict(
            handle_file(str(files[upload])), labels, "single", "naclip", 1.0,
            "clip-lab-tiny-vit · random", api_name="/zeroshot_classify",
        )
    assert message in str(info.value)
    status, _, _ = client.predict("clip-lab-tiny-vit · random", api_name="/model_status")
    assert "Ready" in status


# -- the handlers called directly, without a server -------------------------------------------------
def test_classify_and_heatmap_called_directly(ctx):
    from app.tabs import zeroshot
    from components.errors import InputError

    s = zeroshot.TAB.defaults(image=skimage_photo("astronaut"), labels="astronaut, cat, rocket", templates="single",
                              model=ctx.default_choice)
    answer = zeroshot.classify(ctx, s)
    assert set(answer.scores) == {"astronaut", "cat", "rocket"}
    assert sum(answer.scores.values()) == pytest.approx(1.0, abs=1e-5)
    top = max(answer.scores, key=answer.scores.get)
    assert answer.outputs["heat_label"].value == top and len(answer.steps) == 4
    assert "random" in answer.weights
    heat = zeroshot.heatmap(ctx, s.replace(heat_label="cat"), answer.keep)
    assert heat.outputs["heat"].size[0] >= 512 and heat.notes is None  # only the heat map changes
    assert zeroshot.heatmap(ctx, s.replace(heat_label="not a label"), answer.keep).outputs["heat"] is None
    with pytest.raises(InputError, match="Classify an image first"):
        zeroshot.heatmap(ctx, s.replace(heat_label="cat"), None)


def test_resolution_choices_are_values_and_old_text_still_reads():
    from app.tabs import zeroshot

    setting = zeroshot.TAB.setting("resolution")
    assert zeroshot.TAB.defaults()["resolution"] == 1.0
    assert setting.value("1× (one window)") == 1.0 and setting.value("1.5×") == 1.5
    assert setting.value("2× (sharper, slower)") == 2.0 and setting.value(2.0) == 2.0


# -- zero-shot against reference images (issue 21) ----------------------------------------------------
def test_zeroshot_references_rank_replay_and_leave_classify_as_it_was(client, tmp_path):
    import json

    from components.zeroshot import MAX_REFERENCES

    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/zeroshot_references"]["parameters"]] == ["image", "references", "model"]
    assert [p["parameter_name"] for p in api["/zeroshot_classify"]["parameters"]] == [
        "image", "labels", "templates", "method", "resolution", "model"]  # Classify's parameters as before
    image = skimage_photo("astronaut")
    refs = [handle_file(skimage_photo("chelsea")), handle_file(image)]
    ranked, table, notes, record, strip = client.predict(handle_file(image), refs, "clip-lab-tiny-vit · random",
                                                         api_name="/zeroshot_references")
    assert {c["label"] for c in ranked["confidences"]} == {"chelsea.png", "astronaut.png"}
    rows = {row[0]: row for row in table["data"]}
    assert rows["astronaut.png"][1] == pytest.approx(1.0, abs=1e-2)  # the image itself: cosine 1
    assert ranked["label"] == "astronaut.png" and "Most like astronaut.png" in notes
    assert sum(row[2] for row in table["data"]) == pytest.approx(1.0, abs=1e-3)
    saved = json.loads(open(record).read())
    assert saved["tab"] == "zeroshot_references" and set(saved["inputs"]) == {"image", "reference 1", "reference 2"}
    replayed = client.predict(handle_file(record), handle_file(image), refs, api_name="/zeroshot_references_replay")
    assert json.loads(open(replayed[3]).read())["scores"] == saved["scores"]
    with pytest.raises(Exception, match="2 references"):
        client.predict(handle_file(record), handle_file(image), refs[:1], api_name="/zeroshot_references_replay")
    from app.tabs.zeroshot import TAB

    assert f"1 to {MAX_REFERENCES} reference images" in TAB.setting("references").doc  # the bound, said on the API page


def test_zeroshot_references_handler_directly(ctx):
    from app.tabs import zeroshot
    from components.errors import InputError
    from components.zeroshot import MAX_REFERENCES

    photo = skimage_photo("chelsea")
    s = zeroshot.TAB.defaults(image=photo, references=[photo, skimage_photo("coffee"), photo], model=ctx.default_choice)
    answer = zeroshot.references(ctx, s)
    assert [row[0] for row in answer.outputs["ref_table"]][0] in ("chelsea.png", "chelsea.png (2)")
    assert set(answer.scores["references"]) == {"chelsea.png", "chelsea.png (2)", "coffee.png"}
    with pytest.raises(InputError, match=f"the limit is {MAX_REFERENCES}"):
        zeroshot.references(ctx, s.replace(references=[photo] * (MAX_REFERENCES + 1)))
    with pytest.raises(InputError, match="reference images"):
        zeroshot.references(ctx, s.replace(references=[]))
