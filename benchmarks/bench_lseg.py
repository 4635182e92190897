"""LSeg tab end to end vs the bare CLIP forward of the same windows.

The pipeline runs CLIP's image tower once over the dense windows (plus the standard view when it is
not one of them); the rest is per-label scoring, upsampling and the argmax at image resolution.
`tab_ms` adds what the tab draws and Gradio sends (overlay masks, the slider, the share table, the
exported label map, per-label heat maps). A re-score (new temperature,
threshold or regulariser) runs no forward at all. Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations


from common import report, sender, time_dense_tab
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.lseg import LSeg

LABELS = ["dog", "grass", "other", "person", "sky", "cat", "table", "tree"]


def tab_sender():
    """What the tab sends for an answer (`common.sender` over its outputs, as the tab declares them)."""
    import gradio as gr

    return sender(dict(
        overlay=gr.AnnotatedImage(format="jpeg"),
        compare=gr.ImageSlider(type="pil", format="jpeg"),
        shares=gr.Dataframe(headers=["label", "share of image (%)"], datatype=["str", "number"]),
        downloads=gr.File(file_count="multiple"),
        heatmaps=gr.Gallery(format="jpeg"),
    ))


def run(quick: bool = False) -> list[dict]:
    from app.tabs.lseg import outputs

    shown = tab_sender()

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        segment = LSeg(backbone)
        first = segment(image, LABELS)
        timing = time_dense_tab(
            backbone,
            image,
            lambda: segment(image, LABELS),
            lambda result: shown(outputs(image, result, [])),
            dict(rescore=lambda: first.rescore(logit_scale=50.0, background_threshold=0.1)),
            runs,
        )
        rows.append(
            dict(
                pipeline="lseg",
                model="ViT-B-16",
                image=f"{photo} {image.size[0]}×{image.size[1]}",
                labels=len(LABELS),
                **timing,
                target="≤1.5",
            )
        )
    return rows


if __name__ == "__main__":
    report("lseg", run())
