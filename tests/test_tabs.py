"""The contract every tab keeps, checked once over the tab table instead of a copy in each tab's tests:
each tab declares its settings in one table; every endpoint it wires is named, with the table's
parameter names; a run's record replays to the same scores; a missing input gets a message a person
can act on while the server keeps serving; a re-score before any run says what to run first."""

from __future__ import annotations

import pytest
from gradio_client import handle_file

from app.scaffold import MODEL, Tab
from app.tabs import TABS
from tabcalls import arguments, record_of, record_path

KEYS = [tab.TAB.key for tab in TABS if hasattr(tab, "TAB")]
# Settings that keep the long tabs' runs short in this sweep (the tabs' own tests use their defaults).
CHEAP = {
    "clipasso": {"iterations": 10, "seeds": 1, "strokes": 4},
    "train": {"steps": 4, "batch_size": 8, "eval_every": 2},
}


def test_every_tab_declares_one_table():
    assert len(set(KEYS)) == len(KEYS)
    for tab in TABS:
        assert hasattr(tab, "TAB"), f"{tab.__name__} declares no Tab table"
        table = tab.TAB
        assert isinstance(table, Tab) and tab.TITLE == table.title
        names = [s.name for s in table.settings]
        assert len(set(names)) == len(names), f"{table.key}: a setting declared twice"
        assert MODEL not in names, f"{table.key}: the model comes from the header's picker"
        for s in table.settings:
            assert s.doc, f"{table.key}.{s.name} has no line for the API page"
        assert table.name and table.idea and table.paper and table.runs


@pytest.fixture(scope="module")
def pages(app_server):
    demo, _ = app_server
    return demo.clip_lab.pages


@pytest.fixture(scope="module")
def api(app_client):
    return app_client.view_api(return_format="dict", print_info=False)["named_endpoints"]


def test_every_tab_is_on_the_scaffold(pages):
    assert sorted(pages) == sorted(KEYS)
    for key, page in pages.items():
        assert page.endpoints, f"{key} wires no recorded run"


def test_every_endpoint_takes_the_tables_names(pages, api):
    for key, page in pages.items():
        for run in page.endpoints:
            params = [p["parameter_name"] for p in api[f"/{run.api_name}"]["parameters"]]
            assert params == [*run.uses, MODEL], run.api_name
            if run.replay_api_name:
                files = [n for n in run.uses if page.tab.setting(n).file]
                replay = [p["parameter_name"] for p in api[f"/{run.replay_api_name}"]["parameters"]]
                assert replay == ["record", *files], run.replay_api_name
        for rescore in page.rescores:
            assert [p["parameter_name"] for p in api[f"/{rescore.api_name}"]["parameters"]] == list(rescore.uses)


@pytest.mark.parametrize("key", KEYS)
def test_a_run_replays_to_the_same_scores(pages, app_client, key):
    page = pages[key]
    run = next(r for r in page.endpoints if r.replay_api_name)
    args = arguments(page, run, **CHEAP.get(key, {}))
    outputs = app_client.predict(*args, api_name=f"/{run.api_name}")
    record = record_of(run, outputs)
    assert record["tab"] == run.record_as and record["model"] == page.ctx.default_choice
    assert set(record["settings"]) == {n for n in run.uses if not page.tab.setting(n).file}
    files = [args[i] for i, n in enumerate(run.uses) if page.tab.setting(n).file]
    replayed = app_client.predict(handle_file(record_path(run, outputs)), *files, api_name=f"/{run.replay_api_name}")
    assert record_of(run, replayed)["scores"] == record["scores"]


@pytest.mark.parametrize("key", KEYS)
def test_a_missing_input_gets_a_message_and_the_server_serves(pages, app_client, key):
    page = pages[key]
    run = page.endpoints[0]
    files = [n for n in run.uses if page.tab.setting(n).file]
    if not files:
        pytest.skip(f"{key}'s run takes no file")
    args = arguments(page, run, **CHEAP.get(key, {}), **{n: None for n in files})
    with pytest.raises(Exception) as raised:
        app_client.predict(*args, api_name=f"/{run.api_name}")
    message = str(raised.value)
    assert len(message) > 20 and "Traceback" not in message, message
    assert app_client.predict(page.ctx.default_choice, api_name="/model_status")


@pytest.mark.parametrize("key", KEYS)
def test_a_rescore_before_any_run_says_what_to_run(pages, app_server, key):
    page = pages[key]
    if not page.rescores:
        pytest.skip(f"{key} has no re-score")
    from gradio_client import Client

    fresh = Client(app_server[1], verbose=False)  # a new session: nothing kept
    for rescore in page.rescores:
        defaults = page.tab.defaults()
        with pytest.raises(Exception) as raised:
            fresh.predict(*[defaults[n] for n in rescore.uses], api_name=f"/{rescore.api_name}")
        message = str(raised.value)
        assert len(message) > 20 and "Traceback" not in message, message
