"""The bad-input corpus: every tab's every input kind, malformed, through the API as a script or the
browser sends it. Each case must come back as a clear message (a gr.Error carrying our text, never
Gradio's bare "Error" or a hidden traceback) or, where the input is odd but fine, as a result; and
the server must keep serving after each."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

import badfiles as bad
from components import regions
from appserver import finish

HIDDEN_ERROR = "has not enabled verbose error reporting"

# endpoint → (its file parameter, settings that keep a valid call quick on the tiny model)
IMAGE_ENDPOINTS = {
    "/zeroshot_classify": ("image", {}),
    "/depthclip_estimate": ("image", {}),
    "/vild_detect": ("image", {}),
    "/glip_ground": ("image", {}),
    "/vilt_answer": ("image", {}),
    "/lseg_segment": ("image", {}),
    "/groupvit_segment": ("image", {}),
    "/clipasso_sketch": ("image", {"iterations": 10, "strokes": 4}),
}
BAD_IMAGES = {
    "zero-byte": (bad.zero_bytes, "empty"),
    "text as .png": (bad.text_file, "not an image"),
    "html as .png": (bad.html_file, "not an image"),
    "truncated png": (bad.truncated_png, "damaged or truncated"),
    "truncated jpeg": (bad.truncated_jpeg, "damaged or truncated"),
    "16000² png": (bad.huge_png, "megapixels"),
    "1×1 image": (bad.one_pixel, "at least 16 pixels"),
    "audio as image": (lambda folder: bad.wav_file(folder, "tone.png"), "not an image"),
}


@pytest.fixture(scope="module")
def client(app_client) -> Client:  # the session's one app (tests/conftest.py)
    return app_client


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bad")


def _call(client, endpoint, **kwargs):
    job = client.submit(api_name=endpoint, **kwargs)
    return finish(job)


def _expect_message(client, endpoint, expected: str | None, **kwargs) -> str:
    with pytest.raises(Exception) as info:
        _call(client, endpoint, **kwargs)
    message = str(info.value)
    assert HIDDEN_ERROR not in message, f"{endpoint} hid an exception: {message}"
    assert "Traceback" not in message
    if expected:
        assert expected.lower() in message.lower(), message
    assert len(message) > 20
    _still_serving(client)
    return message


def _still_serving(client):
    status, *_ = client.predict("clip-lab-tiny-vit · random", api_name="/model_status")
    assert status.startswith("Ready")


@pytest.mark.parametrize("case", list(BAD_IMAGES))
@pytest.mark.parametrize("endpoint", list(IMAGE_ENDPOINTS))
def test_bad_image_files(client, folder, endpoint, case):
    make, expected = BAD_IMAGES[case]
    param, settings = IMAGE_ENDPOINTS[endpoint]
    path = make(folder)
    _expect_message(client, endpoint, expected, **{param: handle_file(str(path))}, **settings)


@pytest.mark.parametrize("endpoint", list(IMAGE_ENDPOINTS))
def test_missing_image(client, endpoint):
    param, settings = IMAGE_ENDPOINTS[endpoint]
    _expect_message(client, endpoint, None, **{param: None}, **settings)


# -- labels, captions, questions ------------------------------------------------------------------
IMAGE = None


def _photo():
    from app.examples import skimage_photo

    return handle_file(skimage_photo("chelsea"))


TEXT_ENDPOINTS = {
    "/zeroshot_classify": ("image", "labels", {}),
    "/lseg_segment": ("image", "labels", {}),
    "/vild_detect": ("image", "categories", {}),
    "/glip_ground": ("image", "caption", {}),
    "/vilt_answer": ("image", "question", {}),
}


@pytest.mark.parametrize("endpoint", list(TEXT_ENDPOINTS))
@pytest.mark.parametrize("text", ["", " , ;\n ", "\u200b\u200b"])
def test_empty_text(client, endpoint, text):
    image_param, text_param, settings = TEXT_ENDPOINTS[endpoint]
    _expect_message(client, endpoint, None, **{image_param: _photo(), text_param: text}, **settings)


@pytest.mark.parametrize("endpoint", ["/zeroshot_classify", "/lseg_segment"])
def test_a_thousand_labels(client, endpoint):
    image_param, text_param, settings = TEXT_ENDPOINTS[endpoint]
    labels = ", ".join(f"thing number {i}" for i in range(1000))
    _expect_message(client, endpoint, "limit", **{image_param: _photo(), text_param: labels}, **settings)


def test_a_thousand_categories_are_capped_with_a_note(client):
    categories = "; ".join(f"thing {i}" for i in range(1000))
    try:
        _call(client, "/vild_detect", image=_photo(), categories=categories)
    except Exception as error:  # a refusal is fine too, if it says why
        assert HIDDEN_ERROR not in str(error) and "100" in str(error)
    _still_serving(client)


@pytest.mark.parametrize(
    "categories, expected",
    [("background", "always class 0"), ("background; Background.", "always class 0"), (";;;", "at least one category")],
)
def test_vild_categories_that_name_nothing(client, categories, expected):
    _expect_message(client, "/vild_detect", expected, image=_photo(), categories=categories)


# GLIP's "Read the box as": a value, not its display text; categories mode needs a name
@pytest.mark.parametrize(
    "mode, caption, expected",
    [
        # a value outside the choices: Gradio's own message (the queue's validator, app/admission.py,
        # sees the raw payload and lets it through to the main function's preprocessing)
        ("sentence", "a cat", "not in the list of choices"),
        ("Caption (noun phrases)", "a cat", "not in the list of choices"),
        ("categories", " . , ; . ", "at least one category name"),
        ("categories", "x" * 20_001, "limit is 20000"),
        ("caption", "on and under it", "No noun phrase"),
    ],
)
def test_glip_read_the_box_as(client, mode, caption, expected):
    _expect_message(client, "/glip_ground", expected, image=_photo(), caption=caption, mode=mode)


# "Region embeddings" of both region tabs and of Compare's ViLD: a value, not its display text
@pytest.mark.parametrize("endpoint, text", [("/vild_detect", {"categories": "cat"}), ("/glip_ground", {"caption": "a cat"}),
                                            ("/vild_match", {}), ("/compare_run", {"labels": "cat, floor"})])
@pytest.mark.parametrize("value", ["mean", "", regions.REGION_EMBEDDING_LABELS["pooled"]])
def test_region_embeddings_outside_the_choices(client, endpoint, text, value):
    extra = {"query": _photo()} if endpoint == "/vild_match" else {}
    _expect_message(client, endpoint, "not in the list of choices", image=_photo(), region_embedding=value,
                    **text, **extra)


def test_glip_a_thousand_category_names_are_capped_with_a_note(client):
    names = " . ".join(f"thing {i}" for i in range(1000))
    result = _call(client, "/glip_ground", image=_photo(), caption=names, mode="categories", sources=["selective_search"],
                   max_proposals=10, prompts="1")
    assert "first 100 are used" in str(result)
    _still_serving(client)


@pytest.mark.parametrize("endpoint", list(TEXT_ENDPOINTS))
def test_unicode_and_emoji_text_works(client, endpoint):
    image_param, text_param, settings = TEXT_ENDPOINTS[endpoint]
    text = "What is 🐱 doing?" if endpoint == "/vilt_answer" else "🐱, café, 東京, кошка"
    _call(client, endpoint, **{image_param: _photo(), text_param: text}, **settings)
    _still_serving(client)


@pytest.mark.parametrize("endpoint", list(TEXT_ENDPOINTS))
def test_huge_text(client, endpoint):
    image_param, text_param, settings = TEXT_ENDPOINTS[endpoint]
    text = "a very long caption about a cat " * 700  # ~22 000 characters
    try:
        _call(client, endpoint, **{image_param: _photo(), text_param: text}, **settings)
    except Exception as error:
        assert HIDDEN_ERROR not in str(error) and len(str(error)) > 20
    _still_serving(client)


# -- videos ---------------------------------------------------------------------------------------
BAD_VIDEOS = {
    "zero-byte": (lambda f: bad.zero_bytes(f, "empty.mp4"), "empty"),
    "text as .mp4": (lambda f: bad.text_file(f, "notes.mp4"), None),
    "corrupt mp4": (bad.corrupt_video, None),
    "audio only": (bad.audio_only_video, "no video"),
    "wav": (bad.wav_file, None),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_videos_actionclip(client, folder, case):
    make, expected = BAD_VIDEOS[case]
    _expect_message(
        client, "/actionclip_recognise", expected, video=handle_file(str(make(folder))), images=None
    )


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_videos_clip4clip_index(client, folder, case):
    make, expected = BAD_VIDEOS[case]
    try:
        result = _call(client, "/clip4clip_add", files=[handle_file(str(make(folder)))])
    except Exception as error:
        message = str(error)
        assert HIDDEN_ERROR not in message and len(message) > 20
        if expected:
            assert expected in message.lower()
    else:  # the index skips the file and says why
        assert "⚠️" in str(result[1]) and (expected or "") in str(result[1]).lower()
        assert make(folder).name in str(result[1])
    _still_serving(client)


def test_hour_long_video_is_sampled_from_its_start_with_a_note(client, folder):
    path = bad.long_video(folder)
    result = _call(
        client, "/actionclip_recognise", video=handle_file(str(path)), images=None, labels="dark, bright"
    )
    assert "minutes" in str(result)
    _still_serving(client)


def test_no_video_at_all(client):
    _expect_message(client, "/actionclip_recognise", None, video=None, images=None)


# -- 3-D files ------------------------------------------------------------------------------------
BAD_CLOUDS = {
    "zero-byte": (lambda f: bad.zero_bytes(f, "empty.ply"), "empty"),
    "garbage ply": (bad.garbage_ply, None),
    "text as .stl": (lambda f: bad.text_file(f, "notes.stl"), None),
    "mesh without faces": (bad.mesh_without_faces, None),
    "NaN points": (bad.nan_points, None),
    "all points equal": (bad.equal_points, None),
    "10 M points": (bad.ten_million_points_npy, "limit"),
    "pickled npy": (bad.pickled_npy, None),
}


@pytest.mark.parametrize("case", list(BAD_CLOUDS))
def test_bad_point_clouds(client, folder, case):
    make, expected = BAD_CLOUDS[case]
    _expect_message(client, "/pointclip_recognise", expected, cloud=handle_file(str(make(folder))))


def test_no_point_cloud(client):
    _expect_message(client, "/pointclip_recognise", None, cloud=None)


# The view-weight presets (projection, label preset, model → the weights note and the sliders).
BAD_WEIGHT_PICKS = {
    "unknown projection": ({"projection": "v3"}, "not in the list of choices"),
    "no projection": ({"projection": None}, "Unknown projection"),
    "unknown label preset": ({"preset": "ModelNet41"}, "not in the list of choices"),
    "unknown model": ({"model": "no separator"}, "not in the list of choices"),
    "wrong type": ({"projection": 2}, "not in the list of choices"),
}


@pytest.mark.parametrize("case", list(BAD_WEIGHT_PICKS))
def test_bad_pointclip_weight_picks(client, case):
    picks, expected = BAD_WEIGHT_PICKS[case]
    good = {"projection": "v2", "preset": "", "model": "clip-lab-tiny-vit · random"}
    _expect_message(client, "/pointclip_preset_weights", expected, **{**good, **picks})


def test_pointclip_weight_picks_without_preset_or_model_use_the_defaults(client):
    note, *sliders = _call(client, "/pointclip_preset_weights", projection="v2", preset=None, model=None)
    assert "ViT-B/16" in note and len(sliders) == 10
    _still_serving(client)


# -- CSV for CLIP4Clip's evaluation ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["", "video,caption\n", "just one column\nno commas here\n", "video,caption\nnowhere.mp4,a red video\n"],
)
def test_bad_evaluation_csv(client, folder, text):
    path = bad.csv_file(folder, text, name=f"pairs-{abs(hash(text))}.csv")
    _expect_message(client, "/clip4clip_evaluate", None, CSV=handle_file(str(path)))


def test_record_files_that_are_not_records(client, folder):
    _expect_message(
        client,
        "/zeroshot_replay",
        "not a clip lab run record",
        record=handle_file(str(bad.text_file(folder, "record.json"))),
        image=_photo(),
    )


# -- CLIP4Clip's video → text and evaluation replays -----------------------------------------------
def _record(folder, name: str, tab: str, settings: dict, inputs: dict | None = None) -> Path:
    import json

    path = folder / name
    path.write_text(json.dumps({
        "clip_lab_record": 1, "tab": tab, "model": "clip-lab-tiny-vit · random", "weights": "random",
        "settings": settings, "inputs": inputs or {}, "scores": {},
    }))
    return path


SHA = "0" * 64
CAPTIONS = {"indexed_video": "red_square.mp4", "captions": "a red video", "similarity": "meanP"}
IMAGE_SEARCH = {"query_time": 0.0, "image_k": 2, "similarity": "meanP"}
COLLECTION_SEARCH = {"collection_query": "a red video", "collection_k": 2}
# endpoint → (its file parameter(s), tab id, settings of a good record)
VIDEO_REPLAYS = {
    "/clip4clip_captions_replay": ("video", "clip4clip_captions", CAPTIONS),
    "/clip4clip_evaluate_replay": ("CSV", "clip4clip_evaluate", {"similarity": "meanP"}),
    "/clip4clip_search_image_replay": (("query_image", "query_video"), "clip4clip_search_image", IMAGE_SEARCH),
    "/clip4clip_collection_search_replay": ("collection_image", "clip4clip_collection", COLLECTION_SEARCH),
}
def _no_files(param) -> dict:
    return dict.fromkeys((param,) if isinstance(param, str) else param)


BAD_VIDEO_RECORDS = {
    "text as record": (lambda f, tab, s: bad.text_file(f, "record.json"), "not a clip lab run record"),
    "another tab's record": (lambda f, tab, s: _record(f, "other.json", "actionclip", s), "replay it there"),
    "no settings": (lambda f, tab, s: _record(f, f"{tab}-bare.json", tab, {}), "lacks the setting"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEO_RECORDS))
@pytest.mark.parametrize("endpoint", list(VIDEO_REPLAYS))
def test_bad_clip4clip_records(client, folder, endpoint, case):
    make, expected = BAD_VIDEO_RECORDS[case]
    param, tab, settings = VIDEO_REPLAYS[endpoint]
    record = make(folder, tab, settings)
    _expect_message(client, endpoint, expected, record=handle_file(str(record)), **_no_files(param))


@pytest.mark.parametrize(
    "endpoint, settings, inputs, expected",
    [
        ("/clip4clip_captions_replay", dict(CAPTIONS, indexed_video=None), {"video": {"name": "mine.mp4", "sha256": SHA}},
         "made with the video mine.mp4; upload it"),
        ("/clip4clip_evaluate_replay", {"similarity": "meanP"}, {"CSV": {"name": "pairs.csv", "sha256": SHA}},
         "made with the CSV pairs.csv; upload it"),
        # a record names videos in the index, never files on the server
        ("/clip4clip_captions_replay", dict(CAPTIONS, indexed_video="/etc/hostname"), {}, "not in the index"),
        ("/clip4clip_captions_replay", dict(CAPTIONS, indexed_video=["red_square.mp4"]), {}, "named by its name"),
        ("/clip4clip_captions_replay", dict(CAPTIONS, similarity="best"), {}, "Unknown similarity"),
        ("/clip4clip_captions_replay", dict(CAPTIONS, captions=""), {}, "at least one caption"),
        ("/clip4clip_search_image_replay", IMAGE_SEARCH, {"query_image": {"name": "blue.png", "sha256": SHA}},
         "made with the query_image blue.png; upload it"),
        ("/clip4clip_search_image_replay", IMAGE_SEARCH, {"query_video": {"name": "mine.mp4", "sha256": SHA}},
         "made with the query_video mine.mp4; upload it"),
        ("/clip4clip_search_image_replay", IMAGE_SEARCH, {}, "Upload an example image"),  # a record without a picture
        ("/clip4clip_collection_search_replay", COLLECTION_SEARCH, {"collection_image": {"name": "blue.png", "sha256": SHA}},
         "made with the collection_image blue.png; upload it"),
        ("/clip4clip_collection_search_replay", COLLECTION_SEARCH, {}, "No collection is open"),
    ],
)
def test_clip4clip_replay_without_what_it_needs(client, folder, endpoint, settings, inputs, expected):
    param, tab, _ = VIDEO_REPLAYS[endpoint]
    record = _record(folder, f"{tab}-{abs(hash(str(settings)))}.json", tab, settings, inputs)
    _expect_message(client, endpoint, expected, record=handle_file(str(record)), **_no_files(param))


# -- the Train tab's settings, checkpoints and records ----------------------------------------------
TRAIN_QUICK = {"steps": 2, "batch_size": 4, "eval_every": 2}
BAD_TRAIN_SETTINGS = {
    "zero steps": ({"steps": 0}, None),  # the slider's own bound message
    "too many steps": ({"steps": 10**6}, None),
    "batch of one": ({"batch_size": 1}, None),
    "negative learning rate": ({"lr": -0.01}, "learning rate must be between"),
    "huge learning rate": ({"lr": 1e6}, "learning rate must be between"),
    "zero temperature": ({"temperature": 0}, "temperature must be between"),
    "no concepts": ({"concepts": []}, "at least one concept"),
    "only counts": ({"concepts": ["counts"]}, "Keep colours or shapes"),
    "unknown combination": ({"held_out": ["purple unicorn"]}, "not a colour × shape"),
    "every red shape held out": ({"held_out": [f"red {s}" for s in
                                               ("circle", "square", "triangle", "star", "cross", "diamond", "ring", "heart")]},
                                 "every red shape"),
    "negative seed": ({"seed": -3}, "seed must be between"),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN_SETTINGS))
def test_bad_train_settings(client, case):
    settings, expected = BAD_TRAIN_SETTINGS[case]
    _expect_message(client, "/train_run", expected, **{**TRAIN_QUICK, **settings})


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda f: bad.zero_bytes(f, "empty.safetensors"), "empty"),
        (lambda f: bad.text_file(f, "weights.safetensors"), "not a safetensors checkpoint"),
        (lambda f: bad.truncated_png(f), "file type"),  # Gradio's own check of the extension
    ],
)
def test_bad_train_checkpoints(client, folder, make, expected):
    _expect_message(client, "/train_load_checkpoint", expected, path=handle_file(str(make(folder))))


def test_no_train_checkpoint_or_record(client, folder):
    _expect_message(client, "/train_load_checkpoint", "Upload a checkpoint", path=None)
    _expect_message(client, "/train_replay", "not a clip lab run record",
                    record=handle_file(str(bad.text_file(folder, "train-record.json"))))
    record = _record(folder, "train-bare.json", "train", {})
    _expect_message(client, "/train_replay", "lacks its training settings", record=handle_file(str(record)))


# -- precision: --precision, CLIP_LAB_PRECISION and a record's precision ------------------------------
@pytest.mark.parametrize("value", ["fp16", "", "BF-16", "int4; rm -rf /"])
def test_bad_precision_setting_is_named_with_the_choices(client, monkeypatch, capsys, value):
    import app as app_package  # app.py's own module: built by the session's app (`client`) first
    from app.context import Settings
    from components.errors import InputError

    monkeypatch.setenv("CLIP_LAB_PRECISION", value)
    with pytest.raises(InputError, match="CLIP_LAB_PRECISION.*choose one of: auto, fp32, bf16, int8"):
        Settings.from_env()
    monkeypatch.delenv("CLIP_LAB_PRECISION")
    entry = app_package.entry_module()
    with pytest.raises(SystemExit):
        entry.parse_args(["--precision", value])
    err = capsys.readouterr().err
    assert "--precision" in err and "choose one of: auto, fp32, bf16, int8" in err, err
    assert entry.parse_args(["--precision", " BF16 "]).precision == "bf16"


def test_record_with_an_unknown_precision(client, folder):
    import json

    path = folder / "zeroshot-precision.json"
    path.write_text(json.dumps({
        "clip_lab_record": 1, "tab": "zeroshot", "model": "clip-lab-tiny-vit · random", "weights": "random",
        "precision": "fp64", "settings": {}, "inputs": {}, "scores": {},
    }))
    _expect_message(client, "/zeroshot_replay", "precision, fp64, is not one of fp32, bf16, int8",
                    record=handle_file(str(path)), image=_photo())


# -- CLIP4Clip: search by an example image or a video's frame; the operator's collection -----------
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_query_images_clip4clip(client, folder, case):
    make, expected = BAD_IMAGES[case]
    _expect_message(client, "/clip4clip_search_image", expected, query_image=handle_file(str(make(folder))),
                    query_video=None, query_time=0)


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_query_videos_clip4clip(client, folder, case):
    make, expected = BAD_VIDEOS[case]
    _expect_message(client, "/clip4clip_search_image", expected, query_image=None,
                    query_video=handle_file(str(make(folder))), query_time=0)


def test_clip4clip_image_query_without_a_picture_or_past_the_video(client, folder):
    _expect_message(client, "/clip4clip_search_image", "example image", query_image=None, query_video=None)
    clip = Path(__file__).resolve().parents[1] / "assets" / "videos" / "red_square.mp4"
    _expect_message(client, "/clip4clip_search_image", "pick a time up to that", query_image=None,
                    query_video=handle_file(str(clip)), query_time=999)


def test_clip4clip_collection_not_open(client, monkeypatch):
    monkeypatch.delenv("CLIP_LAB_COLLECTION", raising=False)
    _expect_message(client, "/clip4clip_collection_search", "No collection is open", collection_query="a red video", collection_image=None)


def test_clip4clip_collection_of_another_model_or_damaged(client, folder, monkeypatch):
    import numpy as np

    from components.clip4clip import collection as library

    made = folder / "collection-other-model"
    (made / "img_emb").mkdir(parents=True, exist_ok=True)
    np.save(made / "img_emb" / "img_emb_0.npy", np.eye(3, 8, dtype=np.float32))
    library.build_index(made, model="oracle", pretrained="random")  # 8-d: not the app's tiny model
    monkeypatch.setenv("CLIP_LAB_COLLECTION", str(made))
    message = _expect_message(client, "/clip4clip_collection_search", "8-d, made with oracle",
                              collection_query="a red video", collection_image=None)
    assert str(folder) not in message  # no server path on the page
    for case in ("text as .png", "truncated png"):
        make, expected = BAD_IMAGES[case]
        _expect_message(client, "/clip4clip_collection_search", expected, collection_query="",
                        collection_image=handle_file(str(make(folder))))
    (made / "collection.json").write_text("{torn")
    _expect_message(client, "/clip4clip_collection_search", "damaged", collection_query="a red video", collection_image=None)
    monkeypatch.setenv("CLIP_LAB_COLLECTION", str(folder / "nowhere"))
    _expect_message(client, "/clip4clip_collection_search", "does not exist", collection_query="a red video", collection_image=None)


# -- ViLD's query image and zero-shot's reference images (issue 21) ---------------------------------
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_vild_query_images(client, folder, case):
    make, expected = BAD_IMAGES[case]
    _expect_message(client, "/vild_match", expected, image=_photo(), query=handle_file(str(make(folder))))


def test_vild_match_without_a_query_image(client):
    _expect_message(client, "/vild_match", "Upload a query image", image=_photo(), query=None)


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_zeroshot_reference_images(client, folder, case):
    make, expected = BAD_IMAGES[case]
    path = make(folder)
    message = _expect_message(client, "/zeroshot_references", expected, image=_photo(),
                              references=[_photo(), handle_file(str(path))])
    assert str(folder) not in message  # the file's name, never its server path


def test_zeroshot_too_many_none_or_not_image_references(client, folder):
    from components.zeroshot import MAX_REFERENCES

    _expect_message(client, "/zeroshot_references", f"the limit is {MAX_REFERENCES}", image=_photo(),
                    references=[_photo() for _ in range(MAX_REFERENCES + 1)])
    _expect_message(client, "/zeroshot_references", "reference images", image=_photo(), references=[])
    _expect_message(client, "/zeroshot_references", "reference images", image=_photo(), references=None)
    # a file that is not an image by its name: Gradio's own check of the upload's type says so
    _expect_message(client, "/zeroshot_references", "file type", image=_photo(),
                    references=[handle_file(str(bad.wav_file(folder, "tone.wav")))])
    _expect_message(client, "/zeroshot_references", None, image=None, references=[_photo()])


# -- zips of images: the zero-shot and LSeg batches (issue 21) ----------------------------------------
BATCH_ENDPOINTS = ["/zeroshot_batch", "/lseg_batch"]
BAD_ZIPS = {
    "empty zip": (bad.empty_zip, "holds no files"),
    "not a zip": (bad.not_a_zip, "not a zip archive"),
    "zip without images": (bad.zip_without_images, "holds no images"),
    "zip bomb": (bad.zip_bomb, "unpacks to 30 MB; the limit is 25 MB"),
    "lying zip bomb": (bad.lying_zip_bomb, "zip bomb"),
    "10 000 files": (bad.zip_of_many, "10000 entries; the limit is 1000"),
}


@pytest.mark.parametrize("case", list(BAD_ZIPS))
@pytest.mark.parametrize("endpoint", BATCH_ENDPOINTS)
def test_bad_zips(client, folder, endpoint, case):
    make, expected = BAD_ZIPS[case]
    path = make(folder)
    message = _expect_message(client, endpoint, expected, batch=handle_file(str(path)))
    assert str(folder) not in message  # the zip's name, never its server path


@pytest.mark.parametrize("endpoint", BATCH_ENDPOINTS)
def test_no_zip_or_not_a_zip_by_its_name(client, folder, endpoint):
    _expect_message(client, endpoint, "Upload a .zip", batch=None)
    # a file that is not a zip by its name: Gradio's own check of the upload's type says so
    _expect_message(client, endpoint, "file type", batch=handle_file(str(bad.truncated_png(folder))))
