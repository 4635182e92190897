"""Prompt template sets as data.

A template is a string with one "{}" where the label goes. Labels are put in with `str.replace`, not
`str.format`, so a label containing braces cannot break a template.
"""

from __future__ import annotations

from dataclasses import dataclass

import open_clip


@dataclass(frozen=True)
class TemplateSet:
    """A named, ordered set of prompt templates; the name keys the text-embedding cache."""

    name: str
    templates: tuple[str, ...]
    description: str = ""

    def __post_init__(self):
        if not self.templates:
            raise ValueError(f"template set {self.name!r} has no templates")
        for template in self.templates:
            if template.count("{}") != 1:
                raise ValueError(f"template {template!r} must contain exactly one '{{}}'")

    def fill(self, label: str) -> list[str]:
        return [template.replace("{}", label) for template in self.templates]

    def __len__(self) -> int:
        return len(self.templates)


SINGLE = TemplateSet("single", ("a photo of a {}.",), "CLIP's basic prompt, one template")

# The 80 prompts CLIP used for ImageNet; open_clip ships them as callables.
IMAGENET80 = TemplateSet(
    "imagenet80",
    tuple(template("{}") for template in open_clip.OPENAI_IMAGENET_TEMPLATES),
    "CLIP's 80 ImageNet prompts, embeddings averaged",
)

# Only the raw label, as LSeg scores its label strings.
RAW = TemplateSet("raw", ("{}",), "the label alone")

# ActionCLIP's 16 label prompts (Wang, Xing, Liu 2021).
ACTIONCLIP16 = TemplateSet(
    "actionclip16",
    (
        "a photo of action {}",
        "a picture of action {}",
        "Human action of {}",
        "{}, an action",
        "{} this is an action",
        "{}, a video of action",
        "Playing action of {}",
        "{}",
        "Playing a kind of action, {}",
        "Doing a kind of action, {}",
        "Look, the human is {}",
        "Can you recognize the action of {}?",
        "Video classification of {}",
        "A video of {}",
        "The man is {}",
        "The woman is {}",
    ),
    "ActionCLIP's 16 action prompts",
)

# PointCLIP V1's prompt for projected depth maps.
POINTCLIP = TemplateSet("pointclip", ("point cloud depth map of a {}.",), "PointCLIP's depth-map prompt")

TEMPLATE_SETS: dict[str, TemplateSet] = {
    t.name: t for t in (SINGLE, IMAGENET80, RAW, ACTIONCLIP16, POINTCLIP)
}


def get_template_set(name_or_set: str | TemplateSet) -> TemplateSet:
    if isinstance(name_or_set, TemplateSet):
        return name_or_set
    try:
        return TEMPLATE_SETS[name_or_set]
    except KeyError:
        raise ValueError(
            f"unknown template set {name_or_set!r}; known: {', '.join(TEMPLATE_SETS)}"
        ) from None
