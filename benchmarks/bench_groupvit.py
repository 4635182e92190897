"""GroupViT tab (CLIP-backed engine) end to end vs the bare CLIP forward of the same windows.

One image-tower pass over the dense windows gives the patch embeddings and the image embedding;
grouping (64 then 8 centroids, a few refinements) and labelling are small matrix products, and the
chained map is upsampled and arg-maxed at image resolution. `tab_ms` adds the tab's pictures and what Gradio sends (overlay, group pictures, table, label-map files).
Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations


from common import report, sender, time_dense_tab
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.groupvit import GroupViT
from components.labelsets import PASCAL_VOC_20


def tab_sender():
    """What the tab sends for an answer (`common.sender` over its outputs, as the tab declares them)."""
    import gradio as gr

    return sender(dict(
        segmentation=gr.AnnotatedImage(format="jpeg"),
        groups=gr.Image(type="pil", format="jpeg"),
        stage1_groups=gr.Image(type="pil", format="jpeg"),
        table=gr.Dataframe(headers=["group", "share of image (%)", "class", "score", "labelled"],
                           datatype=["number", "number", "str", "number", "str"]),
        downloads=gr.File(file_count="multiple"),
    ))


def run(quick: bool = False) -> list[dict]:
    from app.tabs.groupvit import outputs

    shown = tab_sender()

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    classes = list(PASCAL_VOC_20.classes)
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        group = GroupViT(backbone)
        first = group(image, classes)
        timing = time_dense_tab(
            backbone,
            image,
            lambda: group(image, classes),
            lambda result: shown(outputs(image, result, [])),
            dict(relabel=lambda: first.relabel(background_threshold=0.5, top_k=3)),
            runs,
        )
        rows.append(
            dict(
                pipeline="groupvit",
                model="ViT-B-16",
                image=f"{photo} {image.size[0]}×{image.size[1]}",
                classes=len(classes),
                **timing,
                target="≤1.5",
            )
        )
    return rows


if __name__ == "__main__":
    report("groupvit", run())
