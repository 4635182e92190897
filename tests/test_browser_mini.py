"""CLIP Lab Mini in the browser (issue 16): with Mini loaded, each tab's first world example — drawn by
rule from the held-out "examples" seeds (assets/generate_world_examples.py), never picked by hand —
is clicked and run as a person would, and the answer the page shows is checked against the world's
truth (assets/world/examples.json).

Where Mini's benchmark figure is below its target the first example may well be wrong; those tabs
are marked xfail with what the page showed when measured, so the check turns into a pass (XPASS)
the day a better Mini answers them. Compare is left out (it runs the tabs above on one image, each
checked in its own tab), and so is CLIPasso (its answer is a drawing: the benchmark has it judged by the
other Mini). The ResNet Mini is checked in tests/test_browser_mini_rn.py.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from app.examples import WORLD_LABEL, world_examples, world_truth
from browserkit import SHOTS, STALL_S, errors, open_tab, opened_page, run_and_wait
from components import mini
from components.regions import iou_matrix

# The rows of the visible panel's dataframe that has a column titled `title` (Gradio draws a dataframe's
# rows as virtual rows of grid cells under a header table).
TABLE_JS = """([title]) => {
    const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
    const th = [...panel.querySelectorAll('th[title]')].find(t => t.title === title && t.offsetParent !== null);
    if (!th) return null;
    const header = [...th.closest('tr').querySelectorAll('th[title]')].map(t => t.title);
    let box = th.closest('table');
    while (box && !box.querySelector('[role=gridcell]')) box = box.parentElement;
    const rows = box ? [...box.querySelectorAll('.virtual-row[role=row]')].map(r => [...r.querySelectorAll('[role=gridcell]')].map(
        cell => cell.innerText.trim())) : [];
    return {header, rows: rows.filter(r => r.length === header.length)};
}"""


@pytest.fixture(scope="module")
def page():
    if not mini.WEIGHTS.is_file():
        pytest.skip(f"CLIP Lab Mini's weights ({mini.WEIGHTS.name}) are missing from assets/mini/")
    with opened_page(mini.MODEL, mini.TAG) as page:
        yield page


def _truth_of(row_value: str) -> dict:
    """The world's record of an example row's file (or, for CLIP4Clip's search, of its caption's clip)."""
    truth = world_truth()
    return next(item for group in ("scenes", "clips", "solids") for item in truth[group]
                if item["file"] == Path(row_value).name or item.get("caption") == row_value)


def _run_first_world_example(page, title: str):
    open_tab(page, title)
    panel = page.locator("[role=tabpanel]:visible").first
    panel.wait_for()
    first = panel.get_by_text(WORLD_LABEL).first.locator(
        "xpath=following::*[contains(@class, 'tr-body') or contains(@class, 'gallery-item')][1]")
    with page.expect_response(lambda r: "/run/predict" in r.url, timeout=STALL_S * 1000):
        first.click()
    page.wait_for_timeout(400)  # the page puts the values into the inputs
    run_and_wait(page, panel)
    assert not errors(page), (title, errors(page))
    return panel


def _top_label(panel) -> str:
    shown = panel.locator("[data-testid=label-output-value]").first
    shown.wait_for(timeout=STALL_S * 1000)
    return shown.inner_text().strip()


def _table(page, column: str) -> list[dict]:
    found = page.evaluate(TABLE_JS, [column])
    assert found is not None, f"no table with a {column!r} column on the page"
    return [dict(zip(found["header"], row)) for row in found["rows"]]


def _box(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)[:4]]


def _iou(a, b) -> float:
    return float(iou_matrix(np.asarray([a], float), np.asarray([b], float))[0, 0])


# -- what each tab shows, and what is right ---------------------------------------------------------
def zeroshot(page, panel, scene):
    return _top_label(panel), scene["labels"][0]


def pointclip(page, panel, solid):
    return _top_label(panel), solid["name"]


def actionclip(page, panel, clip):
    return _top_label(panel), clip["action"]


def vilt(page, panel, scene):
    return _top_label(panel), scene["objects"][0]["colour"]  # "What colour is the …?"


def clip4clip(page, panel, clip):
    return _table(page, "video")[0]["video"], clip["file"]


def lseg(page, panel, scene):
    """Right: every object's label covers some of the image, the distractor none."""
    shares = {row["label"]: float(row["share of image (%)"]) for row in _table(page, "share of image (%)")}
    covered = {label for label, share in shares.items() if share > 0 and label != "other"}
    return covered, set(scene["labels"])


