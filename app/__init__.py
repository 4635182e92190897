"""CLIP Lab's browser app: layout, wiring and rendering. Model math lives in `components/`.

The package shares its name with the top-level app.py (Spaces' entry point). `import app` finds this
package, so `app.demo` is forwarded to app.py's module-level `demo` for tools that import the app by
name (`gradio app.py` reload mode, tests).
"""

import importlib.util
import sys
from pathlib import Path

_ENTRY = Path(__file__).resolve().parents[1] / "app.py"


def entry_module():
    """app.py as a module (imported once)."""
    module = sys.modules.get("clip_lab_app")
    if module is None:
        spec = importlib.util.spec_from_file_location("clip_lab_app", _ENTRY)
        module = importlib.util.module_from_spec(spec)
        sys.modules["clip_lab_app"] = module
        spec.loader.exec_module(module)
    return module


def __getattr__(name):
    if name == "demo":
        return entry_module().demo
    raise AttributeError(name)
