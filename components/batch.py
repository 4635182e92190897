"""A folder of images as one zip upload: opened safely, its images yielded one at a time.

UI-free. The zip is read with Python's `zipfile`, in memory, one member at a time; nothing in it is
ever written to disk, so a member's name is never a path (only its base name reaches an answer).
Bounded before anything is decompressed — the upload's size, the number of entries (read from the
archive's end record, before `zipfile` parses its directory), the number of images, each member's
and the total uncompressed size as the headers state them — and again while reading: each member is
read with a byte limit, so a member whose header understates its size (a zip bomb) is stopped at the
limit, not read whole. Directories, `__MACOSX/` and hidden files are passed over; other members that
are not images are listed as skipped, by name, and the batch goes on. Each image is decoded by
`components.media.load_image`, so the single-image limits and messages apply to every member.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from components.errors import InputError
from components.media import MAX_UPLOAD_MB, LoadedImage, load_image

MAX_ZIP_MB = MAX_UPLOAD_MB  # the compressed upload: the app's upload limit
MAX_IMAGES = 64  # images in one batch: a class's folder, not a data set, on a shared Space
MAX_ENTRIES = 1000  # entries of any kind (files, folders) in the zip's directory
MAX_MEMBER_MB = MAX_UPLOAD_MB  # one member, uncompressed: the single-image upload limit
MAX_TOTAL_MB = 200  # all image members together, uncompressed
MAX_NAME = 120  # characters of a member's base name shown in an answer
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
_MB = 2**20
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class BatchImage:
    """One image of the zip: `name` its base name (made distinct within the batch: "a.png",
    "a (2).png"), `stem` a file-name stem for its exports (letters, digits, `-`, `_`; distinct),
    `loaded` the decoded image as `load_image` returns it, named by `name`."""

    name: str
    stem: str
    loaded: LoadedImage


@dataclass(frozen=True)
class Skipped:
    """A member that is not in the batch: its base name and why."""

    name: str
    reason: str


def limits_text() -> str:
    """The batch's limits in one line, for the UI."""
    return (f"Batch: one .zip up to {MAX_ZIP_MB} MB, at most {MAX_IMAGES} images ({MAX_ENTRIES} entries in all), "
            f"{MAX_MEMBER_MB} MB each and {MAX_TOTAL_MB} MB together uncompressed; other files are skipped. "
            "The answers go to you alone; their files are removed after an hour.")


class ZipBatch:
    """`ZipBatch(path)`: an uploaded zip checked from its headers (raises `InputError`); then
    `images()` yields each image as a `BatchImage`, decoding one at a time, and `skipped` lists the
    members left out (filled as they are met: complete once `images()` is exhausted)."""

    def __init__(self, source):
        if source and not isinstance(source, (str, os.PathLike)):
            source = getattr(source, "name", None)  # an uploaded file object
        path = Path(source) if source else None
        if path is None or not path.is_file():
            raise InputError("Upload a .zip of images first.")
        self.name = path.name
        _check_upload(path)
        self._archive = _open(path)
        try:
            self._list(self._archive.infolist())
        except InputError:
            self.close()
            raise

    def _list(self, entries: list[zipfile.ZipInfo]) -> None:
        members = [m for m in entries if not _passed_over(m)]
        if not members:
            raise InputError(f"{self.name} holds no files (an empty zip, or only folders and hidden files); "
                             f"put up to {MAX_IMAGES} images in it.")
        self.members = [m for m in members if _is_image_name(m.filename)]
        self.skipped: list[Skipped] = [Skipped(_base(m.filename), f"{_base(m.filename)} is not an image (by its name)")
                                       for m in members if not _is_image_name(m.filename)]
        _check_members(self.name, self.members, self.skipped)

    @property
    def count(self) -> int:
        """The image members to decode (by their names)."""
        return len(self.members)

    def images(self) -> Iterator[BatchImage]:
        names, stems = _Distinct("{stem} ({n}){suffix}"), _Distinct("{stem}-{n}{suffix}")
        read = given = 0
        for member in self.members:
            base = _base(member.filename)
            try:
                data = read_member(self._archive, member, MAX_MEMBER_MB * _MB)
                read += len(data)
                if read > MAX_TOTAL_MB * _MB:
                    raise InputError(f"{self.name} unpacks to more than {MAX_TOTAL_MB} MB of images; "
                                     f"the limit is {MAX_TOTAL_MB} MB. Split it into smaller zips.")
                loaded = _load(data, base)
            except _Unreadable as why:
                self.skipped.append(Skipped(base, str(why)))
                continue
            name = names.take(base)
            given += 1
            yield BatchImage(name, stems.take(_stem(name)), dataclasses.replace(loaded, name=name))
        if not given:
            reasons = [s.reason for s in self.skipped if s.name in {_base(m.filename) for m in self.members}]
            raise InputError(f"None of the {len(self.members)} image(s) in {self.name} could be read: "
                             + "; ".join(reasons[:3]) + ("; …" if len(reasons) > 3 else "") + ".")

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> "ZipBatch":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def images_named(source) -> int:
    """How many images a zip names (from its directory, nothing decoded): the work a batch will do,
    for sizing its GPU request before it runs; 0 for an upload that is no acceptable zip (the batch
    itself then says why)."""
    try:
        with ZipBatch(source) as opened:
            return opened.count
    except InputError:
        return 0


