"""The app under ZeroGPU's execution model (tests/zerogpu.py: the `spaces` package's own wrappers, so
each GPU-decorated handler runs in a forked worker, its arguments and results pickled across):
a tab end to end, what never asks for a GPU, a request that arrives while the model is still
loading, CLIP4Clip's index across workers, the durations asked for, and app.py's start on ZeroGPU."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from app.context import Settings
from app.examples import skimage_photo
from app.widgets import GPU_SECONDS
from appserver import finish, free_port, patient_url_ok
from zerogpu import zero_gpu

ROOT = Path(__file__).resolve().parents[1]
MODEL = "clip-lab-tiny-vit · random"
CLASSIFY = ("single", "naclip", 1.0)  # templates, method, resolution


def _on_gpu(fn) -> bool:
    """Whether a Gradio event's function is wrapped by spaces.GPU (the package's wrapper)."""
    return "spaces/zero/wrappers.py" in getattr(getattr(fn, "__code__", None), "co_filename", "")


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """The app as a ZeroGPU Space runs it: built with SPACES_ZERO_GPU set, the default model loaded
    at import (as app.py does there), launched; yields (ZeroGPU record, demo, client)."""
    import app
    from app.ui import build_demo
    from components import clip4clip
    from gradio import networking

    # app.py's own `demo` (for its launch settings), built before SPACES_ZERO_GPU is set and with the
    # settings appserver.running_demo gives it, since later tests launch that same `demo`
    os.environ.update(CLIP_LAB_MODEL="clip-lab-tiny-vit", CLIP_LAB_PRETRAINED="random", CLIP_LAB_DEVICE="cpu")
    entry = app.entry_module()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLIP_LAB_VIDEO_CACHE", str(tmp_path_factory.mktemp("video-index")))
        clip4clip.forget_indexes()
        with zero_gpu(patch) as record:
            demo = build_demo(Settings("clip-lab-tiny-vit", "random", "cpu"))
            demo.clip_lab.load_now()
            patch.setattr(networking, "url_ok", patient_url_ok)
            port = free_port()
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        **entry.launch_kwargs())
            try:
                yield record, demo, Client(f"http://127.0.0.1:{port}/", verbose=False)
            finally:
                demo.close()
                clip4clip.forget_indexes()


def test_an_image_tab_runs_in_a_gpu_worker_end_to_end(space):
    record, demo, client = space
    ctx = demo.clip_lab
    here = ctx.backbone()
    forwards, asked = here.image_forwards, len(record.requests)
    job = client.submit(handle_file(skimage_photo("astronaut")), "astronaut, cat, rocket", *CLASSIFY, MODEL,
                        api_name="/zeroshot_classify")
    ranked, bars, heat_label, heat, notes, run_record, strip = finish(job)
    assert {c["label"] for c in ranked["confidences"]} == {"astronaut", "cat", "rocket"}
    assert heat.endswith(".png") and len(strip) == 4 and json.loads(Path(run_record).read_text())["model"] == MODEL
    assert len(record.requests) == asked + 1 and record.requests[-1].seconds == GPU_SECONDS  # one image: the short default
    assert record.workers and os.getpid() not in record.worker_pids()
    # The forward ran in the worker: its counters moved there, not in this (the main) process.
    assert here.image_forwards == forwards
    # A re-score and the model's status line run in the main process without asking for a GPU; the
    # kept result they read came back from the worker, pickled.
    again, *_ = client.predict("cat", api_name="/zeroshot_heatmap")
    assert again is None or again.endswith(".png")
    status, *_ = client.predict(MODEL, api_name="/model_status")
    assert "clip-lab-tiny-vit" in status and len(record.requests) == asked + 1
    # A second run reuses the idle worker, as ZeroGPU does.
    workers = len(record.workers)
    finish(client.submit(handle_file(skimage_photo("astronaut")), "cat, dog", *CLASSIFY, MODEL,
                         api_name="/zeroshot_classify"))
    assert len(record.workers) == workers and len(record.requests) == asked + 2


def test_what_never_touches_a_model_never_asks_for_a_gpu(space):
    _, demo, _ = space
    wrapped = {fn.api_name: _on_gpu(fn.fn) for fn in demo.fns.values() if fn.api_name}
    rescores = {r.api_name for page in demo.clip_lab.pages.values() for r in page.rescores}
    assert rescores, "no re-score endpoints found"
    assert not {name for name in rescores | {"model_status", "pick_model"} if wrapped.get(name)}
    assert all(wrapped[n] for n in ("zeroshot_classify", "clip4clip_search", "clip4clip_add"))


def test_a_request_while_the_model_is_still_loading_does_not_hang(space, monkeypatch):
    """The issue's hang: a GPU call forked while the loader thread of the main process is still
    loading the model. The worker has no loader thread; it must load the model itself. The wait is
    bounded by the job's progress (appserver.finish), not by a guess at how long it takes."""
    record, demo, client = space
    ctx = demo.clip_lab
    main, release = os.getpid(), threading.Event()
    load = ctx._load

    def slow_in_main(choice):
        if os.getpid() == main:  # the worker is a copy of this process: only the main one waits
            release.wait()
        return load(choice)

    monkeypatch.setattr(ctx, "zero_gpu", False)  # started the usual way: the model loads in the background
    monkeypatch.setattr(ctx, "_load", slow_in_main)
    monkeypatch.setattr(record, "reuse", False)  # a fresh worker, forked now, while the load is under way
    saved = ctx._futures.pop(ctx.default_choice)
    try:
        loading = ctx.start_loading()
        assert not loading.done() and not ctx.is_ready()
        workers = len(record.workers)
        job = client.submit(handle_file(skimage_photo("astronaut")), "astronaut, cat", *CLASSIFY, MODEL,
                            api_name="/zeroshot_classify")
        ranked, *_ = finish(job)
        assert {c["label"] for c in ranked["confidences"]} == {"astronaut", "cat"}
        assert len(record.workers) == workers + 1 and not loading.done()  # answered while the main one still loads
    finally:
        release.set()
    assert loading.result() is saved.result()  # the main process's load ends with the same cached model


