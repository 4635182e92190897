"""What every tab shares: the app's settings and the backbone it picked.

Models load in a background thread so the page serves at once; a handler that needs a model waits
for it. On a ZeroGPU Space (SPACES_ZERO_GPU) GPU-decorated handlers run in worker processes forked
from this one (README, "Hugging Face Spaces"), which have none of its threads: there the default
model is created at import, in the main thread (`load_now`, called by app.py), and any other model
is loaded by the process that asks for it, synchronously, never through a loader thread it would
wait on.

The header's picker names a model per browser session; `AppContext.backbone(choice)` turns that
name into the shared, cached `ClipBackbone`.

A visitor's own models (trained or uploaded in the Train tab) join a separate registry: each is
listed only in that visitor's picker (its choice carries an unguessable token), the registry keeps a
few at most (oldest dropped first), and it never touches `load_backbone`'s cache, so visitors'
models never push the app's own models out.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from components import backbone as backbones, mini
from components import precision as precisions
from components.backbone import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    MODEL_CHOICES,
    RANDOM,
    ClipBackbone,
    load_backbone,
    resolve_device,
)
from components.errors import InputError, WeightsError

log = logging.getLogger(__name__)
SEPARATOR = " · "
SESSION_TAG = "session:"  # the weights part of a visitor's own model's choice: session:<token>
MAX_SESSION_MODELS = int(os.environ.get("CLIP_LAB_MAX_SESSION_MODELS", "4"))  # all visitors together
MAX_MODELS_PER_SESSION = 2


@dataclass
class SessionModel:
    session: str
    label: str  # what the picker shows
    backbone: ClipBackbone
    note: str = ""  # what the banner says about it


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    pretrained: str = DEFAULT_PRETRAINED
    device: str = "auto"
    precision: str = precisions.DEFAULT  # auto | fp32 | bf16 | int8 (components.precision)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            model=os.environ.get("CLIP_LAB_MODEL", DEFAULT_MODEL),
            pretrained=os.environ.get("CLIP_LAB_PRETRAINED", DEFAULT_PRETRAINED),
            device=os.environ.get("CLIP_LAB_DEVICE", "auto"),
            precision=precisions.from_env(),  # CLIP_LAB_PRECISION; a value not in the list is a clear error
        )


def choice_name(model: str, pretrained: str) -> str:
    return f"{model}{SEPARATOR}{pretrained}"


def shown_choice(name: str) -> str:
    """A choice as the page shows it: a checkpoint path cut to its file name (server paths never
    appear in the page)."""
    model, _, pretrained = (name or "").partition(SEPARATOR)
    if "/" in pretrained or "\\" in pretrained:
        return choice_name(model, pretrained.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
    return name


def parse_choice(name: str) -> tuple[str, str]:
    model, _, pretrained = (name or "").partition(SEPARATOR)
    if not model or not pretrained:
        raise InputError(f"Pick a model from the list (got {name!r}).")
    return model, pretrained


def zero_gpu() -> bool:
    """Whether this process serves a ZeroGPU Space: SPACES_ZERO_GPU read as the `spaces` package
    reads it (spaces/config.py: "1", "t" or "true")."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def example_answers_cached() -> bool:
    """Whether picking an example shows its answer at once, computed once per example and model and
    then kept for every visitor (a Space's free CPU is slow; a shared example's answer is the same for
    all). CLIP_LAB_CACHE_EXAMPLES: "1" / "0"; by default on for a Space on a CPU (SPACE_ID set, not
    ZeroGPU), off elsewhere, where the examples fill the inputs and the visitor presses Run."""
    setting = os.environ.get("CLIP_LAB_CACHE_EXAMPLES", "").lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    return bool(os.environ.get("SPACE_ID")) and not zero_gpu()


