"""GLIP, CLIP-backed: phrase grounding by scoring CLIP region embeddings against caption phrases.

Li et al., *Grounded Language-Image Pre-training*, CVPR 2022. GLIP reformulates detection as phrase
grounding: a prompt is either a list of category names (joined with " . ", one entity per name) or a
caption string whose noun phrases (`run_ner`: DT? JJ* NN+, determiner kept) become the entities; every region is scored against every phrase
(region–token alignment, a phrase's score the mean over its tokens), and each phrase is grounded to
the boxes whose score passes a threshold (≈ 0.5 in GLIP's demo), drawn as "phrase:score".

GLIP's fused detector is not CLIP, so this module is the CLIP-backed version of that idea
(METHODS.md §9): the prompt is split into phrases by `split_phrases` (run_ner's chunk grammar on a
rule-based tagger, no parser model; or one entity per category name), each
phrase becomes a CLIP text embedding (ViLD's 63-prompt ensemble, shared with the ViLD tab), each
proposal a CLIP region embedding (components.regions: 1× + 1.5× crops), and

    score(phrase, region) = softmax over (background, phrase₁ … phraseₚ) of 100 · cos(region, ·)

so a region that looks most like nothing named goes to "background". The phrase × region matrix is
kept whole in the result; `GroundingResult.select(threshold=...)` re-grounds without CLIP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from components import regions
from components.dense import SharedDense
from components.errors import InputError
from components.media import MAX_LABELS
from components.vild import BACKGROUND, CONTAINMENT, TEMPERATURE, class_probabilities, text_embeddings

THRESHOLD = 0.5  # GLIP demo's confidence threshold
NMS_IOU = 0.6  # per phrase, as ViLD's demo
MAX_BOXES_PER_PHRASE = 5
MAX_PHRASES = MAX_LABELS
MAX_CAPTION_CHARS = 20_000
NOTHING_GROUNDED = "Nothing grounded"

# -- phrases: GLIP's run_ner, by rule --------------------------------------------------------------------
# GLIP's demo (maskrcnn_benchmark/engine/predictor_glip.py) takes a prompt two ways:
# - a *list* of category names: joined as "name . name . " and each name is one entity, as written;
# - a *string* (any string, also "sofa . remote . dog ."): `run_ner` lower-cases it, tokenises and
#   POS-tags it with NLTK, chunks noun phrases with the grammar  NP: {<DT>?<JJ.*>*<NN.*>+}  and keeps
#   each chunk's words, determiner included ("a green umbrella"), punctuation removed.
# NLTK's tagger data cannot be downloaded here, so `tag` below stands in for nltk.pos_tag with a small
# lexicon: determiners (DT), adjectives (JJ: a word list and a few suffixes), words that are never
# nouns (prepositions, conjunctions, pronouns, auxiliaries and common verbs, adverbs, numbers: "-"),
# "-ing"/"-ed" words as verbs unless listed as nouns or adjectives, punctuation; every other word is a
# noun (NN), the open class. `chunk` then applies the grammar as nltk.RegexpParser does (leftmost,
# longest, no overlap). Where run_ner marks every occurrence of a phrase as its own entity, a phrase
# here is kept once (its first occurrence).
MODES = ("caption", "categories")
DT = frozenset("a an the this that these those some any each every no another all both either neither".split())
JJ = frozenset("""
red green blue yellow orange purple pink brown black white grey gray golden silver dark light bright pale
big small large little tiny huge giant tall short long wide narrow thick thin fat round flat deep shallow
old new young ancient modern fresh ripe raw hot cold warm cool wet dry clean dirty empty full open closed
beautiful pretty cute ugly happy sad angry calm quiet loud soft hard heavy fluffy furry hairy shiny curly
striped spotted dotted checkered colored coloured painted wooden woolen plastic metallic glass-like
sunny cloudy snowy rainy foggy grassy sandy rocky leafy busy crowded stuffed sliced fried baked grilled
main top bottom upper lower left right middle central inner outer front rear other same different
several many few various single double real fake
""".split())
JJ_SUFFIXES = ("ous", "ful", "less", "ish", "ive", "able", "ible")
NOT_NOUN = frozenset("""
in on at of with by for from to into onto over under above below behind beside besides between near next
through across along around against among without within inside outside toward towards beneath underneath
upon off up down out about like via per during before after since until
and or but nor so yet while as because if than then though although whereas
i you he she it we they me him her us them my your his its our their mine yours ours theirs myself itself
there here who whom whose which what where when how why
is are was were be been being am has have had do does did done can could will would shall should may might
must sits sit stands stand lies lie looks look holds hold wears wear rides ride eats eat plays flies runs
walks jumps goes go see sees shows contains seems appears gets get makes make takes take
very too also not just only really quite almost together away back again still even ever never always
one two three four five six seven eight nine ten eleven twelve twenty hundred thousand first second third
""".split())
NOUNS_ING_ED = frozenset("""
building ceiling painting clothing king ring string thing wing evening morning pudding stuffing railing
sibling bedding wedding spring swing awning icing frosting topping seasoning dressing sling speed
""".split())
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*|'s|n't|[^\sa-z0-9]")
_PUNCTUATION = "|:;@()[]{}^'\"’`?$%#!&*+,."  # remove_punctuation's characters


def tag(word: str) -> str:
    """The stand-in for nltk.pos_tag on one lower-case token: "DT", "JJ", "NN" or "-" (anything else)."""
    if word in DT:
        return "DT"
    if word in JJ:
        return "JJ"
    if not re.fullmatch(r"[a-z][a-z'-]*", word) or word in NOT_NOUN:
        return "-"  # punctuation, numbers, "'s", function words and verbs
    if len(word) > 4 and word.endswith(("ing", "ed")) and word not in NOUNS_ING_ED:
        return "-"  # VBG / VBN / VBD
    if word.endswith(JJ_SUFFIXES) and len(word) > 5:
        return "JJ"
    return "NN"


def chunk(tags: Sequence[str]) -> list[tuple[int, int]]:
    """Token spans [i, j) matching DT? JJ* NN+, leftmost and longest first, not overlapping."""
    out, i, n = [], 0, len(tags)
    while i < n:
        j = i + (tags[i] == "DT")
        while j < n and tags[j] == "JJ":
            j += 1
        k = j
        while k < n and tags[k] == "NN":
            k += 1
        if k > j:
            out.append((i, k))
            i = k
        else:
            i += 1
    return out


def noun_phrases(caption: str) -> list[tuple[str, int, int]]:
    """run_ner's noun phrases of a caption: (phrase, start, end) with the span in the caption, the
    phrase lower-case, determiner kept, punctuation removed."""
    lower = caption.lower()
    tokens = list(_TOKEN.finditer(lower))
    out = []
    for i, j in chunk([tag(t.group()) for t in tokens]):
        words = " ".join(t.group() for t in tokens[i:j])
        phrase = "".join(c for c in words if c not in _PUNCTUATION).strip()
        if phrase:
            out.append((" ".join(phrase.split()), tokens[i].start(), tokens[j - 1].end()))
    return out


@dataclass(frozen=True)
class Phrase:
    text: str  # as shown ("phrase:score"): run_ner's chunk (lower case, determiner kept), or the name
    prompt: str  # what CLIP reads (the text without a leading determiner)
    start: int  # character span of `text` in the caption
    end: int


_CATEGORY_SEPARATORS = re.compile(r"[.,;\n]+")
_LEADING_DT = re.compile(r"^(?:(?:" + "|".join(sorted(DT, key=len, reverse=True)) + r")\s+)+", re.I)


def _prompt(text: str) -> str:
    return " ".join(_LEADING_DT.sub("", text).split()) or text


def categories_caption(names: Sequence[str]) -> tuple[str, tuple[Phrase, ...]]:
    """GLIP's list prompt: "name . name . " and one entity per name, its span in that string."""
    caption, phrases, seen = "", [], set()
    for name in names:
        name = " ".join(str(name).split())
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        phrases.append(Phrase(name, _prompt(name), len(caption), len(caption) + len(name)))
        caption += name + " . "
    return caption, tuple(phrases)


