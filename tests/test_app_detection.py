"""The ViLD and GLIP tabs: their handlers called directly on the tiny model, and through gradio_client
every endpoint, a record replayed (also one written before GLIP's "Read the box as"), and bad input
answered with a message while the server keeps serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.examples import ASSETS, skimage_photo
from app.howitworks import STEP_SIZE
from components.errors import InputError

MODEL = "clip-lab-tiny-vit · random"
SHAPES = str(ASSETS / "detection_shapes.png")
SOURCES = ["selective_search", "dense"]


@pytest.fixture(scope="module")
def client(app_client) -> Client:
    return app_client


def glip_ground(client, image=SHAPES, caption="A red square. A blue circle.", threshold=0.0, mode="caption",
                embedding="crops"):
    return client.predict(
        handle_file(image), caption, threshold, 0.6, 2, 0.9, SOURCES, 20, "1", mode, embedding, MODEL,
        api_name="/glip_ground",
    )


def vild_detect(client, image=SHAPES, categories="red square; blue circle", score=0.0, proposals_shown=False, **kw):
    return client.predict(
        handle_file(image), categories, score, 0.6, 220, kw.get("max_boxes", 25), 0.9, kw.get("sources", SOURCES), 20, "1",
        proposals_shown, kw.get("embedding", "crops"), MODEL, api_name="/vild_detect",
    )


def vild_match(client, query, image=SHAPES, threshold=0.0, **kw):
    return client.predict(
        image=handle_file(image), query=handle_file(query) if query else None, query_threshold=threshold,
        max_boxes=kw.get("max_boxes", 25), sources=kw.get("sources", SOURCES), max_proposals=20, model=MODEL,
        api_name="/vild_match",
    )


def vild_filter(client, score, proposals_shown=False, query_threshold=0.8):
    return client.predict(score=score, nms=0.6, min_area=220, max_boxes=25, containment=0.9,
                          show_proposals=proposals_shown, query_threshold=query_threshold, api_name="/vild_filter")


def coco_round_trip(files, image_size, categories):
    """The two COCO files read back with `json` and checked against the schema, and with pycocotools
    (COCO + loadRes) where it is installed (requirements-dev.txt): returns the annotations."""
    from components.exports import coco

    paths = sorted(path_of(f) for f in files)
    dataset_path, results_path = [p for p in paths if p.endswith(".coco.json")][0], [p for p in paths if p.endswith(".results.json")][0]
    document = json.loads(open(dataset_path, encoding="utf-8").read())
    assert coco.schema_problems(document) == []
    assert (document["images"][0]["width"], document["images"][0]["height"]) == image_size
    assert [c["name"] for c in document["categories"]] == list(categories)
    assert "/" not in document["images"][0]["file_name"]  # the base name, never a server path
    results = json.loads(open(results_path, encoding="utf-8").read())
    assert results == coco.results(document)
    try:
        from pycocotools.coco import COCO
    except ImportError:
        return document["annotations"]
    ground = COCO(dataset_path)
    assert sorted(ground.getCatIds()) == [c["id"] for c in document["categories"]]
    for a in document["annotations"]:
        assert ground.anns[a["id"]]["bbox"] == a["bbox"]
    if results:  # loadRes reads a results list beside its annotation file (it cannot take an empty one)
        loaded = ground.loadRes(results_path)
        assert [loaded.anns[i]["bbox"] for i in sorted(loaded.anns)] == [r["bbox"] for r in results]
        assert [loaded.anns[i]["score"] for i in sorted(loaded.anns)] == [r["score"] for r in results]
    return document["annotations"]


def path_of(file) -> str:
    return file["path"] if isinstance(file, dict) else file


def step_top(step, size) -> Image.Image:
    """The picture part of a strip step (above its caption) for a source image of `size` = (W, H)."""
    picture = Image.open(path_of(step["image"])).convert("RGB")
    w, h = size
    scale = min(1.0, STEP_SIZE / max(w, h))
    fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
    x = (picture.width - fw) // 2
    return picture.crop((x, 0, x + fw, fh))


def assert_boxes_drawn_on(step, main_image_path, boxes):
    """The step picture is the main output's image with exactly `boxes` drawn on it: away from their
    outlines and label bands it equals the image (after the strip's resize), on the outlines it differs."""
    main = Image.open(main_image_path).convert("RGB")
    top = step_top(step, main.size)
    scale = top.width / main.width
    diff = np.abs(np.asarray(main.resize(top.size, Image.LANCZOS), float) - np.asarray(top, float)).max(2)
    drawn = np.zeros(diff.shape, bool)
    outline = np.zeros(diff.shape, bool)
    pad = 3
    for x0, y0, x1, y1 in (np.asarray(b, float) * scale for b in boxes):
        x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))
        band = drawn[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
        band[...] = True
        drawn[max(0, y0 - pad) : y0 + int(max(12, main.width // 40) * scale) + 10, max(0, x0 - pad) :] = True  # label
        outline[max(0, y0) : y0 + 2, max(0, x0) : x1] = True
    assert (~drawn).mean() > 0.2  # enough of the picture is compared
    assert diff[~drawn].mean() < 3 and (diff[~drawn] > 40).mean() < 0.01
    if boxes:
        assert diff[outline].max() > 40


def test_endpoints_are_named(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/vild_detect", "/vild_filter", "/vild_box", "/vild_replay", "/vild_match", "/vild_match_replay",
            "/glip_ground", "/glip_filter", "/glip_replay"} <= endpoints


def boxes_of(rows, column):
    return [[float(v) for v in row[column].split(",")] for row in rows]


def test_vild_detect_filter_and_box(client):
    picture, table, box_choice, bars, export, notes, record, strip = vild_detect(client)
    assert picture["image"] and isinstance(picture["annotations"], list)
    assert "proposals" in notes
    rows = table["data"]
    assert len(rows) == len(picture["annotations"]) <= 25
    assert all(row[1] in ("red square", "blue circle") for row in rows)  # score 0: whatever the weights
    if rows:
        assert box_choice["value"] is not None and bars is not None
        again = client.predict(box_choice["value"], api_name="/vild_box")
        assert again is not None
    # the strip: proposals → crops → scores → kept boxes, the last drawn from this run's detections
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    proposals = int(notes.split(" proposals.")[0].split()[-1])
    assert strip[0]["caption"].startswith(f"1. {proposals} class-agnostic proposals")
    assert strip[3]["caption"].startswith(f"4. {len(rows)} kept")
    assert_boxes_drawn_on(strip[3], path_of(picture["image"]), boxes_of(rows, 3))
    # the COCO export holds the boxes shown, as [x, y, w, h] with their categories and scores
    annotations = coco_round_trip(export, (480, 320), ["red square", "blue circle"])
    corners = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in annotations]
    np.testing.assert_allclose(np.reshape(corners, (-1, 4)), np.reshape(boxes_of(rows, 3), (-1, 4)), atol=0.51)
    assert [a["score"] for a in annotations] == pytest.approx([row[2] for row in rows], abs=5e-4)
    # the proposals view and stricter filters, from the saved result (the strip follows the filters)
    shown, table2, _, _, _, notes2, strip2 = vild_filter(client, 0.0, True)
    assert len(shown["annotations"]) >= len(rows)
    assert all(a["label"].startswith("proposal") for a in shown["annotations"])
    assert strip2[0]["caption"].startswith(f"1. {len(shown['annotations'])} class-agnostic proposals")
    _, table3, _, _, export3, notes3, strip3 = vild_filter(client, 1.0)
    assert table3["data"] == [] and "Nothing detected" in notes3
    assert strip3[3]["caption"].startswith("4. 0 kept")
    assert coco_round_trip(export3, (480, 320), ["red square", "blue circle"]) == []  # the export follows the filters


def test_glip_ground_and_filter(client):
    picture, phrases, heatmap, table, export, notes, record, strip = glip_ground(client)
    # the strip: phrases → proposals → phrase × region scores → grounded boxes of this run
    assert len(strip) == 4 and all(step["caption"] for step in strip)
    assert "2 phrase(s)" in strip[0]["caption"]
    assert strip[3]["caption"].startswith(f"4. {len(table['data'])} box(es)")
    assert_boxes_drawn_on(strip[3], path_of(picture["image"]), boxes_of(table["data"], 2))
    assert "red square" in phrases and "blue circle" in phrases
    assert heatmap is not None
    assert len(table["data"]) == len(picture["annotations"]) <= 4
    assert all(":" in a["label"] for a in picture["annotations"])  # "phrase:score"
    annotations = coco_round_trip(export, (480, 320), ["a red square", "a blue circle"])
    names = {1: "a red square", 2: "a blue circle"}
    assert [(names[a["category_id"]], a["score"]) for a in annotations] == [(r[0], pytest.approx(r[1], abs=5e-4))
                                                                             for r in table["data"]]
    picture2, _, _, table2, _, notes2, strip2 = client.predict(1.0, 0.6, 2, 0.9, api_name="/glip_filter")
    assert picture2["annotations"] == [] and "Nothing grounded" in notes2
    assert strip2[3]["caption"].startswith("4. 0 box(es)")


def test_pooled_regions_through_both_tabs(client):
    """One forward per image: the notes and the strip say so, and the run record keeps the choice."""
    *_, notes, record, strip = vild_detect(client, embedding="pooled")
    assert "pooled from the dense CLIP map" in notes and "One CLIP pass over the whole image" in strip[1]["caption"]
    assert json.loads(open(record).read())["settings"]["region_embedding"] == "pooled"
    *_, notes, record, strip = glip_ground(client, embedding="pooled")
    assert "pooled from the dense CLIP map" in notes and "pooling the image's one dense CLIP pass" in strip[1]["caption"]
    *_, notes, _, strip = vild_detect(client)
    assert "1× + 1.5× crops" in notes and "cropped at 1x and 1.5x" in strip[1]["caption"]


@pytest.mark.parametrize("tab", ["vild", "glip"])
@pytest.mark.parametrize("embedding", ["pooled", "crops"])
def test_a_run_record_replays_to_the_same_result(client, tmp_path, tab, embedding):
    if tab == "vild":
        picture, table, *_, record, _strip = vild_detect(client, categories="red square; green triangle", max_boxes=5,
                                                         embedding=embedding)
    else:
        picture, _, _, table, _, _, record, _strip = glip_ground(client, caption="red square . green triangle .",
                                                                 embedding=embedding)
    saved = json.loads(open(record).read())
    if embedding == "crops":  # a record from before "Region embeddings" embedded crops, and replays so
        del saved["settings"]["region_embedding"]
        record = tmp_path / "older.json"
        record.write_text(json.dumps(saved))
        record = str(record)
    assert saved["tab"] == tab and saved["model"] == MODEL and "random" in saved["weights"]
    assert len(saved["inputs"]["image"]["sha256"]) == 64 and saved["settings"]["sources"] == SOURCES
    assert len(saved["scores"]["detections" if tab == "vild" else "grounded"]) == len(table["data"])
    outputs = client.predict(handle_file(record), handle_file(SHAPES), api_name=f"/{tab}_replay")
    replayed, table2 = outputs[0], outputs[1 if tab == "vild" else 3]
    assert table2["data"] == table["data"]
    assert replayed["annotations"] == picture["annotations"]
    with pytest.raises(Exception, match="not the one this record was made with"):
        client.predict(handle_file(record), handle_file(skimage_photo("chelsea")), api_name=f"/{tab}_replay")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "tab": "zeroshot"}))
    with pytest.raises(Exception, match="replay it there"):
        client.predict(handle_file(str(other)), handle_file(SHAPES), api_name=f"/{tab}_replay")


