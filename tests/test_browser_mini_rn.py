"""The ResNet Mini (`clip-lab-mini-rn`) in the browser: the app started on it, each checked tab's first
world example is clicked and run, and the answer on the page is checked against the world's truth,
as tests/test_browser_mini.py does for the ViT Mini (its checks are reused). Only the tabs whose
answer rests on naming a colour × shape are checked, where its convolutional tower should make the
difference; the dense tabs get its coarse 2 × 2 maps and are left to the ViT Mini. A file of its
own: one app and one browser at a time (Playwright's sync API cannot nest).
"""

from __future__ import annotations

import pytest

from browserkit import opened_page
from components import mini
from test_browser_mini import CHECKS, check_first_world_example

RN_CHECKS = {"CLIP zero-shot": None, "ViLT": None}


@pytest.fixture(scope="module")
def page_rn():
    if not mini.weights(mini.RN_MODEL).is_file():
        pytest.skip(f"the ResNet Mini's weights ({mini.weights(mini.RN_MODEL).name}) are missing from assets/mini/")
    with opened_page(mini.RN_MODEL, mini.TAG) as page:
        yield page


def _rn_param(title: str):
    missed = RN_CHECKS[title]
    marks = [pytest.mark.xfail(strict=False, reason=missed)] if missed else []
    return pytest.param(title, marks=marks, id=CHECKS[title][0])


@pytest.mark.parametrize("title", [_rn_param(title) for title in RN_CHECKS])
def test_the_first_world_example_shows_the_right_answer_with_the_resnet_mini(page_rn, title):
    assert "ResNet" in page_rn.locator("body").inner_text()  # its banner says which tower runs
    check_first_world_example(page_rn, title, "mini-rn")
