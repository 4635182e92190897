"""ViLT: visual question answering with one transformer and no convolutional visual backbone.

Kim, Son, Kim, *ViLT: Vision-and-Language Transformer Without Convolution or Region Supervision*,
ICML 2021. One single-stream transformer (initialised from ViT-B/32: 768 wide, 12 layers) reads the
question's BERT tokens (≤ 40) and the image's 32×32 patches, each patch turned into a token by one
linear projection; a modality-type embedding tells the two apart. The pooled [CLS] state feeds a VQA
head over 3 129 answers. Because the visual embedding is a single strided linear map, it costs
~0.4 ms where grid CNN features cost ~45 ms and detector region features ~810 ms (the paper's Fig. 1).

The package, by subject (each piece usable without the others):
- `paper`: the paper's numbers, ViLT's resize rule, and the one bounded cache (`loaded`, a
  `functools.lru_cache` of MAX_LOADED entries) through which the official engine and the timing
  modules are built once.
- `questions` + `clip_engine`: the engine that always runs, on the shared CLIP (`ClipVQA`): every
  candidate answer becomes one statement built from the question (`QUESTION_RULES`), and CLIP ranks
  the statements against the image.
- `official`: the official engine (`ViltVQA`: transformers' `ViltForQuestionAnswering`, checkpoint
  `dandelin/vilt-b32-finetuned-vqa`), top-k answers with probabilities and a word–patch alignment map
  for every word of the question, from the model's own attentions or, as the official demo does,
  from an optimal-transport plan (IPOT) between text and patch states. Weights come from the Hugging
  Face cache only: nothing is downloaded; when they are missing `load_vilt` says so (WeightsError).
- `timing`: the paper's headline claim measured on this machine, on the uploaded image
  (`time_visual_embeddings`): ViLT's linear patch projection vs a CNN grid backbone vs CLIP's whole
  image tower.
- `result`: `VQAResult`, what both engines return.

Everything public is importable from `components.vilt` as before the split.
"""

from __future__ import annotations

from components.vilt.clip_engine import ClipVQA
from components.vilt.official import ViltVQA, ipot, load_vilt, vilt_weights_cached
from components.vilt.paper import (
    ALIGNMENTS,
    ATTENTION_LAYERS,
    HIDDEN_SIZE,
    IPOT_BETA,
    IPOT_INNER,
    IPOT_ITERATIONS,
    LONGER_EDGE,
    MAX_LOADED,
    MAX_TEXT_TOKENS,
    NUM_LAYERS,
    PATCH_SIZE,
    QUOTED_LABELS,
    QUOTED_MS,
    SHORTER_EDGE,
    TOP_K,
    VQA_ANSWERS,
    VQA_CHECKPOINT,
    VQAV2_TEST_DEV,
    clear_loaded,
    loaded,
    vilt_size,
)
from components.vilt.questions import (
    MAX_QUESTION_CHARS,
    PROMPT_STYLES,
    QA_TEMPLATE,
    QUESTION_RULES,
    QuestionPlan,
    QuestionRule,
    check_question,
    normalise_question,
    plan_question,
    with_article,
)
from components.vilt.result import VQAResult
from components.vilt.timing import (
    EMBEDDER_LABELS,
    EMBEDDERS,
    GRID_SHORT_SIDES,
    EmbeddingTiming,
    grid_backbone,
    patch_projection,
    time_visual_embeddings,
)

__all__ = [
    "ALIGNMENTS", "ATTENTION_LAYERS", "EMBEDDERS", "EMBEDDER_LABELS", "GRID_SHORT_SIDES", "HIDDEN_SIZE",
    "IPOT_BETA", "IPOT_INNER", "IPOT_ITERATIONS", "LONGER_EDGE", "MAX_LOADED", "MAX_QUESTION_CHARS",
    "MAX_TEXT_TOKENS", "NUM_LAYERS", "PATCH_SIZE", "PROMPT_STYLES", "QA_TEMPLATE", "QUESTION_RULES",
    "QUOTED_LABELS", "QUOTED_MS", "SHORTER_EDGE", "TOP_K", "VQAV2_TEST_DEV", "VQA_ANSWERS", "VQA_CHECKPOINT",
    "ClipVQA", "EmbeddingTiming", "QuestionPlan", "QuestionRule", "VQAResult", "ViltVQA", "check_question",
    "clear_loaded", "grid_backbone", "ipot", "load_vilt", "loaded", "normalise_question", "patch_projection",
    "plan_question", "time_visual_embeddings", "vilt_size", "vilt_weights_cached", "with_article",
]
