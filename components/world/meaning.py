"""The meaning benchmark: each tab's real pipeline on held-out world examples, scored against the
generator's truth.

Every `score_<tab>(backbone, n=...)` builds the world inputs the way the tab's user gives them (scenes
rendered at 224 px and handed over as PIL images, clips as lists of frames, point clouds as (N, 3)
arrays), runs the pipeline class of `components/<method>.py` with its paper defaults, and returns a
`Score`: the metric, the chance level it should be read against, how many examples, and notes on
every choice the world needed. Seeds come from the "held_out" split (`components.world.splits`), so
nothing scored was ever trained on; the held-out colour × shape combinations come up at their natural
rate (8 of the 64) and are reported apart where a tab names objects. A smaller `n` scores a prefix of
the larger run's examples. Same backbone and `n` → same score.

| tab          | metric                                    | chance                                    |
|--------------|-------------------------------------------|-------------------------------------------|
| zeroshot     | top-1 over the 64 colour × shape classes  | 1/64                                      |
| lseg         | mIoU (scene labels + "other")             | uniform random label per pixel (expected) |
| groupvit     | mIoU (scene labels, background rule)      | uniform random label per pixel (expected) |
| vild, glip   | AP50, pooled over categories              | true boxes × every category, random order |
| clip4clip    | text → video R@1 over 50 clips            | 1/50                                      |
| actionclip   | top-1 over the 5 actions                  | 1/5                                       |
| pointclip_*  | top-1 over the 12 solids                  | 1/12                                      |
| vilt         | accuracy on colour / shape / count        | 1/candidates, averaged over questions     |
| depthclip    | Spearman(predicted depth, true depth)     | 0                                         |
| clipasso     | the judge finds each sketch's own image   | 1/n                                       |

UI-free: used by `benchmarks/bench_meaning.py` and `tests/test_meaning.py`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from components import regions
from components.world import clips, scenes, solids, splits
from components.world.captions import plural

SIZE = 224  # scenes are rendered at 224 px, as a person would upload a picture
DISTRACTORS = 3  # extra categories offered to ViLD and GLIP per scene
IOU = 0.5  # AP50
CLIPS = 50  # CLIP4Clip's retrieval set

# What CLIP Lab Mini should reach on each tab (issue 16), as a fraction (R@1 and top-1 included).
TARGETS: dict[str, float] = {
    "zeroshot": 0.90,
    "lseg": 0.50,
    "groupvit": 0.40,
    "vild": 0.50,
    "glip": 0.50,
    "clip4clip": 0.80,
    "actionclip": 0.80,
    "pointclip_v1": 0.70,
    "pointclip_v2": 0.70,
    "vilt": 0.80,
    "depthclip": 0.50,
    "clipasso": 0.80,
}

# Each tab draws its examples from its own stretch of the held-out seeds.
_OFFSETS = {
    "zeroshot": 0,
    "lseg": 100_000,
    "groupvit": 200_000,
    "vild": 300_000,
    "glip": 400_000,
    "clip4clip": 500_000,
    "actionclip": 600_000,
    "pointclip": 700_000,
    "vilt_colour": 800_000,
    "vilt_shape": 900_000,
    "vilt_count": 1_000_000,
    "depthclip": 1_100_000,
    "clipasso": 1_200_000,
}


@dataclass(frozen=True)
class Score:
    """One tab's score. value and chance in the metric's own units (fractions for top-1, R@1, mIoU,
    AP; a correlation for Spearman); n: examples scored (images, clips, clouds or questions);
    parts: named sub-scores (e.g. the held-out combinations alone); notes: the choices made."""

    tab: str
    metric: str
    value: float
    chance: float
    n: int
    notes: tuple[str, ...] = ()
    parts: dict = field(default_factory=dict)

    @property
    def target(self) -> float:
        return TARGETS[self.tab]

    @property
    def floor(self) -> float:
        """Half-way between chance and the target: what the tests assert."""
        return halfway(self.chance, self.target)


def halfway(chance: float, target: float) -> float:
    return (chance + target) / 2


# -- world inputs ------------------------------------------------------------------------------------
def held_out(tab: str, n: int) -> range:
    return splits.seeds("held_out", n, offset=_OFFSETS[tab])


def rendered(scene: scenes.Scene) -> tuple[scenes.Rendered, Image.Image]:
    r = scenes.render(scene, SIZE)
    return r, Image.fromarray(r.image)


def distinct_labels(scene: scenes.Scene) -> list[str]:
    return list(dict.fromkeys(scene.labels))


def distractors(scene: scenes.Scene, count: int = DISTRACTORS) -> list[str]:
    """`count` colour × shape labels not in the scene, drawn from the scene's seed."""
    present = set(scene.labels)
    others = [label for label in scenes.class_labels() if label not in present]
    rng = np.random.default_rng([scene.seed, 16])
    return [others[i] for i in sorted(rng.choice(len(others), count, replace=False))]


