"""Pieces every tab uses: the method header, safe image input, and turning InputError into gr.Error."""

from __future__ import annotations

import functools
import html
import inspect
import os
from collections.abc import Callable

import gradio as gr

from app.context import zero_gpu
from components import regions
from components.errors import InputError, WeightsError
from components.media import limits_text
from components.video import limits_text as video_limits_text

# ZeroGPU (the `spaces` package; README, "Hugging Face Spaces"): a GPU-decorated call asks the
# scheduler for a duration before it runs, is refused when the visitor's quota left is smaller, and
# may be aborted when it runs past it. The package's own default is 60 s; one image, a clip or a
# cloud takes a GPU a few seconds (the worker's start included), so a call asks for half that, and a
# visitor's quota buys twice the answers. Long work asks by its size (`Page.run(gpu_seconds=...)`).
GPU_SECONDS = 30
GPU_SECONDS_MIN = 5  # a call also pays for the worker's start (CUDA init, weights moved to the GPU)
GPU_SECONDS_MAX = int(os.environ.get("CLIP_LAB_GPU_SECONDS_MAX", "300"))


def gpu_budget(seconds: float) -> int:
    """A duration request in whole seconds, within [GPU_SECONDS_MIN, GPU_SECONDS_MAX]."""
    return int(min(max(round(float(seconds)), GPU_SECONDS_MIN), GPU_SECONDS_MAX))


def gpu_duration(seconds: "int | Callable[..., float]"):
    """`spaces.GPU(duration=...)` for `seconds`: a number, or a function of the decorated handler's
    own arguments (`spaces` calls it with them, in the main process, before asking for the GPU)
    returning seconds; either way clamped by `gpu_budget`."""
    if not callable(seconds):
        return gpu_budget(seconds)

    @functools.wraps(seconds)
    def duration(*args, **kwargs) -> int:
        return gpu_budget(seconds(*args, **kwargs))

    return duration


def on_gpu(handler, seconds: "int | Callable[..., float]" = GPU_SECONDS):
    """On a ZeroGPU Space, hold a GPU while `handler` runs (spaces.GPU, for `seconds`: an int, or a
    function of the handler's arguments); elsewhere, `handler` itself. ZeroGPU Spaces set
    SPACES_ZERO_GPU; the `spaces` package is installed there, so it is imported only there (app.py
    imports it first, before anything touches CUDA).

    Under spaces.GPU the handler runs in a forked worker process: its arguments and its result (each
    yield of a generator) are pickled across, and what it changes in process state stays in that
    worker. Keep such handlers pure compute; state the main process must see goes to disk or comes
    back in the result."""
    if not zero_gpu():
        return handler
    import spaces

    return spaces.GPU(duration=gpu_duration(seconds))(handler)


def user_errors(handler=None, *, gpu_seconds: "int | Callable[..., float]" = GPU_SECONDS, gpu: bool = True):
    """Turn `InputError` and `WeightsError` (weights asked for that are not on this machine: the
    message says how to add them) into a message in the browser (HTML-escaped: it may quote a file
    name). Other exceptions are bugs and propagate. Works for plain functions and generators. On a ZeroGPU
    Space the handler also holds a GPU while it runs (`on_gpu`, for `gpu_seconds`: an int, or a
    function of the handler's arguments returning seconds), unless `gpu=False` (handlers that never
    touch a model, and ones that must run in the main process, e.g. ones that keep state there).

    Use as `@user_errors` or, for long jobs, `@user_errors(gpu_seconds=300)`."""
    if handler is None:
        return functools.partial(user_errors, gpu_seconds=gpu_seconds, gpu=gpu)
    return on_gpu(_with_messages(handler), gpu_seconds) if gpu else _with_messages(handler)


def api_tool(fn: Callable, name: str, summary: str, /, **params: str) -> Callable:
    """`fn` as the endpoint `name` of a plain event (one the scaffold does not wire): a wrapper of that
    name whose docstring says what it does and describes each parameter, which Gradio's API page and
    its MCP server (`--mcp`; the tool is called by the function's name) read."""

    @functools.wraps(fn)
    def tool(*args, **kwargs):
        return fn(*args, **kwargs)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = "\n".join([summary, "", "Args:", *(f"    {k}: {v}" for k, v in params.items())])
    return tool


