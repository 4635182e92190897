"""Makers of malformed inputs for the bad-input corpus: each writes one file and returns its path."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
from PIL import Image


def zero_bytes(folder: Path, name: str = "empty.png") -> Path:
    path = folder / name
    path.write_bytes(b"")
    return path


def text_file(folder: Path, name: str = "notes.png") -> Path:
    path = folder / name
    path.write_text("These are notes, not a picture.\n" * 20)
    return path


def html_file(folder: Path, name: str = "page.png") -> Path:
    path = folder / name
    path.write_text("<html><script>alert(1)</script><img src=x onerror=alert(2)></html>")
    return path


def truncated_png(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(buffer, "PNG")
    path = folder / "truncated.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    return path


def truncated_jpeg(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = folder / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[:600])
    return path


def huge_png(folder: Path, side: int = 16000) -> Path:
    """A 16000×16000 single-colour PNG: a small file that would decode to 256 megapixels."""
    path = folder / f"huge-{side}.png"
    Image.new("L", (side, side)).save(path)
    return path


def one_pixel(folder: Path) -> Path:
    path = folder / "one-pixel.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(path)
    return path


def panorama(folder: Path) -> Path:
    path = folder / "panorama.png"
    Image.new("RGB", (2000, 40), (10, 120, 200)).save(path)
    return path


def wav_file(folder: Path, name: str = "tone.wav", seconds: float = 1.0) -> Path:
    path = folder / name
    rate = 8000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * t / rate)) for t in range(int(rate * seconds)))
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def audio_only_video(folder: Path) -> Path:
    """An .mp4 container holding one audio stream and no video stream."""
    import av

    path = folder / "audio-only.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def long_video(folder: Path, seconds: int = 3600, fps: int = 1) -> Path:
    """An hour-long (1 frame a second) tiny video: decoding must stop at the limit, with a note."""
    import av

    path = folder / "hour.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(seconds * fps):
            shade = np.full((32, 32, 3), (i * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(shade, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_video(folder: Path) -> Path:
    path = folder / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return path


def mesh_without_faces(folder: Path) -> Path:
    path = folder / "no-faces.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    return path


def nan_points(folder: Path) -> Path:
    path = folder / "nan.xyz"
    path.write_text("nan nan nan\n" * 50)
    return path


def equal_points(folder: Path) -> Path:
    path = folder / "same.xyz"
    path.write_text("1 2 3\n" * 50)
    return path


def ten_million_points_npy(folder: Path) -> Path:
    """Only the .npy header of a 10 M × 3 array followed by a little data: refused from the header."""
    path = folder / "ten-million.npy"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10_000_000, 3)})
    path.write_bytes(header.getvalue() + b"\x00" * 1024)
    return path


def pickled_npy(folder: Path) -> Path:
    path = folder / "pickled.npy"
    np.save(path, np.array([{"points": [1, 2, 3]}], dtype=object), allow_pickle=True)
    return path


def garbage_ply(folder: Path) -> Path:
    path = folder / "garbage.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99999999\nend_header\n\x01\x02")
    return path


def csv_file(folder: Path, text: str, name: str = "pairs.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- zips of images (the zero-shot and LSeg batches) -------------------------------------------------
def _zip(folder: Path, name: str, members: dict, compression=None) -> Path:
    import zipfile

    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED if compression is None else compression) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return path


def empty_zip(folder: Path) -> Path:
    return _zip(folder, "empty.zip", {})


def not_a_zip(folder: Path) -> Path:
    path = folder / "photos.zip"
    path.write_text("These are notes, not a zip archive.\n" * 20)
    return path


def zip_without_images(folder: Path) -> Path:
    return _zip(folder, "documents.zip", {"readme.txt": "hello", "data/table.csv": "a,b\n1,2\n", "folder/": ""})


def zip_bomb(folder: Path, megabytes: int = 30) -> Path:
    """One highly compressible member (zeros, named as a PNG) that unpacks past the per-file limit."""
    return _zip(folder, "bomb.zip", {"big.png": bytes(megabytes << 20)})


def lying_zip_bomb(folder: Path, megabytes: int = 30, claimed: int = 1000) -> Path:
    """A zip bomb whose headers lie: its one member unpacks to `megabytes` MB of zeros while its local
    and central headers both claim `claimed` bytes."""
    path = zip_bomb(folder, megabytes)
    data = bytearray(path.read_bytes())
    real = struct.pack("<I", megabytes << 20)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size in each header
        at = data.find(signature)
        assert data[at + offset:at + offset + 4] == real
        data[at + offset:at + offset + 4] = struct.pack("<I", claimed)
    lying = folder / "lying-bomb.zip"
    lying.write_bytes(bytes(data))
    return lying


def zip_of_many(folder: Path, count: int = 10_000) -> Path:
    """`count` tiny members (empty files named as PNGs)."""
    import zipfile

    path = folder / f"many-{count}.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(count):
            z.writestr(f"photos/{i:05d}.png", b"")
    return path
