"""GroupViT tab (CLIP-backed engine) end to end vs the bare CLIP forward of the same windows.

One image-tower pass over the dense windows gives the patch embeddings and the image embedding;
grouping (64 then 8 centroids, a few refinements) and labelling are small matrix products, and the
chained map is upsampled and arg-maxed at image resolution. `tab_ms` adds the tab's pictures.
Target: ≤ 1.5× the bare forward.
"""

from __future__ import annotations

from common import median_ms, report
from PIL import Image

from app.examples import skimage_photo
from components.backbone import load_backbone
from components.groupvit import GroupViT
from components.labelsets import PASCAL_VOC_20


def run(quick: bool = False) -> list[dict]:
    from app.tabs.groupvit import outputs

    rows = []
    runs = 3 if quick else 7
    backbone = load_backbone("ViT-B-16", "random", "auto")
    classes = list(PASCAL_VOC_20.classes)
    for photo in ("astronaut", "chelsea"):
        image = Image.open(skimage_photo(photo)).convert("RGB")
        group = GroupViT(backbone)
        first = group(image, classes)  # warms the text cache
        before = backbone.image_forwards
        pipeline_ms = median_ms(lambda: group(image, classes), runs=runs)
        views = (backbone.image_forwards - before) // (runs + 1)
        tab_ms = median_ms(lambda: outputs(image, group(image, classes), []), runs=runs)
        relabel_ms = median_ms(lambda: first.relabel(background_threshold=0.5, top_k=3), runs=runs)
        pixels = backbone.pixels([image]).repeat(max(1, views), 1, 1, 1)
        bare_ms = median_ms(lambda: backbone.encode_images(pixels), runs=runs)
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
                ratio=pipeline_ms / bare_ms,
                tab_ratio=tab_ms / bare_ms,
                target="≤1.5",
                relabel_ms=relabel_ms,
            )
        )
    return rows


if __name__ == "__main__":
    report("groupvit", run())
