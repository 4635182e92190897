"""Text drawn into pictures: one font, one plain-text rule, one wrap, for every picture the app makes."""

from __future__ import annotations

import threading

from PIL import Image, ImageDraw, ImageFont

# Pillow's bundled default font lacks typographic quotes and some symbols.
_PLAIN = (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("×", "x"), ("→", "->"), ("←", "<-"), ("–", "-"),
          ("—", "-"), ("…", "..."))


_fonts = threading.local()  # FreeType faces must not be used by two threads at once: one set per thread


def font(size: int):
    """Pillow's bundled scalable font at `size` pixels (the bitmap default on an older Pillow); loaded
    once per size and thread (Pillow decodes the embedded font file on every `load_default`)."""
    loaded = vars(_fonts).setdefault("by_size", {})
    if size not in loaded:
        try:
            loaded[size] = ImageFont.load_default(size=size)
        except TypeError:
            loaded[size] = ImageFont.load_default()
    return loaded[size]


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


def captioned(picture, caption: str, width: int | None = None, size: int = 15, max_lines: int | None = 4):
    """`picture` centred on a white card `width` pixels wide (default: its own width) with `caption`
    wrapped under it in `size`-pixel lines (at most `max_lines`; None: all)."""
    width = width or picture.width
    drawing_font = font(size)
    lines = wrap(plain(caption), drawing_font, width - 12, max_lines)
    card = Image.new("RGB", (width, picture.height + 8 + 19 * len(lines)), "white")
    card.paste(picture, ((width - picture.width) // 2, 0))
    draw = ImageDraw.Draw(card)
    for n, line in enumerate(lines):
        draw.text((6, picture.height + 4 + 19 * n), line, fill="black", font=drawing_font)
    return card
