"""The tab scaffold: what every tab has, written once.

A tab declares its inputs once, as a table of `Setting`s (name, component, default, whether a change
re-scores without a forward), and writes its handlers at module level:

    def segment(ctx, s: Values, progress=quiet) -> Answer      # s.image, s.preset, …, s.model

so they can be called directly in a test, without a server. `Page` renders what every tab shows —
the header (method, idea, paper, what runs here), the inputs named in the table, the limits line,
the notes, the run record, the how-it-works strip, the replay panel — and wires each handler to an
endpoint whose named, typed parameters and docstring come from the table (the API page,
`gradio_client` and an MCP server read them). The run record's settings and the replay order come
from the same table, so they cannot disagree with the handler.

Choices are `(label, value)` pairs: display text never reaches the API or a record. A record written
before a setting's choices became values still replays: `Setting.legacy` maps its old display text.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from app import admission, links, runs, serving
from app.context import example_answers_cached
from app.howitworks import how_it_works
from app.widgets import GPU_SECONDS, ImageUpload, image_limits, method_header, user_errors, video_limits
from components.errors import InputError
from components.exports import folders

MODEL = "model"  # the shared picker's value: every endpoint takes it last, and every record holds it
MODEL_DOC = "the CLIP model choice (model · weights), as the header's picker names it"  # its API description
# The webcam snapshot as the camera sees it, not mirrored: a mirrored photo swaps left and right
# (GLIP's "the cup on the left", DepthCLIP's layout) and reverses any writing in it.
WEBCAM = gr.WebcamOptions(mirror=False)


def quiet(*_args, **_kwargs) -> None:
    """A progress callback that shows nothing: the default when a handler is called directly."""


@dataclass(frozen=True)
class Setting:
    """One input of a tab, declared once.

    `component` makes the Gradio component (called where the tab lays it out); `kind` is the
    endpoint parameter's type and `doc` its line in the endpoint's docstring. A `file` setting is an
    upload: the record keeps its SHA-256, and a replay asks for the file again (`replay` makes that
    upload box). `rescore` marks settings whose change re-scores a kept result without a forward.
    `legacy` maps display text older records hold to today's value. `recorded_as` is the name the
    record gives an upload when not `name` (e.g. "3-D file"); an upload of several files is recorded
    one by one ("image 1", "image 2", …), and an empty upload is left out of the record."""

    name: str
    component: Callable[[], gr.Component]
    kind: Any = str
    doc: str = ""
    file: bool = False
    rescore: bool = False
    legacy: Mapping[Any, Any] = field(default_factory=dict)
    replay: Callable[[], gr.Component] | None = None
    required: str = ""  # the message shown beside it when a run is asked for without it
    recorded_as: str = ""

    def value(self, raw):
        """The value a handler sees: legacy display text mapped to today's value."""
        try:
            return self.legacy.get(raw, raw)
        except TypeError:  # unhashable (a list of files, a checkbox group)
            return raw


def device_of(ctx) -> str:
    """The app's device setting ("auto", "cpu", "cuda"), for a default that depends on it; "auto"
    where a table is read without an app (`Tab.defaults`)."""
    return ctx.settings.device if ctx is not None else "auto"


# Where an image tab's picture may come from: a file, a webcam snapshot (the browser uploads it as a
# PNG, so it reaches `components.media.load_image` like any upload, with the same limits and
# messages), or the clipboard.
IMAGE_SOURCES = ("upload", "webcam", "clipboard")


def image_setting(name: str = "image", label: str = "Image", doc: str = "path of the image file") -> Setting:
    """The image upload most tabs start with (decoded by `components.media.load_image`): from a
    file, the webcam or the clipboard."""
    return Setting(name, lambda: ImageUpload(label, sources=list(IMAGE_SOURCES), webcam_options=WEBCAM), str, doc,
                   file=True, replay=lambda: ImageUpload(f"The {name} the record was made with"),
                   required=admission.MISSING_IMAGE)


def labels_setting(default: str, info: str, doc: str, name: str = "labels", label: str = "Labels") -> Setting:
    """A free-text list of labels, two lines high (parsed by `components.media.parse_labels`)."""
    return Setting(name, lambda: gr.Textbox(default, label=label, info=info, lines=2), str, doc)


class Values(Mapping):
    """A run's settings, read-only, by name or attribute: `s.preset` or `s["preset"]`."""

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError("settings are read-only; use .replace(name=value)")

    def __getitem__(self, name: str):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def replace(self, **changes) -> "Values":
        return Values({**self._values, **changes})

    def __repr__(self) -> str:
        return f"Values({self._values!r})"