def _held_out_share(flags: list[bool], correct: list[bool]) -> dict:
    hits = [c for f, c in zip(flags, correct) if f]
    return {"held-out combinations": float(np.mean(hits)) if hits else float("nan"), "held-out count": len(hits)}


# -- metric helpers ----------------------------------------------------------------------------------
def class_ids(label_map: np.ndarray, labels: Sequence[str | None]) -> np.ndarray:
    """(H, W) index into `labels` (-1 = background) → (H, W) world class ids (0 = background);
    a label of None counts as background (LSeg's "other")."""
    lookup = np.array([0] + [0 if l is None else scenes.class_labels().index(l) + 1 for l in labels], np.int64)
    return lookup[np.asarray(label_map, np.int64) + 1]


class IoUAccumulator:
    """Dataset-level IoU per class (intersections and unions summed over images, as mmseg does);
    mIoU = mean over the classes that occur (union > 0). Also the expected counts of a labelling that
    gives every pixel one of the offered labels uniformly at random: the chance level."""

    def __init__(self):
        self.intersection: dict[int, float] = {}
        self.union: dict[int, float] = {}
        self.chance_intersection: dict[int, float] = {}
        self.chance_union: dict[int, float] = {}

    def add(self, predicted: np.ndarray, truth: np.ndarray, offered: Sequence[int]) -> None:
        """predicted, truth: (H, W) class ids; offered: the class ids the pipeline could answer,
        background (0) included."""
        predicted, truth = np.asarray(predicted), np.asarray(truth)
        for c in set(np.unique(predicted).tolist()) | set(np.unique(truth).tolist()):
            p, t = predicted == c, truth == c
            self.intersection[c] = self.intersection.get(c, 0.0) + float((p & t).sum())
            self.union[c] = self.union.get(c, 0.0) + float((p | t).sum())
        k, pixels = len(set(offered)), truth.size
        for c in set(offered):
            area = float((truth == c).sum())
            self.chance_intersection[c] = self.chance_intersection.get(c, 0.0) + area / k
            self.chance_union[c] = self.chance_union.get(c, 0.0) + area + (pixels - area) / k

    @staticmethod
    def _mean(intersection: dict, union: dict) -> float:
        ious = [intersection[c] / union[c] for c in union if union[c] > 0]
        return float(np.mean(ious)) if ious else float("nan")

    def miou(self) -> float:
        return self._mean(self.intersection, self.union)

    def chance(self) -> float:
        return self._mean(self.chance_intersection, self.chance_union)


@dataclass(frozen=True)
class Detections:
    """One image's detections (boxes (N, 4) pixels x0 y0 x1 y1, labels, scores, best first) and
    truth (boxes (M, 4), labels); `offered`: how many categories the detector was given."""

    boxes: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    truth_boxes: np.ndarray
    truth_labels: tuple[str, ...]
    offered: int


def average_precision(images: Sequence[Detections], iou: float = IOU) -> float:
    """AP at IoU ≥ `iou`, pooled over categories: every detection of every image in one list sorted
    by score (stable: ties keep image order, then the pipeline's own order); greedily, each takes the
    unmatched truth box of its label with the highest IoU, a true positive when that IoU ≥ `iou`;
    AP = area under the precision envelope (VOC's all-point interpolation)."""
    total = sum(len(d.truth_labels) for d in images)
    if total == 0:
        return float("nan")
    scores, image_index, det_index = [], [], []
    for i, d in enumerate(images):
        for j, s in enumerate(d.scores):
            scores.append(float(s))
            image_index.append(i)
            det_index.append(j)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    matched = [np.zeros(len(d.truth_labels), bool) for d in images]
    ious = [regions.iou_matrix(d.boxes, d.truth_boxes) if len(d.boxes) and len(d.truth_boxes) else None for d in images]
    hits = []
    for k in order:
        i, j = image_index[k], det_index[k]
        d = images[i]
        candidates = [m for m, label in enumerate(d.truth_labels) if label == d.labels[j] and not matched[i][m]]
        best = max(candidates, key=lambda m: ious[i][j, m], default=None) if ious[i] is not None else None
        if best is not None and ious[i][j, best] >= iou:
            matched[i][best] = True
            hits.append(True)
        else:
            hits.append(False)
    return _area(np.asarray(hits, bool), total)


