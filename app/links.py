"""Links to a run: a URL that opens CLIP Lab on a tab with that run's inputs and settings, and runs it.

A link is the page's own address with `?run=<token>`: the token is URL-safe base64 of a small JSON
object — the run's endpoint, its settings, the model choice and, for each file input, which of the
tab's own example files it is. It holds no server path and no upload: a file travels only when it is
byte for byte one of the tab's examples (found by SHA-256), so a visitor's own picture, video or
point cloud, and a model trained or uploaded in their session, stay theirs; the link says plainly
what it cannot carry. Nothing is stored on the server, so a link works on any copy of the app of the
same version, for as long as the tab keeps its settings (a setting a link names that the tab no
longer has is left as it is, and the page says so).

`encode` / `decode` are the format; `ExampleFiles` answers "is this file one of the tab's examples";
`Page` (app/scaffold.py) builds the button and the restoring events with them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.examples import _SKIMAGE, ASSETS
from app.runs import file_digest
from components.errors import InputError

PARAM = "run"  # ?run=<token>
VERSION = 1
MAX_TOKEN_CHARS = 8000  # well inside every browser's and proxy's URL limit
ROOTS = {"assets": ASSETS, "skimage": _SKIMAGE}  # where example files may live, by the name a link uses
DAMAGED = "This link is damaged (it was cut short or changed); ask for it again, or open the app without it."

# Turns the query string the server answers ("?run=…") into the address to share, in the browser,
# so the link names the host and path the visitor sees (behind a proxy or a Space too).
ABSOLUTE_JS = """
(query) => (query && query.startsWith("?")) ? window.location.origin + window.location.pathname + query : query
"""
# On page load: the token of `?run=`, or "" (the Python side then does nothing).
FROM_URL_JS = f"""
() => new URLSearchParams(window.location.search).get("{PARAM}") || ""
"""


@dataclass(frozen=True)
class Link:
    """A decoded link: `run` the endpoint (`<tab>_<verb>`), `settings` name → value (files left
    out), `files` name → example reference ("assets/…" or "skimage/…", a list for a multi-file
    input), `model` the picker's choice or "" (the app's default)."""

    run: str
    settings: Mapping[str, object] = field(default_factory=dict)
    files: Mapping[str, object] = field(default_factory=dict)
    model: str = ""


def encode(link: Link) -> str:
    document = {"v": VERSION, "run": link.run, "settings": dict(link.settings), "files": dict(link.files),
                "model": link.model}
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str) -> Link:
    """The link of `token`, or an `InputError` saying what is wrong with it."""
    token = (token or "").strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError(f"This link is {len(token)} characters long; a CLIP Lab link is at most {MAX_TOKEN_CHARS}.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InputError(DAMAGED) from None
    if not isinstance(document, dict):
        raise InputError(DAMAGED)
    if document.get("v") != VERSION:
        raise InputError(f"This link was made by another version of CLIP Lab (format {document.get('v')!r}; "
                         f"this one reads {VERSION}).")
    run, settings, files, model = (document.get(k) for k in ("run", "settings", "files", "model"))
    if not isinstance(run, str) or not isinstance(settings, dict) or not isinstance(files, dict) \
            or not isinstance(model, str):
        raise InputError(DAMAGED)
    return Link(run, settings, files, model)


def reference(path: str | Path) -> str | None:
    """"assets/…" or "skimage/…" for a file under one of `ROOTS`, else None."""
    resolved = Path(path).resolve()
    for name, root in ROOTS.items():
        if resolved.is_relative_to(root.resolve()):
            return f"{name}/{resolved.relative_to(root.resolve()).as_posix()}"
    return None


class ExampleFiles:
    """The example files of one tab (the file cells of its example rows): which of them an upload is
    (by content), and the path of a reference a link names — only ever one of these files."""

    def __init__(self, paths: Iterable[str]):
        self._paths = sorted({str(Path(p).resolve()) for p in paths if isinstance(p, str) and Path(p).is_file()})
        self._by_hash: dict[str, str] | None = None

    def reference_of(self, upload: str | None) -> str | None:
        """The reference of the example file `upload` is a copy of, or None (the visitor's own)."""
        if not upload or not Path(upload).is_file():
            return None
        if self._by_hash is None:  # hashed once, at the first link made on this tab
            self._by_hash = {file_digest(p): p for p in self._paths}
        path = self._by_hash.get(file_digest(upload))
        return reference(path) if path else None

    def path_of(self, ref: object) -> str:
        """The example file a link's reference names; an `InputError` for anything else (another
        file on the server, a path that climbs out of a root, a malformed reference)."""
        if isinstance(ref, str) and "/" in ref:
            root, rest = ref.split("/", 1)
            if root in ROOTS:
                candidate = str((ROOTS[root] / rest).resolve())
                if candidate in self._paths:
                    return candidate
        raise InputError("This link names a file that is not one of this tab's examples; a link carries only "
                         "the tab's own example files.")


def files_for(example: ExampleFiles, names: Sequence[str], values: Mapping[str, object]) -> tuple[dict, list[str]]:
    """A link's file references for the file inputs `names` of a run, and the names it cannot carry
    (the visitor's own files)."""
    refs, private = {}, []
    for name in names:
        value = values.get(name)
        if value in (None, "", []):
            continue
        many = isinstance(value, (list, tuple))
        found = [example.reference_of(v if isinstance(v, str) else None) for v in (value if many else [value])]
        if all(found):
            refs[name] = found if many else found[0]
        else:
            private.append(name)
    return refs, private


def restored_files(example: ExampleFiles, refs: Mapping[str, object]) -> dict[str, object]:
    """name → path (or paths) of each file a link names, each checked to be one of the examples."""
    out = {}
    for name, ref in refs.items():
        out[name] = [example.path_of(r) for r in ref] if isinstance(ref, list) else example.path_of(ref)
    return out
