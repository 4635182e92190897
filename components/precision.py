"""Numeric precision of a CLIP model: fp32, bf16 (weights cast) or int8 (dynamic, Linear layers).

The backbone owns precision (DESIGN.md, "The backbone"): `load_backbone(..., precision=...)` builds the
model at one of these and every tower, the dense last-block surgery and the ResNet stage maps run at
it; pipelines never cast on their own. Embeddings always come back as float32.

- "fp32": the model as trained.
- "bf16": every weight cast to bfloat16, inputs cast to match, outputs returned as float32. Not
  autocast: at batch 8 on a 2-core CPU, bf16 autocast ran at 0.22× fp32 (issue 19), casting the
  weights at 3.3×. The learned temperature (`logit_scale`) stays float32 (in bf16 exp(4.6052) would
  read 98.9, not 100). ResNet towers are put in channels-last layout, oneDNN's faster bf16 convolution.
- "int8": `torch.ao.quantization.quantize_dynamic` on the Linear layers that are called as modules
  (each transformer block's MLP, both towers): int8 weights (a scale per output channel),
  activations quantised per call. Attention
  projections (`in_proj_weight`, used as a tensor), the projections `proj` / `text_projection`,
  convolutions and a ResNet's attention pool stay float32. In torch 2.14 the function is still
  `torch.ao.quantization.quantize_dynamic` (deprecated in favour of torchao's `quantize_`; it warns,
  and the warning is silenced here). CPU only.
- ViLT's and GroupViT's official engines (transformers networks) follow the same setting through
  `apply_engine`: bf16 casts them, int8 quantises all their Linear layers.
- "auto": decided once per process and device from what the device supports, never from a timing:
  on a CPU with AMX (`amx_bf16`) → bf16 (issue 19: 2.6–3.3× fp32); on another CPU → fp32. A CPU
  with AVX-512 BF16 but no AMX (this project's VM: `avx512_bf16` shown, AMX hidden) ran the cast
  ViT-B-16 at 0.66× fp32, and int8 there at 1.43× at batch 8 but 0.65× at batch 1 in the same run
  (benchmarks/results/precision.json): not a clear win, so auto does not pick int8; it is there to
  choose. On CUDA → bf16 where the GPU supports it, else fp32.

A gradient through the model (CLIPasso's loss tower) is only sound in fp32 and bf16: quantised
Linear layers have no backward (autograd passes nothing through them, silently), so an int8 model
is never used for a gradient (`components.clipasso.loss` takes the fp32 copy).
"""

from __future__ import annotations

import functools
import os
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import torch

from components.errors import InputError

PRECISIONS = ("auto", "fp32", "bf16", "int8")
CONCRETE = ("fp32", "bf16", "int8")
ENV = "CLIP_LAB_PRECISION"
DEFAULT = "auto"  # the app's default; a backbone made directly (notebooks, tests) is fp32 unless asked
# /proc/cpuinfo flags of CPUs where bf16 matmul is fast: AMX tiles. AVX-512 BF16 alone (`avx512_bf16`,
# e.g. a VM that hides AMX) is not enough: there the cast ViT-B-16 ran at 0.66x fp32
# (benchmarks/results/precision.json), so auto stays at fp32 on such a CPU.
BF16_FLAGS = ("amx_bf16",)
LABELS = {
    "fp32": "fp32",
    "bf16": "bf16 (weights cast)",
    "int8": "int8 (dynamic, Linear layers)",
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}  # what inputs are cast to


def parse(value: str | None, *, source: str = "precision") -> str:
    """One of PRECISIONS from a setting's text (case and spaces ignored); anything else is an
    InputError that names the choices."""
    text = str(value if value is not None else "").strip().lower()
    if text not in PRECISIONS:
        raise InputError(
            f"Unknown {source} {value!r}; choose one of: {', '.join(PRECISIONS)} "
            "(auto: bf16 on CPUs with AMX and on CUDA, else fp32)."
        )
    return text


