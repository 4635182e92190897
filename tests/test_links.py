"""Links to a run (app/links.py, issue 21): the format, what a link may carry (the tab's own examples,
never an upload or a server path), and each panel's link made and opened through the built app."""

from __future__ import annotations

import base64
import json
import shutil

import gradio as gr
import pytest

from app import links
from app.examples import ASSETS, skimage_photo, world_examples
from components.errors import InputError
from testkit import TINY_VIT


@pytest.fixture(scope="module")
def pages():
    from app.context import Settings
    from app.ui import build_demo

    demo = build_demo(Settings(TINY_VIT, "random", "cpu"))
    return demo.clip_lab


def _token(document) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_link_round_trips_and_holds_no_padding_or_unsafe_characters():
    link = links.Link("vild_detect", {"categories": "red square; blue circle", "score": 0.9, "sources": ["dense"]},
                      {"image": "assets/world/scene.png"}, "ViT-B-32 · openai")
    token = links.encode(link)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert links.decode(token) == link


@pytest.mark.parametrize(
    "token, message",
    [
        ("!!!not base64!!!", "damaged"),
        (_token(b"\xff\xfe not utf-8"), "damaged"),
        (_token(b"{not json"), "damaged"),
        (_token([1, 2, 3]), "damaged"),
        (_token({"v": 99, "run": "vild_detect", "settings": {}, "files": {}, "model": ""}), "another version"),
        (_token({"v": 1, "run": 5, "settings": {}, "files": {}, "model": ""}), "damaged"),
        (_token({"v": 1, "run": "vild_detect", "settings": [], "files": {}, "model": ""}), "damaged"),
        (_token({"v": 1, "run": "vild_detect"}), "damaged"),
        ("A" * (links.MAX_TOKEN_CHARS + 1), "at most 8000"),
    ],
)
def test_a_malformed_link_gets_a_clear_message(token, message):
    with pytest.raises(InputError, match=message):
        links.decode(token)


def test_only_the_tabs_own_example_files_travel(tmp_path):
    example = world_examples("vild")[0][0]
    files = links.ExampleFiles([example, skimage_photo("chelsea")])
    copy = tmp_path / "upload.png"  # what Gradio hands a handler: a copy in its cache
    shutil.copy(example, copy)
    ref = files.reference_of(str(copy))
    assert ref and ref.startswith("assets/world/") and files.path_of(ref) == str(type(copy)(example).resolve())
    assert files.reference_of(skimage_photo("chelsea")) == "skimage/chelsea.png"
    own = tmp_path / "mine.png"
    own.write_bytes(b"\x89PNG a visitor's own picture")
    assert files.reference_of(str(own)) is None and files.reference_of(None) is None
    for bad in ["assets/../../../etc/passwd", "assets/README.md", "/etc/passwd", "skimage/../../os.py",
                "elsewhere/x.png", 42, None, ["assets/world/x.png"]]:
        with pytest.raises(InputError, match="not one of this tab's examples"):
            files.path_of(bad)
    assert (ASSETS / "README.md").is_file()  # a real file on the server, still refused


def test_files_for_names_what_a_link_cannot_carry(tmp_path):
    example = world_examples("vild")[0][0]
    own = tmp_path / "mine.png"
    own.write_bytes(b"mine")
    files = links.ExampleFiles([example])
    refs, private = links.files_for(files, ["image", "query", "more"], {"image": example, "query": str(own),
                                                                        "more": [example, str(own)]})
    assert list(refs) == ["image"] and private == ["query", "more"]
    assert links.restored_files(files, refs) == {"image": files.path_of(refs["image"])}


def _values(page, run_name, **overrides):
    endpoint = next(e for e in page.endpoints if e.api_name == run_name)
    values = {**page.tab.defaults(), **overrides}
    return [values[n] for n in endpoint.uses], endpoint.uses


def test_a_link_made_on_a_tab_opens_there_with_the_same_inputs(pages):
    page = pages.pages["vild"]
    image, categories = world_examples("vild")[0]
    table = [page.tab.setting(n) for n in _values(page, "vild_detect")[1]]
    args, uses = _values(page, "vild_detect", image=image, categories=categories, score=0.5)
    query, note = page._link_of("vild_detect", table, dict(zip([*uses, "model"], [*args, pages.default_choice])), None)
    assert query.startswith("?run=") and "runs them" in note and "/" not in query.split("=", 1)[1]
    token = query.split("=", 1)[1]
    opened = page._opened("vild_detect", table, token)
    restored = dict(zip([*uses, "model"], opened))
    assert restored["categories"] == categories and restored["score"] == 0.5
    assert restored["image"] == str(type(ASSETS)(image).resolve()) and restored["model"] == pages.default_choice
    # a link for another panel's run leaves this one alone
    assert all(v == gr.skip() for v in page._opened("vild_match", table, token))
    # every recorded run with a replay panel can be linked to, and the page load knows where each opens
    assert {"vild_detect", "vild_match", "glip_ground", "zeroshot_classify", "lseg_segment"} <= set(pages.link_targets)
    assert pages.link_targets["vild_detect"][1] == "vild"


def test_a_link_from_a_private_upload_or_model_says_what_it_cannot_carry(pages, tmp_path):
    page = pages.pages["zeroshot"]
    own = tmp_path / "my-cat.png"
    shutil.copy(skimage_photo("chelsea"), own)
    own.write_bytes(own.read_bytes() + b"changed")  # no longer byte for byte an example
    args, uses = _values(page, "zeroshot_classify", image=str(own), labels="cat, dog")
    table = [page.tab.setting(n) for n in uses]
    query, note = page._link_of("zeroshot_classify", table, dict(zip([*uses, "model"], [*args, "mine · trained"])), None)
    assert "your own image" in note and "cannot carry uploads" in note and "default model" in note
    document = json.loads(base64.urlsafe_b64decode(query.split("=", 1)[1] + "=="))
    assert "image" not in document["files"] and document["model"] == "" and str(tmp_path) not in query
    long_text = "x" * (3 * links.MAX_TOKEN_CHARS)
    args, _ = _values(page, "zeroshot_classify", labels=long_text)
    with pytest.raises(InputError, match="more than a link may hold"):
        page._link_of("zeroshot_classify", table, dict(zip([*uses, "model"], [*args, pages.default_choice])), None)


def test_opening_a_link_with_a_foreign_file_or_setting(pages):
    page = pages.pages["vild"]
    uses = _values(page, "vild_detect")[1]
    table = [page.tab.setting(n) for n in uses]
    foreign = links.encode(links.Link("vild_detect", {}, {"image": "assets/README.md"}))
    with pytest.raises(InputError, match="not one of this tab's examples"):
        page._opened("vild_detect", table, foreign)
    with pytest.raises(InputError, match="damaged"):
        page._opened("vild_detect", table, "%%%")
