"""A zip of images through CLIP zero-shot and LSeg in one go (issue 21): the zip opened safely and
bounded (components/batch.py), and each tab's batch answering every image exactly as its
single-image run answers that image with the same settings."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from PIL import Image

import badfiles as bad
from app.examples import skimage_photo
from components import batch
from components.errors import InputError
from components.media import load_image

PHOTOS = ("chelsea", "coffee", "astronaut")


def png_bytes(colour, size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def photo_zip(folder, name="photos.zip", extra: dict | None = None):
    """The photos in a zip (one in a sub-folder), plus `extra` members."""
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, photo in enumerate(PHOTOS):
            z.write(skimage_photo(photo), f"{'trip/' if i == 0 else ''}{photo}.png")
        for member, data in (extra or {}).items():
            z.writestr(member, data)
    return path


# -- the component -------------------------------------------------------------------------------
def test_a_mixed_zip_yields_its_images_and_names_what_it_skipped(tmp_path):
    path = photo_zip(tmp_path, extra={
        "notes.txt": "not a picture", "__MACOSX/trip/._chelsea.png": b"\0\1", ".DS_Store": b"\0", "trip/.hidden.png": b"x",
        "empty-folder/": b"", "../../etc/evil.png": png_bytes("red"), "other/chelsea.png": png_bytes("blue"),
        "broken.png": b"\x89PNG\r\n\x1a\n broken",
    })
    with batch.ZipBatch(str(path)) as opened:
        assert opened.count == 6  # the 3 photos, evil.png, the second chelsea.png and broken.png (by their names)
        images = list(opened.images())
        skipped = {s.name: s.reason for s in opened.skipped}
    names = [i.name for i in images]
    assert names == ["chelsea.png", "coffee.png", "astronaut.png", "evil.png", "chelsea (2).png"]
    assert [i.stem for i in images] == ["chelsea", "coffee", "astronaut", "evil", "chelsea-2"]
    assert not any("/" in n or ".." in n for n in names + list(skipped))  # base names only, never paths
    assert set(skipped) == {"notes.txt", "broken.png"}  # __MACOSX, hidden files and folders passed over
    assert "not an image" in skipped["notes.txt"] and "broken.png" in skipped["broken.png"]
    for photo, image in zip(PHOTOS, images):  # decoded exactly as the single-image upload is
        assert np.array_equal(np.asarray(image.loaded.image), np.asarray(load_image(skimage_photo(photo)).image))
    assert images[3].loaded.image.getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize("make, expected", [
    (bad.empty_zip, "holds no files"),
    (lambda folder: bad._zip(folder, "folders.zip", {"a/": b"", "a/.DS_Store": b"x", "__MACOSX/._a.png": b"x"}),
     "holds no files"),
    (bad.zip_without_images, "holds no images (2 other file(s): readme.txt, table.csv)"),
    (bad.not_a_zip, "not a zip archive"),
    (bad.zero_bytes, "empty (0 bytes)"),
    (lambda folder: bad._zip(folder, "broken.zip", {"a.png": b"not an image"}), "none of the 1 image(s)"),
])
def test_bad_zips_say_what_is_wrong(tmp_path, make, expected):
    with pytest.raises(InputError) as raised:
        with batch.ZipBatch(make(tmp_path)) as opened:
            list(opened.images())
    assert expected.lower() in str(raised.value).lower()


def test_a_truncated_zip_is_not_a_zip(tmp_path):
    whole = photo_zip(tmp_path).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="not a zip archive"):
        batch.ZipBatch(cut)


def test_ten_thousand_files_are_refused_from_the_end_record(tmp_path, monkeypatch):
    path = bad.zip_of_many(tmp_path)
    monkeypatch.setattr(batch.zipfile, "ZipFile", None)  # refused before zipfile parses the directory
    with pytest.raises(InputError, match=f"10000 entries; the limit is {batch.MAX_ENTRIES}"):
        batch.ZipBatch(path)


def test_more_images_than_the_limit_are_refused(tmp_path):
    members = {f"{i}.png": png_bytes((i, i, i)) for i in range(batch.MAX_IMAGES + 1)}
    with pytest.raises(InputError, match=f"holds {batch.MAX_IMAGES + 1} images; the limit is {batch.MAX_IMAGES}"):
        batch.ZipBatch(bad._zip(tmp_path, "many.zip", members))


def test_a_zip_bomb_is_refused_from_its_headers_without_unpacking(tmp_path):
    path = bad.zip_bomb(tmp_path)  # 30 MB of zeros in a 30 KB zip
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=f"big.png in bomb.zip unpacks to 30 MB; the limit is {batch.MAX_MEMBER_MB} MB"):
            batch.ZipBatch(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_zip_bomb_whose_headers_lie_is_stopped_without_reading_it_all(tmp_path):
    path = bad.lying_zip_bomb(tmp_path)  # headers claim 1000 bytes; it unpacks to 30 MB
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="does not unpack to what its header says") as raised:
            with batch.ZipBatch(path) as opened:
                list(opened.images())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "zip bomb" in str(raised.value)
    assert peak < 8 << 20  # never held the 30 MB


def test_each_member_is_read_with_a_byte_limit(tmp_path):
    path = bad.zip_bomb(tmp_path)
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("big.png")
        tracemalloc.start()
        try:
            with pytest.raises(InputError, match="unpacks to more than 1 MB.*zip bomb"):
                batch.read_member(archive, member, 1 << 20)  # whatever the header says, reading stops here
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 6 << 20
        assert len(batch.read_member(archive, member, 31 << 20)) == 30 << 20


def test_the_total_uncompressed_size_is_bounded(tmp_path, monkeypatch):
    noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "BMP")  # 0.46 MB each, uncompressed
    monkeypatch.setattr(batch, "MAX_TOTAL_MB", 1)
    with pytest.raises(InputError, match="unpacks to 1 MB of images; the limit is 1 MB"):
        batch.ZipBatch(bad._zip(tmp_path, "big.zip", {f"{i}.bmp": out.getvalue() for i in range(3)}))


def test_the_limits_are_said_in_one_line():
    text = batch.limits_text()
    assert f"at most {batch.MAX_IMAGES} images" in text and f"{batch.MAX_ZIP_MB} MB" in text and "\n" not in text


# -- the tabs' batch handlers, called directly ---------------------------------------------------------
def test_zeroshot_batch_answers_each_image_as_a_single_run(ctx, tmp_path):
    from app.tabs import zeroshot

    s = zeroshot.TAB.defaults(batch=str(photo_zip(tmp_path, extra={"notes.txt": "x"})), labels="cat, cup of coffee, astronaut",
                              templates="single", model=ctx.default_choice)
    answer = zeroshot.classify_batch(ctx, s)
    rows = answer.outputs["batch_table"]
    assert [r[0] for r in rows] == [f"{p}.png" for p in PHOTOS]
    with open(answer.outputs["batch_csv"], encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == zeroshot.BATCH_HEADERS and [w[0] for w in written[1:]] == [r[0] for r in rows]
    for photo, row, line in zip(PHOTOS, rows, written[1:]):
        single = zeroshot.classify(ctx, s.replace(image=skimage_photo(photo))).scores
        top = max(single, key=single.get)
        assert row[1] == top and line[1] == top
        assert float(line[2]) == pytest.approx(single[top], abs=1e-6)
        assert row[3] == zeroshot.top_three(sorted(single.items(), key=lambda kv: -kv[1]))
    assert "notes.txt" in answer.outputs["batch_notes"] and "3 image(s)" in answer.outputs["batch_notes"]
    with pytest.raises(InputError, match="Upload a .zip"):
        zeroshot.classify_batch(ctx, s.replace(batch=None))


def test_lseg_batch_answers_each_image_as_a_single_run(ctx, tmp_path):
    from app.tabs import lseg
    from components.exports import maps

    s = lseg.TAB.defaults(batch=str(photo_zip(tmp_path)), labels="cat, floor, other", threshold=0.3,
                          regulariser="depthwise", model=ctx.default_choice)
    answer = lseg.segment_batch(ctx, s)
    table = answer.outputs["batch_table"]
    assert table["headers"] == ["file", "cat", "floor", "other", "background"]
    with open(answer.outputs["batch_csv"], encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["file", "cat (%)", "floor (%)", "other (%)", "background (%)"]
    unpacked = tmp_path / "maps"
    with zipfile.ZipFile(answer.outputs["batch_maps"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"{p}{end}" for p in PHOTOS for end in (".png", "-legend.json"))
        archive.extractall(unpacked)
    for photo, row, line in zip(PHOTOS, table["data"], written[1:]):
        single = lseg.segment(ctx, s.replace(image=skimage_photo(photo)))
        shares = dict(single.outputs["shares"])
        assert row[0] == line[0] == f"{photo}.png"
        assert row[1:] == [shares[h] for h in table["headers"][1:]]
        assert [float(v) for v in line[1:]] == pytest.approx([shares[h] for h in table["headers"][1:]], abs=0.006)
        png = next(p for p in single.outputs["downloads"] if p.endswith(".png"))
        assert np.array_equal(maps.read_label_map(unpacked / f"{photo}.png"), maps.read_label_map(png))
    with pytest.raises(InputError, match="Upload a .zip"):
        lseg.segment_batch(ctx, s.replace(batch=""))


def test_the_batch_endpoints_are_named_typed_and_answer(app_client, tmp_path):
    from gradio_client import handle_file

    api = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/zeroshot_batch"]["parameters"]] == [
        "batch", "labels", "templates", "method", "resolution", "model"]
    assert [p["parameter_name"] for p in api["/lseg_batch"]["parameters"]][0] == "batch"
    assert [p["parameter_name"] for p in api["/lseg_segment"]["parameters"]][0] == "image"  # as before
    assert "batch" not in [p["parameter_name"] for p in api["/lseg_segment"]["parameters"]]
    table, csv_file, label_maps, notes = app_client.predict(handle_file(str(photo_zip(tmp_path))), api_name="/lseg_batch")
    assert [r[0] for r in table["data"]] == [f"{p}.png" for p in PHOTOS] and "3 image(s)" in notes
    assert zipfile.ZipFile(label_maps).namelist() and open(csv_file, encoding="utf-8").readline().startswith("file,")
    assert str(tmp_path) not in notes and "/tmp" not in notes  # no server path in the answer


def test_a_zip64_directory_is_counted_from_its_zip64_end_record(tmp_path):
    path = bad.zip_of_many(tmp_path, 70_000)  # more than 65 535 entries: zipfile writes a zip64 end record
    assert batch._entries_declared(path) == 70_000
    with pytest.raises(InputError, match="70000 entries"):
        batch.ZipBatch(path)


def test_a_member_in_an_unsupported_compression_method_is_skipped_with_a_message(tmp_path):
    """zipfile raises NotImplementedError for a method it cannot unpack (here an unknown one, 99):
    that member is named as skipped, the others are read."""
    path = tmp_path / "odd-method.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("good.png", png_bytes("red"))
        z.writestr("odd.png", png_bytes("blue"))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # local header, central directory
        at = [i for i in range(len(data)) if data.startswith(signature, i)][1]  # the second member's
        data[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with batch.ZipBatch(str(path)) as opened:
        names = [i.name for i in opened.images()]
        skipped = {s.name: s.reason for s in opened.skipped}
    assert names == ["good.png"]
    assert set(skipped) == {"odd.png"} and "cannot be unpacked" in skipped["odd.png"]