_contexts: "weakref.WeakSet[AppContext]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child (a ZeroGPU worker) has only the thread that forked: locks other threads held
    at that moment stay held for good there, and a Future a loader thread was filling never
    completes. Give the child fresh locks and executors, and forget loads it cannot see finish (it
    does them again itself, synchronously)."""
    backbones._cache_lock = threading.Lock()
    backbones._key_locks = {}
    for backbone in backbones.cached_backbones():
        backbone._lock = threading.RLock()
    for ctx in list(_contexts):
        ctx._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class AppContext:
    def __init__(self, settings: Settings):
        # the app's precision is the process's: the paper backbones the tabs load and the run records follow it
        precisions.configure(settings.precision, settings.device)
        self.settings = settings
        self.default_choice = choice_name(settings.model, settings.pretrained)
        self.choices = list(dict.fromkeys([self.default_choice, *(choice_name(m, p) for m, p in MODEL_CHOICES)]))
        self._futures: dict[str, Future] = {}
        self._stand_ins: dict[str, str] = {}  # choice → why CLIP Lab Mini runs in its place
        self._session_models: OrderedDict[str, SessionModel] = OrderedDict()  # choice → model, oldest first
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-lab-load")
        self._pid = os.getpid()  # the process whose loader thread fills the futures
        self.zero_gpu = zero_gpu()
        _contexts.add(self)
        self.pages: dict = {}  # tab key → its scaffold Page (what it declared and wired), for tests and tools
        self.long_jobs: set = set()  # endpoints that are long jobs: one per visitor at a time (app/admission.py)
        self.link_targets: dict = {}  # run endpoint → its panel's hidden link box (app/links.py; opened in app/ui.py)
        self.demo = None  # the Blocks, once built (its queue tells who has what queued)

    # -- visitors' own models ------------------------------------------------------------------------
    def add_session_model(self, session: str, label: str, backbone: ClipBackbone, note: str = "") -> str:
        """Register a visitor's model for their browser session; returns its picker choice. Beyond
        MAX_MODELS_PER_SESSION for this session, or MAX_SESSION_MODELS in all, the oldest go."""
        choice = choice_name(backbone.model_name, f"{SESSION_TAG}{secrets.token_hex(8)}")
        with self._lock:
            self._session_models[choice] = SessionModel(session, label, backbone, note)
            own = [c for c, m in self._session_models.items() if m.session == session]
            for old in own[: max(0, len(own) - MAX_MODELS_PER_SESSION)]:
                del self._session_models[old]
            while len(self._session_models) > MAX_SESSION_MODELS:
                self._session_models.popitem(last=False)
        return choice

    @staticmethod
    def is_session_choice(choice: str | None) -> bool:
        return (choice or "").partition(SEPARATOR)[2].startswith(SESSION_TAG)

    def session_choices(self, session: str) -> list[tuple[str, str]]:
        """The picker's (label, choice) pairs for one browser session: the app's models, then the
        visitor's own."""
        with self._lock:
            own = [(m.label, c) for c, m in self._session_models.items() if m.session == session]
        return [(shown_choice(c), c) for c in self.choices] + own

    def _session_model(self, choice: str) -> SessionModel:
        with self._lock:
            entry = self._session_models.get(choice)
            if entry is not None:
                self._session_models.move_to_end(choice)
        if entry is None:
            raise InputError(
                f"That trained model is no longer kept (the app keeps {MAX_SESSION_MODELS} visitors' models "
                "at most, the oldest dropped first). Train it again or upload its checkpoint in the Train "
                "tab, or pick another model."
            )
        return entry

    def start_loading(self, choice: str | None = None) -> Future:
        """The future of `choice`'s backbone: started in the loader thread if it was not. In a forked
        child (a ZeroGPU worker) the loader thread does not exist: the backbone loads here and now,
        and the future comes back done. In a ZeroGPU Space's main process, only the default model
        (loaded at import, `load_now`) is ever loaded: any other one is loaded by the GPU worker
        that first runs with it (`deferred`)."""
        choice = choice or self.default_choice
        if self.is_session_choice(choice):
            future: Future = Future()
            future.set_result(self._session_model(choice).backbone)
            return future
        if choice not in self.choices:
            raise InputError(f"{choice!r} is not one of this app's models.")
        if os.getpid() != self._pid:
            return self.load_now(choice)
        if self.deferred(choice):
            raise InputError(
                f"{shown_choice(choice)} is loaded on the GPU by the first run that uses it, and this step "
                "runs without one. Run the tab with it first."
            )
        with self._lock:
            future = self._futures.get(choice)
            retry = future is None or (future.done() and future.exception() is not None)
            if retry and not self.zero_gpu:  # on ZeroGPU the main process loads at import only
                parse_choice(choice)
                future = self._executor.submit(self._load, choice)
                self._futures[choice] = future
            return future

    def load_now(self, choice: str | None = None) -> Future:
        """Load `choice` (default: the app's default model) in this thread, now, unless this process
        has it already; returns its (done) future. ZeroGPU asks for the model at import in the main
        process, before any GPU worker is forked: app.py calls this there. Loading errors stay in the
        future, as with the loader thread."""
        choice = choice or self.default_choice
        with self._lock:
            future = self._futures.get(choice)
            if future is not None and future.done() and future.exception() is None:
                return future
            future = Future()
            self._futures[choice] = future  # only this thread loads it: the lock is not held while loading
        try:
            future.set_result(self._load(choice))
        except Exception as error:  # kept in the future, raised by .result() as the loader thread's would be
            future.set_exception(error)
        return future

    def deferred(self, choice: str | None = None) -> bool:
        """Whether `choice` is left to the GPU workers: a ZeroGPU Space's main process loads only the
        default model, at import (elsewhere it would be a background thread, which a forked worker
        would not have, or CUDA from a thread the `spaces` package does not patch)."""
        choice = choice or self.default_choice
        if not self.zero_gpu or os.getpid() != self._pid or self.is_session_choice(choice):
            return False
        with self._lock:
            return choice not in self._futures

    def _after_fork(self) -> None:
        """In a forked child: fresh lock and executor; loads still under way in the parent are
        forgotten (this process does them itself when asked)."""
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-lab-load")
        self._futures = {c: f for c, f in self._futures.items() if f.done()}

    def _load(self, choice: str, precision: str | None = None) -> ClipBackbone:
        """The backbone for `choice` at `precision` (default: the app's); when its weights cannot be
        had, CLIP Lab Mini stands in (random weights only when asked for, or when even Mini's shipped
        file is missing)."""
        model, pretrained = parse_choice(choice)
        device = self.settings.device
        at = dict(precision=precision or self.settings.precision)
        if pretrained == RANDOM or model in mini.SHIPPED:
            return load_backbone(model, pretrained, device, **at)
        try:
            return load_backbone(model, pretrained, device, fallback_to_random=False, **at)
        except WeightsError as error:
            try:
                stand_in = load_backbone(mini.MODEL, mini.TAG, device, fallback_to_random=False, **at)
            except WeightsError as mini_error:
                log.warning("%s: %s; CLIP Lab Mini is not available either (%s)", choice, error, mini_error)
                return load_backbone(model, pretrained, device, **at)  # random weights, with the banner
            log.warning("%s: %s; CLIP Lab Mini runs in its place", choice, error)
            self._stand_ins[choice] = str(error)
            return stand_in

    def stand_in_reason(self, choice: str | None = None) -> str:
        """Why CLIP Lab Mini runs in place of `choice` ("" when it does not)."""
        return self._stand_ins.get(choice or self.default_choice, "")

    def backbone(self, choice: str | None = None) -> ClipBackbone:
        """The loaded backbone for a picker choice, waiting for it if it is still loading. Inside a
        replay of a record made at another precision (`components.precision.replay_at`), that
        precision's copy of the model, loaded here. A `WeightsError` goes up as it is:
        `app/widgets.user_errors` is the one place it becomes a message."""
        asked = precisions.current_override()
        if asked and not self.is_session_choice(choice) and asked != self.settings.precision:
            device = resolve_device(self.settings.device)
            if precisions.resolve(asked, device) != precisions.resolve(self.settings.precision, device):
                self.start_loading(choice).result()  # the app's own copy first: its stand-in, if any
                return self._load(choice or self.default_choice, precision=asked)
        return self.start_loading(choice).result()

    def is_ready(self, choice: str | None = None) -> bool:
        if self.is_session_choice(choice) or self.deferred(choice):
            return True
        return self.start_loading(choice).done()

    def status(self, choice: str | None = None) -> str:
        """One line: loading → ready, and which weights."""
        choice = choice or self.default_choice
        if self.is_session_choice(choice):
            try:
                entry = self._session_model(choice)
            except InputError as error:
                return f"**Dropped:** {error}"
            return f"Ready: **{entry.backbone.describe()}** (yours: trained or uploaded in this browser session)"
        if self.deferred(choice):
            return f"**{shown_choice(choice)}** is loaded on the GPU by the first run that uses it (ZeroGPU)"
        with self._lock:
            future = self._futures.get(choice)
        if future is None or os.getpid() != self._pid:
            future = self.start_loading(choice)
        # A failed load is shown as failed: the next run retries it (`start_loading`), a status poll
        # does not, or the page would say "Loading…" for ever.
        if not future.done():
            return f"Loading **{shown_choice(choice)}** on {resolve_device(self.settings.device)}…"
        if future.exception() is not None:
            return f"**Failed:** {shown_choice(choice)} could not be loaded: {future.exception()}"
        precision = self.precision_line()
        if self.stand_in_reason(choice):
            return (f"Ready: **{future.result().describe()}**, standing in for {shown_choice(choice)} (its weights "
                    f"could not be had); {precision}")
        return f"Ready: **{future.result().describe()}**; {precision}"

    def precision_line(self) -> str:
        """Which precision the app's models run at, and why where auto chose it."""
        try:
            return precisions.explain(self.settings.precision, resolve_device(self.settings.device))
        except (InputError, WeightsError) as error:
            return f"precision {self.settings.precision}: {error}"

    def banner(self, choice: str | None = None) -> str:
        """A warning shown above every tab while the weights are random; empty otherwise."""
        if self.is_session_choice(choice):
            with self._lock:
                entry = self._session_models.get(choice)
            return entry.note if entry is not None else ""
        if self.deferred(choice):
            return ""
        future = self.start_loading(choice)
        if not future.done() or future.exception() is not None:
            return ""
        backbone = future.result()
        if backbone.is_mini:
            return self._mini_banner(choice)
        if not backbone.is_random:
            return ""
        _, asked = parse_choice(choice or self.default_choice)
        tag = asked if asked != "random" and "/" not in asked else "openai"
        return (
            "⚠️ **This model runs on random, untrained weights: every result on every tab is "
            f"meaningless.** Why: {backbone.weights_note}. To use real weights, put them in the Hugging "
            "Face cache (`HF_HOME`) on a machine with internet — `python -c \"import open_clip; "
            f"open_clip.create_model('{backbone.model_name}', pretrained='{tag}')\"` — or start the app "
            "with `--pretrained /path/to/checkpoint.pt` (see the README)."
        )

    def _mini_banner(self, choice: str | None) -> str:
        choice = choice or self.default_choice
        reason = self.stand_in_reason(choice)
        model, asked = parse_choice(choice)
        if reason:
            why = f" in place of **{shown_choice(choice)}**, whose weights could not be had ({reason})"
            real = model
            tag = asked if "/" not in asked else DEFAULT_PRETRAINED
        else:
            why, real, tag = "", DEFAULT_MODEL, DEFAULT_PRETRAINED
        tower = ""
        if model == mini.RN_MODEL:
            tower = (f" Its image tower is a ResNet: it tells shapes apart far better than {mini.MODEL}, but its "
                     "dense maps (LSeg, GroupViT, the region tabs' one-forward mode, DepthCLIP's dense "
                     f"extension) have one cell per 32 pixels; pick {mini.MODEL} (a ViT) for those.")
        return (
            f"ℹ️ **This runs CLIP Lab Mini, a small CLIP trained here on a generated world**{why}. "
            f"It knows {mini.KNOWS}: try each tab's *world examples*, where its answers can be checked.{tower} "
            "It has never seen a photo, so on photos its answers mean nothing. For photos, put OpenAI's "
            "weights in the Hugging Face cache (`HF_HOME`) on a machine with internet — `python -c "
            f"\"import open_clip; open_clip.create_model('{real}', pretrained='{tag}')\"` — or start the "
            "app with `--pretrained /path/to/checkpoint.pt` (see the README)."
        )