def groupvit(page, panel, scene):
    """Right: the labelled groups' classes are the scene's objects (no distractor)."""
    groups = _table(page, "labelled")
    return {g["class"] for g in groups if g["labelled"] == "yes"}, set(scene["labels"])


def vild(page, panel, scene):
    """Right: each object is found as its category, with IoU >= 0.5 against its true box."""
    rows = _table(page, "box (x0, y0, x1, y1)")
    found = {o["label"] for o in scene["objects"]
             if any(r["category"] == o["label"] and _iou(_box(r["box (x0, y0, x1, y1)"]), o["box"]) >= 0.5 for r in rows)}
    return found, set(scene["labels"])


def glip(page, panel, scene):
    """Right: each object's phrase is grounded on it, with IoU >= 0.5 against its true box."""
    rows = _table(page, "region")
    found = {o["label"] for o in scene["objects"]
             if any(r["phrase"] == o["label"] and _iou(_box(r["box (x0, y0, x1, y1)"]), o["box"]) >= 0.5 for r in rows)}
    return found, set(scene["labels"])


def depthclip(page, panel, scene):
    """Right: the objects in the order of their true depth, nearest first, by the median of the depth
    (the .npy the page offers for download) inside each one's box."""
    link = panel.locator("a[download$='.npy']").first
    link.wait_for(timeout=STALL_S * 1000)
    depth = np.load(io.BytesIO(page.request.get(link.get_attribute("href")).body()))
    scale = depth.shape[1] / scene["size"], depth.shape[0] / scene["size"]
    medians = {}
    for o in scene["objects"]:
        x0, y0, x1, y1 = o["box"]
        inside = depth[int(y0 * scale[1]) : int(np.ceil(y1 * scale[1])), int(x0 * scale[0]) : int(np.ceil(x1 * scale[0]))]
        medians[o["label"]] = float(np.median(inside))
    shown = sorted(medians, key=lambda label: (medians[label], label))
    if len(set(medians.values())) < len(medians):
        shown = ["(the same depth for all)"]
    return shown, [o["label"] for o in sorted(scene["objects"], key=lambda o: o["depth_m"])]


# tab title → (world_examples key, check, what the page showed, measured 2026-12-03 with Mini v4, where
# Mini misses; the benchmark's figure for Mini beside it, benchmarks/results/meaning.json)
CHECKS = {
    "CLIP zero-shot": ("zeroshot", zeroshot, "measured: green circle (0.59) over the true green heart (0.41); "
                       "benchmark top-1 0.430, target 0.9"),
    "LSeg": ("lseg", lseg, "measured: only the white triangle covers any of the image, the orange circle none; "
             "benchmark mIoU 0.257, target 0.5"),
    "GroupViT": ("groupvit", groupvit, "measured: only the white triangle is named on a labelled group; "
                 "benchmark mIoU 0.169, target 0.4"),
    "ViLD": ("vild", vild, "measured: the white triangle found on its box, the orange circle not; benchmark "
             "AP50 0.075, target 0.5"),
    "GLIP": ("glip", glip, "measured: the white triangle grounded on its box, the orange circle not; "
             "benchmark AP50 0.090, target 0.5"),
    "DepthCLIP": ("depthclip", depthclip, "measured: the white triangle read as nearer than the orange circle, "
                  "the wrong order; benchmark Spearman 0.370 over all pixels, target 0.5"),
    "PointCLIP": ("pointclip", pointclip, None),
    "ActionCLIP": ("actionclip", actionclip, None),
    "CLIP4Clip": ("clip4clip", clip4clip, None),
    "ViLT": ("vilt", vilt, None),
}

def _param(title: str):
    missed = CHECKS[title][2]
    marks = [pytest.mark.xfail(strict=False, reason=missed)] if missed else []
    return pytest.param(title, marks=marks, id=CHECKS[title][0])


@pytest.mark.parametrize("title", [_param(title) for title in CHECKS])
def test_the_first_world_example_shows_the_right_answer_with_mini(page, title):
    check_first_world_example(page, title, "mini")


def check_first_world_example(page, title: str, shot: str) -> None:
    key, check, _ = CHECKS[title]
    panel = _run_first_world_example(page, title)
    shown, truth = check(page, panel, _truth_of(world_examples(key)[0][0]))
    page.screenshot(path=str(SHOTS / f"{shot}-{key}.png"), full_page=True)
    assert shown == truth, f"{title}: the page shows {shown!r}, the world's truth is {truth!r}"

