"""PointCLIP's pictures: the cloud as dots, the views CLIP sees, and the views × labels cosines."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from app.howitworks import grid_picture
from app.render import colormap, grey_image, matrix_heatmap

GALLERY_SIDE = 224  # side of each view in the gallery
HEATMAP_COLUMNS = 40  # labels shown in the views × labels heat map (best fused first)


def cloud_picture(points: np.ndarray, side: int = 320, max_points: int = 4096) -> Image.Image:
    """The normalised cloud (N, 3), inside the unit sphere, drawn as dots from a three-quarter view
    (y up), nearer dots on top and coloured by height: a still picture of the interactive 3-D plot."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) > max_points:
        points = points[:: int(np.ceil(len(points) / max_points))]
    yaw, pitch = np.radians(35.0), np.radians(20.0)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    view = points @ (tilt @ turn).T
    half = side / 2 - 8
    xs, ys = side / 2 + view[:, 0] * half, side / 2 - view[:, 1] * half
    colours = colormap("viridis")[np.clip((points[:, 1] + 1) / 2 * 255, 0, 255).round().astype(int)]
    picture = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(picture)
    for i in np.argsort(view[:, 2], kind="stable"):  # far first
        draw.ellipse([xs[i] - 1.5, ys[i] - 1.5, xs[i] + 1.5, ys[i] + 1.5], fill=tuple(int(c) for c in colours[i]))
    return picture


def view_gallery(result, side: int = GALLERY_SIDE) -> list[tuple[Image.Image, str]]:
    """Each view of a `PointCLIPResult` as CLIP sees it (V1: depth / its max, background black; V2:
    as is, background white), captioned with the label it matches best alone."""
    items = []
    top = float(result.maps.max()) if result.projection == "v1" else 1.0
    for name, view_map, (label, cosine) in zip(result.view_names, result.maps, result.view_top_labels()):
        items.append((grey_image(view_map, 0.0, top or 1.0, side), f"{name}: {label} ({cosine:.3f})"))
    return items


def view_heatmap(result, columns: int = HEATMAP_COLUMNS):
    """The (views, labels) cosines as a plotly heat map, labels by fused score, at most `columns`."""
    order = result.label_order(columns)
    matrix = result.view_similarity[:, order]
    rows = [f"{i + 1}. {name} (w {w:g})" for i, (name, w) in enumerate(zip(result.view_names, result.view_weights))]
    title = "" if len(result.labels) <= columns else f"top {columns} of {len(result.labels)} labels"
    return matrix_heatmap(
        matrix, rows, [result.labels[i] for i in order], title=title,
        zmin=float(matrix.min()), zmax=float(matrix.max()), colorbar="cosine",
    )


def similarity_picture(matrix: np.ndarray, min_width: int = 240) -> Image.Image:
    """The (views, labels) cosines cell by cell, widened when there are few labels."""
    picture = grid_picture(matrix)
    return picture.resize((min_width, picture.height), Image.NEAREST) if picture.width < min_width else picture