def _area(hits: np.ndarray, total: int) -> float:
    if len(hits) == 0:
        return 0.0
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / total
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((envelope * steps).sum())


def chance_average_precision(images: Sequence[Detections]) -> float:
    """The AP of a detector that finds every true box but knows no category: each box reported once
    per offered category, all in random order. Its precision is the share of correct pairs at every
    recall, so AP = Σ boxes / Σ boxes × categories offered."""
    boxes = sum(len(d.truth_labels) for d in images)
    pairs = sum(len(d.truth_labels) * d.offered for d in images)
    return boxes / pairs if pairs else float("nan")


def _truth_boxes(r: scenes.Rendered) -> tuple[np.ndarray, tuple[str, ...]]:
    visible = ~np.isnan(r.boxes).any(axis=1)
    return r.boxes[visible], tuple(label for label, v in zip(r.scene.labels, visible) if v)


# -- the tabs ----------------------------------------------------------------------------------------
def score_zeroshot(backbone, n: int = 256) -> Score:
    """CLIP zero-shot: single-object scenes, the 64 colour × shape classes, CLIP's 80 prompts."""
    from components.zeroshot import ZeroShotClassifier

    classify = ZeroShotClassifier(backbone)  # imagenet80 templates: CLIP's own ensemble
    labels = scenes.class_labels()
    correct, flags = [], []
    for seed in held_out("zeroshot", n):
        scene = scenes.random_scene(seed, kind="objects", count=1)
        _, image = rendered(scene)
        o = scene.objects[0]
        correct.append(classify(image, labels).top_label == o.label)
        flags.append(splits.is_held_out(o.colour, o.shape))
    return Score(
        "zeroshot", "top-1", float(np.mean(correct)), 1 / len(labels), n,
        ("single-object scenes; labels: the 64 colour × shape classes; CLIP's 80 ImageNet templates",),
        _held_out_share(flags, correct),
    )


def score_lseg(backbone, n: int = 64) -> Score:
    """LSeg (NACLIP dense patches): labels = the scene's labels + "other", LSeg's catch-all."""
    from components.lseg import LSeg

    segment = LSeg(backbone)  # raw labels, 1/0.07, no threshold: "other" is the background
    acc = IoUAccumulator()
    for seed in held_out("lseg", n):
        scene = scenes.random_scene(seed)
        r, image = rendered(scene)
        labels = distinct_labels(scene)
        result = segment(image, [*labels, "other"])
        predicted = class_ids(result.label_map, [*labels, None])
        acc.add(predicted, r.classes, [0, *(scenes.class_labels().index(l) + 1 for l in labels)])
    return Score(
        "lseg", "mIoU", acc.miou(), acc.chance(), n,
        (
            "scenes of every kind (1–4 objects, counts, relations); labels: the scene's own + “other” "
            "(LSeg's catch-all), which counts as background",
            "mIoU over the dataset: per-class intersections and unions summed over images, background a class",
            "dense: NACLIP at the model's input size (the tab's 1× resolution)",
        ),
    )


def score_groupvit(backbone, n: int = 64) -> Score:
    """GroupViT (CLIP-backed): classes = the scene's labels; background by GroupViT's own rule."""
    from components.groupvit import GroupViT

    group = GroupViT(backbone)  # 64 → 8 groups, top-5, background below min(0.95, best score)
    acc = IoUAccumulator()
    for seed in held_out("groupvit", n):
        scene = scenes.random_scene(seed)
        r, image = rendered(scene)
        labels = distinct_labels(scene)
        result = group(image, labels)
        predicted = class_ids(result.label_map, list(result.classes))
        acc.add(predicted, r.classes, [0, *(scenes.class_labels().index(l) + 1 for l in labels)])
    return Score(
        "groupvit", "mIoU", acc.miou(), acc.chance(), n,
        (
            "scenes of every kind; classes: the scene's own; background by GroupViT's rule "
            "(score < min(0.95, best group score)), as the tab does with no background label",
            "mIoU over the dataset, background a class; chance: each pixel one of labels + background at random",
        ),
    )