def _with_messages(handler):
    def as_gr_error(error: Exception) -> gr.Error:
        return gr.Error(html.escape(str(error)), print_exception=False)

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def generator(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except (InputError, WeightsError) as error:
                raise as_gr_error(error) from None

        return generator

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (InputError, WeightsError) as error:
            raise as_gr_error(error) from None

    return wrapper


class _PathImage(gr.Image):
    """gr.Image whose preprocess hands over the uploaded file's path without decoding it."""

    # Rendered by gr.Image's own front end: same block name (is_template) and class id. The
    # __init__ signature stays gr.Image's, since Gradio reads a template's props from it.
    is_template = True

    @classmethod
    def get_component_class_id(cls) -> str:
        return gr.Image.get_component_class_id()

    def preprocess(self, payload):
        return None if payload is None else payload.path


def ImageUpload(label: str = "Image", **kwargs) -> gr.Image:
    """An image input whose file reaches the handler undecoded.

    gr.Image decodes uploads before the handler runs, so a corrupt or enormous file fails inside
    Gradio with a bare "Error". Here the browser still previews the upload, but decoding happens in
    `components.media.load_image`, which says what is wrong.
    """
    kwargs.setdefault("type", "filepath")
    kwargs.setdefault("sources", ["upload", "clipboard"])
    return _PathImage(label=label, **kwargs)


class _PathVideo(gr.Video):
    """gr.Video whose preprocess hands over the uploaded file's path untouched (no FFmpeg step), so
    `components.video` decodes it and says what is wrong with a bad file."""

    is_template = True

    @classmethod
    def get_component_class_id(cls) -> str:
        return gr.Video.get_component_class_id()

    def preprocess(self, payload):
        return None if payload is None else payload.path


def VideoUpload(label: str = "Video", **kwargs) -> gr.Video:
    """A video input whose file reaches the handler undecoded (shared by the video tabs)."""
    kwargs.setdefault("sources", ["upload"])
    return _PathVideo(label=label, **kwargs)


def video_limits() -> gr.Markdown:
    return gr.Markdown(f"<small>{video_limits_text()}</small>")


def region_controls():
    """The proposal settings of the region-based tabs (ViLD, GLIP): sources, prompt set, how many
    regions to embed. Returns (sources, prompt set, region count) components."""
    sources = gr.CheckboxGroup(
        [(regions.SOURCE_LABELS[s], s) for s in regions.SOURCES], value=list(regions.SOURCES), label="Proposal sources"
    )
    prompt_set = gr.Radio(
        [("ViLD's 63 prompts (first use of a word: 63 text forwards)", "63"), ("one prompt: “This is a photo of a {}.”", "1")],
        value="63",
        label="Prompts",
    )
    max_proposals = gr.Slider(
        1, regions.MAX_PROPOSALS_LIMIT, regions.MAX_PROPOSALS, step=1,
        label="Regions to embed (each costs two CLIP forwards: 1× and 1.5× crops)",
    )
    return sources, prompt_set, max_proposals


def replay_panel(*, inputs=None, note: str = ""):
    """The "Reproduce a run" section of every tab: a run-record upload beside the file(s) the run was
    made with (an image, unless `inputs()` makes other components) and a Replay button.
    Returns (record upload, [file inputs], button)."""
    with gr.Accordion("Reproduce a run", open=False):
        if note:
            gr.Markdown(f"<small>{note}</small>")
        with gr.Row():
            record_in = gr.File(label="Run record (JSON)", file_types=[".json"])
            files = inputs() if inputs else [ImageUpload("The image the record was made with")]
        button = gr.Button("Replay")
    return record_in, files, button


def method_header(name: str, idea: str, paper: str, runs: str) -> gr.Markdown:
    """The opening of every tab: name, one-line idea, paper, and what this tab honestly runs."""
    return gr.Markdown(f"### {name}\n{idea}  \n*Paper:* {paper}  \n*What runs here:* {runs}")


def image_limits() -> gr.Markdown:
    return gr.Markdown(f"<small>{limits_text()}</small>")
