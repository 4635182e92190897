"""Security habits, each checked: an upload size limit in launch, files served only from the app's
own folders, no user file unpickled, no user string near a shell."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest


ROOT = Path(__file__).resolve().parents[1]
APP_CODE = [*ROOT.joinpath("components").rglob("*.py"), *ROOT.joinpath("app").rglob("*.py"), ROOT / "app.py"]


@pytest.fixture(scope="module")
def server(app_server) -> str:  # the session's one app
    return app_server[1]


def test_uploads_over_the_limit_are_refused(server, tmp_path):
    from components.media import MAX_UPLOAD_MB

    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate((MAX_UPLOAD_MB + 1) * 2**20)
    with open(big, "rb") as handle:
        response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.png", handle)}, timeout=60)
    assert response.status_code == 413, response.text[:200]
    small = tmp_path / "small.png"
    small.write_bytes(b"x" * 1000)
    with open(small, "rb") as handle:
        assert httpx.post(f"{server}gradio_api/upload", files={"files": ("small.png", handle)}).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "components" / "backbone.py"), str(ROOT / ".git" / "config")],
)
def test_files_outside_the_app_folders_are_not_served(server, path):
    response = httpx.get(f"{server}gradio_api/file={path}")
    assert response.status_code in (403, 404), (path, response.status_code)
    assert "root:" not in response.text


def test_the_app_serves_its_own_example_files(server):
    from app.examples import skimage_photo

    for path in (ROOT / "assets" / "detection_shapes.png", Path(skimage_photo("astronaut"))):
        assert httpx.get(f"{server}gradio_api/file={path}").status_code == 200


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_no_user_file_is_unpickled():
    offenders = []
    for path in APP_CODE:
        for node, name in _calls(path):
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if name.endswith(("np.load", "numpy.load")) and keywords.get("allow_pickle") != "False":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name} without allow_pickle=False")
            if name.endswith("torch.load") and keywords.get("weights_only") != "True":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name} without weights_only=True")
            if name.split(".")[-1] in ("loads", "load") and name.split(".")[0] in ("pickle", "joblib", "dill", "cloudpickle"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not offenders, offenders


def test_no_shell_is_ever_started():
    offenders = []
    for path in APP_CODE:
        source = path.read_text(encoding="utf-8")
        for word in ("subprocess", "os.system", "os.popen", "shell=True", "pty.spawn"):
            if word in source:
                offenders.append(f"{path.relative_to(ROOT)}: {word}")
    assert not offenders, offenders


def test_flagging_is_off_and_allowed_paths_stay_narrow():
    import app

    entry = app.entry_module()
    allowed = [Path(p).resolve() for p in entry.launch_kwargs()["allowed_paths"]]
    assert ROOT.resolve() not in allowed and Path("/").resolve() not in allowed
    assert all(p == ROOT / "assets" or p.name == "data" for p in allowed), allowed
    flagged = [b for b in entry.demo.blocks.values() if type(b).__name__ == "Button" and "Flag" in str(getattr(b, "value", ""))]
    assert not flagged