def _detection_scene(seed: int) -> tuple[scenes.Rendered, Image.Image, list[str], list[str]]:
    scene = scenes.random_scene(seed)
    r, image = rendered(scene)
    labels = distinct_labels(scene)
    return r, image, labels, [*labels, *distractors(scene)]


def _vild_detections(result, keep, truth, truth_labels, offered: int) -> Detections:
    best = result.probs[keep].argmax(1) if len(keep) else np.zeros(0, int)
    return Detections(result.boxes[keep].reshape(-1, 4), tuple(result.classes[b] for b in best),
                      result.probs[keep, best] if len(keep) else np.zeros(0), truth, truth_labels, offered)


def _glip_detections(result, grounded, truth, truth_labels, offered: int) -> Detections:
    return Detections(np.asarray([result.boxes[g] for _, g, _ in grounded], np.float32).reshape(-1, 4),
                      tuple(result.phrases[p].text for p, _, _ in grounded),
                      np.asarray([s for _, _, s in grounded], np.float64), truth, truth_labels, offered)


class Agreement:
    """How often the one-forward ("pooled") region embeddings give a proposal the same top label
    (background included) as ViLD's crops, over every proposal and over the boxes the crops keep."""

    def __init__(self):
        self.same = {"every proposal": [], "the crops' kept boxes": []}

    def add(self, crops, pooled, kept: np.ndarray) -> None:
        assert np.array_equal(crops.boxes, pooled.boxes), "the two runs must score the same proposals"
        same = crops.probs.argmax(1) == pooled.probs.argmax(1)
        self.same["every proposal"].extend(same.tolist())
        self.same["the crops' kept boxes"].extend(same[np.asarray(kept, int)].tolist())

    def parts(self) -> dict:
        return {f"top label agreement, pooled vs crops, {k}": float(np.mean(v)) if v else float("nan")
                for k, v in self.same.items()}


POOLED_NOTE = ("one-forward mode (region_embedding=\"pooled\": each proposal pooled from the dense map) on "
               "the same proposals, reported beside the crops (the score above)")


def score_vild(backbone, n: int = 48) -> Score:
    """ViLD (CLIP on cropped regions): categories = the scene's labels + 3 distractors. Also the
    one-forward region embeddings on the same proposals, and how often the two agree."""
    from components.vild import ViLD

    detectors = {how: ViLD(backbone, region_embedding=how) for how in regions.REGION_EMBEDDINGS}
    # the demo's defaults: 63 prompts, score ≥ 0.9, NMS 0.6, ≤ 25 boxes
    images = {how: [] for how in detectors}
    loose, agreement = [], Agreement()
    for seed in held_out("vild", n):
        r, image, _, categories = _detection_scene(seed)
        results = {how: detect(image, categories) for how, detect in detectors.items()}
        truth, truth_labels = _truth_boxes(r)
        for how, result in results.items():
            images[how].append(_vild_detections(result, result.keep, truth, truth_labels, len(categories)))
        crops = results["crops"]
        loose.append(_vild_detections(crops, crops.select(score_threshold=0.0).keep, truth, truth_labels, len(categories)))
        agreement.add(crops, results["pooled"], crops.keep)
    return Score(
        "vild", "AP50", average_precision(images["crops"]), chance_average_precision(images["crops"]), n,
        (
            f"scenes of every kind; categories: the scene's labels + {DISTRACTORS} distractor classes (seeded)",
            "the tab's detections at the demo's defaults (score ≥ 0.9, NMS 0.6, ≤ 25 boxes) with ViLD's "
            "1× + 1.5× crops; AP pooled over categories, greedy matching by score",
            "chance: every true box given every offered category in random order (localisation for free)",
            POOLED_NOTE,
        ),
        {"AP50 with no score threshold": average_precision(loose),
         "AP50 one forward (pooled)": average_precision(images["pooled"]), **agreement.parts()},
    )


