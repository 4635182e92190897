"""Example inputs that work offline and are ours to show (see assets/README.md).

Photos come from scikit-image's installed package (their terms are in skimage.data's docstrings),
loaded from where pip put them; generated material lives in assets/ with its generator.
"""

from __future__ import annotations

from pathlib import Path

import skimage.data

ASSETS = Path(__file__).resolve().parents[1] / "assets"
_SKIMAGE = Path(skimage.data.__file__).resolve().parent

# name → (file in skimage/data, source and terms as skimage documents them)
SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut.png", "NASA, Eileen Collins; public domain"),
    "chelsea": ("chelsea.png", "Stéfan van der Walt, the cat Chelsea; CC0"),
    "coffee": ("coffee.png", "Rachel Michetti, a cup of coffee; CC0"),
    "rocket": ("rocket.jpg", "SpaceX, Falcon 9 launch; public domain"),
    "motorcycle_left": ("motorcycle_left.png", "Middlebury 2014 stereo dataset, motorcycle, left view"),
}


def skimage_photo(name: str) -> str:
    """Path of one of scikit-image's bundled photos."""
    filename, _ = SKIMAGE_PHOTOS[name]
    path = _SKIMAGE / filename
    if not path.is_file():
        raise FileNotFoundError(f"scikit-image's {filename} is missing; reinstall scikit-image")
    return str(path)


def allowed_paths() -> list[str]:
    """Folders the app may serve example files from: its own assets and skimage's photos."""
    return [str(ASSETS), str(_SKIMAGE)]
