"""Precision (issue 19): the bare ViT-B-16 image tower at fp32, bf16 (weights cast) and int8 (dynamic,
Linear layers), batch 1 and 8, and one pipeline end to end (zero-shot, 80-prompt ensemble, on a
photo), each timed in turns in one run; with the same-answers figures at full size and random weights:
minimum cosine to fp32 for the image tower, the text tower and the dense features, and the zero-shot
labels compared wherever fp32's margin exceeds twice the measured error (near-ties set aside and counted).

Timings mean something only on a quiet machine: the script refuses to run while a CLIP Lab Mini
training runs or the load average is 1.5 or more, unless --force. `auto` is what
`components.precision` picks on this machine from its CPU flags (never from these timings).

    python benchmarks/bench_precision.py [--runs 5] [--force] [--engines]

--engines: ViLT's and GroupViT's official engines (transformers networks, full size, random weights)
instead, each answer timed at every precision, with their same-answers figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from common import interleaved_ms, report
import torch
import torch.nn.functional as F
from PIL import Image

from app.examples import skimage_photo
from components import precision as precisions
from components.backbone import load_backbone
from components.zeroshot import ZeroShotClassifier

MODEL = "ViT-B-16"
PRECISIONS = ("fp32", "bf16", "int8")
LABELS = ["astronaut", "cat", "rocket", "cup of coffee", "dog", "motorcycle", "horse", "pizza"]
TEXTS = ["a photo of a cat", "an astronaut in a white suit", "a rocket on the launch pad", "a cup of coffee"]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def quiet_enough() -> tuple[bool, str]:
    training = subprocess.run(["pgrep", "-f", "components.mini.train"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    if training:
        return False, f"a Mini training is running (pids {training.split()})"
    if load >= 1.5:
        return False, f"the load average is {load:.2f} (≥ 1.5)"
    return True, f"load average {load:.2f}, no training"


def min_cosine(a, b) -> float:
    """The smallest cosine between matching rows (last axis) of two tensors or arrays."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return float(F.cosine_similarity(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])).min())


def run(runs: int) -> list[dict]:
    backbones = {p: load_backbone(MODEL, "random", "cpu", precision=p) for p in PRECISIONS}
    photos = [Image.open(skimage_photo(name)).convert("RGB") for name in PHOTOS]
    ref = backbones["fp32"]
    rows = []
    # -- the bare image tower --------------------------------------------------------------------------
    for batch in (1, 8):
        pixels = ref.pixels((photos * 2)[:batch])
        ms = interleaved_ms({p: (lambda b=b: b.encode_images(pixels)) for p, b in backbones.items()}, runs)
        for p in PRECISIONS:
            rows.append(dict(what="bare image tower", batch=batch, precision=p, ms=ms[p], vs_fp32=ms["fp32"] / ms[p]))
    # -- one pipeline end to end: zero-shot with the 80-prompt ensemble ----------------------------------
    classifiers = {p: ZeroShotClassifier(b, templates="imagenet80") for p, b in backbones.items()}
    for p, classify in classifiers.items():
        classify(photos[0], LABELS)  # the text cache: per precision, filled once
    ms = interleaved_ms({p: (lambda c=c: c(photos[0], LABELS)) for p, c in classifiers.items()}, runs)
    for p in PRECISIONS:
        rows.append(dict(what="zero-shot pipeline (8 labels, imagenet80, cached text)", batch=1, precision=p,
                         ms=ms[p], vs_fp32=ms["fp32"] / ms[p]))
    # -- same answers at full size ---------------------------------------------------------------------
    grey = [Image.new("RGB", (224, 224), (c, 255 - c, (5 * c) % 256)) for c in range(0, 256, 16)]
    images = photos + grey
    image_ref, text_ref = ref.encode_images(images), ref.encode_texts(TEXTS + LABELS)
    dense_ref = ref.dense(photos[1])
    for p in PRECISIONS[1:]:
        low = backbones[p]
        image_low, text_low = low.encode_images(images), low.encode_texts(TEXTS + LABELS)
        dense_low = low.dense(photos[1])
        cos_image, cos_text = min_cosine(image_ref, image_low), min_cosine(text_ref, text_low)
        labels_ref, labels_low = ref.encode_texts(LABELS), low.encode_texts(LABELS)
        scores_ref, scores_low = image_ref @ labels_ref.T, image_low @ labels_low.T
        err = float((scores_ref - scores_low).abs().max())  # the measured error, in cosine units
        top2 = scores_ref.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > 2 * err
        rows.append(dict(
            what="same answers (random weights)", precision=p,
            min_cos_image=cos_image, min_cos_text=cos_text,
            min_cos_dense=min_cosine(dense_ref.features, dense_low.features),
            min_cos_dense_global=min_cosine(dense_ref.global_embedding[None], dense_low.global_embedding[None]),
            score_error=err, labels_compared=int(clear.sum()), near_ties_set_aside=int((~clear).sum()),
            labels_identical=bool(torch.equal(scores_ref.argmax(1)[clear], scores_low.argmax(1)[clear])),
        ))
    rows.append(dict(what="auto on this machine", precision=precisions.resolve("auto", "cpu"),
                     why=precisions.auto_reason("cpu")[1], threads=torch.get_num_threads()))
    return rows


