"""Compare tab end to end vs the five pipelines run one by one, and vs the bare forwards they need.

The comparison shares one dense pass between zero-shot, LSeg, GroupViT and ViLD's proposals, and the
text cache between all of them, so it should cost about the sum of each method's *own* image work:
less than the five pipelines run separately (which pay three extra dense passes), and no text forward
when the labels come again.
Target: compare ≤ separate (ratio < 1), 0 text forwards on repeated labels.
"""

from __future__ import annotations

from common import median_ms, report
from PIL import Image

from app.examples import skimage_photo
from components import compare as cmp
from components import depthclip as dc
from components.backbone import load_backbone
from components.groupvit import GroupViT
from components.lseg import LSeg
from components.vild import ViLD
from components.zeroshot import ZeroShotClassifier

LABELS = ["cat", "floor", "wall"]
DEPTH_SIDE = 224  # the Compare tab's default


def run(quick: bool = False) -> list[dict]:
    rows = []
    runs = 2 if quick else 5
    depth = load_backbone("RN50", "random", "auto")
    for model in ("ViT-B-16",) if quick else ("ViT-B-16", "ViT-B-32"):
        backbone = load_backbone(model, "random", "auto")
        image = Image.open(skimage_photo("chelsea")).convert("RGB")
        compare = cmp.Compare(backbone, depth, depth_short_side=DEPTH_SIDE)
        compare(image, LABELS)  # warm the text caches

        def separate():
            ZeroShotClassifier(backbone, templates=cmp.ZEROSHOT_TEMPLATES)(image, LABELS)
            LSeg(backbone)(image, LABELS)
            GroupViT(backbone)(image, LABELS)
            ViLD(backbone, max_proposals=cmp.VILD_MAX_PROPOSALS)(image, LABELS)
            dc.DepthCLIP(depth, short_side=DEPTH_SIDE)(image)

        before_text = backbone.text_forwards + depth.text_forwards
        compare_ms = median_ms(lambda: compare(image, LABELS), runs=runs)
        repeat_text = backbone.text_forwards + depth.text_forwards - before_text
        separate_ms = median_ms(separate, runs=runs)
        dense_ms = median_ms(lambda: backbone.dense(image), runs=runs)
        rows.append(
            dict(
                pipeline="compare",
                model=f"{model} + RN50 (DepthCLIP)",
                image=f"chelsea {image.size[0]}×{image.size[1]}",
                compare_ms=compare_ms,
                separate_ms=separate_ms,
                ratio=compare_ms / separate_ms,
                one_dense_pass_ms=dense_ms,
                saved_ms=separate_ms - compare_ms,
                target="<1",
                repeat_text_forwards=repeat_text,
            )
        )
    return rows


if __name__ == "__main__":
    report("compare", run())
