"""The CLIP4Clip index loses nothing (components/clip4clip/index.py):

- a real child process killed (SIGKILL) in the middle of adding a batch — at points drawn from a
  seed — leaves an index that opens with every video whose add finished and no partial one;
- two visitors adding at once both land, and searches during the adds see a whole index;
- damaged files found at start (truncated, wrong shape, another model's, a torn journal line) are set
  aside and reported, and the good entries are all kept.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.clip4clip import VideoIndex
from testkit import TINY_VIT

VIDEOS = 6
TESTS = Path(__file__).resolve().parent

# The child: adds VIDEOS generated clips (lists of images) to an index in argv[1], printing the key
# of each as soon as its add has finished, then sleeping (the parent kills it whenever it chooses).
CHILD = textwrap.dedent(f"""
    import sys, time
    sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS)!r}]
    import numpy as np
    from PIL import Image
    from testkit import TINY_VIT
    from components.backbone import load_backbone
    from components.clip4clip import VideoIndex
    from test_index_safety import clip

    index = VideoIndex(load_backbone(TINY_VIT, "random", "cpu"), sys.argv[1])
    print("ready", flush=True)
    for step in index.add([clip(n) for n in range({VIDEOS})], [f"clip {{n}}" for n in range({VIDEOS})]):
        print("added", step.entry.key, flush=True)
    print("done", flush=True)
    time.sleep(60)
""")


def clip(n: int, frames: int = 6) -> list[Image.Image]:
    """A short generated clip, different for each n (a square drifting over a coloured ground)."""
    rng = np.random.default_rng(n)
    ground = rng.integers(0, 255, 3)
    pictures = []
    for f in range(frames):
        array = np.zeros((48, 64, 3), np.uint8) + ground.astype(np.uint8)
        x = (8 + 5 * f + 3 * n) % 40
        array[12:30, x : x + 18] = rng.integers(0, 255, 3)
        pictures.append(Image.fromarray(array))
    return pictures


@pytest.fixture(scope="module")
def backbone():
    from components.backbone import load_backbone

    return load_backbone(TINY_VIT, "random", "cpu")


def _kill_during_add(cache: Path, after: int, delay: float) -> list[str]:
    """Start the child; SIGKILL it `delay` s after its `after`-th finished add (0: after "ready").
    Returns the keys whose add it reported finished."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cache)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": ""})
    finished = []
    try:
        for line in child.stdout:
            word, *rest = line.split()
            if word == "added":
                finished.append(rest[0])
            if (word == "ready" and after == 0) or (word == "added" and len(finished) == after) or word == "done":
                break
        threading.Event().wait(delay)  # lands inside the next video's encode, write or journal line
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # anything printed before the kill landed
        finished += [line.split()[1] for line in rest.splitlines() if line.startswith("added")]
    finally:
        child.kill()
        child.wait()
    return finished


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_killed_add_keeps_every_finished_video_and_no_partial_one(backbone, tmp_path, seed):
    rng = random.Random(seed)
    after, delay = rng.randrange(0, VIDEOS), rng.uniform(0.0, 0.3)
    finished = _kill_during_add(tmp_path, after, delay)
    index = VideoIndex(backbone, tmp_path)  # opens: no exception
    keys = {e.key for e in index.entries}
    assert set(finished) <= keys, (after, delay)
    assert len(keys) <= VIDEOS
    for entry in index.entries:  # every entry whole: frames of the right shape, finite
        assert entry.frames.ndim == 2 and entry.frames.shape[1] == backbone.embed_dim
        assert np.isfinite(entry.frames).all() and len(entry.frames)
    assert index.problems == [] or all("journal" in p for p in index.problems)  # a torn last line at most
    # and it is still an index: adding the rest completes it, searching works
    index.add_all([clip(n) for n in range(VIDEOS)], [f"clip {n}" for n in range(VIDEOS)])
    assert len(index) == VIDEOS and len(VideoIndex(backbone, tmp_path)) == VIDEOS
    assert len(index.search("a square", k=3).names) == 3


