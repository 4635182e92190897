"""build_demo(): the header (model picker, status line, weights banner) and one tab per method."""

from __future__ import annotations

import gradio as gr

from app import gradio_fixes, links, presentation
from app.context import AppContext, Settings, shown_choice
from app.scaffold import MODEL_DOC, owner, session_of
from app.widgets import api_tool, user_errors
from app.tabs import TABS
from components.errors import InputError

INTRO = (
    "# CLIP Lab\n"
    "Ten CLIP-family methods, side by side, on one shared CLIP model. "
    "Pick the model once here; every tab uses it."
)
# Model work runs two at a time per event; long jobs set their own limit of 1.
DEFAULT_CONCURRENCY = 2


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    gradio_fixes.apply()
    ctx = AppContext(settings or Settings.from_env())
    with gr.Blocks(title="CLIP Lab") as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            picker = gr.Dropdown(
                [(shown_choice(c), c) for c in ctx.choices],  # a checkpoint shows its file name only
                value=ctx.default_choice,
                label="CLIP model (shared by all tabs)",
                info="model · weights (an open_clip pretrained tag, a checkpoint, or random)",
                scale=2,
            )
            with gr.Column(scale=1):
                status = gr.Markdown("Starting…", elem_id="model-status")
                present = gr.Checkbox(
                    False,
                    label="Presentation mode",
                    info="Large type for a projector; Advanced folded. Also ?present=1 in the URL.",
                    elem_id="clip-lab-present-toggle",
                )
                next_example = gr.Button("Next example ▶", size="sm", elem_id="clip-lab-next-example")
        banner = gr.Markdown("", elem_id="weights-banner")
        timer = gr.Timer(1.0, active=True)
        ctx.model_picker = picker

        with gr.Tabs() as tabs:
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.TAB.key):
                    tab.build(ctx)
        link_token = gr.Textbox(visible=False)

        def refresh(choice: str):
            ready = ctx.is_ready(choice)
            return ctx.status(choice), ctx.banner(choice), gr.Timer(active=not ready)

        present.change(None, present, None, js=presentation.TOGGLE_JS, api_name=False)
        next_example.click(None, js=presentation.NEXT_EXAMPLE_JS, api_name=False)
        demo.load(None, None, present, js=presentation.FROM_URL_JS, api_name=False)

        outputs = [status, banner, timer]
        demo.load(api_tool(refresh, "model_status", "The model's loading status line and the banner that says what "
                           "its weights can do.", choice=MODEL_DOC),
                  picker, outputs, api_name="model_status", show_progress="hidden")

        def own_models(request: gr.Request):
            """The picker with this browser's own models too (trained or uploaded before a reload)."""
            return gr.Dropdown(choices=ctx.session_choices(owner(session_of(request))))

        demo.load(own_models, None, picker, api_name=False, show_progress="hidden", queue=False)

        targets = dict(ctx.link_targets)  # run endpoint → (its hidden link box, its tab's id)

        def open_link(token: str):
            """`?run=<token>` (app/links.py): the link's tab selected and its run's link box set (that
            panel fills its inputs and runs); a damaged or unknown link gets a message, nothing else."""
            if not token:
                return [gr.skip()] * (1 + len(targets))
            link = links.decode(token)
            if link.run not in targets:
                raise InputError(f"This link is for a run this app does not have ({link.run}); it may come from "
                                 "another version of CLIP Lab.")
            return [gr.Tabs(selected=targets[link.run][1]),
                    *(token if run == link.run else gr.skip() for run in targets)]

        demo.load(user_errors(open_link, gpu=False), link_token, [tabs, *(box for box, _ in targets.values())],
                  js=links.FROM_URL_JS, api_name=False, show_progress="hidden", queue=False)
        timer.tick(refresh, picker, outputs, api_name=False, show_progress="hidden", queue=False)
        picker.change(api_tool(refresh, "pick_model", "The status line and banner for a model choice, as the page "
                               "shows them when the picker changes (each method's endpoint takes the model as its "
                               "last parameter).", choice=MODEL_DOC),
                      picker, outputs, api_name="pick_model", show_progress="hidden")
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    demo.clip_lab = ctx
    ctx.demo = demo
    return demo
