"""GLIP, CLIP-backed: phrase grounding by scoring CLIP region embeddings against caption phrases.

Li et al., *Grounded Language-Image Pre-training*, CVPR 2022. GLIP reformulates detection as phrase
grounding: a prompt is either category names joined with " . " ("sofa . remote . dog .") or a free
caption whose noun phrases become the entities; every region is scored against every phrase
(region–token alignment, a phrase's score the mean over its tokens), and each phrase is grounded to
the boxes whose score passes a threshold (≈ 0.5 in GLIP's demo), drawn as "phrase:score".

GLIP's fused detector is not CLIP, so this module is the CLIP-backed version of that idea
(METHODS.md §9): the caption is split into phrases by `split_phrases` (rules, no parser model), each
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
from components.errors import InputError
from components.media import MAX_LABELS
from components.vild import BACKGROUND, CONTAINMENT, TEMPERATURE, class_probabilities, text_embeddings

THRESHOLD = 0.5  # GLIP demo's confidence threshold
NMS_IOU = 0.6  # per phrase, as ViLD's demo
MAX_BOXES_PER_PHRASE = 5
MAX_PHRASES = MAX_LABELS
MAX_CAPTION_CHARS = 20_000
NOTHING_GROUNDED = "Nothing grounded"

# -- the phrase splitter -----------------------------------------------------------------------------
# Rules, in order (no parser model is downloaded):
# 1. Explicit separation: a caption containing " . " (or ending in " .") is split on "." only and each
#    piece is a phrase exactly as written: "man in a red shirt . dog ." → "man in a red shirt", "dog".
# 2. Otherwise it is a free caption: split on sentence and clause punctuation (. , ; : ! ? and "/")
#    and on the connecting words below; "there is/are" at the start of a piece is dropped, and a piece
#    is cut at its first auxiliary verb ("a dog is running" → "a dog") and at a participle of VERBS
#    that does not open it ("a cat sitting" → "a cat", but "sleeping cat" stays).
# 3. Leading determiners, numbers and possessives are dropped ("the two red cars" → "red cars");
#    pieces left with no word outside STOPWORDS are not phrases.
# Same words twice (case-insensitive) give one phrase.
CONNECTIVES = (
    "and", "or", "with", "without", "next to", "beside", "besides", "near", "behind", "under", "underneath",
    "above", "below", "on top of", "in front of", "on", "in", "inside", "at", "by", "over", "against",
    "holding", "wearing", "carrying", "riding", "while", "between", "among", "around", "across", "into",
    "onto", "toward", "towards", "through", "from", "along", "beneath", "outside",
)
AUXILIARIES = ("is", "are", "was", "were", "be", "being", "been", "has", "have", "had", "sits", "sit",
               "stands", "stand", "lies", "lie", "looks", "look")
VERBS = (
    "sitting", "standing", "lying", "running", "walking", "playing", "flying", "looking", "sleeping", "eating",
    "drinking", "jumping", "swimming", "driving", "parked", "waiting", "talking", "smiling", "launching",
    "resting", "hanging", "floating", "sitting", "posing", "taking off", "going", "coming",
)
DETERMINERS = (
    "a", "an", "the", "some", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our",
    "their", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "many", "several",
    "few", "a few", "lots of", "a lot of", "each", "every", "another", "other",
)
STOPWORDS = frozenset({*DETERMINERS, *AUXILIARIES, "there", "here", "it", "they", "of", "to", "very", "too", "also"})
_EXPLICIT = re.compile(r"\s\.(\s|$)")
_CLAUSE = re.compile(r"[.,;:!?/\n]+")
_CONNECTIVE = re.compile(r"\b(?:" + "|".join(re.escape(c) for c in sorted(CONNECTIVES, key=len, reverse=True)) + r")\b", re.I)
_THERE = re.compile(r"^\s*(?:there|here)\s+(?:is|are|was|were)\b", re.I)
_AUX = re.compile(r"\b(?:" + "|".join(AUXILIARIES) + r")\b.*$", re.I)
_VERB = re.compile(r"\s(?:" + "|".join(re.escape(v) for v in VERBS) + r")\b.*$", re.I)
_DETERMINER = re.compile(r"^(?:(?:" + "|".join(re.escape(d) for d in sorted(DETERMINERS, key=len, reverse=True)) + r"|\d+)\s+)+", re.I)


@dataclass(frozen=True)
class Phrase:
    text: str  # as shown ("phrase:score")
    prompt: str  # what CLIP reads (the text without a leading determiner)
    start: int  # character span of `text` in the caption
    end: int


def split_phrases(caption: str) -> tuple[tuple[Phrase, ...], bool]:
    """(phrases in caption order, explicit) where explicit says rule 1 applied (see the rules above)."""
    if caption is None or not str(caption).strip():
        raise InputError("Write a caption (“A green umbrella. A pink striped umbrella.”) or categories joined "
                         "with ' . ' (“sofa . remote . dog .”).")
    caption = str(caption)
    if len(caption) > MAX_CAPTION_CHARS:
        raise InputError(f"The caption is {len(caption)} characters; the limit is {MAX_CAPTION_CHARS}.")
    explicit = bool(_EXPLICIT.search(caption))
    spans: list[tuple[int, int]] = []
    if explicit:
        spans = _pieces(caption, re.compile(r"\."), 0, len(caption))
    else:
        for start, end in _pieces(caption, _CLAUSE, 0, len(caption)):
            for s, e in _pieces(caption, _CONNECTIVE, start, end):
                piece = caption[s:e]
                there = _THERE.match(piece)
                if there:
                    s += there.end()
                    piece = caption[s:e]
                aux = _AUX.search(piece)
                if aux:
                    e = s + aux.start()
                spans.append((s, e))
    phrases: list[Phrase] = []
    seen: set[str] = set()
    for s, e in spans:
        raw = caption[s:e]
        s, e = s + len(raw) - len(raw.lstrip()), e - (len(raw) - len(raw.rstrip()))
        text = " ".join(caption[s:e].split())
        if not text:
            continue
        if not explicit:
            cut = _DETERMINER.match(caption[s:e])
            if cut:
                s += cut.end()
                text = " ".join(caption[s:e].split())
            verb = _VERB.search(caption[s:e])
            if verb:
                e = s + verb.start()
                text = " ".join(caption[s:e].split())
        prompt = " ".join(_DETERMINER.sub("", text).split()) or text
        words = [w.lower() for w in re.findall(r"[\w'-]+", text)]
        if not words or (not explicit and all(w in STOPWORDS for w in words)):
            continue
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        phrases.append(Phrase(text, prompt, s, e))
    if not phrases:
        raise InputError("No phrase could be found in the caption; name what to find, e.g. “dog . person .”.")
    return tuple(phrases), explicit


def _pieces(text: str, separator: re.Pattern, start: int, end: int) -> list[tuple[int, int]]:
    out, at = [], start
    for match in separator.finditer(text, start, end):
        out.append((at, match.start()))
        at = match.end()
    out.append((at, end))
    return [(s, e) for s, e in out if text[s:e].strip()]


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
    explicit: bool
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

    @property
    def scores(self) -> np.ndarray:
        """(P, N) phrase × region score matrix."""
        return self.probs[:, 1:].T

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
        max_phrases: int = MAX_PHRASES,
        prompt_engineering: bool = True,
        **proposal_settings,
    ):
        self.backbone = backbone
        self.prompt_engineering = prompt_engineering
        self.settings = dict(threshold=threshold, nms_iou=nms_iou, max_per_phrase=max_per_phrase, containment=containment)
        self.temperature = temperature
        self.crop_scales = tuple(crop_scales)
        self.max_phrases = max_phrases
        self.proposal_settings = proposal_settings

    def __call__(self, image, caption: str, proposals: regions.Proposals | None = None) -> GroundingResult:
        image = regions.check_image(image)
        phrases, explicit = split_phrases(caption)
        notes = []
        if len(phrases) > self.max_phrases:
            notes.append(f"The caption has {len(phrases)} phrases; the first {self.max_phrases} are used.")
            phrases = phrases[: self.max_phrases]
        text = text_embeddings(self.backbone, [BACKGROUND, *(p.prompt for p in phrases)], self.prompt_engineering)
        if proposals is None:
            proposals = regions.propose(image, backbone=self.backbone, text=text[1:], **self.proposal_settings)
        start = time.perf_counter()
        embeddings = regions.region_embeddings(self.backbone, image, proposals.boxes, self.crop_scales)
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
        )
