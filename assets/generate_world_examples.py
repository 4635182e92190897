"""Generate the tabs' world examples in assets/world/: inputs CLIP Lab Mini can be checked on.

    .venv/bin/python assets/generate_world_examples.py

Everything is drawn by `components/world/` from the "examples" seed split (`splits.seeds("examples",
…)`: never used in training, nor by the meaning benchmark), chosen by fixed rules from the first seeds
of that split, never by looking at what a model answers:

- single-object scenes: the first 3 seeds of their stretch whose object's colour and shape are both
  new among those chosen;
- scenes of several objects: the first 2 seeds whose "objects" scene has 2 or 3 objects with distinct
  labels and distinct DepthCLIP distance words, each at least half visible;
- a count scene: the first seed whose "count" scene has 3 copies, each at least half visible;
- clips: one per action of `clips.ACTIONS`, in turn, from the next seed whose colour × shape is new;
- solids: every fourth of `solids.SOLIDS` (cube, torus, lamp), one seeded instance each.

Objects and clips are drawn as training draws them, without the held-out colour × shape combinations
(`splits.HELD_OUT_COMBINATIONS`): these examples show what the model knows. Each scene carries 3
distractor labels (colour × shape classes not in it, drawn from its seed) for the tabs' label lists.

Files: scenes as 224-px PNGs (a 64-colour palette, no dithering), clips as 112-px H.264 mp4 of 12
frames at 1 frame/s (CLIP4Clip samples every frame; PyAV's bundled FFmpeg, as assets/generate_videos.py;
not GIF: the browser's video player cannot show a GIF without FFmpeg on the server, which then says
"Video not playable", and a GIF of these noisy frames is three times larger), solids as 1024-point
vertex-only binary PLY clouds,
`eval_pairs.csv` (clip, caption) for CLIP4Clip's Evaluate tab, and `examples.json` with every file's
truth (labels, boxes, depths and distance words, counts, actions, solid names). Deterministic: running
it again writes the same bytes (with the same Pillow and PyAV). Ours to ship, CC0 (assets/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.world import captions, clips, scenes, solids, splits  # noqa: E402

OUT = ROOT / "assets" / "world"
TRUTH = "examples.json"
EVAL_PAIRS = "eval_pairs.csv"
SCENE_SIZE = 224  # as a person would upload a picture (the model sees it at its own input size)
CLIP_SIZE = 112  # the clips' frame side (the first Mini's input size; the model resizes them to its own)
SCENE_COLOURS = 64
CLIP_CRF = 18  # x264 quality: frames within ~3 grey levels of the drawn ones on average
SOLID_POINTS = 1024  # PointCLIP's cloud size: the tab keeps every point
MIN_VISIBLE = 0.5  # share of an object's own pixels that must show
# Each rule reads its own stretch of the "examples" split.
OFFSETS = {"single": 0, "objects": 10_000, "count": 20_000, "clips": 30_000, "solids": 40_000}
SINGLES, MULTIS, COUNT_COPIES = 3, 2, 3
SOLID_NAMES = solids.SOLIDS[::4]
SEARCH = 2_000  # seeds a rule may read before giving up
EXCLUDE = splits.HELD_OUT_COMBINATIONS
DISTRACTORS = 3


def stretch(rule: str) -> range:
    return splits.seeds("examples", SEARCH, offset=OFFSETS[rule])


def distractors(labels: list[str], seed: int, count: int = DISTRACTORS) -> list[str]:
    """`count` colour × shape classes not in `labels`, drawn from the scene's seed."""
    others = [label for label in scenes.class_labels() if label not in labels]
    rng = np.random.default_rng([seed, 16])
    return [others[i] for i in sorted(rng.choice(len(others), count, replace=False))]


def visible_enough(r: scenes.Rendered) -> bool:
    """Every object shows at least MIN_VISIBLE of the pixels it would cover on its own."""
    size = r.image.shape[0]
    for index, o in enumerate(r.scene.objects):
        side = max(3, int(round(o.extent * size)))
        own = float((scenes.shape_mask(o.shape, side, round(o.angle, 1)) > 0.5).sum())
        if (r.instances == index + 1).sum() < MIN_VISIBLE * own:
            return False
    return True


# -- the rules ---------------------------------------------------------------------------------------
def single_scenes() -> list[scenes.Rendered]:
    chosen, colours, shapes = [], set(), set()
    for seed in stretch("single"):
        scene = scenes.random_scene(seed, kind="objects", count=1, exclude=EXCLUDE)
        o = scene.objects[0]
        if o.colour in colours or o.shape in shapes:
            continue
        r = scenes.render(scene, SCENE_SIZE)
        if not visible_enough(r):
            continue
        chosen.append(r)
        colours.add(o.colour)
        shapes.add(o.shape)
        if len(chosen) == SINGLES:
            return chosen
    raise RuntimeError("the single-object rule found too few scenes")


def object_scenes() -> list[scenes.Rendered]:
    chosen = []
    for seed in stretch("objects"):
        scene = scenes.random_scene(seed, kind="objects", exclude=EXCLUDE)
        labels = scene.labels
        words = [captions.depth_word(o.depth) for o in scene.objects]
        if not 2 <= len(labels) <= 3 or len(set(labels)) < len(labels) or len(set(words)) < len(words):
            continue
        r = scenes.render(scene, SCENE_SIZE)
        if visible_enough(r):
            chosen.append(r)
            if len(chosen) == MULTIS:
                return chosen
    raise RuntimeError("the several-objects rule found too few scenes")


