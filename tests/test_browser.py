"""Browser sweep: Playwright drives Debian's Chromium through every tab as a person would.

For each tab: open it, click its first example, press its primary button, wait until new output
shows (an image, a plot, a label or a table), check no error toast appeared, save a screenshot to
tests/screenshots/ (or $CLIP_LAB_SCREENSHOTS).

Playwright cannot download its own browser here; the README's test command installs Debian's
`chromium`, and this test fails (rather than skips) when it is missing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from appserver import running_demo

CHROMIUM = os.environ.get("CLIP_LAB_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("CLIP_LAB_SCREENSHOTS", Path(__file__).parent / "screenshots"))
# Flags for a closed network: no background connections, no first-run or sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
OUTPUTS = "img, .js-plotly-plot, [data-testid=label-output-value], table tbody tr, svg.svelte-bdwbx3"
RUN_TIMEOUT_MS = 180_000


def _tab_titles():
    from app.tabs import TABS

    return [tab.TITLE for tab in TABS]


@pytest.fixture(scope="module")
def page():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (the README's test command does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_demo() as (_demo, url), playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_text(re.compile(r"^Ready:")).wait_for(timeout=60_000)
        try:
            yield page
        finally:
            browser.close()


def test_header_shows_model_status_and_random_banner(page):
    assert page.get_by_text(re.compile(r"^Ready:")).is_visible()
    assert page.get_by_text("This model runs on random, untrained weights").is_visible()
    page.screenshot(path=str(SHOTS / "header.png"))


@pytest.mark.parametrize("title", _tab_titles())
def test_tab_runs_its_first_example(page, title):
    page.get_by_role("tab", name=title, exact=True).click()
    panel = page.locator("[role=tabpanel]:visible").first
    panel.wait_for()
    examples = panel.locator(".tr-body, .gallery-item")
    assert examples.count() > 0, f"tab {title!r} has no examples"
    examples.first.click()
    page.wait_for_timeout(500)
    before = panel.locator(OUTPUTS).count()
    panel.locator("button.primary").first.click()
    page.wait_for_function(
        """([selector, outputs, before]) => {
            const panel = [...document.querySelectorAll(selector)].find(p => p.offsetParent !== null);
            const pending = panel.querySelectorAll('.pending, .generating').length;
            return pending === 0 && panel.querySelectorAll(outputs).length > before;
        }""",
        arg=["[role=tabpanel]", OUTPUTS, before],
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_timeout(2000)  # plots draw after their data arrives
    errors = page.locator(".toast-body.error, [data-testid=toast-body].error")
    assert errors.count() == 0, errors.all_inner_texts()
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    page.screenshot(path=str(SHOTS / f"{slug}.png"), full_page=True)


def test_presentation_mode_from_the_url_enlarges_and_steps_through_examples(page):
    base = page.url.split("?")[0]
    page.get_by_role("tab", name="CLIP zero-shot", exact=True).click()
    normal = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.prose')).fontSize)")
    page.goto(base + "?present=1")
    page.wait_for_function("() => document.body.classList.contains('clip-lab-present')", timeout=30_000)
    large = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.prose')).fontSize)")
    assert large > normal
    page.locator("#clip-lab-next-example").click()
    panel = page.locator("[role=tabpanel]:visible").first
    panel.locator("[data-testid=label-output-value]").first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "presentation-mode.png"), full_page=True)
    page.get_by_label("Presentation mode").uncheck()
    page.wait_for_function("() => !document.body.classList.contains('clip-lab-present')", timeout=10_000)
