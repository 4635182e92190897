"""CLIP Lab: ten CLIP-family methods side by side in one Gradio app.

`demo` is built at module level (Hugging Face Spaces, `gradio app.py`); nothing heavy happens on
import: the model loads in the background once the page is served. On a ZeroGPU Space (SPACES_ZERO_GPU
set) the default model is created here at import instead, in the main thread, as the `spaces`
package expects (README, "Hugging Face Spaces"): its tensors then reach every GPU worker. Run:

    python app.py [--model ViT-B-16] [--pretrained TAG|PATH|random] [--device auto|cpu|cuda]
                  [--precision auto|fp32|bf16|int8]
                  [--host 127.0.0.1] [--port 7860] [--share] [--shared-index] [--collection DIR] [--mcp]

Environment equivalents: CLIP_LAB_MODEL, CLIP_LAB_PRETRAINED, CLIP_LAB_DEVICE, CLIP_LAB_PRECISION, CLIP_LAB_SHARED_INDEX, GRADIO_SERVER_NAME,
GRADIO_SERVER_PORT, GRADIO_SHARE, CLIP_LAB_COLLECTION, CLIP_LAB_MCP=1, CLIP_LAB_WARM_UP=0 (no warm-up: app/warmup.py).
"""

from __future__ import annotations

import argparse
import os

if os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true"):
    # First, before anything can touch CUDA: `spaces` patches torch so that the model's .to("cuda")
    # below is recorded, packed at launch and moved to the GPU in each worker.
    import spaces  # noqa: F401

from app import presentation, serving
from app.examples import allowed_paths
from app.ui import build_demo
from app.context import Settings, zero_gpu
from components.errors import InputError
from components.media import MAX_UPLOAD_MB
from components.precision import PRECISIONS, parse as parse_precision

demo = build_demo()
if zero_gpu():
    demo.clip_lab.load_now()  # at import, in the main thread, before launch() and any GPU worker


def parse_args(argv=None) -> argparse.Namespace:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(description="CLIP Lab: CLIP-family methods in the browser")
    parser.add_argument("--model", default=env.model, help="open_clip model name (default %(default)s)")
    parser.add_argument(
        "--pretrained",
        default=env.pretrained,
        help="open_clip pretrained tag, a local checkpoint file, or 'random' (default %(default)s)",
    )
    parser.add_argument("--device", default=env.device, choices=["auto", "cpu", "cuda"], help="default %(default)s")
    parser.add_argument(
        "--precision", default=env.precision, type=_precision, metavar="{" + ",".join(PRECISIONS) + "}",
        help="numeric precision of every model (components/precision.py); auto: bf16 on CPUs with AMX "
        "and on CUDA, else fp32 (default %(default)s)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "") == "1")
    parser.add_argument(
        "--shared-index", action="store_true", default=os.environ.get("CLIP_LAB_SHARED_INDEX", "") == "1",
        help="one CLIP4Clip index for every visitor (default: each browser's uploads are its own)",
    )
    parser.add_argument(
        "--collection", default=os.environ.get("CLIP_LAB_COLLECTION", ""), metavar="DIR",
        help="a CLIP4Clip collection (python -m components.clip4clip.collection index), searched read-only",
    )
    parser.add_argument(
        "--mcp", action="store_true", default=os.environ.get("CLIP_LAB_MCP", "") == "1",
        help="also serve every endpoint as a tool of Gradio's MCP server, at /gradio_api/mcp/ (for AI agents)",
    )
    return parser.parse_args(argv)


def _precision(value: str) -> str:
    try:
        return parse_precision(value, source="--precision")
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def launch_kwargs() -> dict:
    return dict(
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        allowed_paths=allowed_paths(),
        footer_links=["api", "gradio"],
        css=presentation.CSS,
        app_kwargs=serving.app_kwargs(),  # the page, its config and API description built once, compressed
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = Settings(args.model, args.pretrained, args.device, args.precision)
    shared_changed = args.shared_index != (os.environ.get("CLIP_LAB_SHARED_INDEX", "") == "1")
    if args.shared_index:
        os.environ["CLIP_LAB_SHARED_INDEX"] = "1"  # read by components.clip4clip and said in its tab
    if args.collection != os.environ.get("CLIP_LAB_COLLECTION", ""):
        os.environ["CLIP_LAB_COLLECTION"] = args.collection  # the CLIP4Clip tab's Collection sub-tab reads it
        shared_changed = True  # the page says which collection is open: build it again
    app = demo if settings == demo.clip_lab.settings and not shared_changed else build_demo(settings)
    serve = dict(server_name=args.host, server_port=args.port, share=args.share, mcp_server=args.mcp, **launch_kwargs())
    if zero_gpu():
        app.clip_lab.load_now()  # done at import for `demo`; here, before launch(), for another model
        app.launch(**serve)
        return
    # The page first, then the model: loading imports open_clip (with torchvision and transformers),
    # seconds that would hold the interpreter while the server starts. Visitors meanwhile see the
    # model's status on every tab, and a run waits for the load.
    app.launch(prevent_thread_lock=True, **serve)
    app.clip_lab.start_loading()  # in the background
    from app import warmup

    warmup.warm_up(app.clip_lab)  # then each tab's first example once, answers thrown away (app/warmup.py)
    app.block_thread()


if __name__ == "__main__":
    main()
