"""Validated loading: every bad image or label list gets its own actionable message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from components import media
from components.errors import InputError


def _png_bytes(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture()
def files(tmp_path):
    good = Image.new("RGB", (80, 60), (200, 10, 10))
    paths = {
        "zero": tmp_path / "zero.png",
        "text": tmp_path / "notes.jpg",
        "truncated": tmp_path / "cut.png",
        "good": tmp_path / "good.png",
    }
    paths["zero"].write_bytes(b"")
    paths["text"].write_text("hello, I am not a picture")
    data = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)))
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["good"].write_bytes(_png_bytes(good))
    return paths


def test_good_image_loads_as_rgb(files):
    loaded = media.load_image(str(files["good"]))
    assert loaded.image.mode == "RGB" and loaded.image.size == (80, 60) and loaded.notes == ()


@pytest.mark.parametrize(
    "case, message",
    [
        ("zero", r"empty \(0 bytes\)"),
        ("text", "not an image"),
        ("truncated", "damaged or truncated"),
    ],
)
def test_bad_files_are_named_with_their_problem(files, case, message):
    with pytest.raises(InputError, match=message) as info:
        media.load_image(str(files[case]))
    assert files[case].name in str(info.value)


def test_missing_and_none():
    with pytest.raises(InputError, match="Upload an image"):
        media.load_image(None)
    with pytest.raises(InputError, match="could not be found"):
        media.load_image("/nowhere/x.png")
    with pytest.raises(InputError, match="Expected an image file"):
        media.load_image(12)


def test_huge_dimensions_are_refused_before_decoding(tmp_path):
    # 16000×16000 PNG of a single colour compresses to a small file: a decompression bomb.
    path = tmp_path / "bomb.png"
    Image.new("L", (16000, 16000)).save(path, optimize=False)
    with pytest.raises(InputError, match="16000×16000 pixels .*limit is 40 megapixels"):
        media.load_image(str(path))


def test_large_upload_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "MAX_UPLOAD_MB", 0.01)
    path = tmp_path / "big.png"
    path.write_bytes(b"\x89PNG" + b"0" * 20_000)
    with pytest.raises(InputError, match="the limit is"):
        media.load_image(str(path))


def test_big_images_are_downscaled_with_a_note():
    loaded = media.load_image(Image.new("RGB", (4000, 1000)))
    assert loaded.image.size == (2048, 512)
    assert "downscaled from 4000×1000" in loaded.notes[0]


def test_tiny_image_is_refused():
    with pytest.raises(InputError, match="at least 16 pixels"):
        media.load_image(Image.new("RGB", (1, 1)))


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    loaded = media.load_image(_png_bytes(rgba))
    assert loaded.image.getpixel((5, 5)) == (255, 255, 255)
    assert loaded.image.getpixel((0, 0)) == (0, 0, 255)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = media.load_image(_png_bytes(image, "JPEG", exif=exif))
    assert loaded.image.size == (20, 40)


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    loaded = media.load_image(buffer.getvalue())
    assert loaded.image.getpixel((3, 3))[0] > 200
    assert "2 frames" in loaded.notes[0]


def test_arrays_are_validated():
    assert media.load_image(np.ones((20, 20, 3), np.float32)).image.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(InputError, match="NaN"):
        media.load_image(np.full((20, 20, 3), np.nan))
    with pytest.raises(InputError, match="shape"):
        media.load_image(np.zeros((20, 20, 7)))


def test_sixteen_bit_greyscale_is_scaled():
    array = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).astype(np.uint16)
    loaded = media.load_image(_png_bytes(Image.fromarray(array)))
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((31, 31))[0] == 255


# -- labels ----------------------------------------------------------------------------------------
def test_labels_split_strip_and_dedupe():
    parsed = media.parse_labels(" cat, dog;\n\nCat ,  a   red car ,,")
    assert parsed.labels == ("cat", "dog", "a red car")


def test_labels_unicode_and_emoji_survive():
    assert media.parse_labels("café, 🐱, 東京").labels == ("café", "🐱", "東京")


@pytest.mark.parametrize("text", [None, "", " , ;\n", []])
def test_no_labels(text):
    with pytest.raises(InputError, match="at least one label"):
        media.parse_labels(text)


def test_too_many_labels():
    with pytest.raises(InputError, match="You gave 500 labels; the limit here is 100"):
        media.parse_labels(",".join(f"thing {i}" for i in range(500)))


def test_long_labels_are_cut_to_the_text_context(tiny_vit):
    long = " ".join(["word"] * 200)
    parsed = media.parse_labels(f"cat, {long}", count_tokens=tiny_vit.count_tokens, max_tokens=20)
    assert parsed.labels[0] == "cat"
    assert tiny_vit.count_tokens(parsed.labels[1]) <= 20
    assert "was cut" in parsed.notes[0]


def test_a_pasted_page_as_a_label_is_cut_with_few_token_counts(tiny_vit):
    """A label of thousands of words is cut as one of 60 would be, counting tokens a few dozen times
    (dropping one word at a time from the whole page made ~5 000 counts: 30 s for one request)."""
    calls = []

    def count(text):
        calls.append(text)
        return tiny_vit.count_tokens(text)

    page = "a very long caption about a cat " * 700
    parsed = media.parse_labels(page, count_tokens=count, max_tokens=20)
    assert parsed.labels[0] == media.parse_labels(" ".join(page.split()[:30]), count_tokens=count, max_tokens=20).labels[0]
    kept = parsed.labels[0].split()
    next_word = page.split()[len(kept)]  # the cut is as long as fits: one more word would not
    assert tiny_vit.count_tokens(parsed.labels[0]) <= 20 < tiny_vit.count_tokens(f"{parsed.labels[0]} {next_word}")
    assert len(calls) < 100


def test_invisible_characters_do_not_make_a_label():
    with pytest.raises(InputError, match="at least one label"):
        media.parse_labels("\u200b, \u200e\u200f, \u200d")
    assert media.parse_labels("ca\u200bt, 👨\u200d👩\u200d👧").labels == ("cat", "👨\u200d👩\u200d👧")
