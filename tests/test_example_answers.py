"""Example answers kept for every visitor (a CPU Space, issue 20): picking an example row shows its
answer, computed for the first visitor who picks it and kept for the others, with notes that say so;
nothing kept where a run is a visitor's own (a long job, state, a session)."""

from __future__ import annotations

import os
import time

import gradio as gr
import pytest

from app import scaffold
from app.context import example_answers_cached


@pytest.mark.parametrize(
    "env, expected",
    [({}, False), ({"SPACE_ID": "someone/clip-lab"}, True),
     ({"SPACE_ID": "someone/clip-lab", "SPACES_ZERO_GPU": "true"}, False),
     ({"CLIP_LAB_CACHE_EXAMPLES": "1"}, True), ({"SPACE_ID": "x/y", "CLIP_LAB_CACHE_EXAMPLES": "0"}, False)],
)
def test_on_by_default_only_for_a_cpu_space(monkeypatch, env, expected):
    for name in ("SPACE_ID", "SPACES_ZERO_GPU", "CLIP_LAB_CACHE_EXAMPLES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert example_answers_cached() is expected


def _endpoint(calls: list, fail: bool = False):
    def endpoint(image, labels, model, progress=None, request=None):
        calls.append((image, labels, model))
        if fail:
            raise gr.Error("Upload an image first")
        return f"ranked {labels}", "- the run's own note", {"features": len(calls)}

    return endpoint


def test_an_answer_is_computed_once_per_inputs_and_model_and_says_so():
    calls: list = []
    answered = scaffold._remembered(_endpoint(calls), ["ranked", "notes", "keep"], gr.Button("Classify", render=False))
    first = answered("cat.png", "cat, dog", "ViT-B-16 · openai")
    again = answered("cat.png", "cat, dog", "ViT-B-16 · openai")
    assert len(calls) == 1
    assert first[0] == again[0] == "ranked cat, dog" and first[2] is again[2]  # the same answer, not recomputed
    assert first[1].startswith("- Computed now for this example, and kept")
    assert again[1].startswith("- Kept answer, computed ") and "press Classify to compute it afresh" in again[1]
    assert again[1].endswith("- the run's own note")
    answered("cat.png", "cat, dog", "ViT-B-32 · openai")  # another model, another answer
    answered("dog.png", "cat, dog", "ViT-B-16 · openai")
    assert len(calls) == 3


def test_an_error_is_not_kept():
    calls: list = []
    answered = scaffold._remembered(_endpoint(calls, fail=True), ["ranked", "notes", "keep"], gr.Button("Run", render=False))
    for _ in range(2):
        with pytest.raises(gr.Error):
            answered("broken.png", "cat", "m")
    assert len(calls) == 2


def test_the_kept_answers_are_bounded(monkeypatch):
    monkeypatch.setattr(scaffold, "EXAMPLE_ANSWERS", 3)
    calls: list = []
    answered = scaffold._remembered(_endpoint(calls), ["ranked", "notes", "keep"], gr.Button("Run", render=False))
    for name in ("a", "b", "c", "d", "a"):
        answered(f"{name}.png", "x", "m")
    assert len(calls) == 5  # "a" was dropped, oldest first, when "d" came


def test_a_kept_answer_whose_files_were_swept_away_is_computed_afresh(monkeypatch, tmp_path):
    """Answer folders last an hour (components.exports.folders); a kept answer that names a swept
    file (its record, a picture) would fail as Gradio hashes it, so it is computed again."""
    from components.exports import folders

    monkeypatch.setattr(folders.tempfile, "gettempdir", lambda: str(tmp_path))
    calls: list = []

    def endpoint(image, labels, model, progress=None, request=None):
        calls.append(image)
        record = folders.answer_file("run", "zeroshot-run.json")
        record.write_text("{}")
        return [(str(record), "a tile")], "- note", str(record)

    answered = scaffold._remembered(endpoint, ["board", "notes", "record"], gr.Button("Run", render=False))
    first = answered("cat.png", "cat", "m")
    answered("cat.png", "cat", "m")
    assert len(calls) == 1
    folders.sweep(force=True, now=time.time() + folders.KEEP_S + 10)
    assert not os.path.exists(first[2])
    again = answered("cat.png", "cat", "m")
    assert len(calls) == 2 and os.path.exists(again[2]) and again[1].startswith("- Computed now")
    assert answered("cat.png", "cat", "m")[2] == again[2] and len(calls) == 2  # kept again


def _picks(demo) -> list:
    return [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "answered"]


def test_a_cpu_space_wires_the_pick_to_the_tabs_run_and_not_where_runs_are_a_visitors_own(monkeypatch, ctx):
    from app.tabs import clipasso, zeroshot

    monkeypatch.setenv("CLIP_LAB_CACHE_EXAMPLES", "1")
    with gr.Blocks() as demo:
        ctx.model_picker = gr.Dropdown([ctx.default_choice], value=ctx.default_choice)
        with gr.Tab("zero-shot"):
            zeroshot.build(ctx)
    picks = _picks(demo)
    assert len(picks) == len(ctx.pages["zeroshot"].example_rows)  # every examples block of the tab
    # the pick's inputs are the run's: an answer through it is the run's own answer
    page = ctx.pages["zeroshot"]
    names, rows = page.example_rows[next(iter(page.example_rows))]
    values = {**page.tab.defaults(), **dict(zip(names, rows[0]))}
    run = page.endpoints[0]
    out = picks[0].fn(*[values[n] for n in run.uses], ctx.default_choice)
    shown = [s for s in run.slots]
    assert out[shown.index("notes")].startswith("- Computed now for this example")
    again = picks[0].fn(*[values[n] for n in run.uses], ctx.default_choice)
    assert again[shown.index("ranked")] == out[shown.index("ranked")]
    assert again[shown.index("notes")].startswith("- Kept answer")

    with gr.Blocks() as other:  # a sketch is a long job, the visitor's own: picking only fills the inputs
        ctx.model_picker = gr.Dropdown([ctx.default_choice], value=ctx.default_choice)
        clipasso.build(ctx)
    assert _picks(other) == []


def test_off_the_pick_only_fills_the_inputs(monkeypatch, ctx):
    from app.tabs import zeroshot

    monkeypatch.setenv("CLIP_LAB_CACHE_EXAMPLES", "0")
    with gr.Blocks() as demo:
        ctx.model_picker = gr.Dropdown([ctx.default_choice], value=ctx.default_choice)
        zeroshot.build(ctx)
    assert _picks(demo) == []


def test_a_panels_examples_are_answered_by_the_panels_own_run(monkeypatch, ctx):
    """ViLD's image-guided example is answered by the image-guided run (the query image among its
    inputs), not by the tab's first run, which would ignore the query."""
    from app.tabs import vild

    monkeypatch.setenv("CLIP_LAB_CACHE_EXAMPLES", "1")
    with gr.Blocks() as demo:
        ctx.model_picker = gr.Dropdown([ctx.default_choice], value=ctx.default_choice)
        vild.build(ctx)
    page = ctx.pages["vild"]
    picks = _picks(demo)
    assert len(picks) == len(page.example_rows)
    query = page.components["query"]
    by_query = [fn for fn in picks if any(c is query for c in fn.inputs)]
    assert len(by_query) == 1  # the image-guided block's pick, and only that one
    match = next(e for e in page.endpoints if e.api_name == "vild_match")
    assert [c for c in by_query[0].inputs][:len(match.uses)] == [page.components[n] for n in match.uses]