def _video(path: Path, frames: int = 16, width: int = 32) -> Path:
    """A small magenta video of our own (not one of the bundled clips, which the index has already)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(frames):
            picture = np.zeros((64, 64, 3), np.uint8)
            picture[8 + i:40 + i, 16:16 + width] = (230, 30, 200)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _add_probe(client, record, folder: Path, name: str = "zerogpu probe", width: int = 32) -> None:
    probe = _video(folder / f"{name}.mp4", width=width)
    workers = len(record.workers)
    status, log, pick, gallery = finish(client.submit([handle_file(str(probe))], MODEL, api_name="/clip4clip_add"))
    assert name in log and "encoded" in log, log
    assert len(record.workers) > workers or any(w.process.is_alive() for w in record.workers)


def _found(client, query: str, name: str = "zerogpu probe") -> bool:
    gallery, ranking, notes, status, run_record, strip = finish(
        client.submit(query, 50, "meanP", MODEL, api_name="/clip4clip_search"))
    return any(name in str(row) for row in ranking["data"])


def test_clip4clip_index_a_video_then_search_finds_it(space, tmp_path, monkeypatch):
    """The index lives on disk: a video one worker added is found by a search in a worker forked
    after it, and listed by the main process's status."""
    record, _, client = space
    _add_probe(client, record, tmp_path)
    monkeypatch.setattr(record, "reuse", False)  # the search runs in a worker forked now
    assert _found(client, "a magenta square")
    status, pick, gallery = client.predict(MODEL, api_name="/clip4clip_status")
    assert "zerogpu probe" in json.dumps(pick) + json.dumps(gallery)


def test_clip4clip_a_reused_worker_finds_videos_added_since(space, tmp_path):
    record, _, client = space
    _found(client, "a red video")  # the search worker, forked before the add below
    _add_probe(client, record, tmp_path, "zerogpu second", width=20)  # not the test above's video
    assert _found(client, "a magenta square", "zerogpu second")  # in the same (reused) search worker