@dataclass
class Answer:
    """What a handler returns: its named outputs, and what the scaffold adds to them — the notes (a
    bulleted list), the how-it-works steps, the run record's scores and weights (a record is written
    when `scores` is given), and what is kept for re-scoring. Outputs left out are not updated."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] | None = None
    steps: list | None = None
    scores: Any = None
    weights: str = ""
    extra: Mapping | None = None  # top-level record facts a replay checks (e.g. the index's videos)
    keep: Any = None
    settings: Mapping | None = None  # recorded settings that differ from the call's (e.g. a name resolved)
    model: str | None = None  # the model choice the record names when the call has none (an export after a run)


@dataclass(frozen=True)
class RunEndpoint:
    """One recorded run a page wired: its endpoint, its replay endpoint, the settings it takes."""

    api_name: str
    replay_api_name: str | None
    uses: tuple[str, ...]
    handler: Callable
    record_as: str
    slots: tuple[str, ...]  # the outputs in order (the client sees all but the kept state)


@dataclass(frozen=True)
class Tab:
    """A tab's identity and its settings table. `key` names its endpoints (`<key>_<verb>`), its run
    records and its element ids; `limits` is "image", "video" or a line of text."""

    key: str
    title: str
    name: str
    idea: str
    paper: str
    runs: str
    settings: Sequence[Setting]
    limits: str = "image"
    upgrade: Callable[[dict], dict] | None = None  # an older record → today's settings, before a replay
    strip: bool = True  # False: the tab shows no how-it-works strip (Compare's board is its own picture)
    # what the warm-up (app/warmup.py) does for a tab whose first example it cannot run (it belongs to
    # a visitor's session): `warm(ctx)`, work that is everyone's, e.g. CLIP4Clip's bundled clips indexed
    warm: Callable[[Any], None] | None = None

    def setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        raise KeyError(f"{self.key} has no setting {name!r}")

    def defaults(self, **values) -> Values:
        """The table's defaults (as the components start), overridden by `values`: the direct way to
        call a handler in a test."""
        out = {}
        for s in self.settings:
            component = s.component()
            out[s.name] = getattr(component, "value", None)
        out.update(values)
        return Values(out)


class Page:
    """Builds one tab inside `gr.Tab`: call in layout order —

        page = Page(ctx, TAB)                       # header
        page.inputs("image", "labels")              # components from the table
        page.output("ranked", gr.Label(...))        # named outputs
        page.notes_and_record()
        page.limits(); page.strip(); page.replay_panel()
        page.run(button, classify, "classify")      # endpoint <key>_classify and <key>_replay
    """

    def __init__(self, ctx, tab: Tab):
        self.ctx, self.tab = ctx, tab
        self.components: dict[str, gr.Component] = {}
        self.outputs: dict[str, gr.Component] = {}
        self.notes = self.record = self.strip_gallery = None
        self.replay_inputs: dict[str, gr.Component] = {}
        self.replay_record = self.replay_button = None
        self.link_button = self.link_box = self.link_note = self.link_in = None
        self._link_wired = False
        self._example_files = None
        self.state = gr.State()
        self.endpoints: list[RunEndpoint] = []  # what run() wired, for the contract tests
        self.rescores: list[RunEndpoint] = []  # what rescore() wired
        self.example_rows: dict[str, tuple[list[str], list[list]]] = {}  # label → (setting names, rows)
        self._example_blocks: list[gr.Examples] = []
        self._answered = None  # (inputs, outputs, fn, queue limits) of the kept example answers, once a run allows them
        getattr(ctx, "pages", {})[tab.key] = self
        method_header(tab.name, tab.idea, tab.paper, tab.runs)

    # -- layout -------------------------------------------------------------------------------
    def inputs(self, *names: str) -> list[gr.Component]:
        made = []
        for name in names:
            assert name not in self.components, f"{self.tab.key}: {name} laid out twice"
            factory = self.tab.setting(name).component
            # a factory that takes an argument gets the AppContext (e.g. a default that depends on the device)
            self.components[name] = factory(self.ctx) if inspect.signature(factory).parameters else factory()
            made.append(self.components[name])
        return made

    def panel(self) -> "Page":
        """Another notes, record, strip and replay panel in this tab (a tab with several recorded
        runs, e.g. one per sub-tab): shares the tab's components, outputs and wired endpoints. Its
        examples are its own: where example answers are kept, picking one answers with the panel's
        run, not the tab's first."""
        other = copy.copy(self)
        other.notes = other.record = other.strip_gallery = None
        other._example_blocks, other._answered = [], None
        other.replay_inputs = {}
        other.replay_record = other.replay_button = None
        other.link_button = other.link_box = other.link_note = other.link_in = None
        other._link_wired = False
        return other

    def input(self, name: str) -> gr.Component:
        return self.inputs(name)[0]

    def output(self, name: str, component: gr.Component) -> gr.Component:
        self.outputs[name] = component
        return component

    def notes_and_record(self, record_label: str = "Run record (JSON): settings, input hash, weights, scores",
                         *, notes: bool = True):
        """The notes (unless `notes=False`: a tab whose status line is an output of its own) and the
        run record's download."""
        if notes:
            self.notes = gr.Markdown()
        self.record = gr.File(label=record_label)

    def limits(self) -> gr.Markdown:
        if self.tab.limits == "image":
            return image_limits()
        if self.tab.limits == "video":
            return video_limits()
        return gr.Markdown(f"<small>{self.tab.limits}</small>")

    def strip(self) -> gr.Gallery:
        self.strip_gallery = how_it_works()
        return self.strip_gallery

    def replay_panel(self, note: str = "", *, files: Sequence[str] | None = None,
                     title: str = "Reproduce a run") -> None:
        """The "Reproduce a run" section: the record beside the file(s) the run was made with (the
        upload settings named in `files`; default: every upload setting of the table)."""
        with gr.Accordion(title, open=False):
            if note:
                gr.Markdown(f"<small>{note}</small>")
            with gr.Row():
                self.replay_record = gr.File(label="Run record (JSON)", file_types=[".json"])
                for s in self.tab.settings:
                    if s.file and (files is None or s.name in files):
                        self.replay_inputs[s.name] = (s.replay or s.component)()
            self.replay_button = gr.Button("Replay")
            # A link to the inputs as they are now (app/links.py): wired to this panel's run in run()
            with gr.Row(equal_height=True):
                self.link_button = gr.Button("Link to these inputs", size="sm", scale=0, min_width=180)
                self.link_box = gr.Textbox(label="Link (opens this tab with these inputs and runs them)",
                                           buttons=["copy"], interactive=False, scale=4)
            self.link_note = gr.Markdown()
            self.link_in = gr.Textbox(visible=False)  # set by the page-load event when a link is opened

    def examples(self, rows: list[list], names: Sequence[str], label: str) -> gr.Examples:
        self.example_rows[label] = (list(names), [list(row) for row in rows])
        examples = gr.Examples(rows, inputs=[self.components[n] for n in names], label=label)
        self._example_blocks.append(examples)
        if self._answered is not None:
            self._answer_on_pick(examples)
        return examples

    def first_example(self, label: str | None = None) -> dict:
        """The setting values of the first row of the examples block `label` (default: the first
        block the page shows); {} when the page has none."""
        label = label if label is not None else next(iter(self.example_rows), None)
        names, rows = self.example_rows.get(label, ([], []))
        return dict(zip(names, rows[0])) if rows else {}

    def _answer_on_pick(self, examples: gr.Examples) -> None:
        """Where example answers are cached (`app.context.example_answers_cached`): picking a row
        also shows its answer — computed for the first visitor who picks it, kept for the others."""
        inputs, outputs, answered, queue = self._answered  # the run's own queue limits
        examples.load_input_event.then(answered, inputs, outputs, api_visibility="undocumented", **queue)

    # -- wiring -------------------------------------------------------------------------------
    def _output_list(self, names: Sequence[str] | None, *, record: bool) -> tuple[list[str], list[gr.Component]]:
        names = list(self.outputs) if names is None else list(names)
        if any(n in names for n in ("notes", "record", "strip")):  # placed by the caller: exactly these
            return self._slots([*names, "keep"])
        slots = [*names, "notes"] + (["record"] if record else []) + (["strip"] if self.tab.strip else []) + ["keep"]
        return self._slots(slots)

    def _slots(self, slots: list[str]) -> tuple[list[str], list[gr.Component]]:
        components = {**self.outputs, "notes": self.notes, "record": self.record, "strip": self.strip_gallery,
                      "keep": self.state}
        missing = [n for n in slots if components.get(n) is None]
        assert not missing, f"{self.tab.key}: outputs {missing} not laid out"
        return slots, [components[n] for n in slots]

    def _deliver(self, answer: Answer, slots: list[str], values: Values, record_as: str):
        if not isinstance(answer, Answer):
            raise TypeError(f"{self.tab.key} handler returned {type(answer).__name__}, not Answer")
        out = []
        for slot in slots:
            if slot == "notes":
                out.append(gr.skip() if answer.notes is None else "\n".join(f"- {n}" for n in answer.notes))
            elif slot == "record":
                out.append(gr.skip() if answer.scores is None else self.write_record(values, answer, record_as))
            elif slot == "strip":
                out.append(gr.skip() if answer.steps is None else answer.steps)
            elif slot == "keep":
                out.append(gr.skip() if answer.keep is None else answer.keep)
            else:
                out.append(answer.outputs.get(slot, gr.skip()) if isinstance(answer.outputs, Mapping) else gr.skip())
        # Gradio takes a one-output event's return value as that output's value: no 1-tuple
        return out[0] if len(out) == 1 else tuple(out)

    def write_record(self, values: Values, answer: Answer, record_as: str) -> str:
        files = _record_files([s for s in self.tab.settings if s.file and s.name in values], values)
        uploads = {s.name for s in self.tab.settings if s.file}
        settings = {n: v for n, v in values.items() if n not in (MODEL, "kept") and n not in uploads}
        settings.update(answer.settings or {})
        model = values[MODEL] if answer.model is None else answer.model
        return runs.write_record(record_as, settings=settings, files=files, model_choice=model,
                                 weights=answer.weights, scores=answer.scores, extra=answer.extra)

    def run(self, trigger, handler: Callable, verb: str, *, uses: Sequence[str] | None = None,
            outputs: Sequence[str] | None = None, replay: bool = True, record_as: str | None = None,
            gpu_seconds: int | None = None, event: str = "click", kept: bool = False, gpu: bool = True,
            long_job: str | None = None, **event_kwargs):
        """Wire `handler(ctx, s, progress)` to `trigger` as endpoint `<key>_<verb>`, its inputs the
        settings in `uses` (default: the whole table, in order) and the model; with `replay`, also
        `<key>_replay` (or `<key>_<verb>_replay` when the tab has several recorded runs). With
        `kept`, the handler also reads the session's kept value as `s.kept` (None in a replay, which
        starts afresh), e.g. to reuse features of the same image. `gpu=False`: the run stays in the
        main process on ZeroGPU (one that keeps state there, e.g. a training the Stop button ends).
        `gpu_seconds`: the GPU time a call asks for on ZeroGPU, an int or a rule of the call's
        settings, `rule(s) -> seconds` (e.g. `lambda s: 10 + 0.2 * s.iterations * s.seeds`)."""
        uses = [s.name for s in self.tab.settings] if uses is None else list(uses)
        record_as = record_as or self.tab.key
        slots, components = self._output_list(outputs, record=True)
        endpoint = self.endpoint(handler, uses, slots, record_as=record_as, gpu_seconds=gpu_seconds, kept=kept, gpu=gpu,
                                 name=f"{self.tab.key}_{verb}")
        event_fn = getattr(trigger, event)
        # Checked when the request joins the queue (app/admission.py): missing inputs, and a
        # `long_job` ("sketch", "training", …) while the visitor already has one.
        required = {n: self.tab.setting(n).required for n in uses if self.tab.setting(n).required}
        checks = {"validator": admission.validator(self.ctx, uses, required, long_job, 2 if kept else 1)} \
            if required or long_job else {}
        if long_job:
            getattr(self.ctx, "long_jobs", set()).add(endpoint)
        main = event_fn(endpoint, [self.components[n] for n in uses] + [self.ctx.model_picker]
                        + ([self.state] if kept else []), components,
                        api_name=f"{self.tab.key}_{verb}", **checks, **event_kwargs)
        if (self._answered is None and example_answers_cached() and not kept and not long_job
                and not inspect.isgeneratorfunction(handler)
                and not {"session", "visitor"} & set(inspect.signature(handler).parameters)):
            queue = {k: v for k, v in event_kwargs.items() if k in ("concurrency_limit", "concurrency_id")}
            self._answered = ([self.components[n] for n in uses] + [self.ctx.model_picker], components,
                              _remembered(endpoint, slots, trigger), queue)
            for examples in self._example_blocks:
                self._answer_on_pick(examples)
        events = [main]
        if replay and self.link_button is not None and not self._link_wired:
            self._link_wired = True  # the panel's first recorded run is the one its link reproduces
            self._wire_link(f"{self.tab.key}_{verb}", uses, endpoint, components, checks, kept, long_job, event_kwargs)
        replay_verb = "replay" if record_as == self.tab.key else f"{verb}_replay"
        self.endpoints.append(RunEndpoint(f"{self.tab.key}_{verb}", f"{self.tab.key}_{replay_verb}" if replay else None,
                                          tuple(uses), handler, record_as, tuple(slots)))
        if replay:
            # `replay` may be a handler of its own, `(ctx, s, record, progress) -> Answer`: it gets the
            # record too, e.g. to say how the state the run depends on changed since
            hook = replay if callable(replay) else None
            replayer = self.replayer(handler, uses, slots, record_as=record_as, gpu_seconds=gpu_seconds, hook=hook,
                                     gpu=gpu, name=f"{self.tab.key}_{replay_verb}")
            files = [n for n in uses if self.tab.setting(n).file]
            events.append(self.replay_button.click(
                replayer, [self.replay_record] + [self.replay_inputs[n] for n in files], components,
                api_name=f"{self.tab.key}_{replay_verb}", **event_kwargs))
        return events

    def _wire_link(self, run: str, uses: list[str], endpoint, components, checks: dict, kept: bool,
                   long_job: str | None, event_kwargs: dict) -> None:
        """The panel's link: its button writes the inputs into a link; opening a link (the page-load
        event of app/ui.py sets `link_in`) fills them and — unless the run is a long job — runs it."""
        inputs = [self.components[n] for n in uses] + [self.ctx.model_picker]
        table = [self.tab.setting(n) for n in uses]

        def make_link(*args):
            return self._link_of(run, table, dict(zip([*uses, MODEL], args)), long_job)

        def open_link(token: str):
            return self._opened(run, table, token)

        self.link_button.click(user_errors(make_link, gpu=False), inputs, [self.link_box, self.link_note],
                               api_name=False, queue=False).then(
            None, self.link_box, self.link_box, js=links.ABSOLUTE_JS, api_name=False, queue=False)
        restore = self.link_in.change(user_errors(open_link, gpu=False), self.link_in, inputs, api_name=False)
        if not long_job:
            restore.success(endpoint, inputs + ([self.state] if kept else []), components, api_name=False,
                            **checks, **event_kwargs)
        self.ctx.link_targets[run] = (self.link_in, self.tab.key)

    def example_files(self) -> links.ExampleFiles:
        """The tab's example files (every panel's rows), the only files a link may name."""
        if self._example_files is None:
            file_names = {s.name for s in self.tab.settings if s.file}
            paths = [v for names, rows in self.example_rows.values() for row in rows
                     for n, cell in zip(names, row) if n in file_names
                     for v in (cell if isinstance(cell, (list, tuple)) else [cell])]
            self._example_files = links.ExampleFiles(paths)
        return self._example_files

    def _link_of(self, run: str, table: list[Setting], values: dict, long_job: str | None) -> tuple[str, str]:
        files = [s.name for s in table if s.file]
        refs, private = links.files_for(self.example_files(), files, values)
        settings = {s.name: values[s.name] for s in table if not s.file}
        model = values.get(MODEL) if values.get(MODEL) in self.ctx.choices else ""
        token = links.encode(links.Link(run, settings, refs, model or ""))
        if len(token) > links.MAX_TOKEN_CHARS:
            raise InputError(f"These inputs make a link of {len(token)} characters, more than a link may hold "
                             f"({links.MAX_TOKEN_CHARS}); shorten the longest text, or share the run record instead.")
        notes = []
        if private:
            notes.append(f"This run uses your own {' and '.join(private)}: a link cannot carry uploads (they stay "
                         "yours). It restores everything else; whoever opens it adds their own, or picks an example.")
        if values.get(MODEL) and not model:
            notes.append("The model is your own (trained or uploaded in this browser): the link opens with the app's "
                         "default model.")
        notes.append("Opening it selects this tab and fills these inputs; press the tab's button to run (a long run "
                     "does not start by itself)." if long_job else
                     "Opening it selects this tab, fills these inputs and runs them. Nothing is stored on the server.")
        return f"?{links.PARAM}={token}", " ".join(notes)

    def _opened(self, run: str, table: list[Setting], token: str) -> list:
        link = links.decode(token)
        if link.run != run:
            return [gr.skip()] * (len(table) + 1)
        files = links.restored_files(self.example_files(), link.files)
        unknown = sorted(set(link.settings) - {s.name for s in table})
        if unknown:
            gr.Warning(f"This link sets {', '.join(unknown)}, which this version of the tab does not have; "
                       "the rest is restored.")
        out = [files[s.name] if s.name in files else link.settings[s.name] if s.name in link.settings else gr.skip()
               for s in table]
        if link.model and link.model not in self.ctx.choices:
            gr.Warning(f"This link's model ({link.model}) is not offered here; the current model is used.")
        return [*out, link.model if link.model in self.ctx.choices else gr.skip()]

    def rescore(self, triggers: Sequence, handler: Callable, verb: str, *, uses: Sequence[str],
                outputs: Sequence[str] | None = None, event: str = "release", **event_kwargs):
        """Wire `handler(ctx, s, kept) -> Answer` (a re-score of the kept result, no forward) to
        each trigger's `event`, as endpoint `<key>_<verb>` (named once, on the first trigger). A
        trigger may be a `(component, event)` pair where its event differs (a radio's "input")."""
        slots, components = self._output_list(outputs, record=False)

        def rescored(values: Values, progress, session=""):
            return handler(self.ctx, values, values["kept"])

        fn = _endpoint(rescored, [self.tab.setting(n) for n in uses], slots, self, with_model=False,
                       kept=True, record_as=self.tab.key, gpu=False, name=f"{self.tab.key}_{verb}",
                       what=about(handler) or "the last result scored again with these settings (no forward pass)")
        inputs = [self.components[n] for n in uses] + [self.state]
        for n, trigger in enumerate(triggers):
            trigger, on = trigger if isinstance(trigger, tuple) else (trigger, event)
            getattr(trigger, on)(fn, inputs, components, api_name=f"{self.tab.key}_{verb}" if n == 0 else False,
                                 **event_kwargs)
        self.rescores.append(RunEndpoint(f"{self.tab.key}_{verb}", None, tuple(uses), handler, self.tab.key, tuple(slots)))

    def action(self, trigger, handler: Callable, verb: str, *, uses: Sequence[str] = (), outputs: Sequence[str],
               model: bool = True, gpu: bool = True, event: str = "click", long_job: str | None = None,
               gpu_seconds=None, **event_kwargs):
        """Wire `handler(ctx, s, progress) -> Answer` that is not a recorded run (an index's status,
        adding files, a stop button) as endpoint `<key>_<verb>`: its inputs the settings in `uses`
        (and the model, with `model`), its outputs exactly the named `outputs`. A `long_job` is
        checked when it joins the queue, as in `run`. Returns the event."""
        slots, components = self._slots(list(outputs))

        def call(values: Values, progress, session=""):
            return _call(handler, self.ctx, values, progress, session=session)

        fn = _endpoint(call, [self.tab.setting(n) for n in uses], slots, self, with_model=model,
                       record_as=self.tab.key, generator=inspect.isgeneratorfunction(handler), gpu=gpu,
                       gpu_seconds=gpu_seconds, name=f"{self.tab.key}_{verb}", what=about(handler))
        inputs = [self.components[n] for n in uses] + ([self.ctx.model_picker] if model else [])
        if long_job:
            event_kwargs["validator"] = admission.validator(self.ctx, list(uses), {}, long_job, 1 if model else 0)
            getattr(self.ctx, "long_jobs", set()).add(fn)
        return getattr(trigger, event)(fn, inputs or None, components, api_name=f"{self.tab.key}_{verb}", **event_kwargs)

    def endpoint(self, handler, uses, slots, *, record_as, gpu_seconds=None, kept=False, gpu=True, name=None):
        def call(values: Values, progress, session=""):
            return _call(handler, self.ctx, values, progress, session=session)

        return _endpoint(call, [self.tab.setting(n) for n in uses], slots, self, record_as=record_as, kept=kept,
                         generator=inspect.isgeneratorfunction(handler), gpu_seconds=gpu_seconds, gpu=gpu,
                         name=name, what=about(handler))

    def replayer(self, handler, uses, slots, *, record_as, gpu_seconds=None, hook=None, gpu=True, name=None):
        """The replay endpoint: the record's settings (legacy text mapped to values), its model, and
        the files uploaded beside it (each checked against the record's hash). With `hook`, that is
        called as `hook(ctx, s, record, progress)` instead of the handler."""
        table = [self.tab.setting(n) for n in uses]
        files = [s for s in table if s.file]
        generator = inspect.isgeneratorfunction(hook or handler)

        def values_of(record_path, *paths) -> tuple[Values, dict]:
            saved = runs.read_record(record_path, record_as)
            if self.tab.upgrade is not None:
                saved = self.tab.upgrade(saved)
            uploads, checked = _replay_files(saved, files, paths)
            recorded = runs.recorded_settings(saved, checked, [n for n in uses if n not in uploads])
            return Values({**{s.name: s.value(recorded[s.name]) for s in table if s.name not in uploads}, **uploads,
                           MODEL: saved["model"]}), saved

        def answers(args):
            bound, progress = _bind(params, args)
            values, saved = values_of(*bound)
            session = _session(params, args)
            if hook is None:
                return values, _call(handler, self.ctx, values, progress, session=session)
            return values, _call(hook, self.ctx, values, saved, progress, session=session)

        params = [_parameter("record", str, "path of the run record (JSON) this tab wrote")]
        params += [_parameter(s.name, s.kind, f"the {s.name} file the record was made with") for s in files]

        if generator:
            def replay(*args):
                values, answered = answers(args)
                for answer in answered:
                    yield self._deliver(answer, slots, values, record_as)
        else:
            def replay(*args):
                values, answer = answers(args)
                return self._deliver(answer, slots, values, record_as)

        what = about(handler)
        _describe(replay, params, f"{self.tab.title}: replay a run record (JSON) this tab wrote, with the same settings "
                                  f"and model." + (f" The run: {what}" if what else ""), name)
        if callable(gpu_seconds):  # the rule reads the recorded settings the replay will run with
            gpu_seconds = _seconds_of(gpu_seconds, lambda args: values_of(*_bind(params, args)[0])[0])
        kwargs = {} if gpu_seconds is None else {"gpu_seconds": gpu_seconds}
        return user_errors(replay, gpu=gpu, **kwargs)


