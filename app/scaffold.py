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

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from app import runs
from app.howitworks import how_it_works
from app.widgets import ImageUpload, image_limits, method_header, user_errors, video_limits
from components.errors import InputError

MODEL = "model"  # the shared picker's value: every endpoint takes it last, and every record holds it


def quiet(*_args, **_kwargs) -> None:
    """A progress callback that shows nothing: the default when a handler is called directly."""


@dataclass(frozen=True)
class Setting:
    """One input of a tab, declared once.

    `component` makes the Gradio component (called where the tab lays it out); `kind` is the
    endpoint parameter's type and `doc` its line in the endpoint's docstring. A `file` setting is an
    upload: the record keeps its SHA-256, and a replay asks for the file again (`replay` makes that
    upload box). `rescore` marks settings whose change re-scores a kept result without a forward.
    `legacy` maps display text older records hold to today's value."""

    name: str
    component: Callable[[], gr.Component]
    kind: Any = str
    doc: str = ""
    file: bool = False
    rescore: bool = False
    legacy: Mapping[Any, Any] = field(default_factory=dict)
    replay: Callable[[], gr.Component] | None = None

    def value(self, raw):
        """The value a handler sees: legacy display text mapped to today's value."""
        try:
            return self.legacy.get(raw, raw)
        except TypeError:  # unhashable (a list of files, a checkbox group)
            return raw


