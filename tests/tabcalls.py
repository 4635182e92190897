"""Calling a tab's endpoints from its own table (for the contract tests and the load benchmark): the
arguments of a run come from the tab's settings — defaults, then its first example — so a caller
never repeats a tab's parameter list."""

from __future__ import annotations

import json

from gradio_client import handle_file

from app.examples import WORLD_LABEL


def first_example(page, world: bool = True) -> dict:
    """The tab's first world example (truth known), else (or with `world` False) the first example
    the page shows, as setting values."""
    return page.first_example(WORLD_LABEL if world and WORLD_LABEL in page.example_rows else None)


def wire(page, name: str, value):
    """A setting's value as gradio_client sends it (files as uploads)."""
    setting = page.tab.setting(name)
    if setting.file and isinstance(value, str):
        return handle_file(value)
    if setting.file and isinstance(value, list):
        return [handle_file(v) for v in value]
    return value


def arguments(page, run, world: bool = True, **overrides) -> list:
    """Positional arguments of `run` (a page's RunEndpoint): defaults, first example (see
    `first_example`), overrides, then the app's default model."""
    values = {**page.tab.defaults(), **first_example(page, world), **overrides}
    return [wire(page, n, values[n]) for n in run.uses] + [page.ctx.default_choice]


def record_path(run, outputs) -> str:
    shown = [s for s in run.slots if s != "keep"]  # the client sees every output but the state
    return outputs[shown.index("record")]


def record_of(run, outputs) -> dict:
    with open(record_path(run, outputs), encoding="utf-8") as handle:
        return json.load(handle)
