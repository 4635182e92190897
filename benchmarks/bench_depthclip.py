"""DepthCLIP tab end to end vs the bare forward of the views it needs (RN50, random weights).

DepthCLIP runs the image and its mirror image, at the official input height (416 px), through
RN50's convolutional trunk as one batch of two, and skips the attention pool. The bare forward is that
trunk (stem … layer4) on the same two views: at 416×608 open_clip's `encode_images` cannot run at all
(the attention pool's position embedding is fixed to 7×7), so the trunk is the honest baseline.
Everything else — normalising, keeping every second channel, 7 text logits per cell, softmax,
flip average, upsampling to the photo — must add little. Words seen before cost no text forward, and
re-scoring with new bins needs no image forward at all.
Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations

from common import median_ms, report
import torch
from PIL import Image

from app.examples import skimage_photo
from components import depthclip as dc
from components.backbone import load_backbone
from components.dense import resnet_stages


def run(quick: bool = False) -> list[dict]:
    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("RN50", "random", "auto")
    for photo in ("motorcycle_left", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        for short_side in (dc.SHORT_SIDE, 224):
            estimator = dc.DepthCLIP(backbone, short_side=short_side)
            result = estimator(image)  # warms the text cache
            before_text, before_images = backbone.text_forwards, backbone.image_forwards
            pipeline_ms = median_ms(lambda: estimator(image), runs=runs)
            views = (backbone.image_forwards - before_images) // (runs + 1)
            pixels = estimator.pixels(image).to(backbone.device)

            def bare():
                with torch.inference_mode():
                    resnet_stages(backbone.model.visual, pixels)

            bare_ms = median_ms(bare, runs=runs)
            rebinned = dc.DepthCLIP(backbone, bins=[0.5, 1, 1.5, 2, 3, 4, 6], short_side=short_side)
            rescore_ms = median_ms(lambda: rebinned.rescore(result), runs=runs)
            rows.append(
                dict(
                    pipeline="depthclip",
                    model="RN50",
                    image=f"{photo} {image.size[0]}×{image.size[1]}",
                    input=f"{pixels.shape[-1]}×{pixels.shape[-2]}",
                    views=views,
                    pipeline_ms=pipeline_ms,
                    bare_trunk_same_views_ms=bare_ms,
                    ratio=pipeline_ms / bare_ms,
                    target="≤1.5",
                    rescore_ms=rescore_ms,
                    repeat_text_forwards=backbone.text_forwards - before_text,
                )
            )
    return rows


if __name__ == "__main__":
    report("depthclip", run())
