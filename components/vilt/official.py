"""ViLT's official engine: transformers' `ViltForQuestionAnswering` with the VQA checkpoint, its
top-k answers and a word–patch alignment map for every word of the question. Weights come from the
Hugging Face cache only: nothing is downloaded."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from components import precision as precisions
from components.backbone import seeded_rng
from components.errors import InputError, WeightsError
from components.vilt.paper import (
    ALIGNMENTS,
    ATTENTION_LAYERS,
    IPOT_BETA,
    IPOT_INNER,
    IPOT_ITERATIONS,
    MAX_TEXT_TOKENS,
    TOP_K,
    VQA_CHECKPOINT,
    loaded,
)
from components.vilt.questions import check_question
from components.vilt.result import VQAResult


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
        precision: str = "fp32",
    ):
        if alignment not in ALIGNMENTS:
            raise InputError(f"Unknown alignment {alignment!r}; choose one of: {', '.join(ALIGNMENTS)}")
        if attention_layers not in ATTENTION_LAYERS:
            raise InputError(f"Unknown attention layers {attention_layers!r}; choose one of: {', '.join(ATTENTION_LAYERS)}")
        # fp32 / bf16 / int8 (components.precision), applied once; the pixels are cast to match
        self.precision = precisions.resolve(precision, next(model.parameters()).device.type)
        self.dtype = precisions.DTYPES[self.precision]
        self.model = precisions.apply_engine(model.eval(), self.precision)
        self.processor = processor
        self.top_k = int(top_k)
        self.alignment = alignment
        self.attention_layers = attention_layers
        self.seed = seed
        self.source = source or getattr(model.config, "_name_or_path", "") or "ViltForQuestionAnswering"

    def with_settings(self, **settings) -> "ViltVQA":
        """The same loaded model with other settings (top_k, alignment, attention_layers, seed)."""
        kwargs = dict(top_k=self.top_k, alignment=self.alignment, attention_layers=self.attention_layers, seed=self.seed,
                      source=self.source, precision=self.precision)
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
        pixel_values = pixels["pixel_values"].to(device, self.dtype)
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
            model=f"ViLT · {self.source}" + ("" if self.precision == "fp32" else f" · {precisions.LABELS[self.precision]}"),
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


def load_vilt(checkpoint: str = VQA_CHECKPOINT, device: str = "auto", cache_dir: str | None = None,
              precision: str | None = None) -> ViltVQA:
    """The official ViLT VQA model from the Hugging Face cache, loaded once per precision and kept in
    the ViLT modules' bounded cache (`paper.loaded`). `precision` None: the process's
    (`components.precision.active`, a replay's inside a replay).

    Never downloads (local_files_only): without the weights in the cache it raises WeightsError
    saying how to put them there."""
    from components.backbone import resolve_device

    resolved = resolve_device(device)
    return loaded(_load_official, checkpoint, resolved, cache_dir, precisions.resolve(precision or precisions.active(), resolved))


def _load_official(checkpoint: str, device: str, cache_dir: str | None, precision: str) -> ViltVQA:
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
    return ViltVQA(model.to(device), processor, source=checkpoint, precision=precision)