class _Unreadable(Exception):
    """A member that cannot be used; the batch skips it and says why."""


def read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, read in chunks and stopped as soon as more than `limit` bytes come out
    (whatever its header says): raises `InputError` then. A member that fails its CRC or cannot be
    decompressed raises `_Unreadable`."""
    chunks, size = [], 0
    try:
        with archive.open(member) as stream:
            while size <= limit:  # at most one byte past the limit is ever read
                chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                chunks.append(chunk)
    # what zipfile raises for a damaged member: a bad CRC or header (BadZipFile), a cut stream (EOFError,
    # OSError), damaged deflate data (zlib.error), an unsupported method (NotImplementedError), an
    # encrypted member (RuntimeError)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError, ValueError) as error:
        if "CRC" in str(error):  # zipfile stops at the size the header claims; the checksum then fails
            raise _Unreadable(f"{_base(member.filename)} does not unpack to what its header says (a damaged zip, "
                              "or a zip bomb whose header lies); it was not used") from None
        raise _Unreadable(f"{_base(member.filename)} cannot be unpacked ({_why(error)})") from None
    if size > limit:
        raise InputError(f"{_base(member.filename)} unpacks to more than {limit / _MB:.0f} MB "
                         f"(its header said {member.file_size / _MB:.1f} MB); the limit is "
                         f"{limit / _MB:.0f} MB a file. This looks like a zip bomb; it was not unpacked.")
    return b"".join(chunks)


def _load(data: bytes, name: str) -> LoadedImage:
    """`load_image` on the member's bytes, its messages and notes naming the member."""
    try:
        loaded = load_image(data)
    except InputError as error:
        raise _Unreadable(_renamed(str(error), name).rstrip(".")) from None
    return dataclasses.replace(loaded, notes=tuple(_renamed(n, name) for n in loaded.notes))


def _renamed(text: str, name: str) -> str:
    """A `load_image` message or note about bytes ("upload is …") about the member ("x.png is …")."""
    return f"{name} {text[7:]}" if text.startswith("upload ") else text


# -- checks from the headers ------------------------------------------------------------------------
def _check_upload(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name} is empty (0 bytes); upload the zip again.")
    if size > MAX_ZIP_MB * _MB:
        raise InputError(f"{path.name} is {size / _MB:.0f} MB; the limit for a zip is {MAX_ZIP_MB} MB. "
                         "Split it into smaller zips.")
    entries = _entries_declared(path)
    if entries is None:
        raise InputError(f"{path.name} is not a zip archive CLIP Lab can read; upload a .zip of images.")
    if entries > MAX_ENTRIES:
        raise InputError(f"{path.name} holds {entries} entries; the limit is {MAX_ENTRIES} (at most {MAX_IMAGES} "
                         f"images a batch). Put at most {MAX_IMAGES} images in a zip.")