def split_phrases(caption: str | Sequence[str], mode: str = "caption") -> tuple[tuple[Phrase, ...], bool]:
    """(phrases, categories) of a prompt, as GLIP's demo reads it: a list of names (or a string in
    mode "categories", names separated by "." "," ";" or new lines) → one entity per name, exactly as
    written; a string in mode "caption" → run_ner's noun phrases (see `noun_phrases`), whatever its
    punctuation. Same words twice (case-insensitive) give one phrase."""
    if mode not in MODES:
        raise InputError(f"Unknown prompt mode {mode!r}; choose one of {', '.join(MODES)}.")
    if isinstance(caption, (list, tuple)):
        names = list(caption)
    else:
        if caption is None or not str(caption).strip():
            raise InputError("Write a caption (“A green umbrella. A pink striped umbrella.”) or categories "
                             "(“sofa . remote . dog .”, in the categories mode one entity per name).")
        caption = str(caption)
        if len(caption) > MAX_CAPTION_CHARS:
            raise InputError(f"The caption is {len(caption)} characters; the limit is {MAX_CAPTION_CHARS}.")
        names = _CATEGORY_SEPARATORS.split(caption) if mode == "categories" else None
    if names is not None:
        if sum(len(str(n)) for n in names) > MAX_CAPTION_CHARS:
            raise InputError(f"The categories are longer than {MAX_CAPTION_CHARS} characters together.")
        _, phrases = categories_caption(names)
        if not phrases:
            raise InputError("Give at least one category name, e.g. “sofa . remote . dog .”.")
        return phrases, True
    phrases, seen = [], set()
    for text, start, end in noun_phrases(caption):
        if text in seen:
            continue
        seen.add(text)
        phrases.append(Phrase(text, _prompt(text), start, end))
    if not phrases:
        raise InputError("No noun phrase could be found in the caption; name what to find, e.g. “a dog and a "
                         "person”, or switch to categories.")
    return tuple(phrases), False


