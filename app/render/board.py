"""The Compare board: the image, then one captioned picture per method, and all of it as one PNG."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

from app import render
from app.render import boxes
from app.render import text as lettering
from components.exports import folders

TILE_SIDE = 360  # long side of each picture on the board
CAPTION_FONT = 15
COLUMNS = 3
BACKGROUND_GREY = (128, 128, 128)
# zlib level of the board's PNGs, written on every run: level 1 takes about a third of the time of
# PIL's default 6 for about 10 % more bytes (issue 19: the board's encoding was a tenth of its answer)
PNG_COMPRESS_LEVEL = 1


def tiles(result) -> list[tuple[Image.Image, str]]:
    """(picture, caption) of a `components.compare.CompareResult`: the image, then zero-shot, LSeg,
    GroupViT, ViLD and DepthCLIP, in the board's order."""
    image = render.thumbnail(result.image, TILE_SIDE)
    names = list(result.labels)
    zeroshot = dataclasses.replace(result.zeroshot, image_size=(image.height, image.width))  # its map at the tile's size
    top, p = zeroshot.ranking()[0]
    gv, vild, depth = result.groupvit, result.vild, result.depth
    kept = vild.detections()
    lo, hi = float(depth.bins.min()), float(depth.bins.max())
    depth_map = np.asarray(Image.fromarray(depth.depth.astype(np.float32), mode="F").resize(image.size))
    return [
        (image, f"The image and the labels: {', '.join(names)}"),
        (render.heatmap_overlay(image, zeroshot.heatmap(top), "cosine"),
         f"Zero-shot: “{top}” ({p:.0%}); heat map = each patch's cosine with “{top}”"),
        (with_legend(render.palette_image(render.resize_label_map(result.lseg.label_map, image.size), image), names),
         "LSeg: each pixel takes its best label (raw label, cosine × 1/0.07)"),
        (with_legend(render.palette_image(render.resize_label_map(gv.label_map, image.size), image), names, background=True),
         f"GroupViT: {len(gv.visible_groups())} groups, each named with “a photo of a {{}}.” (grey = background)"),
        (detections_picture(image, vild, scale=image.width / result.image.width),
         f"ViLD: {len(kept)} box{'es' if len(kept) != 1 else ''} kept of {len(vild.boxes)} proposals"
         if kept else "ViLD: nothing kept (" + vild.message.split(':', 1)[-1].strip()[:90] + ")"),
        (render.depth_image(depth_map, lo, hi, "metres"),
         f"DepthCLIP: depth {depth.depth.min():.2f}–{depth.depth.max():.2f} m from 7 distance words (labels not used)"),
    ]


def with_legend(picture: Image.Image, names, background: bool = False) -> Image.Image:
    """`picture` with a legend band under it: each label's palette colour and name, three a row
    (and grey "background" last with `background`)."""
    font = lettering.font(13)
    entries = [(render.PALETTE[i % len(render.PALETTE)], n) for i, n in enumerate(names)]
    if background:
        entries.append((BACKGROUND_GREY, "background"))
    row_h = 18
    out = Image.new("RGB", (picture.width, picture.height + row_h * ((len(entries) + 2) // 3) + 4), "white")
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    col_w = picture.width // 3
    for k, (colour, name) in enumerate(entries):
        x, y = 4 + (k % 3) * col_w, picture.height + 2 + (k // 3) * row_h
        draw.rectangle([x, y + 3, x + 12, y + 15], fill=tuple(colour))
        draw.text((x + 16, y + 2), lettering.plain(name)[:22], fill="black", font=font)
    return out


def detections_picture(image: Image.Image, result, scale: float) -> Image.Image:
    """A ViLD result's kept boxes (scaled by `scale` to `image`), each in its category's palette
    colour with "label score" on it."""
    kept = result.detections()
    return boxes.outline(
        image,
        [d.box for d in kept],
        [f"{d.label} {d.score:.2f}" for d in kept],
        [result.classes.index(d.label) - 1 for d in kept],
        palette=render.PALETTE,
        font_size=13,
        scale=scale,
        halo=True,
    )


def save(pictures: list[tuple[Image.Image, str]], title: str) -> str:
    """All (picture, caption) tiles, each caption wrapped under its picture, in a 3-column grid under
    a title line: one PNG file, whose path is returned."""
    cell_w = max(t.width for t, _ in pictures) + 16
    captioned = [lettering.captioned(picture, caption, cell_w, CAPTION_FONT, max_lines=None) for picture, caption in pictures]
    rows = [captioned[i : i + COLUMNS] for i in range(0, len(captioned), COLUMNS)]
    title_h = 34
    canvas = Image.new("RGB", (COLUMNS * cell_w, title_h + sum(max(c.height for c in row) + 8 for row in rows)), "white")
    ImageDraw.Draw(canvas).text((8, 8), lettering.plain(title)[:200], fill="black", font=lettering.font(18))
    y = title_h
    for row in rows:
        for k, cell in enumerate(row):
            canvas.paste(cell, (k * cell_w, y))
        y += max(c.height for c in row) + 8
    path = folders.answer_file("compare", "compare-board.png")
    canvas.save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return str(path)



def png_files(pictures: list[Image.Image], names: list[str]) -> list[str]:
    """Each picture written as a PNG in one fresh answer folder, `<name>.png`: the paths. A picture
    that an output shows as PNG is sent from its file, so Gradio does not encode it again at PIL's
    slower default level."""
    folder = folders.answer_folder("compare")
    paths = []
    for picture, name in zip(pictures, names, strict=True):
        path = folder / f"{name}.png"
        picture.save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        paths.append(str(path))
    return paths