def test_two_visitors_adding_at_once_both_land_and_searches_see_a_whole_index(backbone, tmp_path):
    index = VideoIndex(backbone, tmp_path)
    errors, seen = [], []
    adding = True

    def add(first: int):
        try:
            index.add_all([clip(n) for n in range(first, first + 4)], [f"clip {n}" for n in range(first, first + 4)])
        except Exception as error:  # reported below
            errors.append(error)

    def search():
        while adding:
            try:
                if len(index):
                    result = index.search("a square", k=8)
                    names = list(result.names)
                    assert names and len(set(names)) == len(names)  # whole entries, each once
                    assert set(names) <= set(index.names())
                    assert np.all(np.diff(result.scores) <= 1e-6)  # ranked
                    seen.append(len(names))
            except Exception as error:
                errors.append(error)

    searcher = threading.Thread(target=search)
    searcher.start()
    visitors = [threading.Thread(target=add, args=(first,)) for first in (0, 100)]
    for v in visitors:
        v.start()
    for v in visitors:
        v.join()
    adding = False
    searcher.join()
    assert errors == [] and seen  # searched while adding
    assert len(index) == 8
    reopened = VideoIndex(backbone, tmp_path)
    assert sorted(reopened.names()) == sorted(index.names())


def test_damaged_files_are_set_aside_and_said_and_good_entries_kept(backbone, tmp_path):
    index = VideoIndex(backbone, tmp_path)
    index.add_all([clip(n) for n in range(4)], [f"clip {n}" for n in range(4)])
    files = {e.name: index._cache_path(e.key) for e in index.entries}
    # truncated
    data = files["clip 0"].read_bytes()
    files["clip 0"].write_bytes(data[: len(data) // 3])
    # wrong shape
    with np.load(files["clip 1"]) as saved:
        arrays = {k: saved[k] for k in saved.files}
    arrays["frames"] = arrays["frames"][:, :3]
    np.savez(files["clip 1"], **arrays)
    # another model's embeddings (same width, another model named in the file)
    with np.load(files["clip 2"]) as saved:
        arrays = {k: saved[k] for k in saved.files}
    arrays["model"] = np.array("another-model · other weights · 8")
    np.savez(files["clip 2"], **arrays)
    # a torn journal line, as a kill mid-write would leave
    with open(index._journal_path(), "a", encoding="utf-8") as journal:
        journal.write('{"op": "add", "key": "abc')

    reopened = VideoIndex(backbone, tmp_path)  # opens: no exception
    assert reopened.names() == ["clip 3"]  # the good one kept
    said = " ".join(reopened.problems)
    for name in ("clip 0", "clip 1", "clip 2"):
        assert name in said
    assert "unreadable" in said and "shape" in said and "another model" in said and "journal" in said
    for name in ("clip 0", "clip 1", "clip 2"):  # set aside, not deleted
        assert files[name].with_name(files[name].name + ".damaged").is_file() and not files[name].exists()
    assert not any(str(tmp_path) in p for p in reopened.problems)  # no server path on the page
    # the journal now holds only the good entry: a third start finds nothing to report
    again = VideoIndex(backbone, tmp_path)
    assert again.names() == ["clip 3"] and again.problems == []
    # re-adding the damaged videos encodes them afresh
    again.add_all([clip(n) for n in range(3)], [f"clip {n}" for n in range(3)])
    assert sorted(VideoIndex(backbone, tmp_path).names()) == ["clip 0", "clip 1", "clip 2", "clip 3"]


def test_an_index_made_before_another_process_added_finds_its_videos(backbone, tmp_path):
    """A process that opened the index earlier (a reused ZeroGPU worker, a second app process) takes
    in the journal lines appended since, whole lines only; a clear elsewhere clears it too."""
    early = VideoIndex(backbone, tmp_path)
    other = VideoIndex(backbone, tmp_path)
    other.add_all([clip(n) for n in range(2)], ["clip 0", "clip 1"])
    assert sorted(early.names()) == ["clip 0", "clip 1"]
    assert early.search("a square", k=2).names
    with open(early._journal_path(), "ab") as journal:
        journal.write(b'{"op": "add", "key": "torn')  # a writer killed mid-line
    assert sorted(early.names()) == ["clip 0", "clip 1"]  # a torn line is not read (yet)
    other.add_all([clip(2)], ["clip 2"])  # the next line starts on a line of its own
    assert sorted(early.names()) == ["clip 0", "clip 1", "clip 2"]
    assert sorted(VideoIndex(backbone, tmp_path).names()) == ["clip 0", "clip 1", "clip 2"]
    other.remove_all()
    assert early.names() == []