def ground(
    boxes: np.ndarray,
    probs: np.ndarray,
    cosine: np.ndarray,
    *,
    threshold: float = THRESHOLD,
    nms_iou: float = NMS_IOU,
    max_per_phrase: int = MAX_BOXES_PER_PHRASE,
    containment: float = CONTAINMENT,
) -> tuple[tuple[int, int, float], ...]:
    """(phrase, region, score) triples: for each phrase (column p + 1 of the (N, 1 + P) probabilities,
    background in column 0), the regions scoring ≥ threshold, best first (ties by cosine), NMS,
    containing boxes dropped, at most max_per_phrase."""
    out = []
    probs, cosine = np.asarray(probs), np.asarray(cosine)
    for p in range(probs.shape[1] - 1):
        score, tie = probs[:, p + 1], cosine[:, p + 1]
        candidates = np.flatnonzero(score >= threshold)
        order = candidates[np.lexsort((-tie[candidates], -score[candidates]))]
        kept = regions.ranked_nms(boxes, order, nms_iou)
        kept = regions.drop_containing(boxes, kept, np.zeros(len(boxes), np.int64), containment)
        out.extend((p, int(r), float(score[r])) for r in kept[: int(max_per_phrase)])
    return tuple(out)


@dataclass(frozen=True)
class GroundingResult:
    """phrases from the caption; boxes (N, 4) every proposal; embeddings (N, D); cosine, probs
    (N, 1 + P) with background in column 0; grounded: (phrase index, region index, score), per
    phrase best first, under `settings`."""

    caption: str
    phrases: tuple[Phrase, ...]
    explicit: bool  # True: categories, one entity per name; False: run_ner's noun phrases of a caption
    boxes: np.ndarray
    sources: np.ndarray
    embeddings: np.ndarray
    cosine: np.ndarray
    probs: np.ndarray
    grounded: tuple[tuple[int, int, float], ...]
    image_size: tuple[int, int]
    settings: dict
    proposal_seconds: float = 0.0
    scoring_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    found: dict = field(default_factory=dict)
    region_embedding: str = "crops"  # how the regions were embedded (regions.REGION_EMBEDDINGS)

    @property
    def scores(self) -> np.ndarray:
        """(P, N) phrase × region score matrix."""
        return self.probs[:, 1:].T

    def best_regions(self, n: int) -> np.ndarray:
        """Indices of the `n` regions with the highest score for any phrase, best first."""
        if not self.scores.size:
            return np.zeros(0, np.int64)
        return np.argsort(-self.scores.max(0), kind="stable")[:n]

    def labelled_boxes(self) -> list[tuple[tuple[float, float, float, float], str]]:
        """GLIP's drawing: each grounded box with "phrase:score"."""
        return [(tuple(float(v) for v in self.boxes[r]), f"{self.phrases[p].text}:{s:.2f}") for p, r, s in self.grounded]

    def grounded_phrases(self) -> list[str]:
        return [self.phrases[p].text for p in dict.fromkeys(p for p, _, _ in self.grounded)]

    @property
    def message(self) -> str:
        if self.grounded:
            return ""
        if len(self.boxes) == 0:
            return f"{NOTHING_GROUNDED}: no region proposals were found in this image."
        return (
            f"{NOTHING_GROUNDED}: no region scores {self.settings['threshold']:g} or more for any phrase. "
            "Lower the threshold to see weaker matches."
        )

    def select(self, **settings) -> "GroundingResult":
        """Re-ground with other settings (threshold, nms_iou, max_per_phrase, containment); no CLIP."""
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}")
        merged = {**self.settings, **settings}
        return replace(self, grounded=ground(self.boxes, self.probs, self.cosine, **merged), settings=merged)


