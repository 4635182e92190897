"""Browser sweep: Playwright drives Debian's Chromium through every tab as a person would.

For each tab: open it, run every row of its first Examples block (click the row, press the tab's
primary button, wait for the run to finish), check no error toast appeared and outputs rendered, and
save a screenshot per tab to tests/screenshots/ (or $CLIP_LAB_SCREENSHOTS). A bad upload must show
its message in the browser.

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


def _first_examples(panel):
    """Rows of the tab's first Examples block (a tab may have more than one)."""
    table = panel.locator("table:has(.tr-body)").first
    if table.count():
        return table.locator(".tr-body")
    return panel.locator(".gallery-item").first.locator("xpath=..").locator(".gallery-item")


def _run_and_wait(page, panel) -> None:
    """Press the tab's primary button and wait for the run to start and to finish."""
    busy = "(p) => p.querySelectorAll('.pending, .generating').length"
    panel.locator("button.primary").first.click()
    try:
        panel.evaluate(f"(p) => new Promise(r => {{ const t = setInterval(() => {{ if (({busy})(p)) {{ clearInterval(t); r(); }} }}, 50); setTimeout(() => {{ clearInterval(t); r(); }}, 5000); }})")
    except Exception:
        pass
    page.wait_for_function(
        """(selector) => {
            const panel = [...document.querySelectorAll(selector)].find(p => p.offsetParent !== null);
            return panel.querySelectorAll('.pending, .generating').length === 0;
        }""",
        arg="[role=tabpanel]",
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_timeout(1000)  # plots draw after their data arrives


def _errors(page) -> list[str]:
    return page.locator(".toast-body.error, [data-testid=toast-body].error, .toast-wrap .error").all_inner_texts()


@pytest.mark.parametrize("title", _tab_titles())
def test_tab_runs_every_example(page, title):
    page.get_by_role("tab", name=title, exact=True).click()
    panel = page.locator("[role=tabpanel]:visible").first
    panel.wait_for()
    rows = _first_examples(panel)
    count = rows.count()
    assert count > 0, f"tab {title!r} has no examples"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    for index in range(count):
        rows.nth(index).click()
        page.wait_for_timeout(400)
        _run_and_wait(page, panel)
        assert not _errors(page), (title, index, _errors(page))
        assert panel.locator(OUTPUTS).count() > 0, (title, index)
        if index == 0:
            page.screenshot(path=str(SHOTS / f"{slug}.png"), full_page=True)


def test_a_bad_upload_shows_its_message_in_the_browser(page, tmp_path):
    page.get_by_role("tab", name="CLIP zero-shot", exact=True).click()
    panel = page.locator("[role=tabpanel]:visible").first
    fake = tmp_path / "holiday.png"
    fake.write_text("not really a picture")
    panel.locator("input[type=file]").first.set_input_files(str(fake))
    page.wait_for_timeout(1000)
    panel.locator("button.primary").first.click()
    message = page.get_by_text("holiday.png is not an image CLIP Lab can read")
    message.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "bad-upload-message.png"))
    assert page.get_by_text(re.compile(r"^Ready:")).is_visible()  # still serving


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
