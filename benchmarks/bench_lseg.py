"""LSeg tab end to end vs the bare CLIP forward of the same windows.

The pipeline runs CLIP's image tower once over the dense windows (plus the standard view when it is
not one of them); the rest is per-label scoring, upsampling and the argmax at image resolution.
`tab_ms` adds what the tab draws (overlay masks, per-label heat maps). A re-score (new temperature,
threshold or regulariser) runs no forward at all. Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations

from common import median_ms, report
import torch
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.lseg import LSeg

LABELS = ["dog", "grass", "other", "person", "sky", "cat", "table", "tree"]


def run(quick: bool = False) -> list[dict]:
    from app.tabs.lseg import outputs

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        segment = LSeg(backbone)
        first = segment(image, LABELS)  # warms the text cache
        before = backbone.image_forwards
        pipeline_ms = median_ms(lambda: segment(image, LABELS), runs=runs)
        views = (backbone.image_forwards - before) // (runs + 1)
        tab_ms = median_ms(lambda: outputs(image, segment(image, LABELS), []), runs=runs)
        rescore_ms = median_ms(lambda: first.rescore(logit_scale=50.0, background_threshold=0.1), runs=runs)
        pixels = backbone.pixels([image]).repeat(max(1, views), 1, 1, 1)
        bare_ms = median_ms(lambda: backbone.encode_images(pixels), runs=runs)
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
                ratio=pipeline_ms / bare_ms,
                tab_ratio=tab_ms / bare_ms,
                target="≤1.5",
                rescore_ms=rescore_ms,
            )
        )
    return rows


if __name__ == "__main__":
    report("lseg", run())
