"""Zero-shot tab end to end vs the bare CLIP forward of the same views.

The pipeline gets the image embedding and the dense patch map from one pass, so on a square image
it should cost little more than `encode_images`; labels that come again cost no text forward.
Target: ≤ 1.3× the bare forward, 0 text forwards on repeated labels.
"""

from __future__ import annotations

from common import median_ms, report
import torch
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.zeroshot import ZeroShotClassifier

LABELS = ["astronaut", "cat", "rocket", "cup of coffee", "dog"]


def run(quick: bool = False) -> list[dict]:
    rows = []
    runs = 3 if quick else 7
    for model in ("ViT-B-16", "ViT-B-32"):
        backbone = load_backbone(model, "random", "auto")
        for photo in ("astronaut", "chelsea"):
            image = Image.open(skimage_photo(photo)).convert("RGB")
            classify = ZeroShotClassifier(backbone, templates="imagenet80")
            classify(image, LABELS)  # warm the text cache
            before_text, before_images = backbone.text_forwards, backbone.image_forwards
            pipeline_ms = median_ms(lambda: classify(image, LABELS), runs=runs)
            views = (backbone.image_forwards - before_images) // (runs + 1)
            pixels = _views(backbone, image, views)
            bare_ms = median_ms(lambda: backbone.encode_images(pixels), runs=runs)
            single_ms = median_ms(lambda: backbone.encode_images([image]), runs=runs)
            rows.append(
                dict(
                    pipeline="zeroshot",
                    model=model,
                    image=f"{photo} {image.size[0]}×{image.size[1]}",
                    views=views,
                    pipeline_ms=pipeline_ms,
                    bare_same_views_ms=bare_ms,
                    ratio=pipeline_ms / bare_ms,
                    vs_one_view=pipeline_ms / single_ms,
                    target="≤1.3",
                    repeat_text_forwards=backbone.text_forwards - before_text,
                )
            )
    return rows


def _views(backbone, image, views: int) -> torch.Tensor:
    """`views` model-sized inputs: the same number of forwards the pipeline ran."""
    one = backbone.pixels([image])
    return one.repeat(max(1, views), 1, 1, 1)



if __name__ == "__main__":
    report("zeroshot", run())