def count_scene() -> scenes.Rendered:
    for seed in stretch("count"):
        scene = scenes.random_scene(seed, kind="count", count=COUNT_COPIES, exclude=EXCLUDE)
        if len(scene.objects) != COUNT_COPIES:
            continue
        r = scenes.render(scene, SCENE_SIZE)
        if visible_enough(r):
            return r
    raise RuntimeError("the count rule found no scene")


def action_clips() -> list[clips.Clip]:
    chosen, used = [], set()
    seeds = iter(stretch("clips"))
    for action in clips.ACTIONS:
        for seed in seeds:
            clip = clips.random_clip(seed, CLIP_SIZE, action=action, exclude=EXCLUDE)
            if clip.label not in used:
                used.add(clip.label)
                chosen.append(clip)
                break
        else:
            raise RuntimeError("the clip rule ran out of seeds")
    return chosen


# -- files -------------------------------------------------------------------------------------------
def slug(text: str) -> str:
    return text.replace(" ", "-")


def png_bytes(image: np.ndarray) -> bytes:
    quantised = Image.fromarray(image).quantize(colors=SCENE_COLOURS, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    quantised.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def mp4_bytes(frames: tuple[np.ndarray, ...]) -> bytes:
    """H.264 (yuv420p, as browsers play it) at 1 frame/s: CLIP4Clip's 1 frame/s sampling gets every frame."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        # one thread and x264's plain C code: with threads or its SIMD code, encodes of the same frames
        # differ now and then (measured here); these 12 small frames take a moment either way
        stream.options = {"crf": str(CLIP_CRF), "preset": "veryslow", "x264-params": "threads=1:asm=0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def ply_bytes(points: np.ndarray) -> bytes:
    """A vertex-only binary PLY (x y z as float32), as trimesh and other point-cloud tools read it."""
    points = np.ascontiguousarray(points, "<f4")
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment CLIP Lab world example (CC0)\n"
        f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    )
    return header.encode("ascii") + points.tobytes()


def scene_truth(r: scenes.Rendered, role: str, file: str) -> dict:
    scene = r.scene
    labels = list(dict.fromkeys(scene.labels))
    objects = []
    for o, box in zip(scene.objects, r.boxes):
        objects.append(
            {
                "label": o.label,
                "colour": o.colour,
                "shape": o.shape,
                "size": o.size,
                "box": [int(v) for v in box],  # visible pixels, (x0, y0, x1, y1) at `size` px
                "depth_m": round(o.depth, 3),
                "depth_word": captions.depth_word(o.depth),
                "position": captions.position(o),
            }
        )
    return {
        "file": file,
        "role": role,
        "seed": scene.seed,
        "kind": scene.kind,
        "size": SCENE_SIZE,
        "background": scene.background,
        "labels": labels,
        "count": len(scene.objects),
        "objects": objects,  # farthest first (the drawing order)
        "distractors": distractors(labels, scene.seed),
    }


def build() -> dict[str, bytes]:
    """Every file of assets/world/, name → bytes."""
    files: dict[str, bytes] = {}
    truth: dict = {
        "about": "World examples of CLIP Lab's tabs, drawn by components/world from the 'examples' seed "
        "split (never trained on); rules in assets/generate_world_examples.py.",
        "generator": "assets/generate_world_examples.py",
        "licence": "CC0-1.0",
        "scenes": [],
        "clips": [],
        "solids": [],
        "eval_pairs": EVAL_PAIRS,
    }
    rendered = [("single", r) for r in single_scenes()]
    rendered += [("objects", r) for r in object_scenes()]
    rendered.append(("count", count_scene()))
    for role, r in rendered:
        objects = r.scene.objects
        if role == "count":
            stem = f"{captions.NUMBER_WORDS[len(objects)]}-{objects[0].colour}-{captions.plural(objects[0].shape)}"
        else:
            stem = "-".join(slug(label) for label in r.scene.labels)
        name = f"{stem}.png"
        files[name] = png_bytes(r.image)
        truth["scenes"].append(scene_truth(r, role, name))
    rows = []
    for clip in action_clips():
        name = f"{slug(clip.caption[2:])}.mp4"  # "a red star spinning" → red-star-spinning.mp4
        files[name] = mp4_bytes(clip.frames)
        truth["clips"].append(
            {
                "file": name, "seed": clip.seed, "action": clip.action, "colour": clip.colour,
                "shape": clip.shape, "label": clip.label, "caption": clip.caption,
                "frames": len(clip.frames), "fps": 1, "size": CLIP_SIZE,
            }
        )
        rows.append((name, clip.caption))
    for name, seed in zip(SOLID_NAMES, splits.seeds("examples", len(SOLID_NAMES), offset=OFFSETS["solids"])):
        file = f"{name}.ply"
        files[file] = ply_bytes(solids.cloud(name, seed, SOLID_POINTS))
        truth["solids"].append({"file": file, "seed": seed, "name": name, "points": SOLID_POINTS})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video", "caption"])
    writer.writerows(rows)
    files[EVAL_PAIRS] = text.getvalue().encode()
    files[TRUTH] = (json.dumps(truth, indent=1, ensure_ascii=False) + "\n").encode()
    if len(files) != len(rendered) + len(rows) + len(SOLID_NAMES) + 2:
        raise RuntimeError("two examples got the same file name")
    return files


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = build()
    for name, data in files.items():
        (out / name).write_bytes(data)
        print(f"{name}: {len(data) / 1024:.1f} KB")
    print(f"{len(files)} files, {sum(map(len, files.values())) / 1024:.0f} KB in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
