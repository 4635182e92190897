"""Generate the short synthetic clips in assets/videos/ (and write clips for tests).

Every clip is drawn here from numbers: solid colours with a moving shape, and "scenes" whose colour
changes part-way through, so a person can see when each label is found. Rebuild with

    .venv/bin/python assets/generate_videos.py

The files are tiny (a few KB each) and ours to ship (see assets/README.md). Encoding uses PyAV's
bundled FFmpeg (H.264 in mp4, VP9 in webm, GIF), so nothing else needs installing.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VIDEOS = HERE / "videos"

SIZE = (128, 96)  # (W, H): even sides, as yuv420p needs
FPS = 8

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (230, 210, 40),
    "white": (240, 240, 240),
}

CODECS = {".mp4": ("libx264", "yuv420p"), ".mov": ("libx264", "yuv420p"), ".mkv": ("libx264", "yuv420p"),
          ".webm": ("libvpx-vp9", "yuv420p"), ".avi": ("mpeg4", "yuv420p")}


def write_video(
    path: str | Path,
    frames: Sequence[np.ndarray] | Sequence[Image.Image],
    fps: float = FPS,
    keyframe_every: int | None = None,
) -> Path:
    """Encode RGB frames ((H, W, 3) uint8 arrays or PIL images) to `path`; the container and codec
    follow the suffix (.mp4/.mov/.mkv H.264, .webm VP9, .avi MPEG-4 Part 2, .gif GIF).
    `keyframe_every`: the GOP length in frames (the encoder's default when None)."""
    path = Path(path)
    arrays = [np.asarray(f.convert("RGB") if isinstance(f, Image.Image) else f, dtype=np.uint8) for f in frames]
    if path.suffix.lower() == ".gif":
        images = [Image.fromarray(a) for a in arrays]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return path
    codec, pix_fmt = CODECS[path.suffix.lower()]
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = arrays[0].shape[1], arrays[0].shape[0]
        stream.pix_fmt = pix_fmt
        if keyframe_every:
            stream.codec_context.gop_size = keyframe_every
        if codec == "libx264":
            stream.options = {"crf": "28", "preset": "veryfast"}
        elif codec == "mpeg4":
            stream.bit_rate = 4_000_000  # the default (~200 kb/s) blurs solid frames into each other
        elif codec == "libvpx-vp9":
            stream.options = {"crf": "40", "b:v": "0", "deadline": "realtime", "cpu-used": "8"}
        for array in arrays:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def solid_frames(rgb, n: int, size=SIZE) -> list[np.ndarray]:
    w, h = size
    return [np.full((h, w, 3), rgb, np.uint8) for _ in range(n)]


def moving_square(rgb, n: int, size=SIZE, square: int = 24, square_rgb=(250, 250, 250)) -> list[np.ndarray]:
    """A background colour with a small square gliding left to right (a 'moving pattern')."""
    w, h = size
    frames = []
    for i in range(n):
        array = np.full((h, w, 3), rgb, np.uint8)
        x = round((w - square) * i / max(1, n - 1))
        y = (h - square) // 2
        array[y : y + square, x : x + square] = square_rgb
        frames.append(array)
    return frames


def moving_stripes(rgb_a, rgb_b, n: int, size=SIZE, period: int = 16) -> list[np.ndarray]:
    """Vertical stripes of two colours scrolling sideways by two pixels a frame."""
    w, h = size
    frames = []
    for i in range(n):
        cols = ((np.arange(w) + 2 * i) // (period // 2)) % 2
        row = np.where(cols[:, None] == 0, np.array(rgb_a), np.array(rgb_b)).astype(np.uint8)
        frames.append(np.repeat(row[None], h, axis=0))
    return frames


def scenes(parts: Sequence[tuple[Callable[[int], list[np.ndarray]], int]]) -> list[np.ndarray]:
    """Concatenate (frame maker, frame count) parts: a clip whose content changes over time."""
    return [f for make, n in parts for f in make(n)]


# name → (frames, note for assets/README.md). Frame counts at FPS = 8: 32 frames = 4 s.
def clips() -> dict[str, tuple[list[np.ndarray], str]]:
    c = COLOURS
    return {
        "red_square.mp4": (moving_square(c["red"], 32), "red background, white square gliding right, 4 s"),
        "green_square.mp4": (moving_square(c["green"], 32), "green background, white square gliding right, 4 s"),
        "blue_square.mp4": (moving_square(c["blue"], 32), "blue background, white square gliding right, 4 s"),
        "yellow_stripes.webm": (moving_stripes(c["yellow"], c["white"], 24), "yellow/white stripes scrolling, 3 s, VP9"),
        "red_then_blue.mp4": (
            scenes([(lambda n: moving_square(c["red"], n), 40), (lambda n: moving_square(c["blue"], n), 24)]),
            "5 s red then 3 s blue, white square gliding in each, 8 s",
        ),
        "green_blink.gif": (
            scenes([(lambda n: solid_frames(c["green"], n), 8), (lambda n: solid_frames(c["white"], n), 8)]),
            "animated GIF: 1 s green, 1 s white",
        ),
    }


# Captions for the CLIP4Clip evaluation example: one (video, caption) pair per row.
EVAL_PAIRS = [
    ("red_square.mp4", "a red video"),
    ("green_square.mp4", "a green video"),
    ("blue_square.mp4", "a blue video"),
    ("yellow_stripes.webm", "yellow stripes"),
]


def main(out: Path = VIDEOS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (frames, _note) in clips().items():
        path = write_video(out / name, frames)
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size / 1024:.1f} KB")
    with open(out / "eval_pairs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "caption"])
        writer.writerows(EVAL_PAIRS)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else VIDEOS)
