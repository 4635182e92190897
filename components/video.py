"""Videos as frames: validated decoding and the two frame-sampling strategies of the video tabs.

A "video" is a file (mp4, webm, mov, avi, mkv … anything FFmpeg reads, through PyAV, which ships
FFmpeg in its wheels), an animated GIF (decoded with Pillow, honouring each frame's duration), or a
list of images (one frame per second). Every source is seen on a constant-rate grid of
`frame_count` frames at `fps`; a sampling strategy picks frame indices on that grid and only those
frames are decoded: the decoder seeks to the key frame before each far-away target instead of
decoding the whole file.

Strategies (see METHODS.md §1–2):
- `segments` (ActionCLIP): split the video into T equal segments and take the centre frame of each.
- `per_second` (CLIP4Clip): one frame per second from the start; more than `max_frames` → that many
  picked uniformly (first and last kept).
Both return a mask of length T / max_frames: a video with fewer frames than slots gives each frame
once and marks the rest of the slots as padding.

Bad input raises `InputError`: a missing, empty, oversized, damaged or audio-only file, a video with
no decodable frames, a list of images that are not images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from components.errors import InputError
from components.media import MAX_UPLOAD_MB, load_image

# -- limits (shown in the UI) ------------------------------------------------------------------------
MAX_VIDEO_MB = MAX_UPLOAD_MB  # the app's upload limit
MAX_DECODE_SECONDS = 600.0  # frames are sampled from the first 10 minutes only
MAX_SAMPLED_FRAMES = 64  # most frames one video gives a pipeline (T or max_frames)
MAX_IMAGES_AS_VIDEO = 64  # a list of images used as a video
MAX_FRAME_PIXELS = 8_000_000  # per decoded frame (about 4K); larger is refused before decoding
MAX_FRAME_SIDE = 640  # decoded frames are downscaled to this long side (CLIP sees 224 px anyway)
MAX_GIF_FRAMES = 5_000
SEEK_GAP_SECONDS = 2.0  # a target further ahead than this is reached by seeking, not by decoding on
IMAGE_LIST_FPS = 1.0  # a list of images plays at one image per second
VIDEO_FORMATS = "mp4, webm, mov, avi, mkv (any codec FFmpeg decodes), animated GIF, or a list of images"

# -- strategies' defaults (METHODS.md) ---------------------------------------------------------------
ACTIONCLIP_T = 8  # ActionCLIP: T = 8 segments by default (16 and 32 also used)
CLIP4CLIP_FRAME_RATE = 1.0  # CLIP4Clip: one frame per second
CLIP4CLIP_MAX_FRAMES = 12  # CLIP4Clip: at most 12 frames, picked uniformly


def limits_text() -> str:
    return (
        f"Videos: {VIDEO_FORMATS}; up to {MAX_VIDEO_MB} MB; frames are sampled from the first "
        f"{MAX_DECODE_SECONDS / 60:.0f} minutes; at most {MAX_SAMPLED_FRAMES} frames per video and "
        f"{MAX_IMAGES_AS_VIDEO} images as a video; frames larger than {MAX_FRAME_PIXELS / 1e6:.0f} "
        "megapixels are refused."
    )


# -- sampling: pure functions of the frame grid ------------------------------------------------------
@dataclass(frozen=True)
class Sampling:
    """A frame-sampling strategy: `segments` with `frames` = T, or `per_second` with `frames` =
    max_frames and `rate` frames per second."""

    strategy: str
    frames: int
    rate: float = CLIP4CLIP_FRAME_RATE

    def __post_init__(self):
        if self.strategy not in ("segments", "per_second"):
            raise ValueError(f"unknown sampling strategy {self.strategy!r}")
        if not 1 <= self.frames <= MAX_SAMPLED_FRAMES:
            raise InputError(f"Sample between 1 and {MAX_SAMPLED_FRAMES} frames (got {self.frames}).")
        if not self.rate > 0:
            raise InputError(f"The sampling rate must be positive (got {self.rate}).")

    def pick(self, frame_count: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """(indices (K,), mask (frames,)) for a video of `frame_count` frames at `fps`."""
        if self.strategy == "segments":
            return segment_centres(frame_count, self.frames)
        return per_second(frame_count, fps, self.frames, self.rate)

    def describe(self) -> str:
        if self.strategy == "segments":
            return f"centre frame of each of T = {self.frames} equal segments"
        return f"{self.rate:g} frame/s, at most {self.frames} picked uniformly"


ACTIONCLIP_SAMPLING = Sampling("segments", ACTIONCLIP_T)
CLIP4CLIP_SAMPLING = Sampling("per_second", CLIP4CLIP_MAX_FRAMES, CLIP4CLIP_FRAME_RATE)


def _mask(valid: int, slots: int) -> np.ndarray:
    mask = np.zeros(slots, bool)
    mask[:valid] = True
    return mask


def segment_centres(frame_count: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """ActionCLIP's test-time sampling (`_get_test_indices`): split `frame_count` frames into T equal
    segments and take the centre frame of each, index ⌊i·N/T + (N/T − 1)/2⌋. With N ≤ T frames, as
    the official sampler: frame i·N // T in slot i, so frames repeat and every slot is real (no mask)."""
    if frame_count <= 0:
        raise InputError("The video has no frames.")
    if frame_count <= T:
        return np.arange(T, dtype=np.int64) * frame_count // T, _mask(T, T)
    length = frame_count / T
    offset = (length - 1) / 2
    indices = np.floor(np.arange(T) * length + offset + 1e-9).astype(np.int64)
    return np.clip(indices, 0, frame_count - 1), _mask(T, T)


