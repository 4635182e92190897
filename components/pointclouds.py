"""Validated loading of 3-D uploads: meshes and point clouds → a centred (N, 3) cloud in the unit sphere.

Formats: meshes and clouds through trimesh (.ply .obj .off .stl .glb), plain text (.xyz .txt: x y z
per line, extra columns ignored) and NumPy arrays (.npy, .npz; never unpickled). Meshes are sampled
area-weighted to the number of points asked for; clouds with more points are subsampled. Points with
NaN or infinite coordinates are dropped. The result is centred on its mean and scaled so that the
farthest point lies on the unit sphere, as ModelNet's clouds are (PointNet's normalisation).

Every failure a person can cause (empty, unreadable, degenerate, over a limit) is an `InputError`
that says what to do. (Part of the PointCLIP tab; the issue placed this in `media.py`, it lives in
its own module to keep that shared file's edits small.)
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.errors import InputError
from components.media import MAX_UPLOAD_MB

MAX_CLOUD_MB = MAX_UPLOAD_MB  # the app's upload limit applies to 3-D files too
MAX_FILE_POINTS = 5_000_000  # points or vertices read from a file or array; above this → refused
MAX_POINTS = 100_000  # most points one cloud may keep for projection
MIN_POINTS = 16
MIN_DISTINCT_POINTS = 4  # fewer cannot span a 3-D shape (e.g. a triangle's corners without its face)
DEFAULT_POINTS = 1024  # PointCLIP's ModelNet40 clouds have 1024 points
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".glb")
TEXT_SUFFIXES = (".xyz", ".txt")
ARRAY_SUFFIXES = (".npy", ".npz")
SUFFIXES = MESH_SUFFIXES + TEXT_SUFFIXES + ARRAY_SUFFIXES
FORMATS_TEXT = "PLY, OBJ, OFF, STL, GLB (meshes or point clouds), XYZ/TXT (x y z per line), NPY/NPZ ((N, 3) arrays)"
UP_AXES = ("y", "z")  # PointCLIP's views expect y up (ModelNet's HDF5 clouds); many CAD files are z up


@dataclass(frozen=True)
class LoadedCloud:
    """A cloud ready for PointCLIP.

    points: (N, 3) float32, y up, centred on the mean, farthest point at distance 1.
    source_points: finite points (clouds) or vertices (meshes) the file held.
    centre, radius: where the original cloud sat and how large it was, in its own units.
    """

    points: np.ndarray
    name: str
    kind: str  # "mesh" or "point cloud"
    source_points: int
    centre: tuple[float, float, float]
    radius: float
    notes: tuple[str, ...] = ()


def limits_text() -> str:
    return (
        f"3-D files: {FORMATS_TEXT}; up to {MAX_CLOUD_MB} MB and {MAX_FILE_POINTS:,} points; meshes are "
        f"sampled (area-weighted) and larger clouds subsampled to the points asked for (at most {MAX_POINTS:,})."
    )


def load_point_cloud(
    source,
    *,
    num_points: int = DEFAULT_POINTS,
    up_axis: str = "y",
    seed: int = 0,
) -> LoadedCloud:
    """Read a mesh or cloud from a path (or an (N, 3) array) and return `num_points` normalised points.

    Meshes: `num_points` samples on the surface, faces chosen in proportion to their area.
    Clouds: all points when there are at most `num_points`, else a random subset (seeded) with a note.
    up_axis: "y" keeps the file's axes; "z" turns a z-up file so that its up is +y.
    """
    if not isinstance(num_points, (int, np.integer)) or not MIN_POINTS <= num_points <= MAX_POINTS:
        raise InputError(f"Ask for between {MIN_POINTS} and {MAX_POINTS:,} points (got {num_points}).")
    if up_axis not in UP_AXES:
        raise InputError(f"The up axis must be one of {', '.join(UP_AXES)} (got {up_axis!r}).")
    rng = np.random.default_rng(seed)
    if source is None or (isinstance(source, str) and not source):
        raise InputError("Upload a 3-D file first, or pick one of the examples.")
    if isinstance(source, np.ndarray):
        name, geometry = "array", _as_cloud(source, "The array")
    elif isinstance(source, (str, Path)):
        name, geometry = _read_file(Path(source))
    else:
        raise InputError(f"Expected a 3-D file or an (N, 3) array, got {type(source).__name__}.")

    notes: list[str] = []
    if isinstance(geometry, tuple):  # (vertices, faces)
        kind = "mesh"
        vertices, faces = geometry
        source_points = len(vertices)
        points = _sample_mesh(vertices, faces, num_points, rng, name, notes)
    else:
        kind = "point cloud"
        points = _finite(geometry, name, notes)
        source_points = len(points)
        if len(points) > num_points:
            keep = np.sort(rng.choice(len(points), num_points, replace=False))
            points = points[keep]
            notes.append(f"{name}: {source_points:,} points were randomly subsampled to {num_points:,}.")
    if up_axis == "z":
        points = points @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float64).T  # (x, y, z) → (x, z, −y)
    points, centre, radius = normalize_points(points, name)
    return LoadedCloud(points, name, kind, source_points, centre, radius, tuple(notes))


def normalize_points(points: np.ndarray, name: str = "The cloud"):
    """Centre on the mean and scale so the farthest point is at distance 1 → (points float32, centre, radius)."""
    points = np.asarray(points, np.float64)
    centre = points.mean(axis=0)
    centred = points - centre
    radius = float(np.sqrt((centred**2).sum(axis=1)).max())
    if not np.isfinite(radius) or radius <= 1e-12 * max(1.0, float(np.abs(centre).max())):
        raise InputError(f"{name} is degenerate: all its points are at the same place.")
    return (centred / radius).astype(np.float32), tuple(float(c) for c in centre), radius


# -- reading -----------------------------------------------------------------------------------------
def _read_file(path: Path):
    name = path.name
    if not path.is_file():
        raise InputError(f"{name} could not be found; upload it again.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{name}: CLIP Lab reads {FORMATS_TEXT}; this file is {suffix or 'without a suffix'}.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes); upload the file again.")
    if size > MAX_CLOUD_MB * 2**20:
        raise InputError(f"{name} is {size / 2**20:.0f} MB; the limit is {MAX_CLOUD_MB} MB. Simplify or subsample it first.")
    data = path.read_bytes()
    if suffix in TEXT_SUFFIXES:
        return name, _read_text(data, name)
    if suffix in ARRAY_SUFFIXES:
        return name, _read_array(data, name, suffix)
    return name, _read_trimesh(data, name, suffix)


def _read_text(data: bytes, name: str) -> np.ndarray:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not a text file; .xyz/.txt files hold 'x y z' on each line.") from None
    lines = [ln for ln in text.replace(",", " ").splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "//"))]
    if not lines:
        raise InputError(f"{name} holds no points; .xyz/.txt files hold 'x y z' on each line.")
    if len(lines) > MAX_FILE_POINTS:
        raise InputError(f"{name} has {len(lines):,} lines; the limit is {MAX_FILE_POINTS:,} points.")
    try:
        values = np.loadtxt(io.StringIO("\n".join(lines)), usecols=(0, 1, 2), ndmin=2, dtype=np.float64)
    except ValueError as error:
        first = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise InputError(
            f"{name} could not be read as points: each line needs three numbers 'x y z' ({first})."
        ) from None
    return _as_cloud(values, name)


def _read_array(data: bytes, name: str, suffix: str) -> np.ndarray:
    buffer = io.BytesIO(data)
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(buffer) as archive:
                members = [m for m in archive.infolist() if m.filename.endswith(".npy")]
                if not members:
                    raise InputError(f"{name} holds no arrays.")
                member = next((m for m in members if m.filename in ("points.npy", "xyz.npy", "pc.npy")), members[0])
                # the uncompressed size bounds the array before it is read (a zip bomb is refused here)
                if member.file_size > MAX_FILE_POINTS * 3 * 8 + 4096:
                    raise InputError(f"{name}: its array is too large; the limit is {MAX_FILE_POINTS:,} points.")
                with archive.open(member) as stream:
                    array = _read_npy(io.BytesIO(stream.read()), name)
        else:
            array = _read_npy(buffer, name)
    except InputError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"{name} is not a NumPy array file CLIP Lab can read ({str(error)[:120]}).") from None
    return _as_cloud(array, name)


def _read_npy(buffer: io.BytesIO, name: str) -> np.ndarray:
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(buffer)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(buffer)
    if dtype.hasobject:
        raise InputError(f"{name} holds Python objects; save the points as a plain numeric (N, 3) array.")
    if int(np.prod(shape)) > MAX_FILE_POINTS * 3:
        raise InputError(f"{name} has {int(np.prod(shape)):,} values; the limit is {MAX_FILE_POINTS:,} points.")
    buffer.seek(0)
    return np.load(buffer, allow_pickle=False)


def _read_trimesh(data: bytes, name: str, suffix: str):
    import trimesh

    try:
        # No resolver: a file cannot make trimesh read its neighbours (an .obj's .mtl) or the network.
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], resolver=None, process=False)
    except Exception as error:  # trimesh's parsers raise many kinds on a corrupt file
        detail = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        raise InputError(f"{name} could not be read as {suffix[1:].upper()} ({detail}).") from None
    geometries = loaded.dump() if isinstance(loaded, trimesh.Scene) else [loaded]
    meshes = [g for g in geometries if isinstance(g, trimesh.Trimesh)]
    clouds = [g for g in geometries if isinstance(g, trimesh.PointCloud)]
    vertex_count = sum(len(g.vertices) for g in meshes + clouds)
    if vertex_count == 0:
        raise InputError(f"{name} holds no geometry (no vertices or points).")
    if vertex_count > MAX_FILE_POINTS:
        raise InputError(f"{name} has {vertex_count:,} vertices; the limit is {MAX_FILE_POINTS:,}.")
    faced = [m for m in meshes if len(m.faces)]
    if faced:
        vertices, faces, offset = [], [], 0
        for mesh in faced:
            vertices.append(np.asarray(mesh.vertices, np.float64))
            faces.append(np.asarray(mesh.faces, np.int64) + offset)
            offset += len(mesh.vertices)
        return np.concatenate(vertices), np.concatenate(faces)
    if meshes:
        raise InputError(
            f"{name} is a mesh with no faces. Save a point cloud as .xyz, .npy or a vertex-only .ply, "
            "or export the mesh with its faces."
        )
    return _as_cloud(np.concatenate([np.asarray(c.vertices, np.float64) for c in clouds]), name)


def _as_cloud(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise InputError(f"{name} must hold numbers; it holds {array.dtype}.")
    if array.ndim != 2 or array.shape[1] < 3:
        raise InputError(f"{name} must be an (N, 3) array of x y z (extra columns are ignored); got shape {array.shape}.")
    if len(array) == 0:
        raise InputError(f"{name} holds no points.")
    if len(array) > MAX_FILE_POINTS:
        raise InputError(f"{name} has {len(array):,} points; the limit is {MAX_FILE_POINTS:,}. Subsample it first.")
    return np.asarray(array[:, :3], np.float64)


def _finite(points: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    good = np.isfinite(points).all(axis=1)
    if not good.any():
        raise InputError(f"{name} has no points with finite coordinates (all are NaN or infinite).")
    if not good.all():
        notes.append(f"{name}: {int((~good).sum()):,} points with NaN or infinite coordinates were dropped.")
    distinct = len(np.unique(points[good], axis=0)) if good.sum() < MIN_DISTINCT_POINTS else MIN_DISTINCT_POINTS
    if 1 < distinct < MIN_DISTINCT_POINTS:  # one place is "degenerate", said later
        raise InputError(
            f"{name} has only {distinct} distinct points; a 3-D shape needs at least {MIN_DISTINCT_POINTS}. "
            "A mesh saved without its faces keeps only its corners: export it with its faces."
        )
    return points[good]


def _sample_mesh(vertices, faces, count: int, rng, name: str, notes: list[str]) -> np.ndarray:
    """`count` points on the surface: faces drawn in proportion to area, uniform inside each face."""
    import trimesh

    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InputError(f"{name} is damaged: its faces refer to vertices that do not exist.")
    bad_vertex = ~np.isfinite(vertices).all(axis=1)
    keep = ~bad_vertex[faces].any(axis=1)
    if not keep.all():
        notes.append(f"{name}: {int((~keep).sum()):,} faces with NaN or infinite vertices were dropped.")
        faces = faces[keep]
    if len(faces) == 0:
        raise InputError(f"{name} has no faces with finite vertices.")
    mesh = trimesh.Trimesh(np.where(bad_vertex[:, None], 0.0, vertices), faces, process=False, validate=False)
    if not mesh.area > 0 or not np.isfinite(mesh.area):
        raise InputError(f"{name} is degenerate: all its faces have zero area.")
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=rng)
    notes.append(f"{name}: {count:,} points sampled on the surface of a mesh with {len(faces):,} faces.")
    return np.asarray(points, np.float64)
