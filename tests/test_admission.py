"""Checks made when a request joins the queue (app/admission.py), on a small page built with the
scaffold: a missing input is refused with its message before any work, and a visitor with a long job
queued or running cannot queue another, while a second visitor can."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from app import admission, gradio_fixes
from app.scaffold import Answer, Page, Setting, Tab, image_setting
from appserver import finish, free_port

RELEASE = threading.Event()
STARTED = []


def slow(ctx, s, progress):
    STARTED.append(s.steps)
    RELEASE.wait(timeout=300)
    return Answer({"out": f"{s.steps} steps"}, notes=[], scores={"steps": s.steps})


def quick(ctx, s, progress):
    STARTED.append("quick")
    return Answer({"out": "seen"}, notes=[], scores={})


TAB = Tab(key="demo", title="Demo", name="Demo", idea="-", paper="-", runs="-", settings=[
    image_setting(),
    Setting("steps", lambda: gr.Number(3, precision=0), int, "how many steps"),
])


@pytest.fixture(scope="module")
def url():
    gradio_fixes.apply()  # as build_demo does: validators see raw payloads
    ctx = SimpleNamespace(pages={}, long_jobs=set(), demo=None)
    with gr.Blocks() as demo:
        ctx.model_picker = gr.Dropdown(["m"], value="m")
        page = Page(ctx, TAB)
        page.inputs("image", "steps")
        page.output("out", gr.Textbox())
        page.notes_and_record()
        page.strip()
        page.replay_panel()
        long_button, quick_button = gr.Button(), gr.Button()
        page.run(long_button, slow, "train", uses=["steps"], long_job="training", replay=False)
        page.run(quick_button, quick, "look", uses=["image"], replay=False)
    ctx.demo = demo
    demo.queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    RELEASE.set()
    demo.close()


def test_a_missing_image_is_refused_before_any_work(url):
    client = Client(url, verbose=False)
    with pytest.raises(Exception) as raised:
        client.predict(None, "m", api_name="/demo_look")
    assert admission.MISSING_IMAGE in str(raised.value)
    assert "quick" not in STARTED


def test_one_long_job_per_visitor_and_others_still_get_theirs(url, tmp_path):
    RELEASE.clear()
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    job = first.submit(5, "m", api_name="/demo_train")
    while 5 not in STARTED:  # wait until it runs (however slow the machine)
        assert not job.done(), job.exception()
        time.sleep(0.05)
    with pytest.raises(Exception) as raised:
        first.predict(6, "m", api_name="/demo_train")
    assert "already have a long job" in str(raised.value)
    assert 6 not in STARTED
    other = second.submit(7, "m", api_name="/demo_train")  # another visitor is not held back
    while 7 not in STARTED:
        assert not other.done(), other.exception()
        time.sleep(0.05)
    picture = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(picture)
    assert first.predict(handle_file(str(picture)), "m", api_name="/demo_look")[0] == "seen"  # quick runs pass
    RELEASE.set()
    assert finish(job)[0] == "5 steps" and finish(other)[0] == "7 steps"
    assert first.predict(8, "m", api_name="/demo_train")[0] == "8 steps"  # done: the next may start


def test_the_address_is_the_first_forwarded_hop():
    request = SimpleNamespace(headers={"x-forwarded-for": "10.0.0.7, 172.16.0.1"}, client=SimpleNamespace(host="127.0.0.1"))
    assert admission.address(request) == "10.0.0.7"
    assert admission.address(SimpleNamespace(headers={}, client=SimpleNamespace(host="127.0.0.1"))) == "127.0.0.1"