def full_size_vilt(folder) -> tuple:
    """A full-size random ViLT VQA network (transformers' default ViltConfig: ViLT-B/32, 3129 answers)
    and a processor whose BERT tokenizer has a generated 30522-entry vocabulary (no download)."""
    from transformers import BertTokenizer, ViltConfig, ViltForQuestionAnswering, ViltImageProcessor, ViltProcessor

    words = ["what", "colour", "is", "the", "cat", "how", "many", "are", "there", "?"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    vocab += [f"w{i}" for i in range(ViltConfig().vocab_size - len(vocab))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    processor = ViltProcessor(image_processor=ViltImageProcessor(), tokenizer=BertTokenizer(vocab=str(folder / "vocab.txt")))
    answers = 3129
    config = ViltConfig(id2label={i: f"answer {i}" for i in range(answers)}, label2id={f"answer {i}": i for i in range(answers)})
    torch.manual_seed(0)
    return ViltForQuestionAnswering(config).eval(), processor


def assignments_compared(ref, low) -> dict:
    """GroupViT's stage assignments (tokens × groups, soft) at a reduced precision against fp32: each
    token's group compared wherever fp32's margin between its first and second group exceeds twice
    the measured error of the assignment (random weights make near-uniform assignments, so many
    near-ties; they are set aside and counted). The hard assignment behind the group embeddings flips
    on those near-ties, which is what lowers their cosine."""
    out = {}
    for stage, (a, b) in enumerate(zip(ref, low), 1):
        a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
        err = float((a - b).abs().max())
        top2 = a.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > 2 * err
        out.update({f"groupvit_stage{stage}_error": err, f"groupvit_stage{stage}_tokens_compared": int(clear.sum()),
                    f"groupvit_stage{stage}_near_ties_set_aside": int((~clear).sum()),
                    f"groupvit_stage{stage}_groups_identical": bool(torch.equal(a.argmax(1)[clear], b.argmax(1)[clear]))})
    return out


def engines(runs: int) -> list[dict]:
    """ViLT's and GroupViT's official engines (transformers networks) at full size, random weights:
    one answer each at every precision, timed in turns, and the same-answers figures."""
    import copy
    import tempfile
    from pathlib import Path

    from transformers import GroupViTConfig, GroupViTModel

    from components.groupvit import OfficialGroupViT
    from components.vilt import ViltVQA

    photo = Image.open(skimage_photo("chelsea")).convert("RGB")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        vilt_net, processor = full_size_vilt(Path(folder))
    torch.manual_seed(0)
    groupvit_net = GroupViTModel(GroupViTConfig()).eval()  # nvidia/groupvit-gcc-yfcc's architecture
    vilt = {p: ViltVQA(copy.deepcopy(vilt_net), processor, precision=p) for p in PRECISIONS}
    grouping = {p: OfficialGroupViT(copy.deepcopy(groupvit_net), precision=p) for p in PRECISIONS}
    question, classes = "what colour is the cat?", LABELS
    for name, calls in (
        ("ViLT official engine (VQA, one question)", {p: (lambda e=e: e(photo, question)) for p, e in vilt.items()}),
        ("GroupViT official engine (grouping, 8 classes)", {p: (lambda e=e: e.embed(photo, classes)) for p, e in grouping.items()}),
    ):
        ms = interleaved_ms(calls, runs)
        for p in PRECISIONS:
            rows.append(dict(what=name, precision=p, ms=ms[p], vs_fp32=ms["fp32"] / ms[p]))
    vilt_ref = vilt["fp32"](photo, question)
    logits_ref = torch.logit(torch.from_numpy(vilt_ref.candidate_scores).double())
    groups_ref = grouping["fp32"].embed(photo, classes)
    for p in PRECISIONS[1:]:
        got = vilt[p](photo, question)
        logits = torch.logit(torch.from_numpy(got.candidate_scores).double())
        err = float((logits - logits_ref).abs().max())
        top2 = logits_ref.topk(2).values
        groups = grouping[p].embed(photo, classes)
        rows.append(dict(
            what="same answers, official engines (random weights)", precision=p,
            vilt_min_cos_logits=min_cosine(logits_ref[None].float(), logits[None].float()),
            vilt_top1_identical=bool(int(logits.argmax()) == int(logits_ref.argmax())),
            vilt_top1_margin_exceeds_error=bool(float(top2[0] - top2[1]) > 2 * err),
            vilt_max_heat_difference=float(abs(got.heat_maps - vilt_ref.heat_maps).max()),
            groupvit_min_cos_groups=min_cosine(groups_ref.group_embeddings, groups.group_embeddings),
            groupvit_min_cos_text=min_cosine(grouping["fp32"].encode_texts(classes), grouping[p].encode_texts(classes)),
            groupvit_group_map_agreement=float((groups.group_map == groups_ref.group_map).mean()),
            **assignments_compared(groups_ref.stage_assignments, groups.stage_assignments),
        ))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force", action="store_true", help="run even on a busy machine (figures then mean little)")
    parser.add_argument("--engines", action="store_true",
                        help="ViLT's and GroupViT's official engines instead (results/precision_engines.json)")
    args = parser.parse_args()
    quiet, why = quiet_enough()
    if not quiet and not args.force:
        raise SystemExit(f"Not timing: {why}. Run again on a quiet machine (or --force).")
    rows = engines(args.runs) if args.engines else run(args.runs)
    rows.append(dict(what="conditions", note=why))
    report("precision_engines" if args.engines else "precision", rows)