def per_second(
    frame_count: int, fps: float, max_frames: int = CLIP4CLIP_MAX_FRAMES, rate: float = CLIP4CLIP_FRAME_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """CLIP4Clip's sampling: the frame at the start of every 1/rate seconds (frame ⌊s·fps⌋ for
    s = 0, 1/rate, …, inside the video); more than `max_frames` of them → `max_frames` picked
    uniformly with linspace(0, n−1, max_frames) (first and last kept); fewer → padding masked out."""
    if frame_count <= 0:
        raise InputError("The video has no frames.")
    if not fps > 0:
        raise InputError("The video's frame rate is unknown or zero.")
    step = fps / rate  # frames between two samples
    count = max(1, int(math.ceil(frame_count / step - 1e-9)))  # every s with ⌊s·step⌋ < frame_count
    candidates = np.unique(np.floor(np.arange(count) * step + 1e-9).astype(np.int64))
    if len(candidates) > max_frames:
        candidates = candidates[np.linspace(0, len(candidates) - 1, num=max_frames, dtype=int)]
    return candidates, _mask(len(candidates), max_frames)


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """What a source is, on its constant-rate grid: `frame_count` frames at `fps` (duration s)."""

    name: str
    kind: str  # "video", "gif" or "images"
    frame_count: int
    fps: float
    duration: float
    size: tuple[int, int]  # (width, height) as stored
    codec: str = ""
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        codec = f" · {self.codec}" if self.codec else ""
        return (
            f"{self.name}: {self.duration:.1f} s · {self.frame_count} frames at {self.fps:.3g} fps · "
            f"{self.size[0]}×{self.size[1]}{codec}"
        )


@dataclass(frozen=True)
class SampledVideo:
    """K ≤ slots decoded frames; `indices` (K,) on the frame grid, `times` (K,) in seconds from the
    start, `mask` (slots,) True for the K real frames and False for padding."""

    frames: tuple[Image.Image, ...]
    indices: np.ndarray
    times: np.ndarray
    mask: np.ndarray
    info: VideoInfo
    sampling: Sampling
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.info.name

    def __len__(self) -> int:
        return len(self.frames)


# -- sources -----------------------------------------------------------------------------------------
def _check_file(path: Path, max_mb: float | None = None) -> None:
    max_mb = MAX_VIDEO_MB if max_mb is None else max_mb  # read when called: the limit is a setting
    name = path.name
    if not path.is_file():
        raise InputError(f"{name} could not be found; upload it again.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes); upload the video again.")
    if size > max_mb * 2**20:
        raise InputError(f"{name} is {size / 2**20:.0f} MB; the limit is {max_mb:g} MB.")


def _is_gif(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(6) in (b"GIF87a", b"GIF89a")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    if max(w, h) <= max_side:
        return w, h
    scale = max_side / max(w, h)
    # even sides keep FFmpeg's scaler happy with subsampled chroma
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def _check_frame_pixels(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise InputError(f"{name} has frames of size {w}×{h}; it cannot be read as a video.")
    if w * h > MAX_FRAME_PIXELS:
        raise InputError(
            f"{name} has {w}×{h} frames ({w * h / 1e6:.0f} megapixels); the limit is "
            f"{MAX_FRAME_PIXELS / 1e6:.0f} megapixels. Downscale it first."
        )


class _Source(ABC):
    """A decoded view of one input: `info` and `fetch(indices) -> images` on the frame grid.
    One subclass per kind of input: image lists, GIFs (Pillow), containers (PyAV)."""

    info: VideoInfo

    @abstractmethod
    def fetch(self, indices: Sequence[int]) -> list[Image.Image]:
        """The frames at `indices` of the frame grid, as RGB images."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ImageListSource(_Source):
    def __init__(self, images: Sequence, max_side: int):
        if len(images) == 0:
            raise InputError("Give at least one image to use as a video.")
        if len(images) > MAX_IMAGES_AS_VIDEO:
            raise InputError(
                f"You gave {len(images)} images; at most {MAX_IMAGES_AS_VIDEO} can be used as a video."
            )
        loaded = [load_image(im, max_side=max_side) for im in images]
        self.images = [item.image for item in loaded]
        sizes = {im.size for im in self.images}
        notes = [n for item in loaded for n in item.notes]
        if len(sizes) > 1:
            notes.append("The images differ in size; each is seen by CLIP at its own centre crop.")
        n = len(self.images)
        self.info = VideoInfo(
            name=f"{n} image{'s' if n != 1 else ''}",
            kind="images",
            frame_count=n,
            fps=IMAGE_LIST_FPS,
            duration=n / IMAGE_LIST_FPS,
            size=self.images[0].size,
            notes=tuple(notes),
        )

    def fetch(self, indices):
        return [self.images[int(i)] for i in indices]


class _GifSource(_Source):
    """An animated GIF on a constant-rate grid: `fps` = frames / total duration; grid frame i shows
    the GIF frame whose display interval contains time i / fps."""

    DEFAULT_FRAME_MS = 100  # browsers show 0-duration GIF frames for about this long

    def __init__(self, path: Path, max_side: int):
        self.name, self.max_side = path.name, max_side
        try:
            self.image = Image.open(path)
            _check_frame_pixels(self.image.size, self.name)
            durations = []
            n = getattr(self.image, "n_frames", 1)
            if n > MAX_GIF_FRAMES:
                raise InputError(f"{self.name} has {n} frames; the limit for a GIF is {MAX_GIF_FRAMES}.")
            for i in range(n):
                self.image.seek(i)
                ms = self.image.info.get("duration") or 0
                durations.append(ms if ms >= 20 else self.DEFAULT_FRAME_MS)
        except InputError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise InputError(f"{self.name} is a damaged GIF and cannot be decoded ({error}).") from None
        self.starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]]) / 1000.0
        duration = float(np.sum(durations)) / 1000.0
        fps = n / duration
        self.info = VideoInfo(
            name=self.name, kind="gif", frame_count=n, fps=fps, duration=duration,
            size=self.image.size, codec="gif",
        )

    def fetch(self, indices):
        out = []
        for index in indices:
            t = int(index) / self.info.fps
            gif_frame = int(np.searchsorted(self.starts, t + 1e-9, side="right") - 1)
            try:
                self.image.seek(max(0, gif_frame))
                frame = self.image.convert("RGB")
            except (OSError, ValueError, EOFError) as error:
                raise InputError(f"{self.name} is damaged at frame {gif_frame} ({error}).") from None
            if max(frame.size) > self.max_side:
                frame = frame.resize(_fit(frame.size, self.max_side), Image.BILINEAR)
            out.append(frame)
        return out

    def close(self):
        self.image.close()


class _AvSource(_Source):
    """A container FFmpeg reads. The grid is the stream's average frame rate; frame i is the first
    decoded frame whose time ≥ (i − ½)/fps from the stream's start."""

    def __init__(self, path: Path, max_side: int):
        import av

        self.name, self.max_side, self.path = path.name, max_side, path
        try:
            self.container = av.open(str(path), metadata_errors="ignore")
        except av.FFmpegError as error:
            raise InputError(
                f"{self.name} is not a video CLIP Lab can read (damaged, or not a video: {_first_line(error)}). "
                f"Use {VIDEO_FORMATS}."
            ) from None
        if not self.container.streams.video:
            audio = " It holds only audio." if self.container.streams.audio else ""
            self.container.close()
            raise InputError(
                f"{self.name} has no video frames (no video track).{audio} Upload a file with moving pictures."
            )
        self.stream = stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        _check_frame_pixels((ctx.width or 1, ctx.height or 1), self.name)
        self.decoded = self.seeks = 0  # frames decoded and seeks made, for tests and benchmarks
        self.time_base = float(stream.time_base) if stream.time_base else 1e-6
        self.start = float(stream.start_time or 0) * self.time_base
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = 0.0
        if stream.duration:
            duration = float(stream.duration) * self.time_base
        elif self.container.duration:
            duration = float(self.container.duration) / 1_000_000 - self.start
        notes: list[str] = []
        count = int(stream.frames or 0)
        if fps <= 0 or not math.isfinite(fps) or (count <= 0 and duration <= 0):
            fps, count, duration = self._scan()  # no usable metadata: count by decoding
        elif count <= 0:
            count = max(1, round(duration * fps))
        if count / fps > MAX_DECODE_SECONDS:
            notes.append(
                f"{self.name} lasts {count / fps / 60:.1f} minutes; frames are sampled from the first "
                f"{MAX_DECODE_SECONDS / 60:.0f} minutes."
            )
            count = int(MAX_DECODE_SECONDS * fps)
        self.info = VideoInfo(
            name=self.name, kind="video", frame_count=count, fps=fps, duration=count / fps,
            size=(ctx.width, ctx.height), codec=ctx.name or "", notes=tuple(notes),
        )
        self._frames: Iterator | None = None
        self._current = None  # (time, frame) of the last decoded frame

    def _scan(self) -> tuple[float, int, float]:
        times = []
        for frame in self._decode_from(0.0):
            times.append(self._time(frame))
            if times[-1] > MAX_DECODE_SECONDS:
                break
        if not times:
            raise InputError(f"{self.name} has no decodable video frames.")
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span if span > 0 else 1.0
        self._frames, self._current = None, None
        return fps, len(times), len(times) / fps

    def _time(self, frame) -> float:
        pts = frame.pts if frame.pts is not None else frame.dts
        return (float(pts) * self.time_base - self.start) if pts is not None else 0.0

    def _decode_from(self, seconds: float) -> Iterator:
        import av

        target = int((seconds + self.start) / self.time_base)
        try:
            self.container.seek(max(0, target), stream=self.stream, backward=True, any_frame=False)
        except av.FFmpegError:  # not seekable here: read again from the top
            self.container.close()
            self.container = av.open(str(self.path), metadata_errors="ignore")
            self.stream = self.container.streams.video[0]
        self.seeks += 1

        def frames():
            try:
                for frame in self.container.decode(self.stream):
                    self.decoded += 1
                    yield frame
            except av.FFmpegError as error:
                raise InputError(f"{self.name} is damaged and cannot be decoded ({_first_line(error)}).") from None

        return frames()

    def fetch(self, indices):
        out: dict[int, Image.Image] = {}
        half = 0.5 / self.info.fps
        for index in sorted(set(int(i) for i in indices)):
            target = index / self.info.fps
            current_time = self._current[0] if self._current else None
            if (
                self._frames is None
                or current_time is None
                or target < current_time - half  # behind us
                or target - current_time > SEEK_GAP_SECONDS
            ):
                self._frames, self._current = self._decode_from(max(0.0, target - half)), None
            while self._current is None or self._current[0] < target - half:
                frame = next(self._frames, None)
                if frame is None:  # ran out: the last frame stands for what metadata promised
                    break
                self._current = (self._time(frame), frame)
            if self._current is None:
                # the seek may have landed past the end: restart from the top once
                self._frames = self._decode_from(0.0)
                for frame in self._frames:
                    self._current = (self._time(frame), frame)
                    if self._current[0] >= target - half:
                        break
            if self._current is None:
                raise InputError(f"{self.name} has no decodable video frames.")
            out[index] = self._to_image(self._current[1])
        return [out[int(i)] for i in indices]

    def _to_image(self, frame) -> Image.Image:
        width, height = _fit((frame.width, frame.height), self.max_side)
        image = frame.to_image(width=width, height=height)
        # phone videos store portrait frames sideways plus a display matrix; `rotation` is the
        # counter-clockwise angle it applies (FFmpeg's autorotate does the same turn)
        angle = int(round(getattr(frame, "rotation", 0) or 0))
        return image.rotate(angle, expand=True) if angle % 360 else image

    def close(self):
        self.container.close()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def open_source(source, *, max_side: int = MAX_FRAME_SIDE, max_mb: float | None = None) -> _Source:
    """A path (str/Path) to a video or GIF, or a list of images (paths, PIL images or arrays).
    max_mb: the file size allowed (None: an upload's, MAX_VIDEO_MB; a library indexed on the server
    allows more)."""
    if source is None or (isinstance(source, str) and not source):
        raise InputError("Upload a video first, or pick one of the examples.")
    if isinstance(source, (list, tuple)):
        return _ImageListSource(source, max_side)
    if isinstance(source, (str, Path)):
        path = Path(source)
        _check_file(path, max_mb)
        return _GifSource(path, max_side) if _is_gif(path) else _AvSource(path, max_side)
    raise InputError(f"Expected a video file or a list of images, got {type(source).__name__}.")


def probe(source) -> VideoInfo:
    """What a video is (duration, frames, fps, size) without decoding its frames."""
    with open_source(source) as src:
        return src.info


def load_video(source, sampling: Sampling = ACTIONCLIP_SAMPLING, *, max_side: int = MAX_FRAME_SIDE) -> SampledVideo:
    """Decode only the frames `sampling` picks from `source` (see `open_source`)."""
    with open_source(source, max_side=max_side) as src:
        info = src.info
        indices, mask = sampling.pick(info.frame_count, info.fps)
        frames = src.fetch(indices)
    notes = list(info.notes)
    if sampling.strategy == "segments" and info.frame_count < len(indices):
        notes.append(
            f"{info.name} has {info.frame_count} frame(s) for T = {len(indices)} segments; frames are repeated "
            "(slot i shows frame i·N // T), as ActionCLIP's official sampler does."
        )
    if not mask.all():
        notes.append(
            f"{info.name} gives {int(mask.sum())} frame(s) for {len(mask)} slots; the rest are masked out."
        )
    return SampledVideo(
        frames=tuple(frames),
        indices=np.asarray(indices, np.int64),
        times=np.asarray(indices, np.float64) / info.fps,
        mask=mask,
        info=info,
        sampling=sampling,
        notes=tuple(notes),
    )


def content_hash(source) -> str:
    """SHA-256 of a file's bytes (or of a list of images' pixels): the key of cached embeddings."""
    digest = hashlib.sha256()
    if isinstance(source, (list, tuple)):
        with open_source(source) as src:
            for image in src.images:
                digest.update(f"{image.size}".encode())
                digest.update(image.tobytes())
        return digest.hexdigest()
    path = Path(source)
    _check_file(path)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
