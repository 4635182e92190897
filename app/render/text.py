"""Text drawn into pictures: one font, one plain-text rule, one wrap, for every picture the app makes."""

from __future__ import annotations

from PIL import ImageFont

# Pillow's bundled default font lacks typographic quotes and some symbols.
_PLAIN = (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("×", "x"), ("→", "->"), ("←", "<-"), ("–", "-"),
          ("—", "-"), ("…", "..."))


def font(size: int):
    """Pillow's bundled scalable font at `size` pixels (the bitmap default on an older Pillow)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def plain(text: str) -> str:
    """`text` with the characters the bundled font cannot draw replaced by plain ones."""
    for fancy, simple in _PLAIN:
        text = text.replace(fancy, simple)
    return text


def wrap(text: str, drawing_font, width: int, max_lines: int | None = 4) -> list[str]:
    """Greedy word wrap of `text` into lines at most `width` pixels wide in `drawing_font` (a word
    longer than the width gets a line of its own); at most `max_lines` lines (None: all)."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if drawing_font.getlength(trial) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    lines = [*lines, line] if line else lines
    return lines if max_lines is None else lines[:max_lines]
