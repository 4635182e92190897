"""Boxes as COCO-format JSON, for the tools that read COCO (pycocotools, FiftyOne, CVAT, Label Studio).

Two documents from one set of detections on one image:

- `dataset(...)`: a COCO annotation file — `images` (id, file_name, width, height), `categories`
  (id, name, supercategory), `annotations` (id, image_id, category_id, bbox, area, iscrowd, score).
  `pycocotools.coco.COCO(path)` loads it (it ignores the extra `score`).
- `results(...)`: COCO's results format, the list `COCO.loadRes` takes beside that annotation file
  (image_id, category_id, bbox, score) — how detections are handed to COCO evaluation.

COCO's conventions, which are not the pipelines' own: a box is [x, y, width, height] in pixels of
the image as given, (x, y) its top-left corner (the pipelines' boxes are (x0, y0, x1, y1)); ids
start at 1 (0 is no id in COCO); a category's id is its position in the category list plus one.
Nothing here names a server path: `file_name` is the image's base name only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePath

import numpy as np

IMAGE_ID = 1  # one image per document
DECIMALS = 2  # pixels are written to a hundredth
SCORE_DECIMALS = 6
IMAGE_KEYS = {"id", "file_name", "width", "height"}
CATEGORY_KEYS = {"id", "name", "supercategory"}
ANNOTATION_KEYS = {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "score"}
RESULT_KEYS = {"image_id", "category_id", "bbox", "score"}


def xywh(box: Sequence[float]) -> list[float]:
    """(x0, y0, x1, y1) pixels → COCO's [x, y, width, height], rounded to DECIMALS."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return [round(x0, DECIMALS), round(y0, DECIMALS), round(x1 - x0, DECIMALS), round(y1 - y0, DECIMALS)]


def _check(boxes, labels, scores, categories) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    assert len(boxes) == len(labels) == len(scores), (
        f"one label and one score per box: got {len(boxes)} boxes, {len(labels)} labels, {len(scores)} scores")
    assert len(set(categories)) == len(categories), f"categories must be distinct: {list(categories)}"
    unknown = sorted({str(label) for label in labels} - set(categories))
    assert not unknown, f"labels {unknown} are not among the categories {list(categories)}"
    assert np.isfinite(boxes).all() and (boxes[:, 2:] >= boxes[:, :2]).all(), "boxes must be finite (x0, y0, x1, y1)"
    return boxes


def dataset(boxes, labels: Sequence[str], scores: Sequence[float], *, categories: Sequence[str],
            image_size: tuple[int, int], file_name: str = "image.png", supercategory: str = "object",
            description: str = "") -> dict:
    """A COCO annotation document for one image of `image_size` = (width, height) pixels: the
    boxes (N, 4) (x0, y0, x1, y1) in its pixels, each with its label (one of `categories`) and
    score. Every category is listed, detected or not, in the order given."""
    boxes = _check(boxes, labels, scores, categories)
    ids = {name: n for n, name in enumerate(categories, 1)}
    width, height = (int(v) for v in image_size)
    annotations = []
    for n, (box, label, score) in enumerate(zip(boxes, labels, scores), 1):
        bbox = xywh(box)
        annotations.append(dict(id=n, image_id=IMAGE_ID, category_id=ids[str(label)], bbox=bbox,
                                area=round(bbox[2] * bbox[3], DECIMALS), iscrowd=0,
                                score=round(float(score), SCORE_DECIMALS)))
    return {
        "info": {"description": description or "Detections exported by CLIP Lab", "version": "1.0"},
        "licenses": [],
        "images": [{"id": IMAGE_ID, "file_name": PurePath(str(file_name)).name, "width": width, "height": height}],
        "categories": [{"id": ids[name], "name": name, "supercategory": supercategory} for name in categories],
        "annotations": annotations,
    }


def results(document: dict) -> list[dict]:
    """COCO's results format of a `dataset` document: what `COCO.loadRes` takes beside it."""
    return [{key: a[key] for key in ("image_id", "category_id", "bbox", "score")} for a in document["annotations"]]


def schema_problems(document) -> list[str]:
    """What keeps `document` from being a COCO annotation file as `dataset` writes it (empty: none):
    the three lists, their keys and types, ids that resolve, boxes inside the image."""
    problems: list[str] = []
    if not isinstance(document, dict):
        return [f"a COCO document is an object, not {type(document).__name__}"]
    for key in ("images", "categories", "annotations"):
        if not isinstance(document.get(key), list):
            problems.append(f"{key!r} must be a list")
    if problems:
        return problems
    images = {i.get("id"): i for i in document["images"] if isinstance(i, dict)}
    categories = {c.get("id") for c in document["categories"] if isinstance(c, dict)}
    for image in document["images"]:
        if not isinstance(image, dict) or not IMAGE_KEYS <= set(image):
            problems.append(f"an image needs {sorted(IMAGE_KEYS)}: {image}")
    for category in document["categories"]:
        if not isinstance(category, dict) or not CATEGORY_KEYS <= set(category) or not isinstance(category["id"], int):
            problems.append(f"a category needs {sorted(CATEGORY_KEYS)} and an integer id: {category}")
    seen = set()
    for a in document["annotations"]:
        if not isinstance(a, dict) or not ANNOTATION_KEYS <= set(a):
            problems.append(f"an annotation needs {sorted(ANNOTATION_KEYS)}: {a}")
            continue
        if a["id"] in seen:
            problems.append(f"annotation id {a['id']} is used twice")
        seen.add(a["id"])
        if a["image_id"] not in images:
            problems.append(f"annotation {a['id']} names image {a['image_id']}, which is not listed")
        if a["category_id"] not in categories:
            problems.append(f"annotation {a['id']} names category {a['category_id']}, which is not listed")
        box = a["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            problems.append(f"annotation {a['id']}'s bbox must be [x, y, width, height]: {box}")
            continue
        image = images.get(a["image_id"], {})
        x, y, w, h = box
        if w < 0 or h < 0 or x < 0 or y < 0 or x + w > image.get("width", np.inf) + 0.01 \
                or y + h > image.get("height", np.inf) + 0.01:
            problems.append(f"annotation {a['id']}'s bbox {box} is not inside its image")
        if not isinstance(a["score"], (int, float)) or not np.isfinite(a["score"]):
            problems.append(f"annotation {a['id']}'s score {a['score']} is not a finite number")
    return problems


def write(document, path: str | Path) -> str:
    """`document` (a dataset dict or a results list) as UTF-8 JSON at `path`; returns the path."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False)
    return str(path)