def _record_files(table: Sequence[Setting], values: Mapping) -> dict[str, str]:
    """The uploads a record hashes, by the record's names: empty ones left out, several files one by
    one ("image 1", "image 2", …)."""
    files = {}
    for s in table:
        value, name = values.get(s.name), s.recorded_as or s.name
        if isinstance(value, (list, tuple)):
            files.update({f"{name} {i}": getattr(p, "name", p) for i, p in enumerate(value, 1)})
        elif value:
            files[name] = value
    return files


def _replay_files(saved: dict, table: Sequence[Setting], paths: Sequence) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each upload setting's files for a replay, and the same by the record's names for checking
    against its hashes: only uploads the record holds (another is None), several files as many as
    the record holds, in its order."""
    inputs = saved.get("inputs") if isinstance(saved.get("inputs"), dict) else {}
    held = {k for k, v in inputs.items() if isinstance(v, dict) and v.get("sha256")}
    out: dict[str, Any] = {}
    checked: dict[str, Any] = {}
    for s, value in zip(table, paths):
        name = s.recorded_as or s.name
        several = sorted((k for k in held if k.startswith(f"{name} ") and k[len(name) + 1:].isdigit()),
                         key=lambda k: int(k[len(name) + 1:]))
        if several:
            given = [getattr(f, "name", f) for f in (value if isinstance(value, (list, tuple)) else [value] if value else [])]
            if len(given) != len(several):
                raise InputError(f"This record was made with {len(several)} {name}s; upload those {len(several)} "
                                 f"{name}s (in the same order) to replay it.")
            out[s.name] = given
            checked.update(zip(several, given))
        else:
            out[s.name] = value if name in held else None
            checked[name] = out[s.name]
    return out, checked


@dataclass(frozen=True)
class _Param:
    name: str
    kind: Any
    doc: str

    def signature(self) -> inspect.Parameter:
        return inspect.Parameter(self.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=self.kind)


def _parameter(name: str, kind, doc: str) -> _Param:
    return _Param(name, kind, doc)


def _describe(fn, params: list[_Param], summary: str, name: str | None = None) -> None:
    """Give a generated endpoint its named, typed parameters and a docstring listing them (Gradio's API
    page and its MCP server read both; the MCP tool is called by the function's name, so `name` is the
    endpoint's API name); Gradio appends its own progress and request parameters, which it fills itself."""
    if name:
        fn.__name__ = fn.__qualname__ = name
    extra = [
        inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request),
    ]
    signature = [p.signature() for p in params] + extra
    fn.__signature__ = inspect.Signature(signature)
    fn.__annotations__ = {p.name: p.annotation for p in signature if p.annotation is not inspect.Parameter.empty}
    lines = [summary, "", "Args:"] + [f"    {p.name}: {p.doc}" for p in params]
    fn.__doc__ = "\n".join(lines)


