"""Warm-up while the page is already serving (issue 19): once the default model is loaded, each tab's
first example runs once in a background thread and its answer is thrown away, so the first visitor
finds what a first run pays for already done — the prompts through the text tower (zero-shot's 80
templates per label, ViLD's and GLIP's ensembles), the paper backbones and official engines loaded,
lazy imports made.

Only runs a tab's handler can make on its own are warmed: not a long job, not a streaming one (a
sketch, a training run), nothing that belongs to a visitor's session. A tab whose first example is a
visitor's may name its own everyone's work instead (`Tab.warm`): CLIP4Clip indexes the bundled clips
into the shared index and runs its first example's query there, so a visitor's first search only
copies that index's entries into their own. Off with
CLIP_LAB_WARM_UP=0 (the test suite sets it, so its counters start from nothing) and on ZeroGPU, whose
main process has no GPU to run with.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time

log = logging.getLogger(__name__)


def enabled() -> bool:
    return os.environ.get("CLIP_LAB_WARM_UP", "1") != "0"


def warmable(ctx, run) -> bool:
    """A run the warm-up can make: a plain `(ctx, s)` handler, no long job, no stream, no session."""
    handler = run.handler
    if inspect.isgeneratorfunction(handler):
        return False
    parameters = inspect.signature(handler).parameters
    if {"session", "visitor", "request"} & set(parameters):
        return False
    required = [p for p in parameters.values() if p.default is p.empty]
    return len(required) == 2 and not any(getattr(job, "__name__", "") == run.api_name for job in ctx.long_jobs)


def warm_up(ctx, background: bool = True) -> dict[str, float | str] | threading.Thread | None:
    """Run every page's first example once after the default model is loaded; in a daemon thread
    (returned) or, with `background` False, here (returning each tab's seconds, or why it failed)."""
    if not enabled() or ctx.zero_gpu:
        return None
    if background:
        thread = threading.Thread(target=warm_up, args=(ctx, False), name="clip-lab-warm-up", daemon=True)
        thread.start()
        return thread
    try:
        ctx.start_loading().result()
    except Exception as error:  # the header says why; nothing to warm
        log.info("warm-up skipped: the default model did not load (%s)", error)
        return {}
    done: dict[str, float | str] = {}
    for key, page in list(ctx.pages.items()):
        run = page.endpoints[0] if page.endpoints else None
        if run is None or not warmable(ctx, run):
            if page.tab.warm is None:
                continue
            call = lambda tab=page.tab: tab.warm(ctx)  # noqa: E731 — the tab's own, everyone's work
        else:
            values = page.tab.defaults(**page.first_example(), model=ctx.default_choice, kept=None)
            call = lambda run=run, values=values: run.handler(ctx, values)  # noqa: E731 — progress: quiet
        started = time.perf_counter()
        try:
            call()
            done[key] = time.perf_counter() - started
        except Exception as error:  # a warm-up never stops the app; the visitor's own run says what is wrong
            done[key] = f"{type(error).__name__}: {error}"
        log.info("warm-up: %s %s", key, done[key])
    return done
