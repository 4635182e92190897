"""The shared video layer: frame sampling on videos of known length and fps, every container,
seeking instead of decoding everything, and bad inputs that say what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from components.errors import InputError
from components.video import (
    ACTIONCLIP_SAMPLING,
    CLIP4CLIP_SAMPLING,
    MAX_IMAGES_AS_VIDEO,
    Sampling,
    content_hash,
    load_video,
    open_source,
    per_second,
    probe,
    segment_centres,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))
from generate_videos import VIDEOS, solid_frames, write_video  # noqa: E402


def numbered_frames(n: int, size=(32, 32)) -> list[np.ndarray]:
    """Frame i is one solid colour that encodes i: R = 10·(i mod 25), G = 10·(i div 25)."""
    w, h = size
    return [np.full((h, w, 3), (10 * (i % 25), 10 * (i // 25), 128), np.uint8) for i in range(n)]


def frame_number(image: Image.Image) -> int:
    r, g, _ = np.asarray(image, float).reshape(-1, 3).mean(0)
    return int(round(g / 10)) * 25 + int(round(r / 10))


# -- sampling as pure index arithmetic ----------------------------------------------------------------
def test_segment_centres_follow_actionclip_formula():
    # N = 64, T = 8: segments of 8 frames, centre offset (8 - 1) / 2 = 3.5 → 3, 11, ..., 59
    indices, mask = segment_centres(64, 8)
    assert indices.tolist() == [3, 11, 19, 27, 35, 43, 51, 59] and mask.all()
    # N = 30, T = 8: length 3.75, offset 1.375 → ⌊i·3.75 + 1.375⌋
    assert segment_centres(30, 8)[0].tolist() == [1, 5, 8, 12, 16, 20, 23, 27]
    assert segment_centres(100, 1)[0].tolist() == [49]


def test_segment_centres_short_video_repeats_frames_as_the_official_sampler():
    # ActionCLIP's _get_test_indices with N ≤ T: i·N // T for i < T, every slot a real frame
    indices, mask = segment_centres(5, 8)
    assert indices.tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    assert mask.tolist() == [True] * 8
    assert segment_centres(1, 8)[0].tolist() == [0] * 8
    assert segment_centres(8, 8)[0].tolist() == list(range(8))


def test_per_second_clip4clip():
    # 4 s at 8 fps: the frames at 0, 1, 2, 3 s; 12 slots, 8 masked
    indices, mask = per_second(32, 8.0)
    assert indices.tolist() == [0, 8, 16, 24] and mask.sum() == 4 and len(mask) == 12
    # 20 s at 30 fps: 20 one-per-second frames, 12 picked with linspace(0, 19, 12) → int
    indices, mask = per_second(600, 30.0)
    seconds = np.linspace(0, 19, 12, dtype=int)
    assert indices.tolist() == (seconds * 30).tolist() and mask.all()
    # exactly 12 s: every second kept
    assert per_second(12 * 25, 25.0)[0].tolist() == [25 * s for s in range(12)]
    # fractional fps: frame ⌊s · 29.97⌋
    assert per_second(300, 29.97)[0].tolist() == [int(s * 29.97 + 1e-9) for s in range(11)]


def test_sampling_limits():
    with pytest.raises(InputError, match="between 1 and"):
        Sampling("segments", 0)
    with pytest.raises(InputError, match="between 1 and"):
        Sampling("segments", 1000)
    with pytest.raises(InputError, match="no frames"):
        segment_centres(0, 8)


# -- decoding files of known length -------------------------------------------------------------------
@pytest.fixture(scope="module")
def numbered_mp4(tmp_path_factory):
    """20 s at 25 fps (500 frames), a key frame every 25 frames; frame i's colour encodes i."""
    path = tmp_path_factory.mktemp("videos") / "numbered.mp4"
    return write_video(path, numbered_frames(500), fps=25, keyframe_every=25)


def test_probe_reads_length_and_fps(numbered_mp4):
    info = probe(numbered_mp4)
    assert (info.frame_count, info.fps, info.duration) == (500, 25.0, 20.0)
    assert info.size == (32, 32) and info.codec == "h264" and info.kind == "video"


@pytest.mark.parametrize("sampling", [ACTIONCLIP_SAMPLING, CLIP4CLIP_SAMPLING, Sampling("segments", 32)])
def test_the_decoded_frames_are_the_sampled_ones(numbered_mp4, sampling):
    video = load_video(numbered_mp4, sampling)
    expected, mask = sampling.pick(500, 25.0)
    assert video.indices.tolist() == expected.tolist()
    assert [frame_number(f) for f in video.frames] == expected.tolist()
    np.testing.assert_allclose(video.times, expected / 25.0)
    assert video.mask.tolist() == mask.tolist()