def test_durations_come_from_the_call(space):
    """`gpu_seconds` as a rule of the call: `spaces` calls it in the main process with the handler's
    arguments (widgets.user_errors) or the scaffold's settings (scaffold._endpoint), clamped."""
    import types

    from app import scaffold
    from app.widgets import GPU_SECONDS_MAX, user_errors

    record, _, _ = space

    @user_errors(gpu_seconds=lambda frames: 5 + 0.5 * frames)
    def index(frames):
        return os.getpid()

    assert index(40) != os.getpid() and record.requests[-1].seconds == 25
    index(10_000)
    assert record.requests[-1].seconds == GPU_SECONDS_MAX

    page = types.SimpleNamespace(tab=types.SimpleNamespace(title="Test"),
                                 _deliver=lambda answer, slots, values, record_as: answer)
    table = [scaffold.Setting("iterations", lambda: None, int), scaffold.Setting("seeds", lambda: None, int)]
    endpoint = scaffold._endpoint(lambda values, progress, session: values.iterations * values.seeds, table, [],
                                  page, record_as="test", gpu_seconds=lambda s: 10 + 0.1 * s.iterations * s.seeds)
    assert endpoint(200, 3, MODEL) == 600 and record.requests[-1].seconds == 70



def test_a_batch_asks_for_its_images_not_the_limits(space, tmp_path):
    """A zip's GPU request is sized by the images its directory names (read in the main process,
    nothing decoded), not by the 64-image limit; a zip it cannot read asks for the short minimum."""
    from PIL import Image

    import badfiles as bad

    record, _, client = space
    pictures = {}
    for i, colour in enumerate(("red", "green", "blue")):
        out = io.BytesIO()
        Image.new("RGB", (32, 24), colour).save(out, "PNG")
        pictures[f"photos/{i}.png"] = out.getvalue()
    three = bad._zip(tmp_path, "three.zip", {**pictures, "notes.txt": "not an image"})
    table, *_ = client.predict(handle_file(str(three)), "red, green, blue", *CLASSIFY, MODEL, api_name="/zeroshot_batch")
    assert len(table["data"]) == 3 and record.requests[-1].seconds == 15 + 3
    client.predict(handle_file(str(three)), api_name="/lseg_batch")
    assert record.requests[-1].seconds == 15 + 2 * 3
    with pytest.raises(Exception, match="not a zip archive"):
        client.predict(handle_file(str(bad.not_a_zip(tmp_path))), api_name="/lseg_batch")
    assert record.requests[-1].seconds == 15

FAKE_SPACES = '''
import sys
TORCH_BEFORE = "torch" in sys.modules
IMPORTED = True
def GPU(task=None, *, duration=None, size=None):
    return task if callable(task) else (lambda fn: fn)
# the tiny test models, registered the way tests/conftest.py does
sys.path.insert(0, {tests!r})
import conftest
'''


def test_app_py_creates_the_default_model_at_import_on_zero_gpu(tmp_path):
    """On ZeroGPU app.py imports `spaces` before anything imports torch, and creates the default
    model at import, in the main thread; no loader thread is left for a worker to wait on."""
    (tmp_path / "spaces.py").write_text(FAKE_SPACES.format(tests=str(ROOT / "tests")))
    code = (
        f"import sys, threading; sys.path[:0] = [{str(tmp_path)!r}, '.']; import app; m = app.entry_module();"
        "import spaces; from components import backbone; ctx = m.demo.clip_lab;"
        "print(spaces.TORCH_BEFORE, ctx.start_loading().done(), len(backbone.cached_backbones()),"
        " any(t.name.startswith('clip-lab-load') for t in threading.enumerate()))"
    )
    env = {**os.environ, "SPACES_ZERO_GPU": "true", "CLIP_LAB_MODEL": "clip-lab-tiny-vit",
           "CLIP_LAB_PRETRAINED": "random", "CLIP_LAB_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False True 1 False"
