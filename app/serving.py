"""Serving the page to a classroom: the page, its config and its API description built once, sent
compressed.

Gradio builds `/` (the page, with the whole app config inside), `/config` and `/gradio_api/info` again
for every request — a deep copy of a megabyte of config each time — and sends them uncompressed:
its Brotli middleware compresses only paths with a file extension. Fifty students opening the link at
once then queue behind fifty copies. `PageCache` answers those three paths from the response Gradio
built for the first request of the same kind (same path, query, host and forwarding headers), gzip'd
once, as long as the app's config is the same object (Gradio replaces it when the app changes).
Responses that set cookies, that are not 200, or that come from an app with login are never cached.
The page and its config also give a browser without one its visitor cookie (`VISITOR_COOKIE`), added
to each answer as it leaves, never stored in the cache.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import secrets
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CACHED_PATHS = frozenset({"/", "/config", "/config/", "/gradio_api/info", "/gradio_api/info/"})
# What the answer depends on besides the path and query: where the browser reached us (Gradio
# writes the root URL into the config) and the language it asked for.
KEY_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port", b"x-forwarded-prefix",
               b"accept-language")
GZIP_LEVEL = 6
MAX_ENTRIES = 64  # distinct hosts/queries; beyond this the oldest goes
# A browser's own id: what a visitor leaves in the process (their indexed videos) is theirs alone.
# Set with the page (and /config, which gradio_client reads first, so each client gets its own);
# it survives a reload, unlike Gradio's per-load session.
VISITOR_COOKIE = "clip_lab_visitor"
VISITOR_ID = re.compile(r"[0-9a-f]{32}")
VISITOR_MAX_AGE_S = 30 * 24 * 3600


def visitor_of(cookies) -> str:
    """The visitor id a request carries, or "" (none, or not one of ours)."""
    value = (cookies or {}).get(VISITOR_COOKIE, "") if hasattr(cookies, "get") else ""
    return value if VISITOR_ID.fullmatch(value or "") else ""


def _visitor_cookie(scope: Scope) -> list[tuple[bytes, bytes]]:
    """A Set-Cookie header giving a new visitor id, unless the request has one."""
    cookies = {}
    for chunk in Headers(scope=scope).get("cookie", "").split(";"):
        name, _, value = chunk.strip().partition("=")
        cookies[name] = value
    if visitor_of(cookies):
        return []
    value = (f"{VISITOR_COOKIE}={secrets.token_hex(16)}; Max-Age={VISITOR_MAX_AGE_S}; Path=/; HttpOnly; "
             "SameSite=Lax")
    return [(b"set-cookie", value.encode())]


@dataclass(frozen=True)
class _Entry:
    config_id: int
    headers: list[tuple[bytes, bytes]]  # without length and encoding
    body: bytes
    gzipped: bytes


class PageCache:
    """ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.entries: dict[tuple, _Entry] = {}
        self.locks: dict[tuple, asyncio.Lock] = {}
        self.builds = 0  # how many times Gradio built a cached path (for tests and the benchmark)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["path"] not in CACHED_PATHS:
            return await self.app(scope, receive, send)
        blocks = _blocks(scope)
        if blocks is None or _has_login(scope):
            return await self.app(scope, receive, send)
        key = _key(scope)
        config_id = id(blocks.config)
        entry = self.entries.get(key)
        if entry is None or entry.config_id != config_id:
            lock = self.locks.setdefault(key, asyncio.Lock())
            try:
                async with lock:  # the first of many simultaneous opens builds; the rest wait for it
                    entry = self.entries.get(key)
                    if entry is None or entry.config_id != config_id:
                        entry, response = await self._build(scope, config_id)
                        if entry is None:  # not cacheable: pass Gradio's answer on as it is
                            return await _pass_on(response, scope, send)
                        self.entries[key] = entry
                        while len(self.entries) > MAX_ENTRIES:
                            self.entries.pop(next(iter(self.entries)))
            finally:
                # A lock is needed only while its build runs (those waiting hold it already): kept, one
                # per distinct query string would pile up for as long as the server runs.
                if not lock.locked() and self.locks.get(key) is lock:
                    del self.locks[key]
        await _answer(entry, scope, send)

    async def _build(self, scope: Scope, config_id: int):
        """Run Gradio's own handler once (a GET, without compression); (entry, None) when its answer
        can be kept, else (None, the answer)."""
        status, headers, chunks = 0, [], []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def collect(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        plain = {**scope, "method": "GET",
                 "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        await self.app(plain, receive, collect)
        names = {k.lower() for k, _ in headers}
        body = b"".join(chunks)
        if status != 200 or b"set-cookie" in names or b"content-encoding" in names:
            return None, (status, headers, body)
        self.builds += 1
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-encoding", b"vary")]
        return _Entry(config_id, kept, body, gzip.compress(body, GZIP_LEVEL, mtime=0)), None


async def _pass_on(response, scope: Scope, send: Send) -> None:
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *_visitor_cookie(scope)]})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


async def _answer(entry: _Entry, scope: Scope, send: Send) -> None:
    compressed = "gzip" in Headers(scope=scope).get("accept-encoding", "")
    body = entry.gzipped if compressed else entry.body
    headers = [*entry.headers, (b"content-length", str(len(body)).encode()), (b"vary", b"Accept-Encoding"),
               *_visitor_cookie(scope)]
    if compressed:
        headers.append((b"content-encoding", b"gzip"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _key(scope: Scope) -> tuple:
    headers = dict((k.lower(), v) for k, v in scope["headers"])
    return (scope["path"], scope.get("query_string", b""), scope.get("root_path", ""),
            *(headers.get(name, b"") for name in KEY_HEADERS))


def _blocks(scope: Scope):
    app = scope.get("app")
    get_blocks = getattr(app, "get_blocks", None)
    try:
        return get_blocks() if get_blocks else None
    except Exception:  # not a Gradio app, or its Blocks not set yet
        return None


def _has_login(scope: Scope) -> bool:
    app = scope.get("app")
    return getattr(app, "auth", None) is not None or getattr(app, "auth_dependency", None) is not None


def app_kwargs() -> dict:
    """`launch(app_kwargs=...)`: the FastAPI app Gradio creates gets the page cache, unless the
    operator turns it off (CLIP_LAB_PAGE_CACHE=0; the benchmark's baseline)."""
    if os.environ.get("CLIP_LAB_PAGE_CACHE", "1") == "0":
        return {}
    return {"middleware": [Middleware(PageCache)]}


def page_cache(app) -> PageCache | None:
    """The running app's PageCache (Starlette builds the middleware stack on the first request)."""
    layer = getattr(app, "middleware_stack", None)
    while layer is not None and not isinstance(layer, PageCache):
        layer = getattr(layer, "app", None)
    return layer