def from_env() -> str:
    """The precision `CLIP_LAB_PRECISION` asks for (default "auto")."""
    return parse(os.environ.get(ENV, DEFAULT), source=f"{ENV} value")


# -- what the device supports ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BF16_FLAGS)


def auto_reason(device: str, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """(precision, why) that "auto" picks on `device` ("cpu", "cuda", "cuda:1")."""
    if str(device).startswith("cuda"):
        if _cuda_bf16():
            return "bf16", "this GPU supports bf16"
        return "fp32", "this GPU has no bf16"
    flags = cpu_flags() if flags is None else flags
    found = [f for f in BF16_FLAGS if f in flags]
    if found:
        return "bf16", f"this CPU has {found[0]}"
    if "avx512_bf16" in flags:
        return "fp32", "this CPU has AVX-512 BF16 but no AMX: bf16 measured slower than fp32 there"
    return "fp32", "this CPU has no AMX"


def _cuda_bf16() -> bool:
    """Whether the GPU has bf16. A ZeroGPU Space's main process must not initialise CUDA (the
    `spaces` package forbids it there), and its GPUs (H200) have bf16: no probe there."""
    if os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true"):
        return True
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@functools.lru_cache(maxsize=8)
def _auto(device: str) -> tuple[str, str]:
    return auto_reason(device)


def resolve(precision: str, device: str) -> str:
    """The concrete precision ("fp32", "bf16", "int8") that `precision` means on `device` (a
    resolved device: "cpu", "cuda", "cuda:0"). "auto" is decided once per process and device."""
    precision = parse(precision)
    cuda = str(device).startswith("cuda")
    if precision == "auto":
        return _auto("cuda" if cuda else "cpu")[0]
    if precision == "int8" and cuda:
        raise InputError("int8 (dynamic quantisation) runs on CPUs only; on CUDA use bf16 or fp32.")
    if precision == "bf16" and cuda and not _cuda_bf16():
        raise InputError("This GPU has no bf16; use fp32 (or auto).")
    return precision


def explain(precision: str, device: str) -> str:
    """One line for the header: which precision runs, and why when "auto" chose it."""
    concrete = resolve(precision, device)
    if parse(precision) == "auto":
        return f"precision auto → {LABELS[concrete]} ({_auto('cuda' if str(device).startswith('cuda') else 'cpu')[1]})"
    return f"precision {LABELS[concrete]}"


# -- applying it to a model ----------------------------------------------------------------------------
def _cast_inputs(dtype: torch.dtype):
    def hook(module, args):
        return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dtype != dtype
                     else a for a in args)

    return hook


