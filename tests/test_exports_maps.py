"""components/exports/maps: label maps round-trip through PIL as indexed PNGs (mode "P", the palette
the legend names, the label map's own indices), depth through numpy (`.npy` in metres) and PIL
(16-bit millimetres, clipped as the legend says)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from components.exports import maps

NAMES = ["dog", "grass", "other"]
COLOURS = ["#e6194b", (60, 180, 75), "#0082c8"]


def label_map() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(-1, len(NAMES), size=(37, 53)).astype(np.int32)


def test_label_map_png_is_indexed_with_the_label_maps_indices(tmp_path):
    truth = label_map()
    files = maps.write_label_map(truth, NAMES, COLOURS, tmp_path, "lseg-labels", source="LSeg test")
    with Image.open(files.png) as picture:
        assert picture.format == "PNG" and picture.mode == "P" and picture.size == (53, 37)
        values = np.asarray(picture)
        palette = np.asarray(picture.getpalette(), np.uint8).reshape(-1, 3)
        assert "class index" in picture.info["Description"] and picture.info["Source"] == "LSeg test"
    assert values.dtype == np.uint8
    np.testing.assert_array_equal(values[truth >= 0], truth[truth >= 0])
    assert np.all(values[truth < 0] == maps.BACKGROUND_INDEX)
    np.testing.assert_array_equal(maps.read_label_map(files.png), truth)
    legend = json.loads(open(files.legend, encoding="utf-8").read())
    assert legend["image"] == "lseg-labels.png" and (legend["width"], legend["height"]) == (53, 37)
    assert [c["label"] for c in legend["classes"]] == NAMES and [c["index"] for c in legend["classes"]] == [0, 1, 2]
    for c in legend["classes"]:  # the legend's colour is the palette's colour of that index
        assert maps.rgb(c["colour"]) == tuple(palette[c["index"]])
        assert c["pixels"] == int((truth == c["index"]).sum())
    background = legend["background"]
    assert background["index"] == 255 and tuple(palette[255]) == maps.rgb(background["colour"])
    assert background["pixels"] == int((truth < 0).sum())
    assert sum(c["share"] for c in legend["classes"]) + background["share"] == pytest.approx(1, abs=1e-5)


def test_label_map_limits_are_clear(tmp_path):
    with pytest.raises(ValueError, match="at most 255"):
        maps.indexed_label_map(np.zeros((2, 2), int), [f"c{i}" for i in range(256)], ["#000000"] * 256)
    with pytest.raises(ValueError, match="-1…2"):
        maps.indexed_label_map(np.full((2, 2), 3), NAMES, COLOURS)
    Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="not an indexed"):
        maps.read_label_map(tmp_path / "rgb.png")


def test_depth_round_trips_through_numpy_and_a_16_bit_png(tmp_path):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 12.0, size=(29, 41)).astype(np.float32)
    depth[3, 4] = np.nan
    files = maps.write_depth(depth, tmp_path, "depthclip", source="DepthCLIP test")
    back = np.load(files.npy, allow_pickle=False)
    assert back.dtype == np.float32 and back.shape == depth.shape
    np.testing.assert_allclose(back, depth, atol=1e-3, equal_nan=True)  # metres, within 1 mm (exact here)
    with Image.open(files.png) as picture:
        assert picture.format == "PNG" and picture.mode in ("I;16", "I") and picture.size == (41, 29)
        mm = np.asarray(picture)
        assert "millimetres" in picture.info["Description"]
    assert mm[3, 4] == maps.NO_DEPTH
    finite = np.isfinite(depth)
    assert np.abs(mm[finite] / 1000.0 - depth[finite]).max() <= 0.0005 + 1e-6
    np.testing.assert_allclose(maps.read_depth_png(files.png), depth, atol=1e-3, equal_nan=True)
    legend = json.loads(open(files.legend, encoding="utf-8").read())
    assert legend["png"]["unit"] == "millimetre" and legend["png"]["clipped_to_mm"] == [1, 65535]
    assert legend["npy"]["unit"] == "metre" and legend["pixels_without_depth"] == 1
    assert legend["png"]["file"] == "depthclip-mm.png" and legend["npy"]["file"] == "depthclip-m.npy"


def test_depth_outside_sixteen_bits_is_clipped_and_counted(tmp_path):
    depth = np.array([[0.0, 0.0004, 1.0], [65.535, 70.0, 2.5]])
    mm, clipped = maps.depth_millimetres(depth)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(mm, [[1, 1, 1000], [65535, 65535, 2500]])
    assert clipped == {"below": 2, "above": 1, "missing": 0}
    legend = json.loads(open(maps.write_depth(depth, tmp_path).legend).read())
    assert legend["png"]["pixels_clipped_below"] == 2 and legend["png"]["pixels_clipped_above"] == 1


def test_file_names_are_plain(tmp_path):
    files = maps.write_label_map(np.zeros((2, 2), int), ["a"], ["#ffffff"], tmp_path, "../x y/é")
    assert all(p.startswith(str(tmp_path)) for p in files.paths)
