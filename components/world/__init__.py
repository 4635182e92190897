"""The generated world CLIP Lab Mini is trained on and scored against.

Everything here is drawn from numbers, seeded, and comes with its exact truth, so a tab's answer on a
world example can be checked rather than believed:

- `scenes`: 1–4 flat shapes (8 shapes × 8 colours × 3 sizes) on varied backgrounds, each at a depth;
  per-pixel class and instance masks, boxes, a depth map.
- `captions`: what a scene can be called — raw labels, CLIP's / ViLD's prompt templates, attributes,
  counts, positions, relations, DepthCLIP's distance words.
- `solids`: 3-D solids and composite objects as point clouds, projected by PointCLIP's own V1 / V2
  code into depth maps.
- `clips`: short clips of one object doing one action, for ActionCLIP and CLIP4Clip.
- `splits`: which seeds and which colour × shape combinations are held out of training.

UI-free: used by the training script, the meaning benchmark, the tests, the examples and the Train tab.
"""

from components.world.scenes import (  # noqa: F401
    BACKGROUND_DEPTH,
    COLOURS,
    SHAPES,
    SIZES,
    Scene,
    SceneObject,
    class_labels,
    draw_scene,
    random_scene,
    render,
)
from components.world.splits import HELD_OUT_COMBINATIONS, is_held_out, seeds  # noqa: F401
