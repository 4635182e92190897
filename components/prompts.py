"""Prompt template sets as data.

A template is a string with one "{}" where the label goes. Labels are put in with `str.replace`, not
`str.format`, so a label containing braces cannot break a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


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


@cache
def _imagenet80() -> TemplateSet:
    """The 80 prompts CLIP used for ImageNet; open_clip ships them as callables. Read on first use,
    since importing open_clip (and the torchvision and transformers it imports) costs seconds that the
    page's start-up should not pay."""
    import open_clip

    return TemplateSet(
        "imagenet80",
        tuple(template("{}") for template in open_clip.OPENAI_IMAGENET_TEMPLATES),
        "CLIP's 80 ImageNet prompts, embeddings averaged",
    )


_LAZY_SETS = {"imagenet80": _imagenet80}


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
    t.name: t for t in (SINGLE, RAW, ACTIONCLIP16, POINTCLIP)
}  # and "imagenet80", built on first use (`_LAZY_SETS`)


def get_template_set(name_or_set: str | TemplateSet) -> TemplateSet:
    if isinstance(name_or_set, TemplateSet):
        return name_or_set
    if name_or_set in _LAZY_SETS:
        return _LAZY_SETS[name_or_set]()
    try:
        return TEMPLATE_SETS[name_or_set]
    except KeyError:
        raise ValueError(
            f"unknown template set {name_or_set!r}; known: {', '.join([*TEMPLATE_SETS, *_LAZY_SETS])}"
        ) from None


# -- ViLD (tab "ViLD", also used by "GLIP") ------------------------------------------------------------
# The 63 templates of ViLD's official demo (`multiple_templates` in the ViLD colab, Gu et al. 2022),
# in its order. "{article}" is "an" before a vowel, else "a" (the demo's `article(name)`); and, with
# the demo's `this_is` flag, "This is " is prepended to every prompt starting with "a" or "the".
VILD_RAW_TEMPLATES: tuple[str, ...] = (
    "There is {article} {} in the scene.",
    "There is the {} in the scene.",
    "a photo of {article} {} in the scene.",
    "a photo of the {} in the scene.",
    "a photo of one {} in the scene.",
    "itap of {article} {}.",
    "itap of my {}.",
    "itap of the {}.",
    "a photo of {article} {}.",
    "a photo of my {}.",
    "a photo of the {}.",
    "a photo of one {}.",
    "a photo of many {}.",
    "a good photo of {article} {}.",
    "a good photo of the {}.",
    "a bad photo of {article} {}.",
    "a bad photo of the {}.",
    "a photo of a nice {}.",
    "a photo of the nice {}.",
    "a photo of a cool {}.",
    "a photo of the cool {}.",
    "a photo of a weird {}.",
    "a photo of the weird {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of a clean {}.",
    "a photo of the clean {}.",
    "a photo of a dirty {}.",
    "a photo of the dirty {}.",
    "a bright photo of {article} {}.",
    "a bright photo of the {}.",
    "a dark photo of {article} {}.",
    "a dark photo of the {}.",
    "a photo of a hard to see {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of {article} {}.",
    "a low resolution photo of the {}.",
    "a cropped photo of {article} {}.",
    "a cropped photo of the {}.",
    "a close-up photo of {article} {}.",
    "a close-up photo of the {}.",
    "a jpeg corrupted photo of {article} {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of {article} {}.",
    "a blurry photo of the {}.",
    "a pixelated photo of {article} {}.",
    "a pixelated photo of the {}.",
    "a black and white photo of the {}.",
    "a black and white photo of {article} {}.",
    "a plastic {}.",
    "the plastic {}.",
    "a toy {}.",
    "the toy {}.",
    "a plushie {}.",
    "the plushie {}.",
    "a cartoon {}.",
    "the cartoon {}.",
    "an embroidered {}.",
    "the embroidered {}.",
    "a painting of the {}.",
    "a painting of a {}.",
)
assert len(VILD_RAW_TEMPLATES) == 63


def vild_this_is(prompt: str) -> str:
    """ViLD's rule: "This is " before a prompt that starts with "a" or "the" (so "an …" too)."""
    return "This is " + prompt if prompt.startswith("a") or prompt.startswith("the") else prompt


def vild_article(name: str) -> str:
    """ViLD's article: "an" when the name starts with a vowel, else "a"."""
    return "an" if name[:1] in "aeiou" and name[:1] else "a"


VILD63_A, VILD63_AN = (
    TemplateSet(
        f"vild63-{article}",
        tuple(vild_this_is(t.replace("{article}", article)) for t in VILD_RAW_TEMPLATES),
        f"ViLD's 63 prompts for names taking “{article}”, with “This is ” prepended",
    )
    for article in ("a", "an")
)
# The demo's `single_template` (prompt_engineering off), with the same rule.
VILD1_A, VILD1_AN = (
    TemplateSet(f"vild1-{article}", (vild_this_is(f"a photo of {article} {{}}."),), "ViLD's single prompt")
    for article in ("a", "an")
)
TEMPLATE_SETS.update({t.name: t for t in (VILD63_A, VILD63_AN, VILD1_A, VILD1_AN)})


def vild_templates(name: str, prompt_engineering: bool = True) -> TemplateSet:
    """The ViLD template set for a (processed, lower-case) category name: its article decides.
    prompt_engineering (the demo's flag): the 63 templates, else the single one."""
    if prompt_engineering:
        return VILD63_AN if vild_article(name) == "an" else VILD63_A
    return VILD1_AN if vild_article(name) == "an" else VILD1_A


# -- DepthCLIP (tab "DepthCLIP") -------------------------------------------------------------------
# DepthCLIP's one prompt "This {} is {}" with its object word "object" (Zhang et al. 2022), no full
# stop, as the official code formats it; the distance word ("giant" … "unseen") goes in the "{}".
DEPTHCLIP = TemplateSet("depthclip", ("This object is {}",), "DepthCLIP's prompt “This object is {distance}”")
TEMPLATE_SETS[DEPTHCLIP.name] = DEPTHCLIP
