"""CLIP4Clip collections: a local Ray job (2 CPUs, a small object store) over a handful of generated
clips writes clip-retrieval's shards; the local engine writes the same vectors as Ray decoding in its
actors or in map tasks; the faiss index is
chosen by size and budget; each clip is found by its caption and by an image, with its best moment
(meaning with the oracle backbone: its embeddings encode colour); clip-retrieval's own embeddings,
resuming, and bad inputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.clip4clip import collection as col
from components.clip4clip.similarity import mean_pool
from components.errors import InputError
from components.exports import tables
from oracle import oracle_backbone
from testkit import TINY_VIT, solid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))
from generate_videos import moving_square, scenes, solid_frames, write_video  # noqa: E402

TESTS = Path(__file__).resolve().parent
COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (230, 210, 40)}
CLIPS = ["blue.mp4", "broken.mp4", "green.mp4", "red.mp4", "red_then_blue.mp4", "yellow.mp4"]  # sorted: the shards' order


def make_clips(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        write_video(folder / f"{name}.mp4", moving_square(rgb, 24))  # 3 s at 8 fps: frames at 0, 1, 2 s
    write_video(folder / "red_then_blue.mp4",
                scenes([(lambda n: solid_frames(COLOURS["red"], n), 24), (lambda n: solid_frames(COLOURS["blue"], n), 24)]))
    (folder / "broken.mp4").write_bytes(b"this is not a video")
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def ray_runs(clips, tmp_path_factory):
    """The module's local Ray (2 CPUs, 200 MB object store, no dashboard) running the job twice, one
    actor each time: decoding in the actor (the CPU default), then in Ray Data `map` tasks."""
    import ray

    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        # Ray's workers import the oracle (tests/) and components (the repo) by name
        patch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(TESTS.parent)]))
        ray.init(num_cpus=2, object_store_memory=200_000_000, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        try:
            for decode in col.RAY_DECODE:
                out = tmp_path_factory.mktemp(f"ray-{decode}") / "collection"
                runs[decode] = out, col.index_collection(
                    clips, out, engine="ray", workers=1, cpus=2, make_backbone=oracle_backbone, shard_size=2,
                    progress=False, decode=decode)
        finally:
            ray.shutdown()
    return runs


@pytest.fixture(scope="module")
def ray_out(ray_runs):
    return ray_runs["actor"]


@pytest.fixture(scope="module")
def local_out(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "collection"
    report = col.index_collection(clips, out, make_backbone=oracle_backbone, shard_size=2, progress=False)
    return out, report


def test_the_ray_job_writes_clip_retrievals_shards(ray_out):
    out, report = ray_out
    assert report.engine == "ray" and report.videos == 6 and report.embedded == 5 and report.shards_written == 3
    assert [path for path, _ in report.skipped] == ["broken.mp4"] and "not a video" in report.skipped[0][1]
    for n, videos in enumerate([["blue.mp4"], ["green.mp4", "red.mp4"], ["red_then_blue.mp4", "yellow.mp4"]]):
        pooled = np.load(out / f"img_emb/img_emb_{n}.npy")
        frames = np.load(out / f"frame_emb/frame_emb_{n}.npy")
        meta = pq.read_table(out / f"metadata/metadata_{n}.parquet").to_pylist()
        assert [m["path"] for m in meta] == videos and pooled.shape == (len(videos), 8)
        assert np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
        assert np.allclose(np.linalg.norm(frames, axis=1), 1, atol=1e-5)
        for row, m in zip(pooled, meta):
            assert m["model"] == "oracle" and m["weights"] == "oracle (test)" and m["embed_dim"] == 8
            assert m["sampling"] == "per_second12r1"
            mine = frames[m["frame_start"] : m["frame_start"] + m["frame_count"]]
            assert np.allclose(row, mean_pool(mine[None], np.ones((1, len(mine)), bool))[0], atol=1e-6)  # meanP
            expected = [0.0, 1.0, 2.0] if m["path"] != "red_then_blue.mp4" else [0.0, 1, 2, 3, 4, 5]
            assert m["frame_times"] == pytest.approx(expected) and m["frame_count"] == len(expected)
            assert m["duration"] == pytest.approx(len(expected))
    done = json.loads((out / "shards/shard_0.json").read_text())
    assert done["paths"] == ["blue.mp4", "broken.mp4"] and done["skipped"][0]["path"] == "broken.mp4"
    manifest = json.loads((out / "collection.json").read_text())
    assert manifest["model"] == "oracle" and manifest["shards"] == 3 and manifest["videos"] == 5
    assert json.loads((out / "report.json").read_text())["skipped"][0]["path"] == "broken.mp4"


@pytest.mark.parametrize("decode", col.RAY_DECODE)
def test_the_local_engine_writes_the_same_vectors(ray_runs, local_out, decode):
    ray_out = ray_runs[decode]
    assert ray_out[1].skipped == local_out[1].skipped and ray_out[1].embedded == local_out[1].embedded == 5
    for n in range(3):
        for kind in ("img_emb/img_emb", "frame_emb/frame_emb"):
            ray_vectors, local_vectors = np.load(ray_out[0] / f"{kind}_{n}.npy"), np.load(local_out[0] / f"{kind}_{n}.npy")
            assert ray_vectors.shape == local_vectors.shape
            assert np.allclose(ray_vectors, local_vectors, atol=1e-6)
        assert pq.read_table(ray_out[0] / f"metadata/metadata_{n}.parquet").equals(
            pq.read_table(local_out[0] / f"metadata/metadata_{n}.parquet"))


def test_each_clip_is_found_by_its_caption_with_its_moment(ray_out):
    out, _ = ray_out
    info = col.build_index(out)
    assert info["factory"] == "Flat" and info["videos"] == 5 and (out / "index/videos.index").is_file()
    collection = col.Collection(out)
    assert collection.index is not None and len(collection) == 5
    oracle = oracle_backbone()
    for colour in COLOURS:
        result = collection.search(oracle, f"a {colour} video", k=5)
        first = result.hits[0]
        assert first.name == f"{colour}.mp4", [h.name for h in result.hits]
        assert first.moment in (0.0, 1.0, 2.0) and first.duration == pytest.approx(3.0)
        assert len(first.frame_scores) == 3 and first.frame == int(np.argmax(first.frame_scores))
    # the clip that turns blue: its best moment for "blue" is in its second half
    hits = {h.name: h for h in collection.search(oracle, "a blue video", k=5).hits}
    assert hits["red_then_blue.mp4"].moment >= 3.0 and hits["red_then_blue.mp4"].frame >= 3
    assert "red_then_blue.mp4" in collection.describe() or "5 videos" in collection.describe()


def test_an_image_or_a_frame_of_another_video_finds_the_clip_and_its_moment(ray_out, clips):
    collection = col.Collection(ray_out[0])
    oracle = oracle_backbone()
    result = collection.search(oracle, image=solid(COLOURS["blue"]), k=5)
    assert result.kind == "image" and result.hits[0].name == "blue.mp4"
    frame = col.frame_at(clips / "red_then_blue.mp4", 4.5)  # a frame of another video: blue
    hits = {h.name: h for h in collection.search(oracle, image=frame, k=5).hits}
    assert max(hits, key=lambda n: hits[n].score) == "blue.mp4"
    assert hits["red_then_blue.mp4"].moment >= 3.0
    picture = collection.moment_picture(hits["red_then_blue.mp4"])  # decoded from the file, still at hand
    assert picture is not None and np.asarray(picture)[..., 2].mean() > 150  # blue


def test_a_rerun_skips_finished_shards_and_redoes_a_torn_one(local_out, clips):
    out, _ = local_out
    oracle = oracle_backbone()
    again = col.index_collection(clips, out, make_backbone=lambda: oracle, shard_size=2, progress=False)
    assert (again.shards_written, again.shards_kept, again.embedded) == (0, 3, 0)
    assert oracle.image_forwards == 0 and [p for p, _ in again.skipped] == ["broken.mp4"]
    (out / "shards/shard_1.json").unlink()  # a run stopped before shard 1 was whole
    again = col.index_collection(clips, out, make_backbone=lambda: oracle, shard_size=2, progress=False)
    assert (again.shards_written, again.shards_kept, again.embedded) == (1, 2, 2)


def test_the_index_follows_size_and_memory():
    assert col.choose_index(19_999, 512).factory == "Flat"
    assert col.choose_index(50_000, 512).factory == "HNSW32,Flat"
    assert col.choose_index(1_000_000, 512, 4 * 2**30).factory == "IVF1000,Flat"
    assert col.choose_index(1_000_000, 512, 100 * 2**20).factory == "IVF1000,PQ64"
    assert col.choose_index(1_000_000, 512, 20 * 2**20).factory == "IVF1000,PQ8"
    with pytest.raises(InputError, match="--memory"):
        col.choose_index(1_000_000, 512, 2**20)


def clip_retrieval_folder(folder: Path, n: int = 3_000, dim: int = 32) -> np.ndarray:
    """Embeddings as clip-retrieval writes them: img_emb + metadata with image_path, no frames, no manifest."""
    import pyarrow as pa

    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    halves = [vectors[: n // 2], vectors[n // 2 :]]
    for i, part in enumerate(halves):
        np.save(folder / f"img_emb/img_emb_{i}.npy", part)
        start = 0 if i == 0 else n // 2
        pq.write_table(pa.table({"image_path": [f"/data/videos/v{start + j}.mp4" for j in range(len(part))]}),
                       folder / f"metadata/metadata_{i}.parquet")
    return vectors


def test_clip_retrievals_own_embeddings_once_the_model_is_named(tmp_path, tiny_vit, monkeypatch):
    folder = tmp_path / "cr"
    clip_retrieval_folder(folder)
    with pytest.raises(InputError, match="name the model"):
        col.build_index(folder)
    monkeypatch.setattr(col, "FLAT_UP_TO", 1_000)  # 3 000 vectors: past the flat threshold, so IVF
    monkeypatch.setattr(col, "HNSW_UP_TO", 1_000)
    info = col.build_index(folder, model=TINY_VIT, pretrained="random")
    assert info["factory"].startswith("IVF") and info["videos"] == 3_000
    collection = col.Collection(folder)
    assert collection.made_by == "clip-retrieval" and collection.index is not None
    result = collection.search(tiny_vit, "a red video", k=5)
    assert len(result.hits) == 5 and all(h.moment is None for h in result.hits)
    assert any("no moment" in note for note in result.notes) and result.approximate
    assert all(h.name.startswith("v") and "/" not in h.name for h in result.hits)  # no server path
    text = tables.collection_csv(result)
    assert text.splitlines()[0].startswith("rank,video,cosine") and len(text.splitlines()) == 6


def test_the_cli_indexes_builds_and_searches(clips, tmp_path, capsys):
    out = tmp_path / "cli"
    assert col.main(["index", str(clips), "--out", str(out), "--model", TINY_VIT, "--pretrained", "random"]) == 0
    printed = capsys.readouterr().out
    assert "5 videos embedded" in printed and "skipped broken.mp4" in printed and "index: Flat" in printed
    assert col.main(["search", str(out), "a red video", "-k", "2"]) == 0
    assert "1. " in capsys.readouterr().out
    assert col.main(["index", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        col.main(["index", str(clips), "--out", str(out), "--engine", "ray", "--decode", "driver"])
    said = capsys.readouterr().err
    assert "--decode: invalid choice: 'driver'" in said and "actor" in said and "tasks" in said


def test_a_csv_list_of_videos(clips, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(f"path\n{clips / 'red.mp4'}\n{clips / 'blue.mp4'}\n\n", encoding="utf-8")
    root, paths = col.list_videos(listing)
    assert len(paths) == 2 and all(Path(p).name in ("red.mp4", "blue.mp4") for p in paths)


# -- bad inputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, expected", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no video files"),
    (lambda tmp: (tmp / "list.csv").write_text("path\n\n", encoding="utf-8") and tmp / "list.csv", "lists no videos"),
    (lambda tmp: (tmp / "list.csv").write_bytes(b"\xff\xfe\x00bad") and tmp / "list.csv", "UTF-8"),
    (lambda tmp: (tmp / "notes.txt").write_text("x") and tmp / "notes.txt", "neither a folder"),
])
def test_bad_sources(tmp_path, make, expected):
    with pytest.raises(InputError, match=expected):
        col.index_collection(make(tmp_path), tmp_path / "out", make_backbone=oracle_backbone, progress=False)


def test_bad_engine_and_workers(clips, tmp_path):
    with pytest.raises(InputError, match="engine"):
        col.index_collection(clips, tmp_path / "out", engine="spark", make_backbone=oracle_backbone)
    with pytest.raises(InputError, match="workers"):
        col.index_collection(clips, tmp_path / "out", engine="ray", workers=0, make_backbone=oracle_backbone)
    with pytest.raises(InputError, match="place to decode"):
        col.index_collection(clips, tmp_path / "out", engine="ray", decode="driver", make_backbone=oracle_backbone)


def test_a_collection_of_another_model(ray_out, tiny_vit, clips, tmp_path):
    collection = col.Collection(ray_out[0])
    with pytest.raises(InputError, match="8-d, made with oracle"):
        collection.search(tiny_vit, "a red video")
    # the same size, other weights
    other = type("Other", (), {"model_name": "oracle", "weights": "pretrained:laion", "embed_dim": 8})()
    with pytest.raises(InputError, match="embedded with oracle · oracle \\(test\\)"):
        collection.check(other)
    # indexing more videos into it with another model
    with pytest.raises(InputError, match="another model"):
        col.index_collection(clips, ray_out[0], make_backbone=lambda: tiny_vit, shard_size=2, progress=False)


def test_damaged_and_missing_collections(tmp_path, ray_out):
    with pytest.raises(InputError, match="does not exist"):
        col.Collection(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no img_emb"):
        col.Collection(tmp_path / "empty")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ray_out[0], copy)
    (copy / "img_emb/img_emb_1.npy").write_bytes(b"torn")
    with pytest.raises(InputError, match="Shard 1 of the collection is damaged"):
        col.Collection(copy)
    (copy / "collection.json").write_text("{not json")
    with pytest.raises(InputError, match="damaged"):
        col.Collection(copy)


def test_a_query_needs_a_text_or_an_image(ray_out):
    with pytest.raises(InputError, match="Type a text query, or give an image"):
        col.Collection(ray_out[0]).search(oracle_backbone(), "   ")


def test_frame_at_bad_times(clips):
    with pytest.raises(InputError, match="lasts 3.0 s"):
        col.frame_at(clips / "red.mp4", 99)
    with pytest.raises(InputError, match="seconds from the start"):
        col.frame_at(clips / "red.mp4", float("nan"))
    with pytest.raises(InputError, match="not a video"):
        col.frame_at(clips / "broken.mp4", 0)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_ray_actors_leave_room_for_decoding_on_two_cores(workers):
    actor_cpus, decode_cpus, threads = col.ray_resources(workers, 2, decode="tasks")
    assert workers * actor_cpus + decode_cpus <= 2 + 1e-9 and decode_cpus > 0 and actor_cpus > 0
    assert threads == max(1, round(2 / workers))
    assert col.ray_resources(workers, 64, local=False)[2] == 1  # on a cluster: the CPU it holds
    # actors that decode their own batches need no CPU set aside, and still fit the machine
    actor_cpus, decode_cpus, threads = col.ray_resources(workers, 2, decode="actor")
    assert decode_cpus == 0 and workers * actor_cpus <= 2 + 1e-9 and threads == max(1, round(2 / workers))


def test_a_cuda_actor_asks_ray_for_a_gpu():
    assert col.actor_request("cuda", 0.75) == {"num_gpus": 1}
    assert col.actor_request("cuda:1", 0.75) == {"num_gpus": 1}
    assert col.actor_request("cpu", 0.75) == {"num_cpus": 0.75}