def image_setting(name: str = "image", label: str = "Image", doc: str = "path of the image file") -> Setting:
    """The image upload most tabs start with (decoded by `components.media.load_image`)."""
    return Setting(name, lambda: ImageUpload(label), str, doc, file=True,
                   replay=lambda: ImageUpload(f"The {name} the record was made with"))


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
        self.state = gr.State()
        self.endpoints: list[RunEndpoint] = []  # what run() wired, for the contract tests
        self.rescores: list[RunEndpoint] = []  # what rescore() wired
        self.example_rows: dict[str, tuple[list[str], list[list]]] = {}  # label → (setting names, rows)
        getattr(ctx, "pages", {})[tab.key] = self
        method_header(tab.name, tab.idea, tab.paper, tab.runs)

    # -- layout -------------------------------------------------------------------------------
    def inputs(self, *names: str) -> list[gr.Component]:
        made = []
        for name in names:
            assert name not in self.components, f"{self.tab.key}: {name} laid out twice"
            self.components[name] = self.tab.setting(name).component()
            made.append(self.components[name])
        return made

    def input(self, name: str) -> gr.Component:
        return self.inputs(name)[0]

    def output(self, name: str, component: gr.Component) -> gr.Component:
        self.outputs[name] = component
        return component

    def notes_and_record(self, record_label: str = "Run record (JSON): settings, input hash, weights, scores"):
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

    def replay_panel(self, note: str = "") -> None:
        """The "Reproduce a run" section: the record beside the file(s) the run was made with."""
        with gr.Accordion("Reproduce a run", open=False):
            if note:
                gr.Markdown(f"<small>{note}</small>")
            with gr.Row():
                self.replay_record = gr.File(label="Run record (JSON)", file_types=[".json"])
                for s in self.tab.settings:
                    if s.file:
                        self.replay_inputs[s.name] = (s.replay or s.component)()
            self.replay_button = gr.Button("Replay")

    def examples(self, rows: list[list], names: Sequence[str], label: str) -> gr.Examples:
        self.example_rows[label] = (list(names), [list(row) for row in rows])
        return gr.Examples(rows, inputs=[self.components[n] for n in names], label=label)

    # -- wiring -------------------------------------------------------------------------------
    def _output_list(self, names: Sequence[str] | None, *, record: bool) -> tuple[list[str], list[gr.Component]]:
        names = list(self.outputs) if names is None else list(names)
        slots = [*names, "notes"] + (["record"] if record else []) + ["strip", "keep"]
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
        return tuple(out)

    def write_record(self, values: Values, answer: Answer, record_as: str) -> str:
        files = {s.name: values.get(s.name) for s in self.tab.settings if s.file and s.name in values}
        settings = {n: v for n, v in values.items() if n != MODEL and n not in files}
        return runs.write_record(record_as, settings=settings, files=files, model_choice=values[MODEL],
                                 weights=answer.weights, scores=answer.scores, extra=answer.extra)

    def run(self, trigger, handler: Callable, verb: str, *, uses: Sequence[str] | None = None,
            outputs: Sequence[str] | None = None, replay: bool = True, record_as: str | None = None,
            gpu_seconds: int | None = None, event: str = "click", **event_kwargs):
        """Wire `handler(ctx, s, progress)` to `trigger` as endpoint `<key>_<verb>`, its inputs the
        settings in `uses` (default: the whole table, in order) and the model; with `replay`, also
        `<key>_replay` (or `<key>_<verb>_replay` when the tab has several recorded runs)."""
        uses = [s.name for s in self.tab.settings] if uses is None else list(uses)
        record_as = record_as or self.tab.key
        slots, components = self._output_list(outputs, record=True)
        endpoint = self.endpoint(handler, uses, slots, record_as=record_as, gpu_seconds=gpu_seconds)
        event_fn = getattr(trigger, event)
        main = event_fn(endpoint, [self.components[n] for n in uses] + [self.ctx.model_picker], components,
                        api_name=f"{self.tab.key}_{verb}", **event_kwargs)
        events = [main]
        replay_verb = "replay" if record_as == self.tab.key else f"{verb}_replay"
        self.endpoints.append(RunEndpoint(f"{self.tab.key}_{verb}", f"{self.tab.key}_{replay_verb}" if replay else None,
                                          tuple(uses), handler, record_as, tuple(slots)))
        if replay:
            replayer = self.replayer(handler, uses, slots, record_as=record_as, gpu_seconds=gpu_seconds)
            files = [n for n in uses if self.tab.setting(n).file]
            events.append(self.replay_button.click(
                replayer, [self.replay_record] + [self.replay_inputs[n] for n in files], components,
                api_name=f"{self.tab.key}_{replay_verb}", **event_kwargs))
        return events

    def rescore(self, triggers: Sequence, handler: Callable, verb: str, *, uses: Sequence[str],
                outputs: Sequence[str] | None = None, event: str = "release"):
        """Wire `handler(ctx, s, kept) -> Answer` (a re-score of the kept result, no forward) to
        each trigger's `event`, as endpoint `<key>_<verb>` (named once, on the first trigger)."""
        slots, components = self._output_list(outputs, record=False)

        def rescored(values: Values, progress):
            return handler(self.ctx, values, values["kept"])

        fn = _endpoint(rescored, [self.tab.setting(n) for n in uses], slots, self, with_model=False,
                       kept=True, record_as=self.tab.key, gpu=False)
        inputs = [self.components[n] for n in uses] + [self.state]
        for n, trigger in enumerate(triggers):
            getattr(trigger, event)(fn, inputs, components, api_name=f"{self.tab.key}_{verb}" if n == 0 else False)
        self.rescores.append(RunEndpoint(f"{self.tab.key}_{verb}", None, tuple(uses), handler, self.tab.key, tuple(slots)))

    def endpoint(self, handler, uses, slots, *, record_as, gpu_seconds=None):
        def call(values: Values, progress):
            return handler(self.ctx, values, progress)

        return _endpoint(call, [self.tab.setting(n) for n in uses], slots, self, record_as=record_as,
                         generator=inspect.isgeneratorfunction(handler), gpu_seconds=gpu_seconds)

    def replayer(self, handler, uses, slots, *, record_as, gpu_seconds=None):
        """The replay endpoint: the record's settings (legacy text mapped to values), its model, and
        the files uploaded beside it (each checked against the record's hash)."""
        table = [self.tab.setting(n) for n in uses]
        files = [s for s in table if s.file]
        generator = inspect.isgeneratorfunction(handler)

        def values_of(record_path, *paths) -> Values:
            saved = runs.read_record(record_path, record_as)
            recorded = runs.recorded_settings(saved, dict(zip((s.name for s in files), paths)), uses)
            return Values({**{s.name: s.value(recorded[s.name]) for s in table}, MODEL: saved["model"]})

        params = [_parameter("record", str, "path of the run record (JSON) this tab wrote")]
        params += [_parameter(s.name, s.kind, f"the {s.name} file the record was made with") for s in files]

        if generator:
            def replay(*args):
                bound, progress = _bind(params, args)
                values = values_of(*bound)
                for answer in handler(self.ctx, values, progress):
                    yield self._deliver(answer, slots, values, record_as)
        else:
            def replay(*args):
                bound, progress = _bind(params, args)
                values = values_of(*bound)
                return self._deliver(handler(self.ctx, values, progress), slots, values, record_as)

        _describe(replay, params, f"Replay a {self.tab.title} run record with the same settings and model.")
        kwargs = {} if gpu_seconds is None else {"gpu_seconds": gpu_seconds}
        return user_errors(replay, **kwargs)


