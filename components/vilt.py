"""ViLT: visual question answering with one transformer and no convolutional visual backbone.

Kim, Son, Kim, *ViLT: Vision-and-Language Transformer Without Convolution or Region Supervision*,
ICML 2021. One single-stream transformer (initialised from ViT-B/32: 768 wide, 12 layers) reads the
question's BERT tokens (≤ 40) and the image's 32×32 patches, each patch turned into a token by one
linear projection; a modality-type embedding tells the two apart. The pooled [CLS] state feeds a VQA
head over 3 129 answers. Because the visual embedding is a single strided linear map, it costs
~0.4 ms where grid CNN features cost ~45 ms and detector region features ~810 ms (the paper's Fig. 1).

Three pieces, each usable without the others:
- `ViltVQA`: the official engine (transformers' `ViltForQuestionAnswering`, checkpoint
  `dandelin/vilt-b32-finetuned-vqa`), top-k answers with probabilities and a word–patch alignment map
  for every word of the question, from the model's own attentions or, as the official demo does,
  from an optimal-transport plan (IPOT) between text and patch states. Weights come from the Hugging
  Face cache only: nothing is downloaded; when they are missing `load_vilt` says so (WeightsError).
- `ClipVQA`: the engine that always runs, on the shared CLIP: every candidate answer becomes one
  prompt built from the question, and CLIP ranks the prompts against the image.
- `time_visual_embeddings`: the paper's headline claim measured on this machine, on the uploaded
  image: ViLT's linear patch projection vs a CNN grid backbone vs CLIP's whole image tower.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components import dense
from components.backbone import seeded_rng
from components.errors import InputError, WeightsError
from components.vqa_answers import KIND_WORDS, answers_for

# -- the paper's numbers ---------------------------------------------------------------------------
VQA_CHECKPOINT = "dandelin/vilt-b32-finetuned-vqa"
HIDDEN_SIZE = 768  # ViT-B/32 width
NUM_LAYERS = 12
PATCH_SIZE = 32
SHORTER_EDGE = 384  # images: short side 384 …
LONGER_EDGE = int(1333 / 800 * SHORTER_EDGE)  # … long side ≤ 639 (Pixel-BERT's 800×1333 ratio), as ViltImageProcessor
MAX_TEXT_TOKENS = 40  # BERT tokens, [CLS] and [SEP] included (config.max_position_embeddings)
VQA_ANSWERS = 3129  # config.id2label of the VQA checkpoint
VQAV2_TEST_DEV = 71.26
# Visual-embedding cost quoted in the paper (Fig. 1), in ms, on the authors' hardware.
QUOTED_MS = {"region": 810.0, "grid": 45.0, "patch": 0.4}
QUOTED_LABELS = {
    "region": "region features (detector, UNITER-style)",
    "grid": "grid features (ResNet, Pixel-BERT)",
    "patch": "linear patch projection (ViLT)",
}
TOP_K = 5
# The official demo's word–patch alignment: IPOT on the final text and patch states (demo.py).
IPOT_BETA = 0.1
IPOT_ITERATIONS = 1000
IPOT_INNER = 1
ALIGNMENTS = ("attention", "ipot")
ATTENTION_LAYERS = ("all", "last")

MAX_QUESTION_CHARS = 200

# -- CLIP engine: questions become statements ------------------------------------------------------
PROMPT_STYLES = ("statement", "qa")
QA_TEMPLATE = "question: {q} answer: {a}."


def check_question(question) -> str:
    """The question, whitespace collapsed; InputError when empty or too long."""
    if question is None or not isinstance(question, str):
        raise InputError("Type a question about the image, e.g. “What colour is the cat?”.")
    text = " ".join("".join(ch for ch in question if ch.isprintable() or ch.isspace()).split())
    if not text:
        raise InputError("Type a question about the image, e.g. “What colour is the cat?”.")
    if not any(ch.isalnum() for ch in text):  # only punctuation and symbols
        raise InputError("The question has no words; type a question about the image, e.g. “What colour is the cat?”.")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}. "
            "Ask one short question (ViLT reads at most 40 word pieces)."
        )
    return text


@dataclass(frozen=True)
class QuestionRule:
    """A question form: `pattern` (full match on the normalised question) → prompt templates per
    answer ("*" for any answer) and the group of answers that fit it (`vqa_answers.ANSWER_GROUPS`;
    "kind" = the group named by the question's `kind` word, e.g. "what animal is this")."""

    name: str
    pattern: str
    templates: dict
    group: str | None

    def match(self, normalised: str):
        return re.fullmatch(self.pattern, normalised)


_DEMONSTRATIVE = r"(?:this|that|these|those|it|shown|pictured|in the (?:picture|photo|image))"

# Ordered: the first rule that matches decides. Template fields: {a} the answer, {aa} the answer with
# "a"/"an", {q} the question; named groups of the pattern ({x}, {v}, {verb}, {kind}); {xb} is {x}
# without a leading article.
QUESTION_RULES: tuple[QuestionRule, ...] = (
    QuestionRule("colour of", r"what colou?rs? (?P<v>is|are|was|were) (?P<x>.+)", {"*": "{x} {v} {a}."}, "colours"),
    QuestionRule("colour of a kind", rf"what colou?r (?P<x>.+?) (?:is|are) {_DEMONSTRATIVE}", {"*": "a {a} {x}."}, "colours"),
    QuestionRule(
        "count",
        r"how many (?P<x>.+?)(?: (?:are|is|were|was|can|could|do|does|did|have|has)\b.*)?",
        {"*": "a photo of {a} {x}."},
        "numbers",
    ),
    QuestionRule(
        "is there",
        r"(?P<v>is|are) there (?:any |some )?(?P<x>.+)",
        {"yes": "a photo with {x}.", "no": "a photo with no {xb}."},
        "yes/no",
    ),
    QuestionRule(
        "yes/no",
        r"(?:is|are|was|were|does|do|did|can|could|has|have|will|would|should|may|might) .+",
        {},
        "yes/no",
    ),
    QuestionRule("doing", r"what (?P<v>is|are) (?P<x>.+?) doing(?: .*)?", {"*": "{x} {v} {a}."}, "activities"),
    QuestionRule("made of", r"what (?P<v>is|are) (?P<x>.+?) made (?:of|from)", {"*": "{x} {v} made of {a}."}, "materials"),
    QuestionRule("weather", r"(?:what is|how is) the weather(?: .*)?", {"*": "the weather is {a}."}, "weather"),
    QuestionRule("time of day", r"what time of (?:the )?day .+", {"*": "a photo taken in the {a}."}, "times"),
    QuestionRule("sport", r"what sport .+", {"*": "a photo of people playing {a}."}, "sports"),
    QuestionRule("where", r"where (?P<v>is|are|was|were) (?P<x>.+)", {"*": "a photo of {x} in the {a}."}, "places"),
    QuestionRule(
        "kind of",
        rf"what (?:kind|type|sort) of (?P<kind>\w+) (?:is|are) {_DEMONSTRATIVE}",
        {"*": "a photo of {aa}, a type of {kind}."},
        "kind",
    ),
    QuestionRule("what kind", rf"what (?P<kind>\w+) (?:is|are) {_DEMONSTRATIVE}", {"*": "a photo of {aa}."}, "kind"),
    QuestionRule("what is this", rf"what (?:is|are) {_DEMONSTRATIVE}", {"*": "a photo of {aa}."}, "objects"),
    QuestionRule(
        "action on",
        r"what (?P<v>is|are) (?P<x>.+?) (?P<verb>\w+ing)(?: .*)?",
        {"*": "{x} {v} {verb} {aa}."},
        "objects",
    ),
)


def normalise_question(question: str) -> str:
    text = question.lower().strip()
    text = re.sub(r"\bwhat'?s\b", "what is", text)
    text = re.sub(r"[?!.\s]+$", "", text)
    return " ".join(text.split())


def with_article(word: str) -> str:
    if word[:1].isdigit() or word in ("yes", "no"):
        return word
    return ("an " if word[:1] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class QuestionPlan:
    """How a question becomes one prompt per candidate answer."""

    question: str
    rule: str  # the matched QuestionRule's name, or "none"
    group: str | None  # answer group offered when no candidates are given; None = every answer
    style: str
    templates: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)

    def prompt(self, answer: str) -> str:
        if self.style == "statement":
            template = self.templates.get(answer, self.templates.get("*"))
            if template is not None:
                return template.format(a=answer, aa=with_article(answer), q=self.question, **self.fields)
        return QA_TEMPLATE.format(q=self.question, a=answer)


def plan_question(question: str, style: str = "statement") -> QuestionPlan:
    """Match the question against QUESTION_RULES; unmatched questions use the QA template."""
    if style not in PROMPT_STYLES:
        raise InputError(f"Unknown prompt style {style!r}; choose one of: {', '.join(PROMPT_STYLES)}")
    normalised = normalise_question(question)
    for rule in QUESTION_RULES:
        found = rule.match(normalised)
        if not found:
            continue
        fields = {k: v for k, v in found.groupdict().items() if v is not None}
        group = rule.group
        if group == "kind":
            group = KIND_WORDS.get(fields.get("kind", ""))
            if group is None:
                continue  # "what brand is this": not a kind we have answers for
        if "x" in fields:
            fields["xb"] = re.sub(r"^(?:a|an|the) ", "", fields["x"])
        return QuestionPlan(question, rule.name, group, style, dict(rule.templates), fields)
    return QuestionPlan(question, "none", None, style)


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VQAResult:
    """Answers to one question about one image, with the evidence behind them.

    answers / scores: the top-k answers, best first; scores (k,) as named by `score_kind`.
    heat_keys / heat_maps: one (h, w) map per key: per question word (ViLT, word–patch alignment,
    each map sums to 1 over the patches) or per top answer (CLIP, cosine of each patch to the
    answer's prompt). Cell (i, j) covers rows i·H/h … (i+1)·H/h, columns j·W/w … of the image.
    image_size: (H, W) of the input image. candidates / candidate_scores / prompts: everything that
    was scored (CLIP: every candidate with its prompt and cosine; ViLT: the whole answer vocabulary
    with its probabilities, no prompts).
    """

    engine: str
    question: str
    answers: tuple[str, ...]
    scores: np.ndarray
    score_kind: str
    heat_keys: tuple[str, ...]
    heat_maps: np.ndarray
    heat_kind: str
    image_size: tuple[int, int]
    model: str
    candidates: tuple[str, ...] = ()
    candidate_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prompts: tuple[str, ...] = ()
    question_type: str = ""
    answer_group: str = ""
    notes: tuple[str, ...] = ()

    def ranking(self) -> list[tuple[str, float]]:
        return [(a, float(s)) for a, s in zip(self.answers, self.scores)]

    @property
    def top_answer(self) -> str:
        return self.answers[0]

    def heatmap(self, key: str | None = None) -> np.ndarray:
        """(H, W) map of `key` (default: the first key), upsampled bilinearly to the image's pixels."""
        index = self.heat_keys.index(key) if key is not None else 0
        grid = torch.from_numpy(np.ascontiguousarray(self.heat_maps[index], dtype=np.float32))
        up = F.interpolate(grid[None, None], size=self.image_size, mode="bilinear", align_corners=False)
        return up[0, 0].numpy()


# -- CLIP engine -----------------------------------------------------------------------------------
class ClipVQA:
    """`ClipVQA(backbone)(image, question, candidates=None) -> VQAResult`.

    Every candidate answer becomes a prompt from the question (`prompt_style` "statement": the
    question rewritten as a statement with the answer filled in, "What colour is the ball?" + "red"
    → "the ball is red."; "qa": "question: … answer: red."). CLIP ranks the prompts by cosine to
    the image: probabilities are softmax(logit_scale · cos) over the candidates. Without
    candidates, the shipped list's group that fits the question form is used (colours for "what
    colour", numbers for "how many", yes/no for yes/no questions), else every shipped answer.
    The heat maps are the top answers' prompts against CLIP's dense patch embeddings.

    Why statements: CLIP's text tower learned from captions, which state what is seen; a prompt that
    reads like a caption ("the ball is red.") is what it can score. Zero-shot CLIP on VQA with the
    literal "question: … answer: …" prompt is close to chance (Shen et al. 2021); rewriting the
    question as a statement and filling in the answer is what TAP-C (Song et al. 2022) does with a
    language model. Here a small table of question forms (QUESTION_RULES) does the rewriting, and
    questions it does not know fall back to the literal prompt.
    """

    def __init__(
        self,
        backbone,
        top_k: int = TOP_K,
        prompt_style: str = "statement",
        dense_method: str = dense.DEFAULT_METHOD,
        short_side: int | None = None,
    ):
        if prompt_style not in PROMPT_STYLES:
            raise InputError(f"Unknown prompt style {prompt_style!r}; choose one of: {', '.join(PROMPT_STYLES)}")
        self.backbone = backbone
        self.top_k = int(top_k)
        self.prompt_style = prompt_style
        self.dense_method = dense_method
        self.short_side = short_side

    def embed(self, image: Image.Image):
        """The image's dense and global CLIP embeddings: pay once, then ask many questions."""
        return self.backbone.dense(image.convert("RGB"), self.dense_method, self.short_side)

    def __call__(
        self,
        image: Image.Image | None,
        question: str,
        candidates: Sequence[str] | None = None,
        features=None,
    ) -> VQAResult:
        question = check_question(question)
        plan = plan_question(question, self.prompt_style)
        if candidates is None:
            group = plan.group or "all"
            candidates = answers_for(plan.group)
        else:
            group = "your candidates"
            candidates = [c for c in dict.fromkeys(" ".join(str(c).split()) for c in candidates) if c]
            if not candidates:
                raise InputError("Give at least one candidate answer, or use the shipped answer list.")
        prompts = [plan.prompt(a) for a in candidates]
        text = self.backbone.encode_texts(prompts)  # (C, D) unit length, cached per prompt
        if features is None:
            if image is None:
                raise InputError("Upload an image first, or pick one of the examples.")
            features = self.embed(image)
        similarity = text @ features.global_embedding  # (C,)
        probs = torch.softmax(self.backbone.logit_scale * similarity, dim=0)
        k = min(self.top_k, len(candidates))
        order = torch.argsort(-probs, stable=True)[:k]
        maps = features.similarity(text[order])  # (k, h, w)
        return VQAResult(
            engine="clip",
            question=question,
            answers=tuple(candidates[i] for i in order.tolist()),
            scores=probs[order].numpy(),
            score_kind="softmax over the candidates of logit_scale × cosine(image, prompt)",
            heat_keys=tuple(candidates[i] for i in order.tolist()),
            heat_maps=maps.numpy(),
            heat_kind="cosine of each patch to the answer's prompt",
            image_size=features.image_size,
            model=self.backbone.describe(),
            candidates=tuple(candidates),
            candidate_scores=similarity.numpy(),
            prompts=tuple(prompts),
            question_type=plan.rule,
            answer_group=group,
        )


# -- official engine -------------------------------------------------------------------------------
def vilt_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) ViLT's processor resizes an image to: short side 384, long side ≤ 639,
    both rounded down to a multiple of 32 (ViltImageProcessor's rule)."""
    return _fit(width, height, SHORTER_EDGE, LONGER_EDGE)


def _fit(width: int, height: int, short_side: int, long_cap: int) -> tuple[int, int]:
    if width > height:
        new_h, new_w = short_side, width * short_side / height
    else:
        new_h, new_w = height * short_side / width, short_side
    if max(new_h, new_w) > long_cap:
        scale = long_cap / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    new_h, new_w = int(new_h + 0.5), int(new_w + 0.5)
    return max(PATCH_SIZE, new_w // PATCH_SIZE * PATCH_SIZE), max(PATCH_SIZE, new_h // PATCH_SIZE * PATCH_SIZE)


def ipot(cost: torch.Tensor, beta: float = IPOT_BETA, iterations: int = IPOT_ITERATIONS, inner: int = IPOT_INNER) -> torch.Tensor:
    """Optimal-transport plan (n, m) between uniform weights on n rows and m columns for the cost
    matrix (n, m), by the inexact proximal point method (IPOT; Xie et al. 2019): with A = exp(-C/β)
    and T = 1, repeat Q = A ⊙ T; δ = (1/n) / (Q σ); σ = (1/m) / (Qᵀ δ); T = diag(δ) Q diag(σ).
    Rows of the plan sum to 1/n and columns to 1/m."""
    cost = cost.double()
    n, m = cost.shape
    A = torch.exp(-cost / beta)
    T = torch.ones_like(cost)
    sigma = torch.full((m,), 1.0 / m, dtype=cost.dtype, device=cost.device)
    for _ in range(iterations):
        Q = A * T
        for _ in range(inner):
            delta = (1.0 / n) / (Q @ sigma)
            sigma = (1.0 / m) / (Q.T @ delta)
        T = delta[:, None] * Q * sigma[None, :]
    return T


class ViltVQA:
    """`ViltVQA(model, processor)(image, question) -> VQAResult`: the official ViLT VQA model.

    model: a transformers `ViltForQuestionAnswering`; processor: its `ViltProcessor` (any pair
    works, e.g. a tiny random config in tests). Answers are the k highest of sigmoid(logits) over
    `config.id2label` (the head is trained with a binary cross-entropy per answer). The word–patch
    alignment of each question word is, with alignment="attention", the attention its word pieces
    pay to the image patches (heads averaged; `attention_layers` "all" averages the layers, "last"
    takes the last), renormalised over the patches; with alignment="ipot", its row of the optimal
    transport plan between the final text and patch states under cosine distance, as the official
    demo draws it. ViLT picks image patches in a random order: `seed` fixes it, so the same inputs
    give the same result.
    """

    def __init__(
        self,
        model,
        processor,
        *,
        top_k: int = TOP_K,
        alignment: str = "attention",
        attention_layers: str = "all",
        seed: int = 0,
        source: str = "",
    ):
        if alignment not in ALIGNMENTS:
            raise InputError(f"Unknown alignment {alignment!r}; choose one of: {', '.join(ALIGNMENTS)}")
        if attention_layers not in ATTENTION_LAYERS:
            raise InputError(f"Unknown attention layers {attention_layers!r}; choose one of: {', '.join(ATTENTION_LAYERS)}")
        self.model = model.eval()
        self.processor = processor
        self.top_k = int(top_k)
        self.alignment = alignment
        self.attention_layers = attention_layers
        self.seed = seed
        self.source = source or getattr(model.config, "_name_or_path", "") or "ViltForQuestionAnswering"

    def with_settings(self, **settings) -> "ViltVQA":
        """The same loaded model with other settings (top_k, alignment, attention_layers, seed)."""
        kwargs = dict(top_k=self.top_k, alignment=self.alignment, attention_layers=self.attention_layers, seed=self.seed, source=self.source)
        kwargs.update(settings)
        return ViltVQA(self.model, self.processor, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, image: Image.Image, question: str) -> VQAResult:
        question = check_question(question)
        config = self.model.config
        tokenizer = self.processor.tokenizer
        text = tokenizer(question, return_tensors="pt")
        limit = int(getattr(config, "max_position_embeddings", MAX_TEXT_TOKENS))
        n_tokens = int(text["input_ids"].shape[1])
        if n_tokens > limit:
            raise InputError(
                f"ViLT reads at most {limit - 2} word pieces; this question has {n_tokens - 2}. Shorten it."
            )
        words, word_tokens = _words(text, question, tokenizer)
        pixels = self.processor.image_processor(images=image.convert("RGB"), return_tensors="pt")
        device = self.device
        input_ids = text["input_ids"].to(device)
        attention_mask = text["attention_mask"].to(device)
        token_type_ids = text.get("token_type_ids", torch.zeros_like(text["input_ids"])).to(device)
        pixel_values = pixels["pixel_values"].to(device)
        pixel_mask = pixels.get("pixel_mask", torch.ones(pixel_values.shape[0], *pixel_values.shape[2:], dtype=torch.long)).to(device)

        with torch.inference_mode(), seeded_rng(self.seed, device):
            # The model's own visual embedding, called here so that the patch order it draws is kept.
            image_embeds, image_mask, (patch_index, (grid_h, grid_w)) = self.model.vilt.embeddings.visual_embed(
                pixel_values, pixel_mask, max_image_length=config.max_image_length
            )
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                image_embeds=image_embeds,
                pixel_mask=image_mask,
                output_attentions=self.alignment == "attention",
                output_hidden_states=self.alignment == "ipot",
            )
            probs = torch.sigmoid(out.logits[0].float()).cpu()
            n_text = input_ids.shape[1]
            if self.alignment == "attention":
                token_to_patch = self._attention(out.attentions, n_text)
            else:
                states = self.model.vilt.layernorm(out.hidden_states[-1])[0].float()
                token_to_patch = self._transport(states, n_text)
        patch_rc = patch_index[0].cpu().numpy()  # (N, 2) grid row, column of each patch token
        maps = np.zeros((len(words), int(grid_h), int(grid_w)), np.float32)
        for w, tokens in enumerate(word_tokens):
            values = token_to_patch[tokens].sum(0)
            values = values / values.sum().clamp_min(1e-12)
            maps[w, patch_rc[:, 0], patch_rc[:, 1]] = values.numpy()

        id2label = config.id2label
        k = min(self.top_k, probs.numel())
        order = torch.argsort(-probs, stable=True)[:k]
        labels = tuple(str(id2label[i]) for i in range(probs.numel()))
        notes = []
        if len(patch_rc) < grid_h * grid_w:
            notes.append(f"ViLT kept {len(patch_rc)} of {grid_h * grid_w} patches (max_image_length).")
        return VQAResult(
            engine="vilt",
            question=question,
            answers=tuple(labels[i] for i in order.tolist()),
            scores=probs[order].numpy(),
            score_kind="sigmoid of ViLT's VQA logits (independent per answer)",
            heat_keys=tuple(words),
            heat_maps=maps,
            heat_kind=(
                "share of the word's attention to the image patches"
                if self.alignment == "attention"
                else "optimal-transport plan (IPOT) between the word and the patches"
            ),
            image_size=(image.size[1], image.size[0]),
            model=f"ViLT · {self.source}",
            candidates=labels,
            candidate_scores=probs.numpy(),
            question_type="ViLT's VQA head",
            answer_group=f"ViLT's {len(labels)} answers",
            notes=tuple(notes),
        )

    def _attention(self, attentions, n_text: int) -> torch.Tensor:
        """(n_text, N) attention of every text token to every patch token (image [CLS] left out)."""
        stacked = torch.stack([a[0].float().mean(0) for a in attentions])  # (L, S, S), heads averaged
        chosen = stacked if self.attention_layers == "all" else stacked[-1:]
        return chosen.mean(0)[:n_text, n_text + 1 :].cpu()

    def _transport(self, states: torch.Tensor, n_text: int) -> torch.Tensor:
        """(n_text, N) IPOT plan between the text tokens ([CLS] and [SEP] left out, rows of zeros)
        and the patch tokens, under cosine distance, rows scaled to sum to 1."""
        text = F.normalize(states[1 : n_text - 1], dim=-1)
        patches = F.normalize(states[n_text + 1 :], dim=-1)
        plan = ipot(1.0 - text @ patches.T).float() * text.shape[0]
        out = torch.zeros(n_text, patches.shape[0])
        out[1 : n_text - 1] = plan.cpu()
        return out


def _words(text, question: str, tokenizer) -> tuple[list[str], list[list[int]]]:
    """The question's words (those with a letter or digit) and the token positions of each; a word
    that comes twice is told apart as "word (2)"."""
    ids = text["input_ids"][0].tolist()
    groups: dict[int, list[int]] = {}
    spans: dict[int, tuple[int, int]] = {}
    try:
        word_ids = text.word_ids(0)
    except (ValueError, AttributeError):  # a slow tokenizer: one word per non-special token
        word_ids = None
    special = set(getattr(tokenizer, "all_special_ids", []))
    if word_ids is None:
        tokens = tokenizer.convert_ids_to_tokens(ids)
        for position, (token_id, token) in enumerate(zip(ids, tokens)):
            if token_id not in special:
                groups[position] = [position]
                spans[position] = token
    else:
        for position, word in enumerate(word_ids):
            if word is None:
                continue
            groups.setdefault(word, []).append(position)
            if word not in spans:
                span = text.word_to_chars(0, word)
                spans[word] = question[span.start : span.end]
    words, positions, seen = [], [], {}
    for key, tokens in groups.items():
        word = spans[key] if isinstance(spans[key], str) else str(spans[key])
        if not any(ch.isalnum() for ch in word):
            continue
        seen[word] = seen.get(word, 0) + 1
        words.append(word if seen[word] == 1 else f"{word} ({seen[word]})")
        positions.append(tokens)
    if not words:
        raise InputError("The question has no words ViLT can read; use letters or digits.")
    return words, positions


def vilt_weights_cached(checkpoint: str = VQA_CHECKPOINT, cache_dir: str | None = None) -> bool:
    """Whether the checkpoint's config and weights are in the Hugging Face cache (a file lookup,
    nothing is loaded or downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(checkpoint, name, cache_dir=cache_dir), str)

    return cached("config.json") and (cached("model.safetensors") or cached("pytorch_model.bin"))


_vilt_cache: dict[tuple[str, str], ViltVQA] = {}
_vilt_lock = threading.Lock()


def load_vilt(checkpoint: str = VQA_CHECKPOINT, device: str = "auto", cache_dir: str | None = None) -> ViltVQA:
    """The official ViLT VQA model from the Hugging Face cache, loaded once per process.

    Never downloads (local_files_only): without the weights in the cache it raises WeightsError
    saying how to put them there."""
    from components.backbone import resolve_device

    key = (checkpoint, resolve_device(device))
    with _vilt_lock:
        if key in _vilt_cache:
            return _vilt_cache[key]
        from transformers import ViltForQuestionAnswering, ViltProcessor

        try:
            processor = ViltProcessor.from_pretrained(checkpoint, local_files_only=True, cache_dir=cache_dir)
            model = ViltForQuestionAnswering.from_pretrained(checkpoint, local_files_only=True, cache_dir=cache_dir)
        except (OSError, ValueError) as error:
            raise WeightsError(
                f"ViLT's weights ({checkpoint}) are not in the Hugging Face cache of this machine, and "
                "CLIP Lab never downloads at run time. To use them, run "
                f"`huggingface-cli download {checkpoint}` on a machine with internet and point HF_HOME "
                "at that cache."
            ) from error
        engine = ViltVQA(model.to(key[1]), processor, source=checkpoint)
        _vilt_cache[key] = engine
        return engine


# -- "why ViLT is fast": the visual embeddings, timed ----------------------------------------------
EMBEDDERS = ("patch", "grid", "clip")
EMBEDDER_LABELS = {
    "patch": "linear 32×32 patch projection (ViLT)",
    "grid": "CNN grid: ResNet-50 to layer4 (Pixel-BERT)",
    "clip": "CLIP's whole image tower",
}
GRID_SHORT_SIDES = (384, 800)  # ViLT's input size, or Pixel-BERT's 800 short side (long ≤ 1333)


@dataclass(frozen=True)
class EmbeddingTiming:
    """Median milliseconds, measured here, of each visual embedding of one image.

    kinds: EMBEDDERS; measured_ms (3,); input_sizes: (H, W) each was fed; output_shapes: what each
    produced (tokens × width, or C × h × w); quoted_ms: the paper's figures (other hardware)."""

    kinds: tuple[str, ...]
    labels: tuple[str, ...]
    measured_ms: np.ndarray
    input_sizes: tuple[tuple[int, int], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    device: str
    runs: int
    threads: int
    quoted_ms: dict = field(default_factory=lambda: dict(QUOTED_MS))

    def ratio(self, slow: str, fast: str = "patch") -> float:
        return float(self.measured_ms[self.kinds.index(slow)] / self.measured_ms[self.kinds.index(fast)])


_embedder_cache: dict[tuple[str, str], torch.nn.Module] = {}
_embedder_lock = threading.Lock()


def patch_projection(device: str = "cpu") -> torch.nn.Module:
    """ViLT's visual embedding: Conv2d(3 → 768, kernel 32, stride 32), seeded random weights."""
    return _embedder("patch", device)


def grid_backbone(device: str = "cpu") -> torch.nn.Module:
    """A ResNet-50 up to layer4 (stride 32, 2048 channels), seeded random weights: grid features
    as Pixel-BERT takes them. Speed does not depend on the weights."""
    return _embedder("grid", device)


def _embedder(kind: str, device: str) -> torch.nn.Module:
    with _embedder_lock:
        key = (kind, str(device))
        if key not in _embedder_cache:
            with seeded_rng(0):  # built on the CPU, then moved
                if kind == "patch":
                    module = torch.nn.Conv2d(3, HIDDEN_SIZE, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)
                else:
                    from torchvision.models import resnet50

                    net = resnet50(weights=None)
                    module = torch.nn.Sequential(*list(net.children())[:-2])
            _embedder_cache[key] = module.eval().to(device)
        return _embedder_cache[key]


def _resized_pixels(image: Image.Image, short_side: int, long_cap: int) -> torch.Tensor:
    """(1, 3, h, w) normalised to [-1, 1], resized as ViLT does for `short_side`=384 (the same
    rule scaled for Pixel-BERT's 800 / 1333)."""
    nw, nh = _fit(*image.size, short_side, long_cap)
    array = np.asarray(image.convert("RGB").resize((nw, nh), Image.BICUBIC), np.float32) / 255.0
    return (torch.from_numpy(array).permute(2, 0, 1)[None] - 0.5) / 0.5


def _median_ms(fn, runs: int, warmup: int, device: str) -> float:
    cuda = str(device).startswith("cuda")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def time_visual_embeddings(
    image: Image.Image,
    backbone,
    runs: int = 3,
    warmup: int = 1,
    grid_short_side: int = SHORTER_EDGE,
    progress=None,
) -> EmbeddingTiming:
    """Time, on the backbone's device, the three ways to embed `image` for a V+L transformer:
    ViLT's linear patch projection and the ResNet-50 grid on the image resized as ViLT does
    (or, with grid_short_side=800, as Pixel-BERT does), and CLIP's whole image tower on CLIP's
    own view. Only the forward is timed, not resizing; each is the median of `runs` after `warmup`.
    `progress(fraction, description)`, if given, is called before each of the three."""
    if grid_short_side not in GRID_SHORT_SIDES:
        raise InputError(f"The grid input's short side must be one of {GRID_SHORT_SIDES}.")
    runs = max(1, int(runs))
    device = str(backbone.device)
    image = image.convert("RGB")
    vilt_pixels = _resized_pixels(image, SHORTER_EDGE, LONGER_EDGE).to(device)
    long_cap = LONGER_EDGE if grid_short_side == SHORTER_EDGE else 1333
    grid_pixels = vilt_pixels if grid_short_side == SHORTER_EDGE else _resized_pixels(image, grid_short_side, long_cap).to(device)
    clip_pixels = backbone.pixels([image])
    projection, grid = patch_projection(device), grid_backbone(device)
    shapes: dict[str, tuple[int, ...]] = {}

    def run_patch():
        with torch.inference_mode():
            out = projection(vilt_pixels).flatten(2).transpose(1, 2)  # (1, patches, 768)
        shapes["patch"] = tuple(out.shape[1:])

    def run_grid():
        with torch.inference_mode():
            out = grid(grid_pixels)  # (1, 2048, h/32, w/32)
        shapes["grid"] = tuple(out.shape[1:])

    def run_clip():
        out = backbone.encode_images(clip_pixels)
        shapes["clip"] = tuple(out.shape[1:])

    measured = []
    for step, (kind, fn) in enumerate(zip(EMBEDDERS, (run_patch, run_grid, run_clip))):
        if progress is not None:
            progress(step / len(EMBEDDERS), f"timing the {EMBEDDER_LABELS[kind]}")
        measured.append(_median_ms(fn, runs, warmup, device))
    return EmbeddingTiming(
        kinds=EMBEDDERS,
        labels=tuple(EMBEDDER_LABELS[k] for k in EMBEDDERS),
        measured_ms=np.array(measured),
        input_sizes=(
            tuple(vilt_pixels.shape[-2:]),
            tuple(grid_pixels.shape[-2:]),
            tuple(clip_pixels.shape[-2:]),
        ),
        output_shapes=tuple(shapes[k] for k in EMBEDDERS),
        device=device,
        runs=runs,
        threads=torch.get_num_threads(),
    )
