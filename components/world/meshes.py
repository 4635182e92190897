"""The solids' meshes, built from trimesh primitives: six primitives (cube, sphere, cylinder, cone,
torus, pyramid) and six composite objects (table, chair, lamp, mug, bottle, airplane). Modelled z-up,
returned y-up. Apart from `components.world.solids` so that the solids' names and the world's users
do not import trimesh (and the scipy it brings) until a mesh is built: seconds of the page's start-up
(issue 20).
"""

from __future__ import annotations

import numpy as np
import trimesh
from trimesh import creation

Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])


def moved(mesh: trimesh.Trimesh, x=0.0, y=0.0, z=0.0) -> trimesh.Trimesh:
    mesh = mesh.copy()
    mesh.apply_translation([x, y, z])
    return mesh


def box(sx, sy, sz, x=0.0, y=0.0, z=0.0):
    """A box of size (sx, sy, sz) whose centre is at (x, y, z)."""
    return moved(creation.box(extents=[sx, sy, sz]), x, y, z)


def rod(radius, z0, z1, x=0.0, y=0.0, sections=24):
    """A vertical cylinder from height z0 to z1."""
    return moved(creation.cylinder(radius=radius, height=z1 - z0, sections=sections), x, y, (z0 + z1) / 2)


def lathe(profile, sections=32):
    """A solid of revolution about z from a (radius, height) profile."""
    return creation.revolve(np.asarray(profile, float), sections=sections)


def table():
    parts = [box(1.6, 0.9, 0.06, z=0.75)]
    for sx in (-0.72, 0.72):
        for sy in (-0.37, 0.37):
            parts.append(box(0.07, 0.07, 0.72, sx, sy, 0.36))
    return parts


def chair():
    parts = [box(0.5, 0.5, 0.05, z=0.45), box(0.5, 0.05, 0.5, y=0.225, z=0.72)]
    for sx in (-0.22, 0.22):
        for sy in (-0.22, 0.22):
            parts.append(box(0.05, 0.05, 0.45, sx, sy, 0.225))
    return parts


def lamp():
    base = rod(0.18, 0.0, 0.04, sections=32)
    pole = rod(0.02, 0.04, 0.9, sections=12)
    shade = lathe([[0.0, 0.80], [0.28, 0.80], [0.16, 1.08], [0.0, 1.08]])
    return [base, pole, shade]


def mug():
    body = lathe([[0.0, 0.0], [0.2, 0.0], [0.2, 0.45], [0.17, 0.45], [0.17, 0.03], [0.0, 0.03]])
    handle = creation.torus(major_radius=0.11, minor_radius=0.025, major_sections=24, minor_sections=8)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return [body, moved(handle, x=0.25, z=0.23)]


def bottle():
    profile = [[0.0, 0.0], [0.15, 0.0], [0.15, 0.55], [0.12, 0.66], [0.055, 0.76], [0.055, 0.92], [0.0, 0.92]]
    return [lathe(profile)]


def airplane():
    fuselage = creation.capsule(height=1.6, radius=0.11, count=[16, 16])
    fuselage.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))  # along x
    wings = box(0.35, 2.0, 0.03, x=0.05)
    tail = box(0.18, 0.7, 0.025, x=-0.78)
    fin = box(0.22, 0.025, 0.32, x=-0.8, z=0.17)
    return [fuselage, wings, tail, fin]


def cube():
    return [creation.box(extents=[1.0, 1.0, 1.0])]


def sphere():
    return [creation.icosphere(subdivisions=3, radius=0.6)]


def cylinder():
    return [rod(0.35, 0.0, 1.1, sections=32)]


def cone():
    return [creation.cone(radius=0.5, height=1.1, sections=32)]


def torus():
    return [creation.torus(major_radius=0.5, minor_radius=0.17, major_sections=32, minor_sections=12)]


def pyramid():
    vertices = np.array([[-0.55, -0.55, 0.0], [0.55, -0.55, 0.0], [0.55, 0.55, 0.0], [-0.55, 0.55, 0.0], [0, 0, 0.95]])
    faces = np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return [trimesh.Trimesh(vertices, faces)]


BUILDERS = {
    "cube": cube,
    "sphere": sphere,
    "cylinder": cylinder,
    "cone": cone,
    "torus": torus,
    "pyramid": pyramid,
    "table": table,
    "chair": chair,
    "lamp": lamp,
    "mug": mug,
    "bottle": bottle,
    "airplane": airplane,
}


def build(name: str) -> trimesh.Trimesh:
    """The solid's mesh, y-up."""
    mesh = trimesh.util.concatenate(BUILDERS[name]())
    mesh.apply_transform(Z_UP_TO_Y_UP)
    return mesh