def _mlp_linears(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Linear layers (exactly nn.Linear, not MultiheadAttention's out_proj) inside transformer blocks'
    MLPs: the ones every path calls as modules."""
    return {name: m for name, m in model.named_modules()
            if type(m) is torch.nn.Linear and ".mlp." in f".{name}"}


def apply(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """`model` (an open_clip CLIP, eval mode, on its device) at a concrete precision. bf16 casts it in
    place; int8 returns a quantised copy."""
    if precision == "fp32":
        return model
    if precision == "bf16":
        kept = {name: p.detach().float().clone() for name, p in model.named_parameters()
                if name in ("logit_scale", "logit_bias")}
        model = model.to(torch.bfloat16)
        for name, value in kept.items():
            getattr(model, name).data = value
        visual = getattr(model, "visual", None)
        if visual is not None:
            # float32 pixels fed to any part of the tower (dense surgery, saliency, stage maps) are cast on entry
            visual.register_forward_pre_hook(_cast_inputs(torch.bfloat16))
            for part in ("conv1", "attnpool"):
                if isinstance(getattr(visual, part, None), torch.nn.Module):
                    getattr(visual, part).register_forward_pre_hook(_cast_inputs(torch.bfloat16))
            if hasattr(visual, "attnpool"):
                visual.to(memory_format=torch.channels_last)
        return model
    if precision == "int8":
        if next(model.parameters()).device.type != "cpu":
            raise InputError("int8 (dynamic quantisation) runs on CPUs only; on CUDA use bf16 or fp32.")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # weights per output channel (per-tensor scales cost a tiny text tower cosine 0.999 → see tests)
        spec = {name: per_channel_dynamic_qconfig for name in _mlp_linears(model)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 2.14: "torch.ao.quantization is deprecated" (see the module doc)
            model = quantize_dynamic(model, spec, dtype=torch.qint8)
        for module in model.modules():
            if hasattr(module, "mlp") and hasattr(module.mlp, "c_fc") and not isinstance(
                    getattr(module.mlp.c_fc, "weight", None), torch.Tensor):
                # open_clip reads the blocks' cast dtype from c_fc.weight; a quantised layer says it here
                module.mlp.c_fc.int8_original_dtype = torch.float32
        return model
    raise InputError(f"Unknown precision {precision!r}; choose one of: {', '.join(CONCRETE)}")


def apply_engine(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """A transformers engine (ViLT's, GroupViT's official network: eval mode, on its device) at a
    concrete precision, by the same rules as `apply`: bf16 casts every weight but a learned
    temperature (`logit_scale`) in place, and the engine casts its pixels to `DTYPES[precision]`;
    int8 returns a copy with every Linear layer quantised (int8 weights, a scale per output channel):
    transformers calls all of them as modules, attention projections included. A model already at
    `precision` (an engine made again with other settings) is returned as it is."""
    done = getattr(model, "clip_lab_precision", "fp32")
    if precision == done:
        return model
    if done != "fp32":
        raise ValueError(f"this engine's network is already at {done}; make it again from the fp32 network")
    if precision == "bf16":
        kept = {name: p.detach().float().clone() for name, p in model.named_parameters() if name == "logit_scale"}
        model = model.to(torch.bfloat16)
        for name, value in kept.items():
            getattr(model, name).data = value
    elif precision == "int8":
        if next(model.parameters()).device.type != "cpu":
            raise InputError("int8 (dynamic quantisation) runs on CPUs only; on CUDA use bf16 or fp32.")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 2.14: "torch.ao.quantization is deprecated" (see the module doc)
            model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    else:
        raise InputError(f"Unknown precision {precision!r}; choose one of: {', '.join(CONCRETE)}")
    model.clip_lab_precision = precision
    return model


def gradient_sound(precision: str) -> bool:
    """Whether a gradient through a model at `precision` is the model's gradient: fp32 and bf16 yes;
    int8 no (quantised Linear layers have no backward)."""
    return precision in ("fp32", "bf16")


# -- the process's precision, and a replay's ------------------------------------------------------------
_configured = {"precision": "fp32", "device": "cpu"}  # fp32 until the app configures it
_override: ContextVar[str | None] = ContextVar("clip_lab_precision_override", default=None)


def configure(precision: str, device: str = "cpu") -> None:
    """The precision the app runs at (`--precision` / CLIP_LAB_PRECISION) on its device: what the
    paper backbones the tabs load use, and what run records say. Library calls of `load_backbone`
    keep their own `precision` argument (fp32 by default)."""
    _configured.update(precision=parse(precision), device=str(device))


def configured() -> str:
    return _configured["precision"]


def active() -> str:
    """The precision models are asked for here and now: a replay's recorded one inside a replay
    (`replay_at`), else the configured one."""
    return _override.get() or _configured["precision"]


def current_override() -> str | None:
    return _override.get()


def recorded() -> str:
    """The concrete precision a run record stores (what `active()` resolves to on the app's device)."""
    device = _configured["device"]
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        return resolve(active(), device)
    except InputError:
        return active()


def replay_at(precision: str) -> None:
    """Run the rest of this call (a replay, in its own worker context) at a recorded precision."""
    _override.set(parse(precision, source="recorded precision"))


@contextmanager
def running_at(precision: str):
    """The block runs at `precision` (models asked for through the app or `active()`)."""
    token = _override.set(parse(precision))
    try:
        yield
    finally:
        _override.reset(token)
