"""The generated world: seeded, and its truth agrees with its pictures and its captions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from components.depthclip import BINS, WORDS
from components.world import captions, clips, scenes, solids, splits


def test_same_seed_same_scene_and_picture():
    a, b = scenes.draw_scene(123, 96), scenes.draw_scene(123, 96)
    assert a.scene == b.scene
    np.testing.assert_array_equal(a.image, b.image)
    assert scenes.random_scene(124) != a.scene


def test_vocabulary_is_at_least_eight_by_eight_by_three():
    assert len(scenes.SHAPES) >= 8 and len(scenes.COLOURS) >= 8 and len(scenes.SIZES) == 3
    assert len(scenes.class_labels()) == len(scenes.SHAPES) * len(scenes.COLOURS)


@pytest.mark.parametrize("seed", range(20))
def test_masks_boxes_and_depth_agree(seed):
    r = scenes.draw_scene(splits.seeds("held_out", 20)[seed], 112)
    assert r.image.shape == (112, 112, 3) and r.image.dtype == np.uint8
    assert 1 <= len(r.scene.objects) <= 4
    for i, o in enumerate(r.scene.objects):
        pixels = r.instances == i + 1
        if not pixels.any():
            assert np.isnan(r.boxes[i]).all()
            continue
        # the class mask names the object, the depth map holds its depth, the box bounds its pixels
        assert (r.classes[pixels] == o.class_id).all()
        np.testing.assert_allclose(r.depth[pixels], o.depth)
        ys, xs = np.nonzero(pixels)
        assert tuple(r.boxes[i]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    background = r.instances == 0
    assert (r.classes[background] == 0).all() and (r.depth[background] == scenes.BACKGROUND_DEPTH).all()


def test_an_object_is_drawn_in_its_colour_where_its_mask_is():
    scene = scenes.random_scene(5, kind="objects", count=1, colour="red", shape="square", size="large")
    near = replace(scene.objects[0], depth=1.0)  # no haze, no blur at 1 m
    r = scenes.render(replace(scene, objects=(near,)), 112)
    inside = r.image[r.instances == 1].astype(float) / 255
    np.testing.assert_allclose(inside.mean(0), scenes.COLOURS["red"], atol=0.08)


def test_nearer_objects_hide_farther_ones():
    far = scenes.SceneObject("square", "blue", "large", (0.5, 0.5), 0.4, 0.0, 2.5)
    near = scenes.SceneObject("circle", "red", "small", (0.5, 0.5), 0.16, 0.0, 1.2)
    scene = scenes.Scene((far, near), "plain", ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), 0)
    r = scenes.render(scene, 112)
    assert r.instances[56, 56] == 2 and r.depth[56, 56] == pytest.approx(1.2)
    assert r.instances[56, 42] == 1 and r.depth[56, 42] == pytest.approx(2.5)


def test_depth_is_not_readable_from_the_image_row():
    """Objects float anywhere: across many scenes an object's height in the picture says nothing of
    its depth, so a vertical ramp cannot score on DepthCLIP's benchmark."""
    rows, depths = [], []
    for s in splits.seeds("held_out", 400):
        for o in scenes.random_scene(s).objects:
            rows.append(o.centre[1])
            depths.append(o.depth)
    assert abs(np.corrcoef(rows, depths)[0, 1]) < 0.1


def test_training_draws_never_show_a_held_out_combination():
    exclude = splits.HELD_OUT_COMBINATIONS
    assert len(exclude) == 8
    assert {c for c, _ in exclude} == set(scenes.COLOURS) and {s for _, s in exclude} == set(scenes.SHAPES)
    for seed in range(300):
        for o in scenes.random_scene(seed, exclude=exclude).objects:
            assert (o.colour, o.shape) not in exclude
        clip = clips.random_clip(seed, 32, exclude=exclude)
        assert (clip.colour, clip.shape) not in exclude


def test_seed_ranges_are_disjoint():
    ranges = sorted(splits.SEED_RANGES.values())
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


def test_count_and_relation_captions_are_true():
    rng = np.random.default_rng(0)
    for seed in range(60):
        scene = scenes.random_scene(seed, kind="count")
        text = captions.caption(scene, rng)
        n = len(scene.objects)
        assert captions.NUMBER_WORDS[n] in text or str(n) in text, (text, n)
        assert all(o.label == scene.objects[0].label for o in scene.objects)
        scene = scenes.random_scene(seed, kind="relation")
        if len(scene.objects) == 2:
            a, b = scene.objects
            text = captions.caption(scene, rng)
            first = a if text.startswith(f"a {a.label} ") else b
            second = b if first is a else a
            assert text == f"a {first.label} {scenes.relation(first, second)} a {second.label}"


def test_relation_reads_the_positions():
    left = scenes.SceneObject("star", "red", "small", (0.2, 0.5), 0.16, 0.0, 1.5)
    right = scenes.SceneObject("circle", "blue", "small", (0.8, 0.55), 0.16, 0.0, 1.5)
    above = scenes.SceneObject("ring", "white", "small", (0.8, 0.1), 0.16, 0.0, 1.5)
    assert scenes.relation(left, right) == "left of" and scenes.relation(right, left) == "right of"
    assert scenes.relation(above, right) == "above" and scenes.relation(right, above) == "below"


def test_depth_words_are_depthclips_nearest_bins():
    assert [captions.depth_word(b) for b in BINS] == list(WORDS)
    assert captions.depth_word(2.1) == "close"  # 2.00 is nearer than 2.25
    assert captions.depth_word(scenes.BACKGROUND_DEPTH) == "unseen"


def test_captions_follow_the_concepts_asked_for():
    rng = np.random.default_rng(1)
    for seed in range(80):
        scene = scenes.random_scene(seed)
        text = captions.caption(scene, rng, concepts=("shapes",))
        assert not any(colour in text.split() for colour in scenes.COLOURS), text


def test_the_solids_names_are_the_mesh_builders_in_their_order():
    from components.world import meshes

    assert solids.SOLIDS == tuple(meshes.BUILDERS)


def test_solids_are_seeded_unit_clouds_and_project_as_pointclip_does():
    from components.pointclip import project, to_clip_input

    assert {"cube", "sphere", "cylinder", "cone", "torus", "pyramid", "chair", "airplane"} <= set(solids.SOLIDS)
    a, b = solids.cloud("cone", 3), solids.cloud("cone", 3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1024, 3) and np.linalg.norm(a, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(a, solids.cloud("cone", 4))
    views = solids.depth_views(a, "v1", 112)
    assert views.shape == (6, 3, 112, 112)
    np.testing.assert_array_equal(views.numpy(), to_clip_input(project(a, "v1"), 112).numpy())


def test_clips_show_their_action_in_every_frame():
    still = clips.random_clip(9, 64, action="staying still")
    assert len(still.frames) == clips.FRAMES and still.caption.endswith("staying still")
    diffs = [np.abs(f.astype(int) - still.frames[0]).mean() for f in still.frames]
    assert max(diffs) < 4.5  # only the camera's noise changes (σ ≈ 3 grey levels a frame)
    moving = clips.random_clip(9, 64, action="moving")
    assert np.abs(moving.frames[0].astype(int) - moving.frames[-1]).mean() > 6
    for action in clips.ACTIONS:
        clip = clips.random_clip(11, 48, action=action, colour="red", shape="star")
        assert clip.label == "red star" and len(clip.pil_frames()) == clips.FRAMES
