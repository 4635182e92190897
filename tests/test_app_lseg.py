"""The LSeg and GroupViT tabs through gradio_client: every endpoint, the "How it works" strip drawn
from the same run, run records that replay to the same result, and bad input answered with a message
while the server keeps serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from gradio_client import Client, handle_file

from app.examples import skimage_photo

MODEL = "clip-lab-tiny-vit · random"


def picture(value) -> Image.Image:
    return Image.open(value["path"] if isinstance(value, dict) else value).convert("RGB")


def looks_like(main, step) -> bool:
    """The step picture of the strip (caption band below it) shows the same pixels as a main output."""
    main, step = picture(main), picture(step)
    fitted_height = round(main.height * step.width / main.width)
    top = step.crop((0, 0, step.width, fitted_height)).resize((64, 64))
    return float(np.abs(np.asarray(main.resize((64, 64)), float) - np.asarray(top, float)).mean()) < 4


def exported_label_map(downloads) -> tuple[Image.Image, dict]:
    """The downloads of a segmentation: the indexed PNG (read back by PIL) and its legend JSON."""
    paths = [d["path"] if isinstance(d, dict) else d for d in downloads]
    png = next(p for p in paths if p.endswith(".png"))
    legend = json.loads(open(next(p for p in paths if p.endswith("-legend.json")), encoding="utf-8").read())
    labels = Image.open(png)
    assert labels.mode == "P" and legend["image"] == png.rsplit("/", 1)[-1]
    assert legend["background"]["index"] == 255
    return labels, legend


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app (tests/conftest.py)
    return app_client


def lseg_segment(client, image, labels="dog, grass, other", threshold=0.0, regulariser="none", resolution="1x"):
    return client.predict(
        handle_file(image), labels, 14.29, threshold, regulariser, 1, "raw", "naclip", resolution, MODEL,
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
        "/lseg_segment", "/lseg_rescore", "/lseg_replay", "/groupvit_segment", "/groupvit_relabel",
        "/groupvit_preset_threshold", "/groupvit_replay",
    } <= endpoints


def test_lseg_segment_and_rescore(client):
    overlay, compare, shares, downloads, heatmaps, notes, record, strip = lseg_segment(
        client, skimage_photo("chelsea"), threshold=0.4)
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
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "softmax(14.3 × cosine)" in strip[2]["caption"]
    # Step 3 is the first heat map of this run (the same picture, not a re-run).
    assert looks_like(heatmaps[0]["image"], strip[2]["image"])
    assert record.endswith(".json")
    # The slider pairs the labelled overlay with the photo, one size; the downloads are the label map.
    before, after = (picture(p) for p in compare)
    assert before.size == after.size == picture(overlay["value"]["image"]).size
    labels_png, legend = exported_label_map(downloads)
    assert labels_png.size == Image.open(skimage_photo("chelsea")).size
    assert [c["label"] for c in legend["classes"]] == ["dog", "grass", "other"]
    shown = {a["label"]: overlay["color_map"][a["label"]] for a in overlay["value"]["annotations"]}
    assert all(c["colour"] == shown[c["label"]] for c in legend["classes"] if c["label"] in shown)
    share = {r[0]: r[1] for r in shares["data"]}
    for c in legend["classes"]:  # the PNG's indices give the table's shares
        assert 100 * float((np.asarray(labels_png) == c["index"]).mean()) == pytest.approx(share[c["label"]], abs=0.01)
    overlay2, _, shares2, downloads2, _, notes2, strip2 = client.predict(50.0, 0.0, "bottleneck", 2,
                                                                         api_name="/lseg_rescore")
    assert not (np.asarray(exported_label_map(downloads2)[0]) == 255).any()  # threshold off: no background
    assert [r[0] for r in shares2["data"]] == ["dog", "grass", "other"]  # threshold off: no background row
    assert "bottleneck × 2" in notes2
    assert "softmax(50.0 × cosine)" in strip2[2]["caption"] and "bottleneck" in strip2[2]["caption"]


def test_lseg_record_replays_to_the_same_result(client, tmp_path):
    photo = skimage_photo("coffee")
    *_, shares, _, _, _, record, _ = lseg_segment(client, photo, "cup, table, other", threshold=0.3)
    saved = json.loads(open(record).read())
    assert saved["tab"] == "lseg" and saved["settings"]["threshold"] == 0.3
    assert len(saved["inputs"]["image"]["sha256"]) == 64 and "random" in saved["weights"]
    assert set(saved["scores"]["shares"]) == {"cup", "table", "other", "background"}
    _, _, replayed, *_ = client.predict(handle_file(record), handle_file(photo), api_name="/lseg_replay")
    assert replayed["data"] == shares["data"]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name="/lseg_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "groupvit"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(photo), api_name="/lseg_replay")


def test_lseg_resolution_is_a_value_and_old_records_replay(client, tmp_path):
    photo = skimage_photo("coffee")
    *_, shares, _, _, _, record, _ = lseg_segment(client, photo, "cup, table, other", resolution="single")
    saved = json.loads(open(record).read())
    assert saved["settings"]["resolution"] == "single"  # the value, not the display text
    older = tmp_path / "older.json"
    old_text = "single pass (whole image, interpolated position embeddings, NACLIP)"
    older.write_text(json.dumps({**saved, "settings": {**saved["settings"], "resolution": old_text}}))
    _, _, replayed, *_ = client.predict(handle_file(str(older)), handle_file(photo), api_name="/lseg_replay")
    assert replayed["data"] == shares["data"]


def test_groupvit_segment_relabel_and_presets(client):
    segmentation, groups, stage1, table, downloads, notes, record, strip = groupvit_segment(
        client, skimage_photo("astronaut"))
    assert segmentation["value"]["image"].endswith((".png", ".jpeg", ".jpg"))
    assert groups.endswith((".png", ".jpeg", ".jpg")) and stage1.endswith((".png", ".jpeg", ".jpg"))
    rows = table["data"]
    assert 1 <= len(rows) <= 8
    assert sum(r[1] for r in rows) == pytest.approx(100, abs=0.1)
    assert "Top-5" in notes and "CLIP-backed" in notes
    assert len(strip) == 5 and all(step["caption"] for step in strip)
    # Steps 2 and 3 are the stage-1 and final group pictures of this run.
    assert looks_like(stage1, strip[1]["image"]) and looks_like(groups, strip[2]["image"])
    assert "Stage 1" in strip[1]["caption"] and "top-5" in strip[3]["caption"]
    assert record.endswith(".json")
    labels_png, legend = exported_label_map(downloads)
    assert labels_png.size == Image.open(skimage_photo("astronaut")).size
    shown = {a["label"]: segmentation["color_map"][a["label"]] for a in segmentation["value"]["annotations"]}
    assert shown and all(c["colour"] == shown[c["label"]] for c in legend["classes"] if c["label"] in shown)
    present = {legend["classes"][i]["label"] for i in np.unique(np.asarray(labels_png)) if i != 255}
    assert present == set(shown)  # the PNG holds the classes the segmentation shows
    _, _, _, table2, downloads2, notes2, strip2 = client.predict(0.0, 1, api_name="/groupvit_relabel")
    assert not (np.asarray(exported_label_map(downloads2)[0]) == 255).any()  # threshold 0: no background
    assert "Top-1" in notes2 and "min(0.00" in notes2
    assert "top-1" in strip2[3]["caption"]
    assert all(r[4] == "yes" for r in table2["data"])
    assert client.predict("pascal_context_59", api_name="/groupvit_preset_threshold") == 0.35
    assert client.predict("coco_80", api_name="/groupvit_preset_threshold") == 0.95


def test_groupvit_record_replays_to_the_same_result(client, tmp_path):
    photo = skimage_photo("chelsea")
    *_, table, _, _, record, _ = groupvit_segment(client, photo, extra="cat")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "groupvit" and saved["settings"]["extra"] == "cat" and saved["settings"]["stage1"] == 64
    assert "random" in saved["weights"] and saved["scores"]["groups"]
    *_, replayed, _, _, _, _ = client.predict(handle_file(record), handle_file(photo), api_name="/groupvit_replay")
    assert replayed["data"] == table["data"]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("coffee")), api_name="/groupvit_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "lseg"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(photo), api_name="/groupvit_replay")


def test_groupvit_official_engine_without_its_weights_answers_with_clip_and_says_so(client):
    """The one rule for missing official weights (components.backbone.OFFICIAL_ENGINES): the
    CLIP-backed engine answers, the notes say so and how to get the weights, the record names what ran."""
    out = groupvit_segment(client, skimage_photo("coffee"), engine="official")
    notes = next(o for o in out if isinstance(o, str) and "could not run" in o)
    assert "GroupViT could not run" in notes and "the CLIP-backed grouping answered instead" in notes
    assert "not in this machine" in notes and "groupvit-gcc-yfcc" in notes
    record = next(o for o in out if isinstance(o, str) and o.endswith(".json"))
    saved = json.loads(open(record).read())
    assert saved["weights"].startswith("clip-lab-tiny-vit") and saved["settings"]["engine"] == "official"


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


# -- the LSeg handlers called directly, without a server ---------------------------------------------
def test_lseg_segment_and_rescore_called_directly(ctx):
    from app.tabs import lseg
    from components.errors import InputError

    s = lseg.TAB.defaults(image=skimage_photo("chelsea"), model=ctx.default_choice)
    assert s.resolution == "1x" and s.labels == "dog, grass, other"
    answer = lseg.segment(ctx, s)
    assert set(answer.scores["shares"]) == {"dog", "grass", "other"}
    assert sum(r[1] for r in answer.outputs["shares"]) == pytest.approx(100, abs=0.1)
    assert len(answer.steps) == 4 and answer.keep is not None
    from components.exports import maps
    png = next(p for p in answer.outputs["downloads"] if p.endswith(".png"))
    overlay_side, photo_side = (max(p.size) for p in answer.outputs["compare"])
    assert overlay_side == photo_side == max(Image.open(skimage_photo("chelsea")).size)
    labels = maps.read_label_map(png)
    shares = {r[0]: r[1] for r in answer.outputs["shares"]}
    assert 100 * float((labels == 0).mean()) == pytest.approx(shares["dog"], abs=0.01)
    again = lseg.rescore(ctx, s.replace(temperature=50.0, regulariser="bottleneck", blocks=2), answer.keep)
    assert "bottleneck × 2" in again.notes[-1] and "softmax(50.0 × cosine)" in again.steps[2][1]
    assert again.scores is None  # a re-score writes no record
    with pytest.raises(InputError, match="Segment an image first"):
        lseg.rescore(ctx, s, None)
    single = lseg.segment(ctx, s.replace(resolution="single"))
    assert all(n > 0 for n in single.scores["grid"])


def test_lseg_old_resolution_texts_map_to_values():
    from app.tabs import lseg
    from components import lseg as pipeline

    setting = lseg.TAB.setting("resolution")
    for label, value in lseg.RESOLUTIONS:
        assert setting.value(label) == value and value in pipeline.RESOLUTIONS