def score_glip(backbone, n: int = 48) -> Score:
    """GLIP (CLIP-backed grounding): caption "red star . blue circle . …" with 3 distractors. Also the
    one-forward region embeddings on the same proposals, and how often the two agree."""
    from components.glip import GLIP

    grounders = {how: GLIP(backbone, region_embedding=how) for how in regions.REGION_EMBEDDINGS}
    # threshold 0.5, NMS 0.6 per phrase, ≤ 5 boxes per phrase
    images = {how: [] for how in grounders}
    loose, agreement = [], Agreement()
    for seed in held_out("glip", n):
        r, image, _, categories = _detection_scene(seed)
        caption = " . ".join(categories) + " ."
        results = {how: ground(image, caption) for how, ground in grounders.items()}
        truth, truth_labels = _truth_boxes(r)
        for how, result in results.items():
            images[how].append(_glip_detections(result, result.grounded, truth, truth_labels, len(categories)))
        crops = results["crops"]
        loose.append(_glip_detections(crops, crops.select(threshold=0.0).grounded, truth, truth_labels, len(categories)))
        agreement.add(crops, results["pooled"], sorted({g for _, g, _ in crops.grounded}))
    return Score(
        "glip", "AP50", average_precision(images["crops"]), chance_average_precision(images["crops"]), n,
        (
            f"scenes of every kind; caption: the scene's labels + {DISTRACTORS} distractors joined with ' . '",
            "the tab's grounded boxes at GLIP's demo threshold 0.5 with 1× + 1.5× crops; AP pooled over "
            "phrases, greedy matching by score",
            "chance: every true box given every phrase in random order (localisation for free)",
            POOLED_NOTE,
        ),
        {"AP50 with no threshold": average_precision(loose),
         "AP50 one forward (pooled)": average_precision(images["pooled"]), **agreement.parts()},
    )


def retrieval_clips(count: int = CLIPS) -> list[clips.Clip]:
    """`count` held-out clips with distinct captions (a repeated caption's clip is skipped)."""
    out, seen = [], set()
    for seed in splits.seeds("held_out", 100 * count, offset=_OFFSETS["clip4clip"]):
        clip = clips.random_clip(seed, SIZE)
        if clip.caption not in seen:
            seen.add(clip.caption)
            out.append(clip)
            if len(out) == count:
                return out
    raise RuntimeError("not enough distinct captions")


def score_clip4clip(backbone, n: int = CLIPS) -> Score:
    """CLIP4Clip meanP: text → video R@1 over `n` clips with distinct captions."""
    from components.clip4clip import VideoIndex

    chosen = retrieval_clips(n)
    names = [f"clip-{c.seed}" for c in chosen]
    with tempfile.TemporaryDirectory(prefix="clip-lab-meaning-") as cache:
        index = VideoIndex(backbone, cache, persist=False)  # 1 fps, ≤ 12 frames: all 12 of a clip
        for progress in index.add([c.pil_frames() for c in chosen], names):
            if progress.skipped:
                raise RuntimeError(progress.skipped)
        evaluation = index.evaluate([(name, c.caption) for name, c in zip(names, chosen)])
    metrics = evaluation.text_to_video
    return Score(
        "clip4clip", "R@1 text→video", metrics.R1 / 100, 1 / n, n,
        (
            f"{n} held-out clips with distinct captions (“a red star spinning”), frames given as a list "
            "of images; the tab's video index, meanP",
        ),
        {"R@5": metrics.R5 / 100, "MdR": metrics.MdR, "video→text R@1": evaluation.video_to_text.R1 / 100},
    )


def score_actionclip(backbone, n: int = 100) -> Score:
    """ActionCLIP: top-1 over the world's 5 actions, T = 8 segments, 16 prompts."""
    from components.actionclip import ActionCLIP

    recognise = ActionCLIP(backbone)
    correct = []
    for seed in held_out("actionclip", n):
        clip = clips.random_clip(seed, SIZE)
        correct.append(recognise(clip.pil_frames(), clips.ACTIONS).top_label == clip.action)
    return Score(
        "actionclip", "top-1", float(np.mean(correct)), 1 / len(clips.ACTIONS), n,
        ("held-out clips, frames given as a list of images; labels: the 5 actions; T = 8, 16 templates, meanP",),
    )


