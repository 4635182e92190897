"""ActionCLIP: action recognition as video–text matching (Wang, Xing, Liu 2021), zero-shot with meanP.

The paper's test-time path, as its official code runs it:
1. Sample T frames: the centre frame of each of T equal segments (T = 8 by default); a clip with
   fewer frames than T repeats them (slot i shows frame i·N // T). Each frame is seen as the official
   `Augmentation.py` shows it at test time: short side resized to input·256/224 (256 for a 224-px
   model, bicubic), centre crop of the model's input size, CLIP's normalisation.
2. Encode each frame with CLIP's image tower; fuse with meanP, the mean of the *raw* (unnormalised)
   frame features — the only parameter-free fusion head, and the only one meaningful on plain CLIP
   weights (Conv1D / LSTM / Transformer heads are trained).
3. L2-normalise the video feature and each prompt's text feature; similarity = 100 · cos.
4. Softmax over the labels *per template*, then average the probability vectors of the templates
   (an ensemble of probabilities, not of embeddings). Text rows are template-major.

Beyond the prediction the result carries what a teacher wants to show: each frame's own label
probabilities (the same recipe on one frame's feature), each template's vote, and the raw frame
features, so re-scoring with other labels or templates needs no image forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from components.errors import InputError
from components.prompts import ACTIONCLIP16, TemplateSet, get_template_set
from components.video import ACTIONCLIP_T, SampledVideo, Sampling, load_video

T = ACTIONCLIP_T  # frames per video: one per segment
LOGIT_SCALE = 100.0  # similarity = 100 · cos(video, text)
TEMPLATES = ACTIONCLIP16  # the 16 label prompts
MAX_ACTION_LABELS = 400  # Kinetics-400's class list must fit
SCALE_SIZE, INPUT_SIZE = 256, 224  # test-time view: short side 256, centre crop 224 (scaled for other inputs)


@dataclass(frozen=True)
class ActionResult:
    """labels (L), templates (P) in order given; frames K ≤ T.

    probs (L,): the prediction, mean over templates of softmax(100·cos) over labels.
    template_probs (P, L): each template's softmax; similarity (P, L): cos(video, template·label).
    frame_probs (K, L): the same recipe on each frame alone (when each action is seen).
    frame_features (K, D): raw frame features (before any normalisation); times (K,) seconds;
    indices (K,) frame numbers; mask (T,) True for real frames, False for padding.
    """

    labels: tuple[str, ...]
    templates: tuple[str, ...]
    probs: np.ndarray
    template_probs: np.ndarray
    similarity: np.ndarray
    frame_probs: np.ndarray
    frame_features: np.ndarray
    times: np.ndarray
    indices: np.ndarray
    mask: np.ndarray
    logit_scale: float

    def ranking(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")
        return [(self.labels[i], float(self.probs[i])) for i in order]

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    def template_votes(self) -> list[tuple[str, str, float]]:
        """(template, its top label, that label's probability under the template), in template order."""
        tops = self.template_probs.argmax(axis=1)
        return [(t, self.labels[i], float(self.template_probs[p, i])) for p, (t, i) in enumerate(zip(self.templates, tops))]

    def agreeing_templates(self) -> tuple[str, ...]:
        """Templates whose own top label is the ensemble's top label."""
        return tuple(t for t, label, _ in self.template_votes() if label == self.top_label)

    @property
    def agreement(self) -> float:
        return len(self.agreeing_templates()) / len(self.templates)

    def frame_top_labels(self) -> list[tuple[str, float]]:
        return [(self.labels[i], float(row[i])) for row, i in zip(self.frame_probs, self.frame_probs.argmax(axis=1))]

    def top_indices(self, n: int) -> np.ndarray:
        """Indices of the `n` most probable labels, best first (ties in label order)."""
        return np.argsort(-self.probs, kind="stable")[: int(n)]


def as_template_set(templates: str | TemplateSet | Sequence[str]) -> TemplateSet:
    """A template set by name, a TemplateSet, or a selection of template strings (e.g. the ones a
    person left switched on)."""
    if isinstance(templates, (str, TemplateSet)):
        return get_template_set(templates)
    chosen = tuple(dict.fromkeys(templates))
    if not chosen:
        raise InputError("Switch on at least one prompt template.")
    try:
        return TemplateSet("actionclip:" + "|".join(chosen), chosen)
    except ValueError as error:
        raise InputError(f"A template must hold exactly one “{{}}” where the label goes ({error}).") from None


def test_view(backbone) -> transforms.Compose:
    """ActionCLIP's test-time transform (official Augmentation.py: GroupScale(scale_size) with
    scale_size = input_size·256 // 224, GroupCenterCrop(input_size), /255, GroupNormalize with CLIP's
    mean and std) for this backbone's input size: 256 → 224 for a 224-px model."""
    # torchvision on first use: its import costs the page's start-up seconds (issue 20)
    from torchvision import transforms

    size = backbone.image_size
    return transforms.Compose([
        transforms.Resize(size * SCALE_SIZE // INPUT_SIZE, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(backbone.mean, backbone.std),
    ])


def frame_pixels(backbone, frames: Sequence) -> torch.Tensor:
    """(K, 3, S, S) normalised pixels of the frames through `test_view`."""
    view = test_view(backbone)
    return torch.stack([view(frame.convert("RGB")) for frame in frames])


def encode_frames_raw(backbone, frames: Sequence) -> torch.Tensor:
    """(K, D) image features *before* L2 normalisation, all frames in batched forwards, each frame
    through ActionCLIP's test-time view (`frame_pixels`)."""
    return backbone.encode_images(frame_pixels(backbone, frames), normalize=False)


class ActionCLIP:
    """`ActionCLIP(backbone)(video, labels) -> ActionResult`.

    video: a path (video or GIF), a list of images, or a `SampledVideo` already sampled.
    T: segments sampled per video; templates: a template set or a selection of template strings.
    """

    def __init__(self, backbone, T: int = T, templates: str | TemplateSet | Sequence[str] = TEMPLATES):
        self.backbone = backbone
        self.sampling = Sampling("segments", int(T))
        self.templates = as_template_set(templates)

    def sample(self, video) -> SampledVideo:
        return video if isinstance(video, SampledVideo) else load_video(video, self.sampling)

    def __call__(self, video, labels: Sequence[str]) -> ActionResult:
        sampled = self.sample(video)
        features = encode_frames_raw(self.backbone, sampled.frames)  # (K, D) raw
        return self.score(features, labels, times=sampled.times, indices=sampled.indices, mask=sampled.mask)

    def text_features(self, labels: Sequence[str]) -> torch.Tensor:
        """(P, L, D) unit text features, template-major: row p holds template p filled with each label."""
        prompts = [template.replace("{}", label) for template in self.templates.templates for label in labels]
        return self.backbone.encode_texts(prompts).reshape(len(self.templates), len(labels), -1)

    def score(self, frame_features, labels: Sequence[str], *, times=None, indices=None, mask=None) -> ActionResult:
        """The prediction from raw frame features (K, D): re-scoring with other labels or templates
        costs text forwards only (cached), never an image forward."""
        labels = tuple(labels)
        if not labels:
            raise InputError("Give at least one label, e.g. “running, jumping, swimming”.")
        frames = torch.as_tensor(np.asarray(frame_features), dtype=torch.float32)
        text = self.text_features(labels)  # (P, L, D)
        video = frames.mean(dim=0)  # meanP over the raw frame features
        video = video / video.norm().clamp_min(1e-12)
        similarity = torch.einsum("pld,d->pl", text, video)  # (P, L) cos
        template_probs = torch.softmax(LOGIT_SCALE * similarity, dim=1)
        probs = template_probs.mean(dim=0)
        unit_frames = frames / frames.norm(dim=1, keepdim=True).clamp_min(1e-12)
        frame_probs = torch.softmax(LOGIT_SCALE * torch.einsum("pld,kd->kpl", text, unit_frames), dim=2).mean(dim=1)
        k = len(frames)
        return ActionResult(
            labels=labels,
            templates=self.templates.templates,
            probs=probs.numpy(),
            template_probs=template_probs.numpy(),
            similarity=similarity.numpy(),
            frame_probs=frame_probs.numpy(),
            frame_features=frames.numpy(),
            times=np.asarray(times if times is not None else np.arange(k), np.float64),
            indices=np.asarray(indices if indices is not None else np.arange(k), np.int64),
            mask=np.asarray(mask if mask is not None else np.ones(k, bool)),
            logit_scale=LOGIT_SCALE,
        )