@pytest.mark.parametrize(
    "call, message",
    [
        ("vild_no_categories", "at least one category"),
        ("vild_tiny_image", "at least 16 pixels"),
        ("vild_no_sources", "proposal source"),
        ("glip_empty_caption", "Write a caption"),
        ("vild_unknown_region_embedding", "not in the list of choices"),
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
        elif call == "vild_unknown_region_embedding":
            vild_detect(client, embedding="mean")
        else:
            glip_ground(client, caption="  ", threshold=0.5)
    assert message in str(info.value)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status


def test_a_thousand_categories_get_a_note(client):
    categories = ";".join(f"thing {i}" for i in range(1000))
    *_, notes, _record, _strip = vild_detect(client, categories=categories, sources=["selective_search"])
    assert "1000 categories" in notes


# -- the handlers called directly, without a server -------------------------------------------------
def test_vild_handlers_directly(ctx):
    from app.tabs import vild

    s = vild.TAB.defaults(image=SHAPES, categories="red square; blue circle", score=0.0, max_proposals=20, prompts="1",
                          model=ctx.default_choice)
    answer = vild.detect(ctx, s)
    rows = answer.outputs["table"]
    assert rows and {row[1] for row in rows} <= {"red square", "blue circle"}
    assert len(answer.scores["detections"]) == len(rows) and answer.scores["proposals"] == 20
    assert answer.notes[0] == f"**{len(rows)} detection(s)** from 20 proposals." and len(answer.steps) == 4
    assert "random" in answer.weights
    choice = answer.outputs["box_choice"].value
    assert vild.box_bars(choice, answer.keep) is not None and vild.box_bars("999", answer.keep) is None
    assert vild.box_bars(choice, None) is None
    proposals = vild.refilter(ctx, s.replace(show_proposals=True), answer.keep)
    assert len(proposals.outputs["detections"][1]) == 20
    strict = vild.refilter(ctx, s.replace(score=1.0), answer.keep)
    assert strict.outputs["table"] == [] and strict.notes[0].startswith("**Nothing detected")
    assert strict.keep[1].settings["score_threshold"] == 1.0  # the re-filtered result is kept
    with pytest.raises(InputError, match="Run Detect first"):
        vild.refilter(ctx, s, None)


def test_glip_handlers_directly(ctx):
    from app.tabs import glip

    s = glip.TAB.defaults(image=SHAPES, caption="red square . blue circle", threshold=0.0, max_proposals=20, prompts="1",
                          model=ctx.default_choice)
    caption = glip.ground(ctx, s)
    assert caption.scores["phrases"] == ["red square", "blue circle"]  # run_ner's noun phrases
    assert "noun phrases" in caption.outputs["phrases"]
    names = glip.ground(ctx, s.replace(caption="red square . blue circle . red square", mode="categories"))
    assert names.scores["phrases"] == ["red square", "blue circle"] and "one entity per name" in names.outputs["phrases"]
    assert len(names.outputs["table"]) == len(names.scores["grounded"]) <= 2 * s.per_phrase
    strict = glip.reground(ctx, s.replace(threshold=1.0), names.keep)
    assert strict.outputs["table"] == [] and strict.outputs["heatmap"] is not None
    assert strict.notes[0].startswith("**Nothing grounded")
    with pytest.raises(InputError, match="Run Ground first"):
        glip.reground(ctx, s, None)


def test_the_region_tabs_share_one_declaration_of_the_proposal_settings():
    from app.tabs import glip, vild

    shared = ["sources", "max_proposals", "prompts"]
    for tab in (vild.TAB, glip.TAB):
        assert all(tab.setting(n).doc for n in shared)
        assert tab.setting("prompts").component().choices == vild.TAB.setting("prompts").component().choices
        assert [v for _, v in tab.setting("sources").component().choices] == SOURCES
    assert [v for _, v in glip.TAB.setting("mode").component().choices] == ["caption", "categories"]


def test_region_pictures():
    from app.render import boxes

    image = Image.new("RGB", (100, 80), "white")
    assert [c.size for c in boxes.crops(image, [[10, 10, 30, 50]])] == [(96, 96)] * 2
    drawn = np.asarray(boxes.outline(image, [[10, 10, 30, 50]], colours=[1]))
    assert tuple(drawn[10, 20]) == boxes.STEP_PALETTE[1] and tuple(drawn[30, 20]) == (255, 255, 255)
    scaled = np.asarray(boxes.outline(image, [[10, 10, 30, 50]], scale=0.5))
    assert tuple(scaled[5, 10]) == boxes.STEP_PALETTE[0]
    assert boxes.banded(Image.new("RGB", (40, 2))).size == (40, 160)


@pytest.mark.parametrize("mode", [None, "Caption (noun phrases)"])
def test_a_glip_record_from_before_read_the_box_as_still_replays(client, tmp_path, mode):
    picture, _, _, table, _, _, record, _ = glip_ground(client, caption="A red square. A green triangle.")
    saved = json.loads(open(record).read())
    assert saved["settings"]["mode"] == "caption"
    if mode is None:
        del saved["settings"]["mode"]  # written before the setting existed: read as a caption
    else:
        saved["settings"]["mode"] = mode  # display text, as a hand-edited record might hold
    old = tmp_path / "old-glip.json"
    old.write_text(json.dumps(saved))
    replayed, _, _, table2, *_ = client.predict(handle_file(str(old)), handle_file(SHAPES), api_name="/glip_replay")
    assert table2["data"] == table["data"] and replayed["annotations"] == picture["annotations"]


# -- ViLD image-guided detection: a query image instead of categories (issue 21) ---------------------
@pytest.fixture(scope="module")
def query_file(tmp_path_factory):
    """A query image cut from the shapes drawing (its top-left quarter)."""
    path = tmp_path_factory.mktemp("query") / "corner.png"
    Image.open(SHAPES).crop((0, 0, 240, 160)).save(path)
    return str(path)


def test_vild_match_through_its_endpoint_filters_exports_and_replays(client, query_file, tmp_path):
    picture, table, box_choice, bars, export, notes, record, strip = vild_match(client, query_file)
    rows = table["data"]
    assert rows and all(row[1] == "query image" for row in rows) and len(rows) == len(picture["annotations"])
    assert "match(es)** for the query image corner.png" in notes and "cosine" in notes
    assert len(strip) == 4 and "cosine" in strip[3]["caption"]
    annotations = coco_round_trip(export, (480, 320), ["query image"])
    assert [a["score"] for a in annotations] == pytest.approx([row[2] for row in rows], abs=5e-4)
    saved = json.loads(open(record).read())
    assert saved["tab"] == "vild_match" and set(saved["inputs"]) == {"image", "query"}
    assert saved["settings"]["query_threshold"] == 0.0 and "categories" not in saved["settings"]
    # the filters re-filter the kept match with the query threshold (the text score is not used)
    _, strict, _, _, _, strict_notes, _ = vild_filter(client, 0.0, query_threshold=1.0)
    assert strict["data"] == [] and "below the query threshold 1" in strict_notes
    _, again, *_ = vild_filter(client, 1.0, query_threshold=0.0)  # a strict text score changes nothing here
    assert again["data"] == rows
    # the record replays with both files; without the query it says what to upload
    replayed = client.predict(handle_file(record), handle_file(SHAPES), handle_file(query_file),
                              api_name="/vild_match_replay")
    assert replayed[1]["data"] == rows
    with pytest.raises(Exception, match="query"):
        client.predict(handle_file(record), handle_file(SHAPES), None, api_name="/vild_match_replay")


def test_vild_match_without_a_query_says_so_and_serves(client):
    with pytest.raises(Exception, match="query image"):
        vild_match(client, None)
    status, _, _ = client.predict(MODEL, api_name="/model_status")
    assert "Ready" in status


def test_vild_match_handler_directly(ctx, query_file):
    from app.tabs import vild as tab
    from components import vild

    s = tab.TAB.defaults(image=SHAPES, query=query_file, query_threshold=0.0, max_proposals=20, model=ctx.default_choice)
    answer = tab.match(ctx, s)
    image, result, _notes, name = answer.keep
    assert isinstance(result, vild.QueryResult) and name == "detection_shapes.png"
    assert answer.scores["proposals"] == 20 and len(answer.scores["detections"]) == len(answer.outputs["table"])
    assert tab.box_bars(answer.outputs["box_choice"].value, answer.keep) is not None
    proposals = tab.refilter(ctx, s.replace(show_proposals=True), answer.keep)
    assert len(proposals.outputs["detections"][1]) == 20
    with pytest.raises(InputError, match="Upload a query image"):
        tab.match(ctx, s.replace(query=None))
    with pytest.raises(InputError, match="at least one category"):  # Detect still needs its categories
        tab.detect(ctx, s.replace(categories=" ; "))


def test_every_image_input_offers_the_webcam(app_server):
    """The webcam is a source of every tab's image upload (app.scaffold.image_setting), its snapshot
    not mirrored, and still handed over as a file for components.media to decode."""
    from app.admission import MISSING_IMAGE
    from app.widgets import _PathImage

    demo, _ = app_server
    pages = demo.clip_lab.pages
    images = {key: [c for name, c in page.components.items()
                    if isinstance(c, _PathImage) and page.tab.setting(name).required == MISSING_IMAGE]
              for key, page in pages.items()}
    assert {"zeroshot", "vild", "glip", "clipasso", "lseg", "groupvit", "depthclip", "vilt", "compare"} <= \
        {key for key, found in images.items() if found}
    for component in (c for found in images.values() for c in found):
        assert component.sources == ["upload", "webcam", "clipboard"], component.label
        assert component.webcam_options.mirror is False
        assert component.preprocess(None) is None


def test_coco_documents_by_hand():
    """COCO's conventions on a hand-made box: [x, y, w, h] from (x0, y0, x1, y1), ids from 1, every
    category listed, the results list for loadRes, and a schema check that catches what breaks a reader."""
    from components.exports import coco

    document = coco.dataset([[10, 20, 40, 60.5]], ["dog"], [0.87654321], categories=["cat", "dog"],
                            image_size=(100, 80), file_name="/srv/uploads/abc/photo.png")
    assert document["images"] == [{"id": 1, "file_name": "photo.png", "width": 100, "height": 80}]
    assert [c["id"] for c in document["categories"]] == [1, 2]
    assert document["annotations"] == [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [10.0, 20.0, 30.0, 40.5],
                                         "area": 1215.0, "iscrowd": 0, "score": 0.876543}]
    assert coco.results(document) == [{"image_id": 1, "category_id": 2, "bbox": [10.0, 20.0, 30.0, 40.5],
                                       "score": 0.876543}]
    assert coco.schema_problems(document) == []
    broken = json.loads(json.dumps(document))
    broken["annotations"][0]["category_id"] = 7
    broken["annotations"][0]["bbox"] = [90, 0, 30, 10]
    del broken["images"][0]["width"]
    problems = " ".join(coco.schema_problems(broken))
    assert "category 7" in problems and "an image needs" in problems
    broken["images"][0]["width"] = 100
    assert "not inside its image" in " ".join(coco.schema_problems(broken))
    with pytest.raises(AssertionError, match="not among the categories"):
        coco.dataset([[0, 0, 1, 1]], ["bird"], [0.5], categories=["cat"], image_size=(10, 10))
    empty = coco.dataset(np.zeros((0, 4)), [], [], categories=["cat"], image_size=(10, 10))
    assert empty["annotations"] == [] and coco.results(empty) == [] and coco.schema_problems(empty) == []
