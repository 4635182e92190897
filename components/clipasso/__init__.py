"""CLIPasso: image → abstract stroke sketch, with our own differentiable rasteriser (no diffvg).

rasterizer: Bézier strokes → soft coverage, differentiable; saliency: where strokes start;
loss: CLIP geometric + semantic distance over augmented views; sketcher: the optimisation;
svg: export / import through svgpathtools.
"""

from components.clipasso.sketcher import (
    ABSTRACTION_LEVELS,
    CANVAS,
    NUM_ITER,
    NUM_SEEDS,
    NUM_STROKES,
    CLIPasso,
    SketchResult,
    SketchStep,
    pad_to_square,
)

__all__ = [
    "ABSTRACTION_LEVELS", "CANVAS", "NUM_ITER", "NUM_SEEDS", "NUM_STROKES", "CLIPasso", "SketchResult",
    "SketchStep", "pad_to_square",
]
