"""GroupViT tab (CLIP-backed engine) end to end vs the bare CLIP forward of the same windows.

One image-tower pass over the dense windows gives the patch embeddings and the image embedding;
grouping (64 then 8 centroids, a few refinements) and labelling are small matrix products, and the
chained map is upsampled and arg-maxed at image resolution. `tab_ms` adds the tab's pictures and Gradio's encoding of the overlay.
Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations


from common import interleaved_ms, report
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.groupvit import GroupViT
from components.labelsets import PASCAL_VOC_20


def run(quick: bool = False) -> list[dict]:
    import gradio as gr

    from app.tabs.groupvit import outputs

    overlay, picture = gr.AnnotatedImage(format="jpeg"), gr.Image(type="pil", format="jpeg")

    def shown(values):  # what Gradio does before sending: encode the overlay, its masks, the palettes
        overlay.postprocess(values[0]["value"])
        picture.postprocess(values[1])
        picture.postprocess(values[2])
        return values

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    classes = list(PASCAL_VOC_20.classes)
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        group = GroupViT(backbone)
        first = group(image, classes)  # warms the text cache
        before = backbone.image_forwards
        group(image, classes)
        views = backbone.image_forwards - before
        pixels = backbone.pixels([image]).repeat(max(1, views), 1, 1, 1)
        ms = interleaved_ms(
            dict(
                bare=lambda: backbone.encode_images(pixels),
                pipeline=lambda: group(image, classes),
                tab=lambda: shown(outputs(image, group(image, classes), [])),
                relabel=lambda: first.relabel(background_threshold=0.5, top_k=3),
            ),
            runs,
        )
        # the pipeline's own work after the image tower: the same call with the dense features given
        features = backbone.dense(image)
        real_dense = backbone.dense
        backbone.dense = lambda *args, **kwargs: features
        try:
            post = interleaved_ms(dict(post=lambda: group(image, classes)), runs)["post"]
        finally:
            backbone.dense = real_dense
        dense_ms = interleaved_ms(dict(dense=lambda: backbone.dense(image)), runs)["dense"]
        pipeline_ms, tab_ms, bare_ms, relabel_ms = ms["pipeline"], ms["tab"], ms["bare"], ms["relabel"]
        rows.append(
            dict(
                pipeline="groupvit",
                model="ViT-B-16",
                image=f"{photo} {image.size[0]}×{image.size[1]}",
                classes=len(classes),
                views=views,
                pipeline_ms=pipeline_ms,
                tab_ms=tab_ms,
                bare_same_views_ms=bare_ms,
                dense_ms=dense_ms,
                after_forward_ms=post,
                ratio=pipeline_ms / bare_ms,
                tab_ratio=tab_ms / bare_ms,
                target="≤1.5",
                relabel_ms=relabel_ms,
            )
        )
    return rows


if __name__ == "__main__":
    report("groupvit", run())
