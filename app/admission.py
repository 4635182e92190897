"""What is checked before a run is queued (Gradio's event `validator`, which the queue calls when a
request joins it, for the browser and API clients alike):

- a required input that is missing gets its message beside that input, and the outputs keep what
  they showed (rather than a toast and an "Error" badge on every output once the run fails);
- one visitor cannot hold the machine: a long job (a CLIPasso sketch, a training, a video indexing)
  is refused while the same browser session already has one queued or running, and while
  `LONG_JOBS_PER_ADDRESS` are queued or running from the same network address (a classroom behind
  one address still gets several), so one person queueing ten sketches does not make everyone else
  wait behind them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence

import gradio as gr

LONG_JOBS_PER_SESSION = 1
LONG_JOBS_PER_ADDRESS = int(os.environ.get("CLIP_LAB_LONG_JOBS_PER_ADDRESS", "3"))
MISSING_IMAGE = "Upload an image first, or pick one of the examples."


def validator(ctx, names: Sequence[str], required: dict[str, str], long_job: str | None, extra_inputs: int):
    """A validator for an event whose inputs are the settings `names`, then `extra_inputs` more (the
    model picker, the kept state). `required` maps a setting to the message shown when it is empty;
    `long_job` names the kind of job ("sketch", "training", …) when the run is a long one."""
    count = len(names) + extra_inputs

    async def check(*args):  # on the event loop: a join never waits for a worker thread
        request = args[-1] if args and isinstance(args[-1], gr.Request) else None
        values = dict(zip(names, args))
        verdicts = [gr.validate(True, "") for _ in range(count)]
        for n, name in enumerate(names):
            if name in required and _empty(values.get(name)):
                verdicts[n] = gr.validate(False, required[name])
        if long_job and request is not None and all(v["is_valid"] for v in verdicts):
            refusal = _busy(ctx, request, long_job)
            if refusal:
                verdicts[0] = gr.validate(False, refusal)
        return verdicts

    parameters = [inspect.Parameter(f"input_{n}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in range(count)]
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
    check.__signature__ = inspect.Signature(parameters)
    check.__annotations__ = {"request": gr.Request}
    check.raw_inputs = True  # it sees the payloads as sent (app/gradio_fixes.py): only emptiness is checked
    return check


def _empty(value) -> bool:
    """Nothing given: no file (a payload without a path), an empty text or list."""
    if isinstance(value, dict):
        return not (value.get("path") or value.get("url"))
    return value is None or value == "" or value == []


def address(request) -> str:
    """The visitor's network address: the first hop a proxy (a Space's) names, else the socket's."""
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for", "") if hasattr(headers, "get") else ""
    if forwarded:
        return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", "") or ""


def _busy(ctx, request, kind: str) -> str:
    """Why a new long job from this visitor must wait, or "" when it may join the queue."""
    queue = getattr(getattr(ctx, "demo", None), "_queue", None)
    if queue is None:
        return ""
    long_fns = getattr(ctx, "long_jobs", set())
    session, here = request.session_hash, address(request)
    mine = from_here = 0
    for event in list(queue.event_ids_to_events.values()):
        if getattr(event.fn, "fn", None) not in long_fns:
            continue
        if event.session_hash == session:
            mine += 1
        elif here and address(event.request) == here:
            from_here += 1
    if mine >= LONG_JOBS_PER_SESSION:
        return (f"You already have a long job (a sketch, training or indexing) queued or running; wait for it "
                f"to finish, or press Stop, before starting this {kind}.")
    if mine + from_here >= LONG_JOBS_PER_ADDRESS:
        return (f"{LONG_JOBS_PER_ADDRESS} long jobs from your network are already queued or running; start "
                f"this {kind} when one of them has finished.")
    return ""