class GLIP:
    """`GLIP(backbone)(image, caption) -> GroundingResult`: the CLIP-backed grounding described above.
    Proposal settings go to `regions.propose` (dense boxes follow the phrases)."""

    def __init__(
        self,
        backbone,
        *,
        threshold: float = THRESHOLD,
        nms_iou: float = NMS_IOU,
        max_per_phrase: int = MAX_BOXES_PER_PHRASE,
        containment: float = CONTAINMENT,
        temperature: float = TEMPERATURE,
        crop_scales: Sequence[float] = regions.CROP_SCALES,
        region_embedding: str = "crops",
        max_phrases: int = MAX_PHRASES,
        prompt_engineering: bool = True,
        **proposal_settings,
    ):
        # pooled regions come from the dense map the dense proposals computed: one pass per image
        self.backbone = SharedDense(backbone) if region_embedding == "pooled" else backbone
        self.prompt_engineering = prompt_engineering
        self.settings = dict(threshold=threshold, nms_iou=nms_iou, max_per_phrase=max_per_phrase, containment=containment)
        self.temperature = temperature
        self.crop_scales = tuple(crop_scales)
        self.region_embedding = regions.check_region_embedding(region_embedding)
        self.max_phrases = max_phrases
        self.proposal_settings = proposal_settings

    def __call__(self, image, caption: str | Sequence[str], proposals: regions.Proposals | None = None,
                 mode: str = "caption") -> GroundingResult:
        """caption: a string (mode "caption": run_ner's noun phrases; "categories": one entity per
        name separated by "." "," ";" or new lines) or a list of category names."""
        image = regions.check_image(image)
        phrases, explicit = split_phrases(caption, mode)
        if explicit:  # GLIP's list prompt: the names joined as "name . name . "
            caption = categories_caption([p.text for p in phrases])[0]
        notes = []
        if len(phrases) > self.max_phrases:
            notes.append(f"The caption has {len(phrases)} phrases; the first {self.max_phrases} are used.")
            phrases = phrases[: self.max_phrases]
        text = text_embeddings(self.backbone, [BACKGROUND, *(p.prompt for p in phrases)], self.prompt_engineering)
        if proposals is None:
            proposals = regions.propose(image, backbone=self.backbone, text=text[1:], **self.proposal_settings)
        start = time.perf_counter()
        embeddings = regions.embed_regions(self.backbone, image, proposals.boxes, self.region_embedding,
                                           self.crop_scales, self.proposal_settings.get("dense_method"))
        cosine = (embeddings @ text.T).numpy().astype(np.float64) if len(embeddings) else np.zeros((0, len(text)))
        probs = class_probabilities(cosine, self.temperature)
        return GroundingResult(
            caption=caption,
            phrases=phrases,
            explicit=explicit,
            boxes=proposals.boxes,
            sources=proposals.sources,
            embeddings=embeddings.numpy(),
            cosine=cosine,
            probs=probs,
            grounded=ground(proposals.boxes, probs, cosine, **self.settings),
            image_size=proposals.image_size,
            settings=dict(self.settings),
            proposal_seconds=proposals.seconds,
            scoring_seconds=time.perf_counter() - start,
            notes=(*notes, *proposals.notes),
            found=dict(proposals.found),
            region_embedding=self.region_embedding,
        )