def test_seeks_instead_of_decoding_everything(numbered_mp4):
    with open_source(numbered_mp4) as source:
        indices, _ = ACTIONCLIP_SAMPLING.pick(source.info.frame_count, source.info.fps)
        frames = source.fetch(indices)
        assert [frame_number(f) for f in frames] == indices.tolist()
        assert source.seeks >= 8  # the targets are 2.5 s apart: one seek each
        assert source.decoded <= 8 * 25  # at most one GOP per target, not all 500 frames


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov", ".avi", ".mkv"])
def test_containers(tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", numbered_frames(40), fps=10)
    video = load_video(path, CLIP4CLIP_SAMPLING)
    assert video.info.frame_count == 40 and video.info.fps == pytest.approx(10.0)
    assert video.indices.tolist() == [0, 10, 20, 30]
    assert [frame_number(f) for f in video.frames] == [0, 10, 20, 30]
    assert video.mask.sum() == 4


def test_animated_gif_honours_frame_durations(tmp_path):
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    images = [Image.new("RGB", (32, 32), c) for c in colours]
    path = tmp_path / "anim.gif"
    # 0.5 s red, 1.5 s green, 1 s blue: 3 s, 3 GIF frames → grid of 3 frames at 1 fps
    images[0].save(path, save_all=True, append_images=images[1:], duration=[500, 1500, 1000], loop=0)
    info = probe(path)
    assert info.kind == "gif" and info.frame_count == 3 and info.duration == pytest.approx(3.0)
    video = load_video(path, CLIP4CLIP_SAMPLING)  # t = 0, 1, 2 s → red, green, blue
    assert [im.getpixel((0, 0))[:3] for im in video.frames] == [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


def test_list_of_images_is_a_one_frame_per_second_video():
    images = [Image.new("RGB", (40, 30), (i * 20, 0, 0)) for i in range(10)]
    video = load_video(images, ACTIONCLIP_SAMPLING)
    assert video.info.kind == "images" and video.info.fps == 1.0 and video.info.frame_count == 10
    assert video.indices.tolist() == segment_centres(10, 8)[0].tolist()
    assert video.frames[0].size == (40, 30)


def test_bundled_examples_decode():
    for path in sorted(VIDEOS.glob("*")):
        if path.suffix in (".mp4", ".webm", ".gif"):
            video = load_video(path)
            assert len(video) >= 1 and video.info.duration > 0


def test_content_hash_is_of_the_bytes(tmp_path):
    a = write_video(tmp_path / "a.mp4", solid_frames((200, 0, 0), 8, (32, 32)))
    b = tmp_path / "b.mp4"
    b.write_bytes(a.read_bytes())
    assert content_hash(a) == content_hash(b)
    c = write_video(tmp_path / "c.mp4", solid_frames((0, 0, 200), 8, (32, 32)))
    assert content_hash(a) != content_hash(c)


# -- bad inputs -----------------------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _zero_frames(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return path


def _undecodable(path: Path) -> Path:
    """A Matroska file whose one video packet is zeroed: a video track with no decodable frame."""
    write_video(path, solid_frames((200, 0, 0), 1, (64, 64)))
    with av.open(str(path)) as container:
        pos, size = next((p.pos, p.size) for p in container.demux(video=0) if p.size)
    data = bytearray(path.read_bytes())
    data[pos : pos + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.mp4", "could not be found"),
        (lambda p: _write(p / "empty.mp4", b""), "empty"),
        (lambda p: _write(p / "notes.mp4", b"not a video at all"), "not a video"),
        (lambda p: _write(p / "junk.mp4", np.random.default_rng(0).bytes(4000)), "not a video"),
        (lambda p: _audio_only(p / "song.mp3"), "only audio"),
        (lambda p: _zero_frames(p / "zero.mp4"), "no video frames"),
        (lambda p: _undecodable(p / "blank.mkv"), "no decodable video frames"),
    ],
)
def test_bad_files(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        load_video(path)


def test_truncated_video(tmp_path):
    data = (VIDEOS / "red_then_blue.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="damaged|not a video"):
        load_video(path)


def test_other_bad_sources(tmp_path):
    with pytest.raises(InputError, match="Upload a video"):
        load_video(None)
    with pytest.raises(InputError, match="at least one image"):
        load_video([])
    with pytest.raises(InputError, match=f"at most {MAX_IMAGES_AS_VIDEO}"):
        load_video([Image.new("RGB", (16, 16))] * (MAX_IMAGES_AS_VIDEO + 1))
    with pytest.raises(InputError, match="Expected a video"):
        load_video(12)
    text = tmp_path / "a.png"
    text.write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        load_video([str(text)])


def test_oversized_file(tmp_path, monkeypatch):
    import components.video as video

    monkeypatch.setattr(video, "MAX_VIDEO_MB", 0.001)
    path = write_video(tmp_path / "big.mp4", numbered_frames(40))
    with pytest.raises(InputError, match="the limit is"):
        load_video(path)
