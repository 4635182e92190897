"""Pieces every tab uses: the method header, safe image input, and turning InputError into gr.Error."""

from __future__ import annotations

import functools
import html
import inspect

import gradio as gr

from components.errors import InputError
from components.media import limits_text


def user_errors(handler):
    """Turn `InputError` into a message in the browser (HTML-escaped: it may quote a file name).
    Other exceptions are bugs and propagate. Works for plain functions and generators."""

    def as_gr_error(error: InputError) -> gr.Error:
        return gr.Error(html.escape(str(error)), print_exception=False)

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def generator(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except InputError as error:
                raise as_gr_error(error) from None

        return generator

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except InputError as error:
            raise as_gr_error(error) from None

    return wrapper

from gradio.events import Dependency

class ImageUpload(gr.Image):
    """gr.Image that hands the handler the uploaded file's path without decoding it.

    gr.Image decodes uploads before the handler runs, so a corrupt or enormous file fails inside
    Gradio with a bare "Error". Here the browser still previews the upload, but decoding happens in
    `components.media.load_image`, which says what is wrong.
    """

    def __init__(self, label: str = "Image", **kwargs):
        kwargs.setdefault("type", "filepath")
        kwargs.setdefault("sources", ["upload", "clipboard"])
        super().__init__(label=label, **kwargs)

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload):
        if payload is None:
            return None
        return payload.path
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def method_header(name: str, idea: str, paper: str, runs: str) -> gr.Markdown:
    """The opening of every tab: name, one-line idea, paper, and what this tab honestly runs."""
    return gr.Markdown(f"### {name}\n{idea}  \n*Paper:* {paper}  \n*What runs here:* {runs}")


def image_limits() -> gr.Markdown:
    return gr.Markdown(f"<small>{limits_text()}</small>")