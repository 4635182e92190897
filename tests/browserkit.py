"""What the browser tests share: Debian's Chromium on a closed network, and waits bounded by work.

Playwright cannot download its own browser here; the README's test command installs Debian's
`chromium`, and a browser test fails (rather than skips) when it is missing.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
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
# Waits are bounded by work, not by a guess at the machine's speed: a run may take as long as it
# likes while its panel keeps changing (queue place, progress, streamed previews, status text); it
# fails only when nothing on the panel changed for this long.
STALL_S = 120
BUSY = ".pending, .generating"
# Watches the visible panel from before a click, so a run that starts and ends between two polls is
# still seen to have started.
WATCH_JS = """(busy) => {
    const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
    window.__clipLabStarted = false;
    if (window.__clipLabWatch) window.__clipLabWatch.disconnect();
    window.__clipLabWatch = new MutationObserver(() => {
        if (panel.querySelector(busy)) window.__clipLabStarted = true;
    });
    window.__clipLabWatch.observe(panel, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
# The visible panel's state: busy markers, and a mark that changes whenever the run shows progress
# (its text without the ticking clocks such as "processing | 12.3s", plus its pictures).
STATE_JS = """(busy) => {
    const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
    const text = panel.innerText.replace(/\\d+(\\.\\d+)?(\\/\\d+(\\.\\d+)?)?\\s?s\\b/g, '');
    const pictures = [...panel.querySelectorAll('img')].map(i => i.src).join(' ');
    return {started: window.__clipLabStarted === true, busy: panel.querySelectorAll(busy).length, mark: text + pictures};
}"""


@contextmanager
def opened_page(model: str = "clip-lab-tiny-vit", pretrained: str = "random", env: dict | None = None):
    """A Chromium page on a fresh app serving `model` · `pretrained`, once its model is ready (with
    `env`, operator settings in force while it serves)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (the README's test command does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch, running_demo(model, pretrained) as (_demo, url), \
            playwright_api.sync_playwright() as p:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(STALL_S * 1000)  # clicks and loads on a busy machine, not only runs
        page.goto(url)
        page.get_by_text(re.compile(r"^Ready:")).wait_for(timeout=STALL_S * 1000)
        try:
            yield page
        finally:
            browser.close()


def first_examples(panel):
    """Rows of the tab's first Examples block (a tab may have more than one)."""
    table = panel.locator("table:has(.tr-body)").first
    if table.count():
        return table.locator(".tr-body")
    return panel.locator(".gallery-item").first.locator("xpath=..").locator(".gallery-item")


def run_and_wait(page, panel) -> None:
    """Press the tab's primary button and wait for the run to start and to finish."""
    watch(page)
    panel.locator("button.primary").first.click()
    wait_for_run(page)
    page.wait_for_timeout(1000)  # plots draw after their data arrives (for the screenshot)


def watch(page) -> None:
    """Start watching the visible panel for a run; call before the click that starts it."""
    page.evaluate(WATCH_JS, BUSY)


def wait_for_run(page) -> None:
    """Wait until the run seen by `watch` has started and finished, for as long as its panel keeps
    changing; fail when nothing changed for STALL_S seconds."""
    last, since = None, time.monotonic()
    while True:
        state = page.evaluate(STATE_JS, BUSY)
        if state["started"] and not state["busy"]:
            return
        if state != last:
            last, since = state, time.monotonic()
        elif time.monotonic() - since > STALL_S:
            what = "is still running" if state["started"] else "never started"
            pytest.fail(f"nothing on the page changed for {STALL_S} s and the run {what}")
        page.wait_for_timeout(500)


def errors(page) -> list[str]:
    return page.locator(".toast-body.error, [data-testid=toast-body].error, .toast-wrap .error").all_inner_texts()


def open_tab(page, title: str) -> None:
    """Open a tab by its title, through the "…" menu when the tab bar has no room for it (phones)."""
    tab = page.get_by_role("tab", name=title, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu button").first.click()
    page.locator(".overflow-dropdown button", has_text=re.compile(rf"^{re.escape(title)}$")).first.click()


def field(panel, label: str):
    """The first visible text field under a Gradio label."""
    return panel.locator("label", has_text=label).locator("input:visible, textarea:visible").first