def _entries_declared(path: Path) -> int | None:
    """The number of entries the zip's end-of-directory record declares (zip64 too), read from the
    file's last 64 KiB before `zipfile` parses (and keeps in memory) every entry; None when there is
    no such record (not a zip)."""
    with path.open("rb") as handle:
        handle.seek(0, io.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - (22 + 0xFFFF)))
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        entries = struct.unpack("<H", tail[at + 10:at + 12])[0]
        if entries != 0xFFFF or at < 20 or tail[at - 20:at - 16] != b"PK\x06\x07":
            return entries
        handle.seek(struct.unpack("<Q", tail[at - 12:at - 4])[0])  # the zip64 end record
        record = handle.read(56)
        if len(record) < 40 or record[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<Q", record[32:40])[0]


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    # what zipfile raises for a file that is no zip or a damaged directory (BadZipFile, EOFError,
    # OSError, ValueError), or a directory entry from a newer zip format version than it reads
    # (NotImplementedError)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as error:
        raise InputError(f"{path.name} is not a zip archive CLIP Lab can read ({_why(error)}); "
                         "upload a .zip of images.") from None


def _check_members(name: str, members: list[zipfile.ZipInfo], skipped: list[Skipped]) -> None:
    if not members:
        shown = ", ".join(s.name for s in skipped[:5]) + (", …" if len(skipped) > 5 else "")
        raise InputError(f"{name} holds no images ({len(skipped)} other file(s): {shown}); "
                         f"put PNG, JPEG, WebP, BMP, GIF or TIFF images in it.")
    if len(members) > MAX_IMAGES:
        raise InputError(f"{name} holds {len(members)} images; the limit is {MAX_IMAGES} a batch. "
                         f"Split it into zips of at most {MAX_IMAGES}.")
    for member in members:
        if member.file_size > MAX_MEMBER_MB * _MB:
            raise InputError(f"{_base(member.filename)} in {name} unpacks to {member.file_size / _MB:.0f} MB; "
                             f"the limit is {MAX_MEMBER_MB} MB a file.")
    total = sum(m.file_size for m in members)
    if total > MAX_TOTAL_MB * _MB:
        raise InputError(f"{name} unpacks to {total / _MB:.0f} MB of images; the limit is {MAX_TOTAL_MB} MB. "
                         "Split it into smaller zips.")


# -- names ----------------------------------------------------------------------------------------
def _parts(filename: str) -> list[str]:
    """The parts of a member's name, either slash, without "." and ".." (a name is never a path here)."""
    return [p for p in re.split(r"[/\\]+", filename) if p and p not in (".", "..")]


def _passed_over(member: zipfile.ZipInfo) -> bool:
    """Folders, macOS's `__MACOSX/` resource forks and hidden files (any part starting with "."),
    and entries without a name."""
    parts = _parts(member.filename)
    return (member.is_dir() or not parts or parts[0] == "__MACOSX"
            or any(p.startswith(".") for p in parts))


def _base(filename: str) -> str:
    """The member's base name, printable and at most `MAX_NAME` characters: never a path."""
    parts = _parts(filename)
    base = "".join(c if c.isprintable() else "?" for c in (parts[-1] if parts else "unnamed"))
    return base if len(base) <= MAX_NAME else base[:MAX_NAME - 1] + "…"


def _is_image_name(filename: str) -> bool:
    return PurePosixPath(_base(filename).lower()).suffix in IMAGE_SUFFIXES


def _stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", PurePosixPath(name).stem).strip("-")[:60]
    return stem or "image"


class _Distinct:
    """Names made distinct (case-insensitively) as they are taken: "a.png", then "a (2).png" with
    the pattern "{stem} ({n}){suffix}"."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.seen: set[str] = set()

    def take(self, name: str) -> str:
        path = PurePosixPath(name)
        candidate, n = name, 1
        while candidate.casefold() in self.seen:
            n += 1
            candidate = self.pattern.format(stem=path.stem, n=n, suffix=path.suffix)
        self.seen.add(candidate.casefold())
        return candidate


def _why(error: Exception) -> str:
    return str(error) or type(error).__name__


def zip_folder(folder: str | Path, target: str | Path) -> str:
    """Write every file directly in `folder` into the zip `target` (deflated, flat); returns its path."""
    folder, target = Path(folder), Path(target)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path != target:
                archive.write(path, arcname=path.name)
    return str(target)
