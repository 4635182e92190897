"""The page cache (app/serving.py): the page, config and API description built once per kind of
request and sent gzip'd when asked, identical to what Gradio built; never cached when it must not be."""

from __future__ import annotations

import asyncio
import gzip

import httpx

from app.serving import PageCache, page_cache


class FakeGradio:
    """An ASGI app standing in for Gradio: counts builds, answers with the config's id and the host."""

    def __init__(self, status=200, cookie=False):
        self.config = {"n": 0}
        self.builds = 0
        self.status, self.cookie = status, cookie

    def get_blocks(self):
        return self

    async def __call__(self, scope, receive, send):
        self.builds += 1
        await asyncio.sleep(0.01)  # long enough for simultaneous requests to overlap
        headers = dict(scope["headers"])
        body = f"config {id(self.config)} host {headers.get(b'host', b'').decode()} {scope['query_string'].decode()}".encode() * 50
        out = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
        if self.cookie:
            out.append((b"set-cookie", b"session=secret"))
        await send({"type": "http.response.start", "status": self.status, "headers": out})
        await send({"type": "http.response.body", "body": body})


async def _get(cache, app, path="/", host="a", query=b"", gzip_ok=False):
    headers = [(b"host", host.encode())] + ([(b"accept-encoding", b"gzip, br")] if gzip_ok else [])
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": headers, "app": app}
    messages = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        messages.append(message)

    await cache(scope, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return start["status"], headers, body


def test_built_once_and_sent_compressed_when_asked():
    app = FakeGradio()
    cache = PageCache(app)

    async def many():
        return await asyncio.gather(*[_get(cache, app, gzip_ok=n % 2 == 0) for n in range(20)])

    answers = asyncio.run(many())
    assert app.builds == 1 and cache.builds == 1  # twenty simultaneous opens, one build
    bodies = {body for _, _, body in answers}
    assert len(bodies) == 1 and all(status == 200 for status, _, _ in answers)
    gzipped = [h for _, h, _ in answers if h.get("content-encoding") == "gzip"]
    assert len(gzipped) == 10 and all(int(h["content-length"]) < len(next(iter(bodies))) for h in gzipped)


def test_each_host_and_query_is_its_own_answer_and_a_new_config_rebuilds():
    app = FakeGradio()
    cache = PageCache(app)
    a = asyncio.run(_get(cache, app, host="a"))[2]
    b = asyncio.run(_get(cache, app, host="b"))[2]
    linked = asyncio.run(_get(cache, app, host="a", query=b"deep_link=x"))[2]
    assert len({a, b, linked}) == 3 and app.builds == 3
    app.config = {"n": 1}  # Gradio replaced its config: the cached page is stale
    fresh = asyncio.run(_get(cache, app, host="a"))[2]
    assert fresh != a and app.builds == 4


def test_no_lock_is_kept_once_its_build_is_done():
    """Each distinct query string (a link's token, a crawler's noise) gets a lock while its page is
    built, and none afterwards: the locks do not grow with the queries a server has seen."""
    from app.serving import MAX_ENTRIES

    app = FakeGradio()
    cache = PageCache(app)

    async def many():
        await asyncio.gather(*[_get(cache, app, query=f"run={n % 5}".encode()) for n in range(20)])  # overlapping
        for n in range(MAX_ENTRIES + 20):  # one after another, more queries than the cache keeps
            await _get(cache, app, query=f"q={n}".encode())

    asyncio.run(many())
    assert app.builds == 5 + MAX_ENTRIES + 20 and cache.locks == {} and len(cache.entries) == MAX_ENTRIES


def test_never_cached_with_cookies_errors_login_or_other_paths():
    for app in (FakeGradio(cookie=True), FakeGradio(status=500)):
        cache = PageCache(app)
        asyncio.run(_get(cache, app))
        asyncio.run(_get(cache, app))
        assert app.builds == 2 and cache.builds == 0  # each request built afresh
    app = FakeGradio()
    app.auth = ("teacher", "secret")
    cache = PageCache(app)
    asyncio.run(_get(cache, app))
    asyncio.run(_get(cache, app))
    assert app.builds == 2 and cache.builds == 0
    app = FakeGradio()
    cache = PageCache(app)
    asyncio.run(_get(cache, app, path="/gradio_api/queue/join"))
    asyncio.run(_get(cache, app, path="/gradio_api/queue/join"))
    assert app.builds == 2 and cache.builds == 0


def test_the_real_app_answers_from_the_cache(app_server):
    demo, url = app_server
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=120)
    zipped = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=120)
    assert plain.status_code == zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.content == plain.content and b"CLIP Lab" in plain.content
    assert int(zipped.headers["content-length"]) < len(plain.content) / 4
    config = httpx.get(url + "config", headers={"Accept-Encoding": "gzip"}, timeout=120)
    assert config.headers["content-encoding"] == "gzip" and config.json()["components"]
    cache = page_cache(demo.server_app)
    builds = cache.builds
    httpx.get(url + "config", headers={"Accept-Encoding": "gzip"}, timeout=120)
    assert cache.builds == builds
