"""The Train tab through its endpoints: a few-step run streams its plots, Stop stops it, the trained
model joins this session's picker (and only this session's) and serves the zero-shot tab, a saved
checkpoint loads back, bad settings get messages. Its handlers are also called directly, without a
server."""

from __future__ import annotations

import json
import time

import pytest
from gradio_client import Client, handle_file

from app.context import AppContext, Settings
from app.examples import skimage_photo
from app.scaffold import run_all
from app.tabs import train as tab
from appserver import finish, running_demo, wait_for
from components.errors import InputError
from components.mini import live

QUICK = dict(steps=6, batch_size=8, eval_every=3)


@pytest.fixture(scope="module")
def server():
    with running_demo() as (demo, url):
        yield demo, url


@pytest.fixture(scope="module")
def client(server):
    return Client(server[1], verbose=False)


def _train(client, **settings):
    return client.submit(**{**QUICK, **settings}, api_name="/train_run")


def test_a_few_steps_stream_the_plots_and_end_with_files(client):
    job = _train(client)
    status, curves, matrix, accuracy, emap, combos, checkpoint, record = finish(job)
    streamed = job.outputs()
    assert len(streamed) >= 2  # the untrained model's scores first, then the steps
    assert status.startswith("**Finished** after 6 steps")
    for plot in (curves, accuracy, emap, combos):
        assert plot and "plot" in plot
    assert matrix.endswith(".png")
    assert checkpoint.endswith(".safetensors")
    saved = json.loads(open(record).read())
    assert saved["tab"] == "train" and saved["outcome"] == "finished"
    assert saved["settings"]["steps"] == 6 and len(saved["history"]["loss"]) == 6
    assert [e["step"] for e in saved["history"]["evaluations"]] == [0, 3, 6]
    assert set(saved["scores"]) >= {"top-1", "colour", "shape", "count", "position", "held-out combinations"}
    gallery = client.predict("a photo of a red star.", api_name="/train_probe")
    assert len(gallery) == 8 and all(item["caption"] for item in gallery)


def test_a_record_replays_to_the_same_curve(client):
    *_, record = finish(_train(client, steps=3, eval_every=3))
    *_, again = finish(client.submit(handle_file(record), api_name="/train_replay"))
    first, second = json.loads(open(record).read()), json.loads(open(again).read())
    assert second["history"]["loss"] == first["history"]["loss"]
    assert second["scores"] == first["scores"]


def test_stop_really_stops(client):
    job = _train(client, steps=live.MAX_STEPS, eval_every=500)
    wait_for(job, lambda: len(job.outputs()) >= 2)
    message = client.predict(api_name="/train_stop")
    assert message.startswith("**Stopped.**")
    deadline = time.monotonic() + 60
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.done()
    # the training itself ended (not just the stream): its record says so, well short of the steps asked
    for _ in range(100):
        _checkpoint, record = client.predict(api_name="/train_export")
        saved = json.loads(open(record).read())
        if saved["outcome"] != "running":
            break
        time.sleep(0.2)
    assert saved["outcome"] == "stopped"
    assert saved["history"]["steps"][-1] < live.MAX_STEPS


def test_the_trained_model_joins_this_sessions_picker_and_serves_zero_shot(server, client):
    finish(_train(client))
    picker, note = client.predict("my first CLIP", api_name="/train_use_model")
    choice = picker["value"]
    shown = dict((value, label) for label, value in picker["choices"])
    assert shown[choice] == "my first CLIP" and "every tab" in note
    assert "clip-lab-tiny-vit · random" in shown  # the app's own models are still offered
    status, banner, _timer = client.predict(choice, api_name="/model_status")
    assert status.startswith("Ready") and live.LIVE_MODEL in status and "trained in the Train tab" in banner
    ranked, *_ = client.predict(
        handle_file(skimage_photo("astronaut")), "red star, blue circle", "single", "naclip", 1.0, choice,
        api_name="/zeroshot_classify",
    )
    assert {c["label"] for c in ranked["confidences"]} == {"red star", "blue circle"}
    # another browser session neither sees it nor can use it
    stranger = Client(server[1], verbose=False)
    with pytest.raises(Exception):
        stranger.predict(handle_file(skimage_photo("astronaut")), "red star", "single", "naclip", 1.0,
                         choice, api_name="/zeroshot_classify")
    # the app's default model is still in the backbone cache
    from components.backbone import cached_backbones

    assert any(b.model_name == "clip-lab-tiny-vit" for b in cached_backbones())


