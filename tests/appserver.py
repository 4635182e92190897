"""Launch the real `demo` in-process on a free local port for app and browser tests."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager

# A job may take as long as it likes while it moves (queue place, progress, streamed outputs); it
# fails only when none of these changed for this long. A slow machine is not a hang.
STALL_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# DepthCLIP (its tab and the Compare board) loads the paper's RN50; tests swap in a tiny ResNet.
TINY_DEPTHCLIP = {"CLIP_LAB_DEPTHCLIP_MODEL": "clip-lab-tiny-rn-depth", "CLIP_LAB_DEPTHCLIP_PRETRAINED": "random"}


@contextmanager
def environment(values: dict):
    """Set environment variables for the block, restoring the previous values afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def patient_url_ok(url: str, stall_s: float = 120.0) -> bool:
    """Gradio's own start-up check (`networking.url_ok`) gives the page 3 s a try; on a busy 2-core
    machine building "/" can take longer, and launch() then fails. Wait for the server's answer
    instead, failing only when it has not answered at all for `stall_s`."""
    import httpx

    deadline = time.monotonic() + stall_s
    while time.monotonic() < deadline:
        try:
            if httpx.head(url, timeout=stall_s, verify=False).status_code < 400:
                return True
        except (httpx.ConnectError, httpx.TimeoutException):
            pass
        time.sleep(0.5)
    return False


@contextmanager
def running_demo(model: str = "clip-lab-tiny-vit", pretrained: str = "random", mcp: bool = False):
    """Yield (demo, url) with the app's own launch settings (with `mcp`, its MCP server as `--mcp`
    starts it), on a tiny model unless told another; closed afterwards, the model's environment
    restored. The first caller gets app.py's own `demo` when it was built for the same model; while
    that one is serving (the session's app), or for another model, a caller gets a demo built afresh
    the same way, so closing it leaves the session's app running."""
    with environment({"CLIP_LAB_MODEL": model, "CLIP_LAB_PRETRAINED": pretrained, "CLIP_LAB_DEVICE": "cpu"}):
        import app

        entry = app.entry_module()
        demo = entry.demo
        built_for = (demo.clip_lab.settings.model, demo.clip_lab.settings.pretrained)
        if getattr(demo, "is_running", False) or built_for != (model, pretrained):
            from app.context import Settings

            demo = entry.build_demo(Settings(model, pretrained, "cpu"))
        demo.clip_lab.start_loading()
        port = free_port()
        from gradio import networking

        networking.url_ok = patient_url_ok  # a test-harness patience, not the app's: see patient_url_ok
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            mcp_server=mcp,
            **entry.launch_kwargs(),
        )
        try:
            yield demo, f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


def wait_for(job, condition=None, stall_s: float = STALL_S) -> None:
    """Wait until `condition()` holds (default: the gradio_client job is done) or the job ends, for
    as long as the job keeps moving; raise TimeoutError once it showed no change for `stall_s`."""
    condition = condition or job.done
    last, since = None, time.monotonic()
    while not condition() and not job.done():
        status = job.status()
        now = (status.code, status.rank, repr(status.progress_data), len(job.outputs()))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise TimeoutError(f"the job showed no progress for {stall_s:.0f} s (last status: {status})")
        time.sleep(0.2)


def finish(job, stall_s: float = STALL_S):
    """`job.result()`, waited for by the job's progress rather than by a fixed time."""
    wait_for(job, stall_s=stall_s)
    return job.result()
