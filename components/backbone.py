"""The one shared CLIP: `load_backbone()` and `ClipBackbone`.

Every tab asks `load_backbone()` for its model; the result is cached per (model, weights, device), so
one process holds one copy of each model however many tabs use it. The cache keeps a few models at
most and drops the least recently used first, so memory stays predictable on a small Space.

Weights are never faked. `pretrained` is an open_clip tag (looked up in the Hugging Face cache first,
downloaded only when the Hub can be reached), a path to a local checkpoint, or "random". When a tag
cannot be had, the backbone falls back to random weights and `weights` / `weights_note` say so.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from PIL import Image

from components import mini
from components import precision as precisions
from components.errors import WeightsError
from components.prompts import TemplateSet, get_template_set

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-16"
# OpenAI's weights: every method in CLIP Lab was published on them, so their constants (logit scale
# 100, DepthCLIP's bins, the dense-CLIP tricks) were tuned for these weights.
DEFAULT_PRETRAINED = "openai"
RANDOM = "random"
RANDOM_WEIGHTS = "random (untrained)"

# The models offered in the app's picker: (model, pretrained tag). All are standard CLIP towers whose
# last block `components.dense` knows how to modify.
MODEL_CHOICES: tuple[tuple[str, str], ...] = (
    ("ViT-B-16", "openai"),
    (mini.MODEL, mini.TAG),  # always there: its weights ship in the repo
    (mini.RN_MODEL, mini.TAG),  # the ResNet Mini, shipped too: shapes, coarse dense maps
    ("ViT-B-32", "openai"),
    ("ViT-L-14", "openai"),
    ("RN50", "openai"),
    ("ViT-B-16", "laion2b_s34b_b88k"),
)

MAX_CACHED_MODELS = int(os.environ.get("CLIP_LAB_MAX_MODELS", "3"))
TEXT_CACHE_SIZE = 50_000


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WeightsError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    return device


class ClipBackbone:
    """A CLIP model with batched, normalised encoders and cached text embeddings.

    Embeddings come back as float32 CPU tensors of shape (N, D), each row of unit length.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess,
        tokenizer,
        *,
        model_name: str,
        weights: str,
        device: str = "cpu",
        weights_note: str = "",
        precision: str = "fp32",
    ):
        # fp32 / bf16 / int8 (components.precision): the model is cast or quantised once, here
        self.precision = precision
        self.dtype = precisions.DTYPES[precision]  # what input pixels are cast to
        self.model = precisions.apply(model.eval().to(device), precision)
        self.source: tuple[str, str, str] | None = None  # (model, pretrained, device) when load_backbone made it
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.weights = weights
        self.weights_note = weights_note
        self.device = device
        size = getattr(model.visual, "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        normalize = next(t for t in preprocess.transforms if type(t).__name__ == "Normalize")
        self.mean, self.std = tuple(normalize.mean), tuple(normalize.std)
        self.context_length = int(getattr(tokenizer, "context_length", 77))
        # Counters let tests and benchmarks check that caches work: texts run through the text tower
        # and images through the image tower since this backbone was made.
        self.text_forwards = 0
        self.image_forwards = 0
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._classifier_cache: dict[tuple[str, str], torch.Tensor] = {}
        self._lock = threading.RLock()

    # -- facts -----------------------------------------------------------------------------------
    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM_WEIGHTS

    @property
    def is_mini(self) -> bool:
        """CLIP Lab Mini: it knows the generated world (`components.world`), not photos."""
        return self.model_name in mini.SHIPPED

    @property
    def is_vit(self) -> bool:
        return hasattr(self.model.visual, "transformer")

    @property
    def logit_scale(self) -> float:
        """exp(learned temperature), capped at 100 as CLIP trains it."""
        return float(min(self.model.logit_scale.exp().item(), 100.0))

    @property
    def embed_dim(self) -> int:
        return int(self.model.visual.output_dim)

    def describe(self) -> str:
        precision = "" if self.precision == "fp32" else f" · {precisions.LABELS[self.precision]}"
        return f"{self.model_name} · {self.weights} · {self.device}{precision}"

    def at_precision(self, precision: str) -> "ClipBackbone":
        """This model at another concrete precision (the same cached load path), e.g. the fp32 copy
        for a gradient; itself when it already is, or when it was not made by `load_backbone`."""
        if precision == self.precision or self.source is None:
            return self
        model, pretrained, device = self.source
        return load_backbone(model, pretrained, device, precision=precision)

    # -- text --------------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the context, start and end markers included."""
        return int((self.tokenize([text])[0] != 0).sum().item())

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(N, D) unit-length text embeddings; each distinct string is encoded once per backbone."""
        texts = list(texts)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                with torch.inference_mode():
                    tokens = self.tokenize(chunk).to(self.device)
                    emb = self.model.encode_text(tokens, normalize=True).float().cpu()
                self.text_forwards += len(chunk)
                for text, row in zip(chunk, emb):
                    self._text_cache[text] = row
            for text in texts:
                self._text_cache.move_to_end(text)
            rows = [self._text_cache[t] for t in texts]
            while len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        if not rows:
            return torch.empty(0, 0)
        return torch.stack(rows)

    def text_classifier(self, labels: Sequence[str], templates: str | TemplateSet) -> torch.Tensor:
        """(L, D) zero-shot classifier: per label, each template's embedding normalised, averaged,
        renormalised (CLIP's prompt ensemble, via open_clip's `build_zero_shot_classifier`).
        Cached per (label, template set): labels seen before cost no text forward."""
        template_set = get_template_set(templates)
        labels = list(labels)
        with self._lock:
            missing = list(
                dict.fromkeys(l for l in labels if (template_set.name, l) not in self._classifier_cache)
            )
            if missing:
                import open_clip

                fillers = [lambda label, t=t: t.replace("{}", label) for t in template_set.templates]
                with torch.inference_mode():
                    weights = open_clip.build_zero_shot_classifier(
                        self.model,
                        self.tokenize,
                        missing,
                        fillers,
                        num_classes_per_batch=max(1, 256 // len(template_set)),
                        device=self.device,
                    )
                self.text_forwards += len(missing) * len(template_set)
                for label, column in zip(missing, weights.T.float().cpu()):
                    self._classifier_cache[(template_set.name, label)] = column
            return torch.stack([self._classifier_cache[(template_set.name, l)] for l in labels])

    # -- images ------------------------------------------------------------------------------------
    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """CLIP's standard view of each image (short side resized, centre crop, normalised)."""
        return torch.stack([self.preprocess(im.convert("RGB")) for im in images])

    def encode_images(
        self, images: Sequence[Image.Image] | torch.Tensor, batch_size: int = 32, *, normalize: bool = True
    ) -> torch.Tensor:
        """(N, D) image embeddings of PIL images, or of an (N, 3, S, S) tensor already normalised with
        `self.mean` / `self.std`; unit length unless `normalize=False` (e.g. before meanP pooling)."""
        pixels = images if isinstance(images, torch.Tensor) else self.pixels(images)
        out = []
        with torch.inference_mode():
            for start in range(0, len(pixels), batch_size):
                chunk = pixels[start : start + batch_size].to(self.device, self.dtype)
                out.append(self.model.encode_image(chunk, normalize=normalize).float().cpu())
                self.image_forwards += len(chunk)
        return torch.cat(out) if out else torch.empty(0, 0)

    # -- the image tower's parts, for pipelines that need more than its embedding -----------------
    @property
    def visual(self) -> torch.nn.Module:
        return self.model.visual

    @property
    def is_resnet(self) -> bool:
        return hasattr(self.model.visual, "attnpool")

    @property
    def patch_size(self) -> int:
        """Input pixels per cell of the tower's dense grid (a ResNet's layer4: 32)."""
        return patch_size(self.model.visual)

    @property
    def attention_pool(self) -> torch.nn.Module:
        """A ResNet tower's attention pool (layer4 map → embedding)."""
        return self.model.visual.attnpool

    def vit_blocks(self) -> list[torch.nn.Module]:
        """A ViT tower's residual attention blocks, in order."""
        return list(self.model.visual.transformer.resblocks)

    def vit_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """The tokens entering a ViT's first block (patches, class token, positions, ln_pre) at the
        model's own input size."""
        return self.model.visual._embeds(pixels.to(self.dtype))

    def vit_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """A ViT's (un-normalised) embedding of the tokens leaving its last block."""
        visual = self.model.visual
        pooled, _ = visual._pool(tokens)
        return pooled @ visual.proj if visual.proj is not None else pooled

    def resnet_stages(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        return resnet_stages(self.model.visual, pixels)

    def dense(self, image: Image.Image, method: str | None = None, short_side: int | None = None,
              inference: str = "windows"):
        """Dense patch embeddings in the joint space (see `components.dense.dense_features`)."""
        from components import dense

        return dense.dense_features(self, image, method=method or dense.DEFAULT_METHOD, short_side=short_side,
                                    inference=inference)


def patch_size(visual) -> int:
    """Input pixels per cell of an image tower's dense grid."""
    if hasattr(visual, "conv1") and hasattr(visual, "transformer"):
        return int(visual.conv1.kernel_size[0])
    if hasattr(visual, "attnpool"):
        return 32  # ResNet: layer4 is 1/32 of the input
    return int(visual.patch_size)


def resnet_stages(visual, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Feature maps of a CLIP ModifiedResNet tower (or a copy of one): stem, layer1 … layer4, each
    (N, C, h, w)."""
    x = pixels.to(visual.conv1.weight.dtype)
    maps = {"stem": visual.stem(x)}
    x = maps["stem"]
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(visual, name)(x)
        maps[name] = x
    return maps


# -- loading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Key:
    model: str
    pretrained: str
    device: str
    precision: str = "fp32"  # concrete: fp32, bf16 or int8


_cache: OrderedDict[_Key, ClipBackbone] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[_Key, threading.Lock] = {}


# The methods' own backbones, from their papers and official code, loaded through the same bounded
# cache as the shared model. CLIP_LAB_<ROLE>_MODEL / _PRETRAINED override one (tests use tiny models).
PAPER_BACKBONES = {
    "depthclip": ("RN50", "openai"),  # DepthCLIP: RN50 layer4
    "clipasso_loss": ("RN101", "openai"),  # CLIPasso: RN101 layer maps and the attention-pool output
    "clipasso_saliency": ("ViT-B-32", "openai"),  # CLIPasso: ViT-B/32 relevancy for the saliency start
}


def paper_backbone_name(role: str) -> tuple[str, str]:
    """(model, pretrained) of a method's own backbone (`PAPER_BACKBONES`), after any override."""
    model, pretrained = PAPER_BACKBONES[role]
    prefix = f"CLIP_LAB_{role.upper()}"
    return os.environ.get(f"{prefix}_MODEL", model), os.environ.get(f"{prefix}_PRETRAINED", pretrained)


def load_paper_backbone(role: str, device: str = "auto", *, fallback_to_random: bool = True,
                        precision: str | None = None) -> "ClipBackbone":
    """A method's own backbone. Like the shared model, when its weights are not on this machine it
    runs on random weights whose `weights_note` says why (the tab shows it), so the tab still
    answers; `fallback_to_random=False` raises `WeightsError` instead. `precision` None: the
    process's (`components.precision.configure`, which the app sets from --precision; fp32 until
    then; a replay's recorded precision inside a replay)."""
    model, pretrained = paper_backbone_name(role)
    return load_backbone(model, pretrained, device, fallback_to_random=fallback_to_random,
                         precision=precision or precisions.active())


def clipasso_saliency_backbone(shared: "ClipBackbone", device: str = "auto") -> "ClipBackbone":
    """The ViT whose attention places CLIPasso's first strokes when `shared` is the loss tower: `shared`
    itself when it is a ViT; for the ResNet Mini, the ViT Mini (it knows the same world, where the
    paper's ViT-B/32 knows only photos); for any other ResNet, the paper's ViT-B/32."""
    if shared.is_vit:
        return shared
    if shared.model_name == mini.RN_MODEL and mini.WEIGHTS.is_file():
        return load_backbone(mini.MODEL, mini.TAG, device, precision=precisions.active())
    return load_paper_backbone("clipasso_saliency", device)


# The optional official engines of the methods whose original is not CLIP (GroupViT, ViLT): role →
# (module, loader, method, what answers without them). One rule when a method's own weights are
# missing, shared with PAPER_BACKBONES: the tab still answers with what can run, and says so — a
# paper backbone on random weights (its weights_note), an official engine by the CLIP-backed engine,
# the tab's default. Never a refusal (README, Layout).
OFFICIAL_ENGINES = {
    "groupvit": ("components.groupvit", "load_official", "GroupViT", "the CLIP-backed grouping"),
    "vilt": ("components.vilt", "load_vilt", "ViLT", "the CLIP engine"),
}


def load_official_engine(role: str, device: str = "auto"):
    """(the official engine, "") when its weights are on this machine; (None, note) when they are
    not: the note says what answers instead and how to get the official weights (the loader's
    WeightsError message), for the tab to show above its answer. Like the paper backbones, an engine
    runs at the process's precision (a replay's inside a replay): its loader's `precision` None."""
    import importlib

    module, loader, method, stand_in = OFFICIAL_ENGINES[role]
    try:
        return getattr(importlib.import_module(module), loader)(device=device), ""
    except WeightsError as error:
        return None, f"⚠️ {method} could not run (its official weights are not on this machine), so {stand_in} answered instead. {error}"


def load_backbone(
    model: str = DEFAULT_MODEL,
    pretrained: str = DEFAULT_PRETRAINED,
    device: str = "auto",
    *,
    fallback_to_random: bool = True,
    cache_dir: str | None = None,
    precision: str = "fp32",
) -> ClipBackbone:
    """The shared backbone for (model, pretrained, device, precision), made once per process.

    `pretrained`: an open_clip tag ("openai", "laion2b_s34b_b88k", ...), a checkpoint file path, or
    "random". With `fallback_to_random`, weights that cannot be loaded give a random-weights backbone
    whose `weights_note` says why; without it, `WeightsError` is raised. `precision`: "fp32" (the
    default), "bf16", "int8" or "auto" (`components.precision`); each is its own cached model.
    """
    resolved = resolve_device(device)
    key = _Key(model, str(pretrained), resolved, precisions.resolve(precision, resolved))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # two tabs asking at once load the model once
        with _cache_lock:
            if key in _cache:
                return _cache[key]
            loaded = _cache.get(dataclasses.replace(key, precision="fp32")) if key.precision != "fp32" else None
        if loaded is not None:  # the same load at another precision: its weights, as they were had
            backbone = _at_precision(loaded, key)
        else:
            backbone = _build(key, fallback_to_random=fallback_to_random, cache_dir=cache_dir)
        backbone.source = (key.model, key.pretrained, key.device)
        with _cache_lock:
            _cache[key] = backbone
            while len(_cache) > MAX_CACHED_MODELS:
                dropped, _ = _cache.popitem(last=False)
                log.info("dropped %s from the model cache", dropped)
        return backbone


def cached_backbones() -> list[ClipBackbone]:
    with _cache_lock:
        return list(_cache.values())


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _build(key: _Key, *, fallback_to_random: bool, cache_dir: str | None) -> ClipBackbone:
    # open_clip is imported on the first load, not with this module (see `mini.register`)
    open_clip = mini.register()
    if key.model not in open_clip.list_models():
        raise WeightsError(
            f"Unknown model {key.model!r}. Known CLIP models include: "
            + ", ".join(sorted({m for m, _ in MODEL_CHOICES}))
        )
    if key.pretrained == RANDOM:
        return _random(key, "random weights were asked for")
    if key.model in mini.SHIPPED and key.pretrained == mini.TAG:
        return _mini(key)
    try:
        return _pretrained(key, cache_dir)
    except WeightsError as error:
        if not fallback_to_random:
            raise
        log.warning("%s; falling back to random weights", error)
        return _random(key, str(error))


@contextlib.contextmanager
def seeded_rng(seed: int, device: str | torch.device = "cpu"):
    """Torch's random draws inside the block are seeded (the CPU's, and the CUDA device's where
    `device` is one); everyone else's random state is left as it was. (`torch.manual_seed` under
    `fork_rng(devices=[])` would reseed every GPU for the whole process.)"""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        with torch.random.fork_rng(devices=[index]), torch.cuda.device(index):
            torch.random.default_generator.manual_seed(seed)
            torch.cuda.manual_seed(seed)
            yield
    else:
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            yield


def _at_precision(loaded: ClipBackbone, key: _Key) -> ClipBackbone:
    """A copy of an fp32 backbone already in the cache at `key.precision` (no second read of the
    weights; the same weights, note and all, as that load had them)."""
    return ClipBackbone(
        copy.deepcopy(loaded.model),
        loaded.preprocess,
        loaded.tokenizer,
        model_name=loaded.model_name,
        weights=loaded.weights,
        device=key.device,
        weights_note=loaded.weights_note,
        precision=key.precision,
    )


def _random(key: _Key, note: str) -> ClipBackbone:
    # A fixed seed: random weights are meaningless but must be the same in every run and process.
    open_clip = mini.register()
    with seeded_rng(0):  # built on the CPU, then moved
        model, _, preprocess = open_clip.create_model_and_transforms(key.model, pretrained=None)
    return ClipBackbone(
        model,
        preprocess,
        open_clip.get_tokenizer(key.model),
        model_name=key.model,
        weights=RANDOM_WEIGHTS,
        device=key.device,
        precision=key.precision,
        weights_note=note,
    )


def _mini(key: _Key) -> ClipBackbone:
    """A CLIP Lab Mini from the weights shipped in the repository (fp16, loaded into float32)."""
    path = mini.weights(key.model)
    if not path.is_file():
        raise WeightsError(
            f"CLIP Lab Mini's weights file ({path.name}) is missing from assets/mini/; rebuild it with "
            f"`python -m components.mini.train --model {key.model}`"
        )
    open_clip = mini.register()
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(key.model, pretrained=str(path))
    except Exception as error:
        raise WeightsError(f"CLIP Lab Mini's weights file could not be loaded: {type(error).__name__}") from error
    return ClipBackbone(
        model.float(),
        preprocess,
        open_clip.get_tokenizer(key.model),
        model_name=key.model,
        weights="CLIP Lab Mini (shipped weights)",
        device=key.device,
        precision=key.precision,
    )


def _pretrained(key: _Key, cache_dir: str | None) -> ClipBackbone:
    open_clip = mini.register()
    tag_cfg = open_clip.get_pretrained_cfg(key.model, key.pretrained)
    kwargs: dict = {}
    if tag_cfg:
        kwargs["force_quick_gelu"] = bool(tag_cfg.get("quick_gelu", False))
        cached = _cached_weights_file(tag_cfg, cache_dir)
        if cached:
            source = cached
            # Loading by path skips open_clip's tag lookup, so pass the tag's preprocessing on.
            for key_name in ("mean", "std", "interpolation", "resize_mode"):
                if key_name in tag_cfg:
                    kwargs[f"image_{key_name}"] = tag_cfg[key_name]
        elif _hub_reachable():
            source = key.pretrained
            kwargs["cache_dir"] = cache_dir
        else:
            # the folder is for the operator's console; the message reaches the page (no server paths)
            log.warning("no %s · %s weights in the Hugging Face cache at %s", key.model, key.pretrained,
                        _hub_cache_dir(cache_dir))
            raise WeightsError(
                f"Pretrained weights {key.model} · {key.pretrained} are not in the Hugging Face cache "
                "(HF_HOME) and the Hugging Face Hub cannot be reached"
            )
        weights = f"pretrained:{key.pretrained}"
    elif Path(key.pretrained).is_file():
        source = key.pretrained
        weights = f"checkpoint:{Path(key.pretrained).name}"
    else:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(key.model)) or "none"
        log.warning("no checkpoint file at %s", key.pretrained)
        raise WeightsError(
            f"{Path(key.pretrained).name!r} is neither a pretrained tag of {key.model} (tags: {tags}) "
            f"nor an existing checkpoint file"
        )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(key.model, pretrained=source, **kwargs)
    except Exception as error:  # open_clip raises RuntimeError, OSError, pickle errors ...
        log.warning("could not load %s into %s: %s", source, key.model, error)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"Could not load {weights} into {key.model}: {without_paths(first_line)[:300]}") from error
    return ClipBackbone(
        model,
        preprocess,
        open_clip.get_tokenizer(key.model),
        model_name=key.model,
        weights=weights,
        device=key.device,
        precision=key.precision,
    )


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?[/\\](?:[^\s'\"/\\]+[/\\])+")


def without_paths(text: str) -> str:
    """`text` with each absolute path cut to its last part, for messages that reach the page: server
    paths never appear there (the full text goes to the log)."""
    return _ABSOLUTE_PATH.sub("", text)


def _hub_cache_dir(cache_dir: str | None) -> str:
    from huggingface_hub import constants

    return cache_dir or constants.HF_HUB_CACHE


def _cached_weights_file(tag_cfg: dict, cache_dir: str | None) -> str | None:
    """Path of the tag's weights if already in the Hugging Face cache (or open_clip's URL cache)."""
    from huggingface_hub import try_to_load_from_cache
    from open_clip.pretrained import HF_WEIGHTS_NAME, _get_safe_alternatives

    if "file" in tag_cfg:
        return tag_cfg["file"] if Path(tag_cfg["file"]).is_file() else None
    hub = tag_cfg.get("hf_hub", "")
    if hub:
        repo_id, filename = os.path.split(hub)
        filename = filename or HF_WEIGHTS_NAME
        candidates = [*_get_safe_alternatives(filename), filename]
        for name in candidates:
            path = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(path, str) and Path(path).is_file():
                return path
    url = tag_cfg.get("url", "")
    if url:
        path = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if path.is_file():
            return str(path)
    return None


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a download could work at all: offline mode is off and the Hub's host resolves.
    Without this check huggingface_hub retries for most of a minute before giving up."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    result: list[bool] = []

    def resolve():
        try:
            socket.getaddrinfo(host, 443)
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
