"""The tabs' world examples (assets/world/, issue 16): the generator is deterministic and gives the
committed files, every file the tabs name exists, the rows follow the truth, and each tab's world
examples come after its photo examples and run through its endpoint (tiny random model)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from app.examples import WORLD, WORLD_INPUTS, WORLD_LABEL, world_clips, world_examples, world_truth
from components import depthclip as dc
from components.prompts import ACTIONCLIP16
from components.world import clips, scenes, solids, splits

ROOT = Path(__file__).resolve().parents[1]
MODEL = "clip-lab-tiny-vit · random"
SOURCES = ["selective_search", "dense"]
V2_WEIGHTS = [0.75, 0.75, 0.75, 0.25, 0.75, 1.0, 0.25, 1.0, 0.75, 0.25]
# CLIPasso's settings after strokes: iterations, seeds, backbones come from the row; then the Advanced ones
CLIPASSO_ADVANCED = [1.0, 1.0, 0.1, 3.0, 1.0, 0.3, 4]


def generator():
    path = ROOT / "assets" / "generate_world_examples.py"
    spec = importlib.util.spec_from_file_location("generate_world_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pixels(data_or_path, name: str) -> list[np.ndarray]:
    """Every frame of a PNG or an mp4, decoded to RGB."""
    if name.endswith(".mp4"):
        import av

        with av.open(data_or_path) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return [np.asarray(Image.open(data_or_path).convert("RGB"))]


# -- the files ---------------------------------------------------------------------------------------
def test_the_generator_is_deterministic_and_gives_the_committed_files(tmp_path):
    """A fresh run writes the committed bytes (another process made them). Should a new Pillow or PyAV
    encode the same pictures differently, the decoded pixels must still agree."""
    import io

    generator().main(tmp_path)
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(written) == {p.name for p in WORLD.iterdir()}, "rerun `python assets/generate_world_examples.py`"
    assert json.loads(written["examples.json"]) == world_truth()
    for name, data in written.items():
        if data == (WORLD / name).read_bytes():
            continue
        assert name.endswith((".png", ".mp4")), f"{name} differs from the committed file"
        ours, theirs = pixels(io.BytesIO(data), name), pixels(str(WORLD / name), name)
        assert len(ours) == len(theirs), name
        assert max(np.abs(a.astype(float) - b).mean() for a, b in zip(ours, theirs)) < 1.0, name


def test_the_files_are_small_and_their_truth_is_the_worlds():
    truth = world_truth()
    files = [p for p in WORLD.iterdir()]
    assert sum(p.stat().st_size for p in files) < 1_000_000 and max(p.stat().st_size for p in files) < 128_000
    lo, hi = splits.SEED_RANGES["examples"]
    for s in truth["scenes"]:
        assert lo <= s["seed"] < hi and (WORLD / s["file"]).is_file()
        assert Image.open(WORLD / s["file"]).size == (224, 224)
        assert all(not splits.is_held_out(o["colour"], o["shape"]) for o in s["objects"])
        assert not set(s["distractors"]) & set(s["labels"]) and len(s["distractors"]) == 3
        for o in s["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 224
    roles = [s["role"] for s in truth["scenes"]]
    assert roles.count("single") == 3 and roles.count("objects") == 2 and roles.count("count") == 1
    depth_scenes = [s for s in truth["scenes"] if s["role"] == "objects"]
    assert all(len({o["depth_word"] for o in s["objects"]}) == len(s["objects"]) >= 2 for s in depth_scenes)
    assert [c["action"] for c in truth["clips"]] == list(clips.ACTIONS)
    for c in truth["clips"]:
        assert lo <= c["seed"] < hi and len(pixels(str(WORLD / c["file"]), c["file"])) == clips.FRAMES
    assert [s["name"] for s in truth["solids"]] and all(s["name"] in solids.SOLIDS for s in truth["solids"])
    with open(WORLD / truth["eval_pairs"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["video", "caption"] and rows[1:] == [[c["file"], c["caption"]] for c in truth["clips"]]


def test_a_scene_file_is_its_seeds_rendering():
    truth = world_truth()
    s = truth["scenes"][0]
    scene = scenes.random_scene(s["seed"], kind=s["kind"], count=s["count"], exclude=splits.HELD_OUT_COMBINATIONS)
    r = scenes.render(scene, 224)
    assert scene.labels == [o["label"] for o in s["objects"]]
    assert np.abs(pixels(WORLD / s["file"], s["file"])[0].astype(float) - r.image).mean() < 4  # a 64-colour palette
    assert [list(map(int, b)) for b in r.boxes] == [o["box"] for o in s["objects"]]


def test_every_file_the_tabs_name_exists_and_the_rows_follow_the_truth():
    truth = world_truth()
    named = set()
    for tab in WORLD_INPUTS:
        rows = world_examples(tab)
        assert rows, tab
        for row in rows:
            for value in row:
                if isinstance(value, str) and value.startswith(str(WORLD)):
                    assert Path(value).is_file(), (tab, value)
                    named.add(Path(value).name)
    every = {s["file"] for s in truth["scenes"]} | {c["file"] for c in truth["clips"]} | {s["file"] for s in truth["solids"]}
    assert every <= named | {c["file"] for c in truth["clips"]}
    by_file = {s["file"]: s for s in truth["scenes"]}
    for path, labels in world_examples("zeroshot"):
        given = labels.split(", ")
        assert by_file[Path(path).name]["labels"][0] in given and len(set(given)) == 4
    for path, categories in world_examples("vild"):
        assert set(by_file[Path(path).name]["labels"]) <= set(categories.split("; "))
    for path, caption in world_examples("glip"):
        assert caption.endswith(" .") and by_file[Path(path).name]["labels"][0] in caption
    assert all(labels == ", ".join(clips.ACTIONS) for _, labels in world_examples("actionclip"))
    assert [q for q, in world_examples("clip4clip")] == [c["caption"] for c in truth["clips"]]
    for path, _labels, _projection in world_examples("pointclip"):
        assert Path(path).stem in _labels.split(", ")
    colour, shape, count = world_examples("vilt")
    assert by_file[Path(colour[0]).name]["objects"][0]["colour"] in colour[3].split(", ")
    assert str(by_file[Path(count[0]).name]["count"]) in count[3].split(", ")
    assert set(world_clips()) == {WORLD / c["file"] for c in truth["clips"]}


# -- the app -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(app_server, app_client):  # the session's one app (DepthCLIP on the tiny ResNet)
    return app_server[0], app_client


def _datasets(block):
    """(label, shown as a table) of the Examples blocks under `block`, in page order. Gradio shows a
    block of one input as a gallery of cards, of several as a table."""
    import gradio as gr

    found = []
    for child in getattr(block, "children", []) or []:
        if isinstance(child, gr.Dataset):
            found.append((child.label or "", child.layout == "table" or len(child._components) > 1))
        found += _datasets(child)
    return found


def _tabs(block):
    import gradio as gr

    for child in getattr(block, "children", []) or []:
        if isinstance(child, gr.Tab) and child.id is not None and not isinstance(child.id, int):
            yield child
        else:
            yield from _tabs(child)


def test_every_tab_shows_world_examples_after_its_first_examples(served):
    demo, _ = served
    tabs = {tab.id: _datasets(tab) for tab in _tabs(demo)}
    expected = {"zeroshot", "lseg", "groupvit", "vild", "glip", "depthclip", "pointclip", "actionclip",
                "clip4clip", "clipasso", "vilt", "compare"}
    assert expected <= set(tabs)
    for name in expected:
        blocks = tabs[name]
        labels = [label for label, _ in blocks]
        assert len(labels) >= 2 and not labels[0].startswith(WORLD_LABEL), (name, labels)
        assert any(label.startswith(WORLD_LABEL) for label in labels[1:]), (name, labels)
        # The browser sweep runs the first table of a tab, or its first gallery when it has no table.
        tables = [label for label, table in blocks if table]
        assert not (tables or labels)[0].startswith(WORLD_LABEL), (name, blocks)
    assert sum(label.startswith(WORLD_LABEL) for label, _ in tabs["clip4clip"]) == 2  # search, evaluate


def test_each_tabs_world_row_runs_through_its_endpoint(served):
    _, client = served
    ok = {}

    image, labels = world_examples("zeroshot")[0]
    ranked, *_ = client.predict(handle_file(image), labels, "single", "naclip", 1.0, MODEL,
                                api_name="/zeroshot_classify")
    ok["zeroshot"] = {c["label"] for c in ranked["confidences"]} == set(labels.split(", "))

    image, labels = world_examples("lseg")[0]
    overlay, _slider, shares, *_ = client.predict(handle_file(image), labels, 14.29, 0.0, "none", 1, "raw",
                                                  "naclip", "1x", MODEL, api_name="/lseg_segment")
    ok["lseg"] = {row[0] for row in shares["data"]} <= set(labels.split(", "))

    image, preset, extra = world_examples("groupvit")[0]
    segmentation, *_ = client.predict(handle_file(image), "clip", preset, extra, 64, 8, 3, False, 0, 0.95, 5,
                                      "naclip", MODEL, api_name="/groupvit_segment")
    ok["groupvit"] = segmentation is not None

    image, categories = world_examples("vild")[0]
    picture, table, *_ = client.predict(handle_file(image), categories, 0.0, 0.6, 220, 25, 0.9, SOURCES, 20, "1",
                                        False, "pooled", MODEL, api_name="/vild_detect")
    ok["vild"] = picture is not None

    image, caption = world_examples("glip")[0]
    picture, *_ = client.predict(handle_file(image), caption, 0.0, 0.6, 2, 0.9, SOURCES, 20, "1", "caption", "pooled", MODEL,
                                 api_name="/glip_ground")
    ok["glip"] = picture is not None

    image, source = world_examples("depthclip")[0]
    depth, *_ = client.predict(handle_file(image), source, ", ".join(dc.WORDS), ", ".join(map(str, dc.BINS)),
                               0.1, True, 128, "imagenet", "naclip", MODEL, api_name="/depthclip_estimate")
    ok["depthclip"] = depth is not None

    path, labels, projection = world_examples("pointclip")[0]
    ranked, *_ = client.predict(handle_file(path), labels, projection, 1024, "point cloud depth map of a {}.", "y",
                                *V2_WEIGHTS, MODEL, api_name="/pointclip_recognise")
    ok["pointclip"] = {c["label"] for c in ranked["confidences"]} <= set(labels.split(", "))

    video, labels = world_examples("actionclip")[0]
    top, film, *_ = client.predict(handle_file(video), None, labels, list(ACTIONCLIP16.templates[:4]), 8, 5, MODEL,
                                   api_name="/actionclip_recognise")
    ok["actionclip"] = {c["label"] for c in top["confidences"]} == set(clips.ACTIONS) and len(film) == 8

    (query,) = world_examples("clip4clip")[0]
    gallery, ranking, notes, status, *_ = client.predict(query, 50, "meanP", MODEL, api_name="/clip4clip_search")
    names = {row[1] for row in ranking["data"]}
    ok["clip4clip search"] = {p.name for p in world_clips()} <= names  # indexed like the bundled clips
    name, captions = world_examples("clip4clip_captions")[0]
    label, table, *_ = client.predict(name, None, captions, "meanP", MODEL, api_name="/clip4clip_captions")
    ok["clip4clip captions"] = {row[1] for row in table["data"]} == set(captions.split("\n"))
    (pairs,) = world_examples("clip4clip_evaluate")[0]
    metrics, *_ = client.predict(handle_file(pairs), "meanP", MODEL, api_name="/clip4clip_evaluate")
    ok["clip4clip evaluate"] = len(metrics["data"]) == 2

    image, question, mode, candidates, style = world_examples("vilt")[0]
    answers, *_ = client.predict(handle_file(image), question, "clip", mode, candidates, style, 5, "attention", "all",
                                 MODEL, api_name="/vilt_answer")
    ok["vilt"] = {c["label"] for c in answers["confidences"]} <= set(candidates.split(", "))

    image, labels = world_examples("compare")[0]
    board, *_ = client.predict(handle_file(image), labels, "naclip", "single", 5, "pooled", 0.9, 64, MODEL,
                              api_name="/compare_run")
    ok["compare"] = len(board) > 1

    from app.tabs.clipasso import SHARED

    (image,) = world_examples("clipasso")[0]
    preview, *_ = client.predict(handle_file(image), 4, 10, 1, SHARED, *CLIPASSO_ADVANCED, MODEL,
                                 api_name="/clipasso_sketch")
    ok["clipasso"] = preview is not None

    assert all(ok.values()), {tab: good for tab, good in ok.items() if not good}