@dataclass(frozen=True)
class _Param:
    name: str
    kind: Any
    doc: str

    def signature(self) -> inspect.Parameter:
        return inspect.Parameter(self.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=self.kind)


def _parameter(name: str, kind, doc: str) -> _Param:
    return _Param(name, kind, doc)


def _describe(fn, params: list[_Param], summary: str) -> None:
    """Give a generated endpoint its named, typed parameters and a docstring listing them; Gradio
    appends its own progress and request parameters, which it fills itself."""
    extra = [
        inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request),
    ]
    signature = [p.signature() for p in params] + extra
    fn.__signature__ = inspect.Signature(signature)
    fn.__annotations__ = {p.name: p.annotation for p in signature if p.annotation is not inspect.Parameter.empty}
    lines = [summary, "", "Args:"] + [f"    {p.name}: {p.doc}" for p in params]
    fn.__doc__ = "\n".join(lines)


def _bind(params: list[_Param], args: tuple):
    """Split Gradio's call (the inputs, then the progress and request it inserted) into the inputs
    and the progress callback."""
    n = len(params)
    progress = args[n] if len(args) > n else quiet
    return list(args[:n]), progress


def _endpoint(call, table: list[Setting], slots, page: Page, *, record_as: str, with_model: bool = True,
              kept: bool = False, generator: bool = False, gpu: bool = True, gpu_seconds: int | None = None):
    params = [_parameter(s.name, s.kind, s.doc) for s in table]
    if with_model:
        params.append(_parameter(MODEL, str, "the CLIP model choice (model · weights), as the header's picker names it"))
    if kept:
        params.append(_parameter("kept", object, "kept from the last run (state)"))

    def values_of(args) -> Values:
        named = dict(zip((p.name for p in params), args))
        return Values({s.name: s.value(named[s.name]) for s in table} | {k: named[k] for k in (MODEL, "kept") if k in named})

    if generator:
        def endpoint(*args):
            bound, progress = _bind(params, args)
            values = values_of(bound)
            for answer in call(values, progress):
                yield page._deliver(answer, slots, values, record_as)
    else:
        def endpoint(*args):
            bound, progress = _bind(params, args)
            values = values_of(bound)
            return page._deliver(call(values, progress), slots, values, record_as)

    summary = f"{page.tab.title}: " + ", ".join(s.name for s in table)
    _describe(endpoint, params, summary)
    kwargs = {"gpu": gpu} if gpu_seconds is None else {"gpu": gpu, "gpu_seconds": gpu_seconds}
    return user_errors(endpoint, **kwargs)


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
