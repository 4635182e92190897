"""Answer folders: one parent of our own, plain names, old folders swept — at most once a minute."""

from __future__ import annotations

import os
import tempfile

import pytest

from components.exports import folders


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(folders, "_last_sweep", float("-inf"))
    return tmp_path


def test_answer_folders_live_under_one_parent_with_plain_names(private_tmp):
    folder = folders.answer_folder("lseg")
    assert folder.parent == private_tmp / folders.PARENT and folder.is_dir()
    assert folder.name.startswith("lseg-")
    odd = folders.answer_folder("../x y/é")
    assert odd.parent == folder.parent and "/" not in odd.name and " " not in odd.name
    path = folders.answer_file("run", "zeroshot-run.json")
    assert path.name == "zeroshot-run.json" and path.parent.parent == folder.parent and not path.exists()


def test_sweep_removes_only_old_answer_folders_and_never_looks_outside(private_tmp):
    old, young = folders.answer_folder("old"), folders.answer_folder("young")
    (old / "a.png").write_bytes(b"x")
    outside = private_tmp / "someone-elses"
    outside.mkdir()
    long_ago = old.stat().st_mtime - folders.KEEP_S - 10
    os.utime(old, (long_ago, long_ago))
    os.utime(outside, (long_ago, long_ago))
    assert folders.sweep(force=True) == 1
    assert not old.exists() and young.is_dir() and outside.is_dir()


def test_a_sweep_runs_at_most_once_a_minute(private_tmp):
    old = folders.answer_folder("old")  # this call swept (first of the process, as far as the test goes)
    long_ago = old.stat().st_mtime - folders.KEEP_S - 10
    os.utime(old, (long_ago, long_ago))
    folders.answer_folder("next")  # within the minute: no scan, the old folder stays
    assert old.is_dir()
    assert folders.sweep(now=folders._last_sweep + folders.SWEEP_EVERY_S + 1) == 1
    assert not old.exists()
