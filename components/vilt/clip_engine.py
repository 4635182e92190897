"""ViLT tab's CLIP engine, part two: CLIP ranks the candidate answers' statements against the image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from components import dense
from components.dense import DenseFeatures
from components.errors import InputError
from components.vilt.paper import TOP_K
from components.vilt.questions import PROMPT_STYLES, check_question, plan_question
from components.vilt.result import VQAResult
from components.vqa_answers import answers_for


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

    def embed(self, image: Image.Image) -> DenseFeatures:
        """The image's dense and global CLIP embeddings: pay once, then ask many questions
        (components.features; keyed by `features_key`)."""
        return self.backbone.dense(image.convert("RGB"), self.dense_method, self.short_side)

    def features_key(self, image: Image.Image) -> str:
        """The key of `embed(image)`: the image's pixels, the backbone and the dense settings."""
        return dense.features_key(self.backbone, image, self.dense_method, self.short_side)

    def __call__(
        self,
        image: Image.Image | DenseFeatures | None,
        question: str,
        candidates: Sequence[str] | None = None,
        features: DenseFeatures | None = None,
    ) -> VQAResult:
        """Answer `question` about an image, or about its `DenseFeatures` from an earlier `embed`
        (passed as the image, or as `features=`), with no image forward."""
        if isinstance(image, DenseFeatures):
            image, features = None, image
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