def about(handler: Callable) -> str:
    """What a handler does, for an agent choosing among the endpoints: its docstring's first paragraph
    on one line."""
    doc = inspect.getdoc(handler) or ""
    return " ".join(doc.split("\n\n")[0].split())


EXAMPLE_ANSWERS = 256  # answers kept per tab (examples × models): a bound, far above what the tabs have


def _remembered(endpoint, slots: list[str], trigger) -> Callable:
    """`endpoint` for example rows, each answer computed once and kept (per input values and model),
    its notes saying where a kept answer came from. An error is not kept: the next pick tries again."""
    import threading
    import time
    from collections import OrderedDict

    kept: OrderedDict[str, tuple[tuple, str]] = OrderedDict()
    lock = threading.Lock()
    button = getattr(trigger, "value", None) or "the button"
    notes = slots.index("notes") if "notes" in slots else None

    def answered(*args):
        n = len(inspect.signature(endpoint).parameters) - 2  # the inputs, without progress and request
        key = hashlib.sha256(repr(args[:n]).encode()).hexdigest()
        with lock:
            hit = kept.get(key)
        if hit is not None and _names_a_swept_file(hit[0]):
            hit = None  # its record or pictures are gone (answer folders last KEEP_S): compute it afresh
        if hit is None:
            out = endpoint(*args)
            out = out if isinstance(out, tuple) else (out,)
            hit = (out, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
            with lock:
                kept[key] = hit
                while len(kept) > EXAMPLE_ANSWERS:
                    kept.popitem(last=False)
            first = True
        else:
            first = False
        out, when = hit
        if notes is not None and isinstance(out[notes], str):
            said = ("Computed now for this example, and kept: the next visitor who picks it sees it at once."
                    if first else f"Kept answer, computed {when} for the first visitor who picked this example "
                    f"(same model and settings); press {button} to compute it afresh.")
            out = (*out[:notes], f"- {said}\n{out[notes]}", *out[notes + 1:])
        return out[0] if len(out) == 1 else out

    answered.__signature__ = inspect.signature(endpoint)
    return answered


def _names_a_swept_file(value) -> bool:
    """Whether a kept answer names a file of an answer folder that has since been swept away: Gradio
    could not send it (it hashes every file it is given)."""
    if isinstance(value, str):
        return value.startswith(str(folders.root())) and not os.path.exists(value)
    if isinstance(value, (list, tuple)):
        return any(_names_a_swept_file(v) for v in value)
    if isinstance(value, Mapping):
        return any(_names_a_swept_file(v) for v in value.values())
    return False


def _bind(params: list[_Param], args: tuple):
    """Split Gradio's call (the inputs, then the progress and request it inserted) into the inputs
    and the progress callback."""
    n = len(params)
    progress = args[n] if len(args) > n else quiet
    return list(args[:n]), progress


class Session(str):
    """The browser session's id of a call (Gradio's, per page load), carrying `visitor`: the
    browser's own id (app/serving.py's cookie, which survives a reload), else the session's."""

    visitor: str = ""


def _session(params: list[_Param], args: tuple) -> Session:
    """The session of Gradio's call (its request follows the progress); "" without one."""
    return session_of(args[len(params) + 1] if len(args) > len(params) + 1 else None)


def session_of(request) -> Session:
    """The session of a Gradio request, carrying its visitor; "" without a request."""
    session = Session(getattr(request, "session_hash", None) or "")
    # without our cookie (an API caller, the page cache off): the session, hashed, since a client
    # chooses its session id and the visitor id names a folder
    session.visitor = serving.visitor_of(getattr(request, "cookies", None)) or (
        hashlib.sha256(session.encode()).hexdigest()[:32] if session else "")
    return session


def owner(session) -> str:
    """Whose things a call leaves in the process (a trained model, a run): the browser's visitor id
    (it survives a reload), else the session's, else "default" (a direct call)."""
    return getattr(session, "visitor", "") or str(session or "") or "default"


def _call(fn, *args, session: str = ""):
    """`fn(*args)`, and the browser session's id when `fn` takes a `session` parameter (e.g. to key
    the Stop button's event of this visitor's run), the browser's own id when it takes `visitor`
    (what the visitor leaves in the process is theirs alone)."""
    parameters = inspect.signature(fn).parameters
    extra = {}
    if "session" in parameters:
        extra["session"] = session
    if "visitor" in parameters:
        extra["visitor"] = getattr(session, "visitor", "") or str(session)
    return fn(*args, **extra)


def _endpoint(call, table: list[Setting], slots, page: Page, *, record_as: str, with_model: bool = True,
              kept: bool = False, generator: bool = False, gpu: bool = True, gpu_seconds: int | None = None,
              name: str | None = None, what: str = ""):
    params = [_parameter(s.name, s.kind, s.doc) for s in table]
    if with_model:
        params.append(_parameter(MODEL, str, MODEL_DOC))
    if kept:
        params.append(_parameter("kept", object, "kept from the last run (state)"))

    def values_of(args) -> Values:
        named = dict(zip((p.name for p in params), args))
        return Values({s.name: s.value(named[s.name]) for s in table} | {k: named[k] for k in (MODEL, "kept") if k in named})

    if generator:
        def endpoint(*args):
            bound, progress = _bind(params, args)
            values = values_of(bound)
            for answer in call(values, progress, _session(params, args)):
                yield page._deliver(answer, slots, values, record_as)
    else:
        def endpoint(*args):
            bound, progress = _bind(params, args)
            values = values_of(bound)
            return page._deliver(call(values, progress, _session(params, args)), slots, values, record_as)

    summary = f"{page.tab.title}: " + (what or ", ".join(s.name for s in table))
    _describe(endpoint, params, summary, name)
    if callable(gpu_seconds):  # the rule reads the call's settings, as the handler will see them
        gpu_seconds = _seconds_of(gpu_seconds, lambda args: values_of(_bind(params, args)[0]))
    kwargs = {"gpu": gpu} if gpu_seconds is None else {"gpu": gpu, "gpu_seconds": gpu_seconds}
    return user_errors(endpoint, **kwargs)


def _seconds_of(rule: Callable[[Values], float], values_of: Callable[[tuple], Values]) -> Callable[..., float]:
    """ZeroGPU's duration function for an endpoint (`spaces` calls it with the endpoint's own
    arguments, in the main process, before asking for a GPU): `rule(settings)`, e.g.
    `lambda s: 10 + 0.2 * s.iterations * s.seeds`. Settings it cannot read (a bad record) give the
    default duration; the run itself then says what is wrong."""

    def duration(*args, **_kwargs) -> float:
        try:
            return rule(values_of(args))
        except Exception:  # noqa: BLE001 - the handler reports the input's problem, not this estimate
            return GPU_SECONDS

    return duration


def need_kept(kept, what: str):
    """A re-score handler's kept result, or a message saying what to run first."""
    if not kept:
        raise InputError(what)
    return kept


def run_all(answers: Iterator[Answer]) -> Answer:
    """The last answer of a streaming handler (for tests calling it directly)."""
    last = None
    for last in answers:
        pass
    return last