def _pointclip(backbone, projection: str, n: int) -> Score:
    from components.pointclip import PointCLIP

    recognise = PointCLIP(backbone, projection)
    labels = solids.SOLIDS
    per_solid = max(1, -(-n // len(labels)))
    seeds = list(held_out("pointclip", per_solid))
    correct = []
    for k in range(per_solid):
        for name in labels:
            if len(correct) == n:
                break
            correct.append(recognise(solids.cloud(name, seeds[k]), labels).top_label == name)
    return Score(
        f"pointclip_{projection}", "top-1", float(np.mean(correct)), 1 / len(labels), len(correct),
        (f"held-out instances of the 12 solids, in turn; “point cloud depth map of a {{}}.”; {recognise.weights_note}",),
    )


def score_pointclip_v1(backbone, n: int = 120) -> Score:
    """PointCLIP V1 (6 perspective depth maps, weights 1)."""
    return _pointclip(backbone, "v1", n)


def score_pointclip_v2(backbone, n: int = 120) -> Score:
    """PointCLIP V2 (10 realistic projections)."""
    return _pointclip(backbone, "v2", n)


WORLD_COLOURS = tuple(scenes.COLOURS)
WORLD_SHAPES = scenes.SHAPES
WORLD_COUNTS = ("1", "2", "3", "4")  # VQA writes numbers as digits


def vqa_questions(n: int) -> list[tuple[str, str, scenes.Scene, tuple[str, ...], str]]:
    """(kind, question, scene, candidates, answer), colour / shape / count in turn, `n` in all."""
    per_kind = -(-n // 3)
    colour = held_out("vilt_colour", per_kind)
    shape = held_out("vilt_shape", per_kind)
    count = held_out("vilt_count", per_kind)
    out = []
    for i in range(per_kind):
        s = scenes.random_scene(colour[i], kind="objects", count=1)
        o = s.objects[0]
        out.append(("colour", f"What colour is the {o.shape}?", s, WORLD_COLOURS, o.colour))
        s = scenes.random_scene(shape[i], kind="objects", count=1)
        out.append(("shape", "What shape is this?", s, WORLD_SHAPES, s.objects[0].shape))
        s = scenes.random_scene(count[i], kind="count")
        out.append(("count", f"How many {plural(s.objects[0].shape)} are there?", s, WORLD_COUNTS, str(len(s.objects))))
    return out[:n]


def score_vilt(backbone, n: int = 192) -> Score:
    """ViLT tab, CLIP engine: colour, shape and count questions with the world's answers as candidates."""
    from components.vilt import ClipVQA

    answer = ClipVQA(backbone)  # statement prompts
    correct: dict[str, list[bool]] = {"colour": [], "shape": [], "count": []}
    chance = []
    for kind, question, scene, candidates, truth in vqa_questions(n):
        _, image = rendered(scene)
        correct[kind].append(answer(image, question, list(candidates)).top_answer == truth)
        chance.append(1 / len(candidates))
    every = [c for rows in correct.values() for c in rows]
    return Score(
        "vilt", "accuracy", float(np.mean(every)), float(np.mean(chance)), len(every),
        (
            "questions in turn: “What colour is the star?” and “What shape is this?” on single-object "
            "scenes, “How many stars are there?” on count scenes (2–4 copies)",
            "candidates (the tab's “my own candidates”): the world's 8 colours, 8 shapes, and 1–4; "
            "the shape question is read by the “what kind” rule: “a photo of a {}.” per candidate",
        ),
        {kind: float(np.mean(rows)) if rows else float("nan") for kind, rows in correct.items()},
    )


def score_depthclip(backbone, n: int = 64) -> Score:
    """DepthCLIP, dense-patch features (the shared model): Spearman with the true depth, per image."""
    from components.depthclip import DepthCLIP, spearman

    estimate = DepthCLIP(backbone, features="dense")  # words, bins, temperature 0.1, flip: the paper's
    values = []
    for seed in held_out("depthclip", n):
        r, image = rendered(scenes.random_scene(seed))
        rho = spearman(estimate(image).depth, r.depth)
        values.append(0.0 if np.isnan(rho) else rho)
    return Score(
        "depthclip", "Spearman", float(np.mean(values)), 0.0, n,
        (
            "scenes of every kind (objects 1.00–2.75 m, the wall 3.00 m); dense NACLIP patches of the shared "
            "model (the tab's extension), the paper's words, bins, temperature and flip",
            "Spearman per image over all pixels, averaged; a flat prediction counts 0",
        ),
    )


# CLIPasso is judged by the other shipped Mini, never by the tower its loss used: the ResNet Mini
# judges every other backbone's sketches, the ViT Mini the ResNet Mini's.
SKETCH_ITERATIONS = 100  # per sketch: a CPU run of the tab's order (its CPU default is 60)
SKETCH_STROKES = 16  # the paper's default abstraction


def judge_model(backbone=None) -> str:
    """The Mini that judges the sketches `backbone` draws as CLIPasso's loss tower."""
    from components import mini

    return mini.MODEL if getattr(backbone, "model_name", None) == mini.RN_MODEL else mini.RN_MODEL


def judge_weights(backbone=None):
    """The judge's weights file in assets/mini/ (its model card says how it was trained)."""
    from components import mini

    return mini.weights(judge_model(backbone))


def load_judge(backbone=None):
    """The judge of `backbone`'s sketches, or None when its weights are not there."""
    from components import mini
    from components.backbone import load_backbone

    if not judge_weights(backbone).is_file():
        return None
    return load_backbone(judge_model(backbone), mini.TAG, "cpu", fallback_to_random=False)


def score_clipasso(backbone, n: int = 12, judge=None, iterations: int = SKETCH_ITERATIONS) -> Score:
    """CLIPasso with the shared model as loss tower (and saliency tower: a ResNet's comes from a ViT,
    `clipasso_saliency_backbone`), one seed per sketch: each sketch is shown to the judge (the other
    shipped Mini, `judge_model`) beside the n scenes it was drawn from; right when the judge's closest
    scene (cosine of image embeddings) is its own. Chance 1/n."""
    from components.backbone import clipasso_saliency_backbone
    from components.clipasso import CLIPasso

    judge = judge if judge is not None else load_judge(backbone)
    if judge is None:
        raise FileNotFoundError(f"CLIPasso's judge ({judge_weights(backbone).name}) is not there "
                                "(assets/mini/README.md says how it is trained)")
    # a ResNet's saliency comes from a ViT, as in the tab (the ResNet Mini's: the ViT Mini)
    saliency = clipasso_saliency_backbone(backbone, "cpu")
    sketcher = CLIPasso(backbone, saliency, num_strokes=SKETCH_STROKES, num_iter=iterations, seeds=(0,))
    targets, sketches = [], []
    for seed in held_out("clipasso", n):
        _, image = rendered(scenes.random_scene(seed))
        result = sketcher(image)
        targets.append(Image.fromarray(result.target))
        sketches.append(Image.fromarray(result.png(scale=1)).convert("RGB"))
    similarity = np.asarray(judge.encode_images(sketches) @ judge.encode_images(targets).T)
    picked = similarity.argmax(axis=1)
    # Reported beside the score, not in it: how many scenes the judge's picks spread over (1 when one
    # scene is closest to every sketch, a "hub"), and the score with each scene's similarities centred
    # over the sketches, which takes such a hub's lead away.
    centred = (similarity - similarity.mean(axis=0, keepdims=True)).argmax(axis=1)
    return Score(
        "clipasso", "own image found", float((picked == np.arange(n)).mean()), 1 / n, n,
        (
            f"scenes of every kind; {SKETCH_STROKES} strokes, {iterations} iterations, one seed, the shared model "
            f"as loss tower, {'it' if saliency is backbone else saliency.model_name} as saliency tower, the "
            "paper's other settings",
            f"judge: {judge.model_name}, a Mini trained apart (its own tower and initialisation, not the "
            f"tower the loss used); a sketch is right when its own scene is the closest of the {n} to it",
        ),
        {"scenes picked": int(len(set(picked.tolist()))),
         "own image found, similarities centred per scene": float((centred == np.arange(n)).mean())},
    )


SCORERS: dict[str, Callable[..., Score]] = {
    "zeroshot": score_zeroshot,
    "lseg": score_lseg,
    "groupvit": score_groupvit,
    "vild": score_vild,
    "glip": score_glip,
    "clip4clip": score_clip4clip,
    "actionclip": score_actionclip,
    "pointclip_v1": score_pointclip_v1,
    "pointclip_v2": score_pointclip_v2,
    "vilt": score_vilt,
    "depthclip": score_depthclip,
    "clipasso": score_clipasso,
}