def test_a_saved_checkpoint_loads_back_into_the_picker(client):
    *_, checkpoint, _record = finish(_train(client, steps=2, eval_every=2))
    picker, note = client.predict(handle_file(checkpoint), api_name="/train_load_checkpoint")
    label = dict((value, label) for label, value in picker["choices"])[picker["value"]]
    assert "(uploaded)" in label and "every tab" in note
    status, *_ = client.predict(picker["value"], api_name="/model_status")
    assert status.startswith("Ready") and "checkpoint:" in status


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(lr=-1), "learning rate must be between"),
        (dict(held_out=["purple unicorn"]), "not a colour × shape"),
        (dict(concepts=[]), "at least one concept"),
        (dict(temperature=0), "temperature must be between"),
    ],
)
def test_bad_settings_get_messages(client, settings, message):
    with pytest.raises(Exception, match=message):
        finish(_train(client, **settings))


def test_probe_and_export_before_any_training_say_what_to_do(server):
    fresh = Client(server[1], verbose=False)
    for endpoint, args in (("/train_probe", ("a red star",)), ("/train_export", ()), ("/train_use_model", ("x",))):
        with pytest.raises(Exception, match="Train a model first"):
            fresh.predict(*args, api_name=endpoint)


# -- the handlers, called directly (no server) ----------------------------------------------------------
@pytest.fixture(scope="module")
def ctx():
    return AppContext(Settings("clip-lab-tiny-vit", "random", "cpu"))


def test_the_handlers_train_probe_export_and_serve_without_a_server(ctx):
    s = tab.TAB.defaults(**QUICK, model=ctx.default_choice)
    answers = list(tab.train(ctx, s, session="direct"))
    assert answers[0].outputs["status"].startswith("Step 0 / 6") and answers[0].scores is None
    last = answers[-1]
    assert last.outputs["status"].startswith("**Finished** after 6 steps")
    assert set(last.outputs) >= {*tab.PLOTS, "checkpoint"} and last.outputs["checkpoint"].endswith(".safetensors")
    assert last.settings == live.check_settings(*(s[n] for n in tab.TRAINING)).as_dict()
    assert set(last.settings) == set(tab.TRAINING) and last.model == ctx.default_choice
    assert last.extra["outcome"] == "finished" and [e["step"] for e in last.extra["history"]["evaluations"]] == [0, 3, 6]
    assert {"top-1", "colour", "held-out combinations"} <= set(last.scores)
    found = tab.probe(ctx, s.replace(caption="a photo of a red star."), session="direct").outputs["probe"]
    assert len(found) == 8 and all(caption for _, caption in found)
    exported = tab.export(ctx, s, session="direct")
    assert exported.scores == last.scores and exported.extra["history"] == last.extra["history"]
    used = tab.use_model(ctx, s.replace(label="  my   CLIP "), session="direct").outputs
    choice = used["picker"].value
    assert dict((c, n) for n, c in ctx.session_choices("direct"))[choice] == "my CLIP"
    assert choice not in dict((c, n) for n, c in ctx.session_choices("someone else"))
    assert tab.stop(ctx, s, session="direct").outputs["status"] == "Nothing is training in this session."


def _browser(session: str, visitor: str):
    from app.scaffold import Session

    s = Session(session)
    s.visitor = visitor
    return s


def test_a_browsers_run_and_models_survive_a_reload_and_stay_its_own(ctx):
    """Keyed by the browser's visitor id (a cookie that outlives the page), not Gradio's per-load
    session: a reload (a new session, the same visitor) finds the run and the model; another
    browser does not."""
    s = tab.TAB.defaults(**QUICK, model=ctx.default_choice)
    before, after, other = _browser("load-1", "visitor-a"), _browser("load-2", "visitor-a"), _browser("load-3", "visitor-b")
    run_all(tab.train(ctx, s, session=before))
    choice = tab.use_model(ctx, s.replace(label="reloaded CLIP"), session=after).outputs["picker"].value
    from app.scaffold import owner

    assert choice in dict((c, n) for n, c in ctx.session_choices(owner(before)))
    assert choice not in dict((c, n) for n, c in ctx.session_choices(owner(other)))
    with pytest.raises(InputError, match="Train a model first"):
        tab.export(ctx, s, session=other)


def test_the_handlers_say_what_to_do_first(ctx):
    s = tab.TAB.defaults(model=ctx.default_choice)
    for handler in (tab.probe, tab.export, tab.use_model):
        with pytest.raises(InputError, match="Train a model first"):
            handler(ctx, s, session="nobody yet")
    with pytest.raises(InputError, match="Upload a checkpoint"):
        tab.load_checkpoint(ctx, s.replace(path=None), session="nobody yet")
    with pytest.raises(InputError, match="at least one concept"):
        run_all(tab.train(ctx, s.replace(concepts=[]), session="nobody yet"))
