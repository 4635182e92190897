"""The app's HTTP API, endpoint by endpoint — the parameters' names and what comes back — against the
copy kept in `tests/api_shape.json`. Scripts and gradio_client users call the endpoints by position,
and the scaffold's `page.run` takes every setting and output of its page unless told `uses=` /
`outputs=`: a new output or setting on a tab would otherwise widen an existing endpoint unnoticed.
When a change to the API is meant, write the new shape and commit it with the change:

    CLIP_LAB_UPDATE_API_SHAPE=1 .venv/bin/python -m pytest -p no:xdist tests/test_api_shape.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SHAPE = Path(__file__).with_name("api_shape.json")


def api_shape(client) -> dict[str, dict[str, list[str]]]:
    """endpoint → {"parameters": names, "returns": "component: label" (or the component alone) per value}."""
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    return {
        name: {
            "parameters": [p["parameter_name"] for p in info["parameters"]],
            "returns": [_value(r) for r in info["returns"]],
        }
        for name, info in sorted(endpoints.items())
    }


def _value(value: dict) -> str:
    # An unlabelled component is named after its id ("value_140"), which any new component shifts.
    label = value["label"]
    return value["component"] if re.fullmatch(r"value_\d+", label or "") else f"{value['component']}: {label}"


def differences(kept: dict, now: dict) -> list[str]:
    lines = [f"new endpoint {name}" for name in sorted(now.keys() - kept.keys())]
    lines += [f"endpoint gone: {name}" for name in sorted(kept.keys() - now.keys())]
    for name in sorted(kept.keys() & now.keys()):
        for part in ("parameters", "returns"):
            if kept[name][part] != now[name][part]:
                lines.append(f"{name} {part}: was {kept[name][part]}, now {now[name][part]}")
    return lines


def test_the_api_is_the_one_kept(app_client):
    now = api_shape(app_client)
    if os.environ.get("CLIP_LAB_UPDATE_API_SHAPE") == "1":
        SHAPE.write_text(json.dumps(now, indent=1) + "\n")
    kept = json.loads(SHAPE.read_text())
    changed = differences(kept, now)
    assert not changed, (
        "The HTTP API changed; if that is meant, rewrite tests/api_shape.json (see this file's docstring):\n"
        + "\n".join(changed)
    )


def test_differences_name_what_changed():
    kept = {"/a": {"parameters": ["x"], "returns": ["Image: out"]}, "/b": {"parameters": [], "returns": []}}
    now = {"/a": {"parameters": ["x", "y"], "returns": ["Image: out"]}, "/c": {"parameters": [], "returns": []}}
    assert differences(kept, now) == [
        "new endpoint /c", "endpoint gone: /b", "/a parameters: was ['x'], now ['x', 'y']",
    ]
    assert differences(kept, kept) == []
