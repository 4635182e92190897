"""A visitor's videos are theirs (CLIP4Clip): each browser (its visitor cookie, which survives a
reload) searches its own uploads plus the shared examples; another visitor neither finds them nor
sees their frames; "Remove my videos" and 24 hours unused remove them; an operator may share one
index (CLIP_LAB_SHARED_INDEX), and the tab says which."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from appserver import environment, finish, running_demo
from components import clip4clip

MODEL = "clip-lab-tiny-vit · random"


def _clip(path, colour) -> str:
    frames = [Image.fromarray(np.full((48, 64, 3), colour, np.uint8)) for _ in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200)
    return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cache = tmp_path_factory.mktemp("private-index")
    with environment({"CLIP_LAB_VIDEO_CACHE": str(cache)}):
        clip4clip.forget_indexes()  # indexes made before this module used another cache
        with running_demo() as (demo, url):
            yield url, cache
        clip4clip.forget_indexes()


def _names(client) -> list[str]:
    _status, picker, _gallery = client.predict(MODEL, api_name="/clip4clip_status")
    return [c[0] if isinstance(c, (list, tuple)) else c for c in picker.get("choices", [])] if isinstance(picker, dict) else []


def _search_names(client, query="a purple video") -> list[str]:
    gallery, ranking, *_ = client.predict(query, 50, "meanP", MODEL, api_name="/clip4clip_search")
    return [row[1] for row in ranking["data"]]


def test_uploads_are_the_visitors_own_and_survive_a_reload(server, tmp_path):
    url, cache = server
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    assert alice.cookies.get("clip_lab_visitor") and alice.cookies["clip_lab_visitor"] != bob.cookies["clip_lab_visitor"]
    video = _clip(tmp_path / "alice-secret.gif", (150, 40, 160))
    finish(alice.submit([handle_file(video)], MODEL, api_name="/clip4clip_add"))

    assert "alice-secret.gif" in _search_names(alice)
    theirs = _search_names(bob)
    assert "alice-secret.gif" not in theirs and theirs  # Bob gets the shared examples, not Alice's video
    assert "alice-secret.gif" not in _names(bob)
    with pytest.raises(Exception, match="not in the index"):
        bob.predict("alice-secret.gif", None, "a purple video", "meanP", MODEL, api_name="/clip4clip_captions")

    again = Client(url, verbose=False, httpx_kwargs={"cookies": {"clip_lab_visitor": alice.cookies["clip_lab_visitor"]}})
    assert again.cookies["clip_lab_visitor"] == alice.cookies["clip_lab_visitor"]  # a reload: the same browser
    assert "alice-secret.gif" in _search_names(again)

    status, log, *_ = alice.predict(MODEL, api_name="/clip4clip_remove_mine")
    assert "removed your 1" in log
    assert "alice-secret.gif" not in _search_names(alice)
    assert _search_names(alice)  # the examples stay


def test_unused_for_a_day_they_go(server, tmp_path):
    url, cache = server
    carol = Client(url, verbose=False)
    finish(carol.submit([handle_file(_clip(tmp_path / "carol.gif", (20, 200, 90)))], MODEL, api_name="/clip4clip_add"))
    folders = list(cache.glob(f"*/{clip4clip.VISITORS}/{carol.cookies['clip_lab_visitor']}"))
    assert len(folders) == 1
    old = time.time() - clip4clip.VISITOR_TTL_S - 60
    os.utime(folders[0] / "last-used", (old, old))
    dave = Client(url, verbose=False)
    _search_names(dave)  # any visitor's use sweeps
    assert not folders[0].exists()
    assert "carol.gif" not in _search_names(carol)


def test_an_operator_can_share_one_index_and_the_tab_says_so(tmp_path):
    from app.tabs.clip4clip import privacy_text

    assert "only this browser" in privacy_text() and "24 hours" in privacy_text()
    with environment({"CLIP_LAB_SHARED_INDEX": "1"}):
        assert "every visitor searches" in privacy_text()
        assert clip4clip.registry.owner_of("0" * 32) == ""
    with pytest.raises(ValueError):
        clip4clip.registry.owner_of("../../etc")
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_forged_cookie_or_session_id_gets_an_id_of_its_own(server, tmp_path):
    url, _ = server
    alice = Client(url, verbose=False)
    finish(alice.submit([handle_file(_clip(tmp_path / "alice-2.gif", (90, 90, 200)))], MODEL, api_name="/clip4clip_add"))
    forged = Client(url, verbose=False, httpx_kwargs={"cookies": {"clip_lab_visitor": "../../" + "a" * 30}})
    assert "alice-2.gif" not in _search_names(forged)  # refused as an id: served as a visitor of its own
    assert forged.cookies["clip_lab_visitor"] != alice.cookies["clip_lab_visitor"]
    from app.scaffold import _session, _parameter
    from types import SimpleNamespace

    request = SimpleNamespace(session_hash="../../etc/passwd", cookies={})
    visitor = _session([_parameter("x", str, "")], ("v", None, request)).visitor
    assert clip4clip.registry.owner_of(visitor) == visitor and "/" not in visitor


def test_a_visitors_replay_runs_on_their_own_index(server, tmp_path):
    """A replayed search or caption ranking runs on the index the visitor's run used: their uploads
    plus the examples (before, a replay searched the shared index while its note read the visitor's)."""
    url, _cache = server
    erin = Client(url, verbose=False)
    finish(erin.submit([handle_file(_clip(tmp_path / "erin-own.gif", (150, 40, 160)))], MODEL, api_name="/clip4clip_add"))
    _gallery, ranking, _notes, _status, record, _strip = erin.predict(
        "a purple video", 50, "meanP", MODEL, api_name="/clip4clip_search")
    _gallery, replayed, notes, *_ = erin.predict(handle_file(record), api_name="/clip4clip_replay")
    assert [row[1] for row in replayed["data"]] == [row[1] for row in ranking["data"]]
    assert "erin-own.gif" in [row[1] for row in replayed["data"]]
    assert "Same index as the recorded run" in notes

    label, table, _notes, record, _strip = erin.predict(
        "erin-own.gif", None, "a purple video; a green video", "meanP", MODEL, api_name="/clip4clip_captions")
    label2, table2, notes2, _record, _strip = erin.predict(handle_file(record), None, api_name="/clip4clip_captions_replay")
    assert table2["data"] == table["data"]
    assert "Same video as the recorded run" in notes2

    pairs = tmp_path / "erin-pairs.csv"
    pairs.write_text("video,caption\nerin-own.gif,a purple video\nred_square.mp4,a red video\n")
    metrics, _matrix, _notes, _status, record, _strip, _files = erin.predict(
        handle_file(str(pairs)), "meanP", MODEL, api_name="/clip4clip_evaluate")
    metrics2, _matrix, notes3, *_ = erin.predict(handle_file(record), handle_file(str(pairs)),
                                                 api_name="/clip4clip_evaluate_replay")
    assert metrics2["data"] == metrics["data"] and "Same videos" in notes3


def test_a_visitor_who_uploads_first_still_finds_the_examples(tmp_path):
    """The bundled clips are everyone's: a visitor whose first act is an upload, on a server where
    nobody has searched yet, finds the examples beside their own video (before, the examples were
    added only to an empty index, so this visitor never saw them)."""
    with environment({"CLIP_LAB_VIDEO_CACHE": str(tmp_path / "fresh-index")}):
        clip4clip.forget_indexes()
        try:
            with running_demo() as (_demo, url):
                fay = Client(url, verbose=False)
                finish(fay.submit([handle_file(_clip(tmp_path / "fay.gif", (150, 40, 160)))], MODEL,
                                  api_name="/clip4clip_add"))
                found = _search_names(fay)
        finally:
            clip4clip.forget_indexes()
    from app.tabs.clip4clip import BUNDLED

    assert "fay.gif" in found
    assert {Path(p).name for p in BUNDLED} <= set(found), found
