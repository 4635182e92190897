"""Spaces readiness: ZeroGPU hooks that are harmless elsewhere, front matter, nothing fetched at start."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from app.widgets import GPU_SECONDS, user_errors
from components.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_handlers_are_unchanged_without_zero_gpu(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    @user_errors
    def handler(x):
        return x * 2

    assert handler(3) == 6 and handler.__wrapped__.__name__ == "handler"


def test_on_zero_gpu_every_handler_holds_a_gpu(monkeypatch):
    calls = []
    fake = types.ModuleType("spaces")

    def gpu(duration=60):
        def decorate(fn):
            def run(*args, **kwargs):
                calls.append(duration)
                return fn(*args, **kwargs)

            return run

        return decorate

    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")

    @user_errors
    def quick(x):
        return x + 1

    @user_errors(gpu_seconds=300)
    def long_job(x):
        if x < 0:
            raise InputError("negative")
        yield x

    assert quick(1) == 2 and list(long_job(5)) == [5]
    assert calls == [GPU_SECONDS, 300]  # the short default for one image, and what the job asked for
    import gradio as gr

    with pytest.raises(gr.Error, match="negative"):
        list(long_job(-1))


def test_front_matter_names_the_pinned_gradio_and_the_entry_point():
    readme = (ROOT / "README.md").read_text()
    front = readme.split("---")[1]
    pinned = next(l.split("==")[1] for l in (ROOT / "requirements.txt").read_text().splitlines()
                  if l.startswith(("gradio==", "gradio[")))
    assert "sdk: gradio" in front and f"sdk_version: {pinned}" in front and "app_file: app.py" in front
    assert 'python_version: "3.11"' in front and "preload_from_hub:" in front


def test_nothing_heavy_happens_at_import():
    """Importing the app builds the UI only: no model is loaded until the app starts or a tab asks.
    Checked in a fresh interpreter, since this test process has loaded models for other tests."""
    import subprocess

    code = (
        "import sys; sys.path[:0] = ['tests', '.']; import conftest, app; app.entry_module();"
        "from components import backbone; print(len(backbone.cached_backbones()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_the_page_is_built_without_importing_what_only_a_load_or_a_run_needs():
    """open_clip with the torchvision and transformers it brings cost about a third of the start-up's
    imports (issue 20), trimesh, scipy and svgpathtools another twentieth: the model's load, after the
    page is served (app.py's main), and the runs that need them import them. A fresh interpreter, as
    the app starts; the first import of each is named, so a regression says which module brought it."""
    import subprocess

    code = (
        "import sys, traceback\n"
        "HEAVY = ('open_clip', 'torchvision', 'transformers', 'trimesh', 'scipy', 'svgpathtools')\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in HEAVY:\n"
        "            ours = [f for f in traceback.extract_stack() if '/site-packages/' not in f.filename\n"
        "                    and not f.filename.startswith('<')]\n"
        "            print(name, 'imported by', *[f'{f.filename}:{f.lineno}' for f in ours[-1:]])\n"
        "sys.meta_path.insert(0, Watch())\n"
        "import os; os.environ.update(HF_HUB_OFFLINE='1', CLIP_LAB_WARM_UP='0')\n"
        "import app; app.entry_module(); print('built')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines() == ["built"], out.stdout


def test_preload_from_hub_names_exactly_what_the_app_asks_for():
    """The Space's build fetches (front matter `preload_from_hub`) exactly the files the app asks for
    by default: for the default CLIP and each method's own backbone, the repository and file
    open_clip's registry gives (it asks for the safetensors file first), and
    the transformers engines' checkpoints (whole repositories, as `from_pretrained` reads them)."""
    import os

    import open_clip
    import yaml
    from open_clip.pretrained import HF_WEIGHTS_NAME, _get_safe_alternatives

    from components.backbone import DEFAULT_MODEL, DEFAULT_PRETRAINED, PAPER_BACKBONES
    from components.groupvit import OFFICIAL_MODEL
    from components.vilt import VQA_CHECKPOINT

    front = yaml.safe_load((ROOT / "README.md").read_text().split("---")[1])
    wanted = set()
    for model, tag in {(DEFAULT_MODEL, DEFAULT_PRETRAINED), *PAPER_BACKBONES.values()}:
        repo, name = os.path.split(open_clip.get_pretrained_cfg(model, tag)["hf_hub"])  # "org/repo/[file]"
        name = name or HF_WEIGHTS_NAME
        first = next(iter(_get_safe_alternatives(name)), name)  # open_clip's first try (download_pretrained_from_hf)
        wanted.add(f"{repo} {first}")
    wanted |= {VQA_CHECKPOINT, OFFICIAL_MODEL}
    assert sorted(front["preload_from_hub"]) == sorted(wanted)


def test_the_zerogpu_requirements_pin_the_same_packages_and_gradio():
    """requirements-zerogpu.txt (Python 3.10) holds the same packages as requirements.txt, and the
    Gradio the front matter names: only versions differ."""

    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        return dict(l.split("==", 1) for l in lines if "==" in l and not l.lstrip().startswith("#"))

    main, zero = pins("requirements.txt"), pins("requirements-zerogpu.txt")
    assert set(zero) == set(main)
    assert zero["gradio[mcp]"] == main["gradio[mcp]"]
