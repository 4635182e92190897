"""What a scene can truthfully be called.

Each caption kind is a concept a tab relies on: the raw label (LSeg scores raw strings), CLIP's 80
ImageNet templates and ViLD's 63 (the zero-shot, ViLD and GLIP tabs fill these with a label),
attributes ("a small red star"), counts ("three yellow stars"), positions ("a red star on the left"),
relations ("a red circle left of a blue square") and DepthCLIP's distance words ("This object is
close"). Training draws one caption per image; `concepts` says which kinds may be drawn (the Train tab
lets a person choose).
"""

from __future__ import annotations

import numpy as np

from components.depthclip import BINS, WORDS
from components.prompts import ACTIONCLIP16, VILD_RAW_TEMPLATES, get_template_set, vild_article
from components.world.scenes import Scene, SceneObject, relation

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
CONCEPTS = ("colours", "shapes", "sizes", "counts", "positions", "relations", "depth")


def depth_word(depth: float) -> str:
    """DepthCLIP's distance word whose bin is nearest to `depth` metres."""
    return WORDS[int(np.argmin(np.abs(np.asarray(BINS) - depth)))]


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def name(o: SceneObject, concepts=CONCEPTS, with_size: bool = False) -> str:
    """The object's name in the concepts allowed: "red star", "star", "red shape", "small red star"."""
    words = []
    if with_size and "sizes" in concepts:
        words.append(o.size)
    if "colours" in concepts:
        words.append(o.colour)
    words.append(o.shape if "shapes" in concepts else "shape")
    return " ".join(words)


def fill(template: str, label: str) -> str:
    return template.replace("{article}", vild_article(label)).replace("{}", label)


def position(o: SceneObject) -> str | None:
    """"on the left" / "on the right" / "at the top" / "at the bottom" when the object is clearly there."""
    x, y = o.centre
    if abs(x - 0.5) >= abs(y - 0.5):
        if x < 0.36:
            return "on the left"
        if x > 0.64:
            return "on the right"
    else:
        if y < 0.36:
            return "at the top"
        if y > 0.64:
            return "at the bottom"
    return None


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def caption(scene: Scene, rng: np.random.Generator, concepts=CONCEPTS) -> str:
    """One true caption of `scene`, drawn among the kinds `concepts` allows."""
    objects = scene.objects
    if not objects:
        return "an empty wall."
    if scene.kind == "count" and "counts" in concepts:
        n = len(objects)
        label = name(objects[0], concepts)
        words = label.split()
        words[-1] = plural(words[-1])
        number = NUMBER_WORDS[n] if rng.uniform() < 0.8 else str(n)
        text = f"{number} {' '.join(words)}" if n > 1 else f"one {label}"
        return text if rng.uniform() < 0.5 else f"a photo of {text}."
    if scene.kind == "relation" and "relations" in concepts and len(objects) == 2:
        a, b = objects if rng.uniform() < 0.5 else objects[::-1]
        return f"a {name(a, concepts)} {relation(a, b)} a {name(b, concepts)}"
    if len(objects) == 1:
        return _single(objects[0], rng, concepts)
    names = [name(o, concepts) for o in objects]
    rng.shuffle(names)
    listed = _join([f"{vild_article(n)} {n}" for n in names])
    return listed if rng.uniform() < 0.5 else f"a photo of {listed}."


def _single(o: SceneObject, rng: np.random.Generator, concepts) -> str:
    kinds = ["raw", "imagenet", "vild"]
    if "sizes" in concepts:
        kinds.append("size")
    if "positions" in concepts and position(o):
        kinds.append("position")
    if "depth" in concepts:
        kinds.append("depth")
    kind = kinds[rng.integers(len(kinds))]
    label = name(o, concepts)
    if kind == "raw":
        return label
    if kind == "imagenet":
        templates = get_template_set("imagenet80").templates  # CLIP's 80, read from open_clip on first use
        return fill(templates[rng.integers(len(templates))], label)
    if kind == "vild":
        return fill(VILD_RAW_TEMPLATES[rng.integers(len(VILD_RAW_TEMPLATES))], label)
    if kind == "size":
        return f"a {name(o, concepts, with_size=True)}"
    if kind == "position":
        return f"a {label} {position(o)}"
    # DepthCLIP's own prompt, "This {object} is {distance}", with the object word or the label.
    word = depth_word(o.depth)
    return f"This object is {word}" if rng.uniform() < 0.6 else f"This {label} is {word}"


ACTION_TEMPLATES = ACTIONCLIP16.templates


def clip_caption(clip, concepts=CONCEPTS) -> str:
    """A clip's caption with its object, as CLIP4Clip's queries are written: "a red star spinning"."""
    words = ([clip.colour] if "colours" in concepts else []) + [clip.shape if "shapes" in concepts else "shape"]
    return f"a {' '.join(words)} {clip.action}"
