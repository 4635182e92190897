"""LSeg tab end to end vs the bare CLIP forward of the same windows.

The pipeline runs CLIP's image tower once over the dense windows (plus the standard view when it is
not one of them); the rest is per-label scoring, upsampling and the argmax at image resolution.
`tab_ms` adds what the tab draws and Gradio encodes (overlay masks, per-label heat maps). A re-score (new temperature,
threshold or regulariser) runs no forward at all. Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations


from common import interleaved_ms, report
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.lseg import LSeg

LABELS = ["dog", "grass", "other", "person", "sky", "cat", "table", "tree"]


def run(quick: bool = False) -> list[dict]:
    import gradio as gr

    from app.tabs.lseg import outputs

    overlay, gallery = gr.AnnotatedImage(format="jpeg"), gr.Gallery(format="jpeg")

    def shown(values):  # what Gradio does before sending: encode the overlay, its masks, the heat maps
        overlay.postprocess(values[0]["value"])
        gallery.postprocess(values[2])
        return values

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        segment = LSeg(backbone)
        first = segment(image, LABELS)  # warms the text cache
        before = backbone.image_forwards
        segment(image, LABELS)
        views = backbone.image_forwards - before
        pixels = backbone.pixels([image]).repeat(max(1, views), 1, 1, 1)
        ms = interleaved_ms(
            dict(
                bare=lambda: backbone.encode_images(pixels),
                pipeline=lambda: segment(image, LABELS),
                tab=lambda: shown(outputs(image, segment(image, LABELS), [])),
                rescore=lambda: first.rescore(logit_scale=50.0, background_threshold=0.1),
            ),
            runs,
        )
        # the pipeline's own work after the image tower: the same call with the dense features given
        features = backbone.dense(image)
        real_dense = backbone.dense
        backbone.dense = lambda *args, **kwargs: features
        try:
            post = interleaved_ms(dict(post=lambda: segment(image, LABELS)), runs)["post"]
        finally:
            backbone.dense = real_dense
        dense_ms = interleaved_ms(dict(dense=lambda: backbone.dense(image)), runs)["dense"]
        pipeline_ms, tab_ms, bare_ms, rescore_ms = ms["pipeline"], ms["tab"], ms["bare"], ms["rescore"]
        rows.append(
            dict(
                pipeline="lseg",
                model="ViT-B-16",
                image=f"{photo} {image.size[0]}×{image.size[1]}",
                labels=len(LABELS),
                views=views,
                pipeline_ms=pipeline_ms,
                tab_ms=tab_ms,
                bare_same_views_ms=bare_ms,
                dense_ms=dense_ms,
                after_forward_ms=post,
                ratio=pipeline_ms / bare_ms,
                tab_ratio=tab_ms / bare_ms,
                target="≤1.5",
                rescore_ms=rescore_ms,
            )
        )
    return rows


if __name__ == "__main__":
    report("lseg", run())
