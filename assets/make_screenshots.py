"""README screenshots: the browser sweep (tests/test_browser.py) saves full-page PNGs of every tab
to tests/screenshots/; this turns them into small JPEGs in assets/screenshots/ for the README.

    bash tests/run.sh tests/test_browser.py && .venv/bin/python assets/make_screenshots.py

They show the app on the tiny random test model, so the answers in them are meaningless; they show
what each tab looks like and what it shows.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "screenshots"
TARGET = ROOT / "assets" / "screenshots"
WIDTH, MAX_HEIGHT = 900, 1500


def main() -> None:
    TARGET.mkdir(exist_ok=True)
    for path in sorted(SOURCE.glob("*.png")):
        image = Image.open(path).convert("RGB")
        scale = WIDTH / image.width
        image = image.resize((WIDTH, round(image.height * scale)), Image.LANCZOS)
        image = image.crop((0, 0, WIDTH, min(image.height, MAX_HEIGHT)))
        image.save(TARGET / f"{path.stem}.jpg", quality=82, optimize=True)
        print(TARGET / f"{path.stem}.jpg")


if __name__ == "__main__":
    main()
