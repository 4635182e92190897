"""Presentation mode: bigger type and outputs for a projector, Advanced sections folded, and a button
that steps through the open tab's examples. Toggled in the header or with `?present=1` in the URL.

All of it happens in the browser (a CSS class on <body> and a few lines of JavaScript), so a
presenter's toggle never touches the server or other people's sessions.
"""

from __future__ import annotations

PRESENT_CLASS = "clip-lab-present"

CSS = f"""
body.{PRESENT_CLASS} .gradio-container {{
    --text-xxs: 13px; --text-xs: 15px; --text-sm: 17px; --text-md: 20px; --text-lg: 24px;
    --text-xl: 30px; --text-xxl: 38px;
    max-width: 100% !important;
}}
body.{PRESENT_CLASS} .gradio-container .prose {{ font-size: 20px; }}
body.{PRESENT_CLASS} .gradio-container img {{ max-height: 70vh; }}
body:not(.{PRESENT_CLASS}) #clip-lab-next-example {{ display: none !important; }}
"""
# (Gradio also emits a copy of each rule scoped under its container; rules that start at <body>
# cannot match there, so only the plain copies above take effect.)

# Sets the mode from the checkbox value; folds every open "Advanced" accordion when turning it on.
TOGGLE_JS = f"""
(present) => {{
    document.body.classList.toggle("{PRESENT_CLASS}", !!present);
    if (present) {{
        document.querySelectorAll(".label-wrap.open").forEach((button) => {{
            if (button.textContent.trim().startsWith("Advanced")) button.click();
        }});
    }}
    return present;
}}
"""

# On page load: `?present=1` (or true/yes) switches the mode on.
FROM_URL_JS = """
() => {
    const value = new URLSearchParams(window.location.search).get("present");
    return ["1", "true", "yes", "on"].includes((value || "").toLowerCase());
}
"""

# Clicks the next example row of the visible tab, then that tab's primary button.
NEXT_EXAMPLE_JS = """
() => {
    const panel = [...document.querySelectorAll("[role=tabpanel]")].find((p) => p.offsetParent !== null);
    if (!panel) return;
    const rows = [...panel.querySelectorAll(".tr-body, .gallery-item")];
    if (!rows.length) return;
    const next = ((Number(panel.dataset.clipLabExample ?? -1)) + 1) % rows.length;
    panel.dataset.clipLabExample = String(next);
    rows[next].click();
    setTimeout(() => { const run = panel.querySelector("button.primary"); if (run) run.click(); }, 400);
}
"""
