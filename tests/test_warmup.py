"""The warm-up (app/warmup.py, issue 19): once the model is loaded, each tab's first example runs once
in the background, so the first visitor's run finds its prompts already through the text tower; the
runs a warm-up cannot make on its own (long jobs, streams, a visitor's session) are left alone, but a
tab may name everyone's work to do instead (CLIP4Clip's shared index); off with CLIP_LAB_WARM_UP=0."""

from __future__ import annotations

import pytest

from app import warmup
from app.context import Settings


def forget_texts(backbone) -> None:
    """Empty the backbone's caches of text embeddings and zero-shot classifiers."""
    backbone._text_cache.clear()
    backbone._classifier_cache.clear()


@pytest.fixture(scope="module")
def ctx():
    """An app of its own on the tiny model (DepthCLIP on the tiny ResNet), never served; the shared
    tiny backbone's caches of texts are emptied afterwards, for the other tests."""
    import app
    from appserver import TINY_DEPTHCLIP, environment

    with environment(TINY_DEPTHCLIP):
        demo = app.entry_module().build_demo(Settings("clip-lab-tiny-vit", "random", "cpu"))
        yield demo.clip_lab
        forget_texts(demo.clip_lab.start_loading().result())


def test_every_tab_that_can_be_warmed_is_and_none_fails(ctx, monkeypatch):
    monkeypatch.setenv("CLIP_LAB_WARM_UP", "1")
    done = warmup.warm_up(ctx, background=False)
    failed = {key: why for key, why in done.items() if isinstance(why, str)}
    assert not failed, failed
    assert {"zeroshot", "lseg", "groupvit", "vild", "glip", "depthclip", "vilt", "compare", "pointclip",
            "clip4clip"} <= set(done)  # CLIP4Clip: its Tab.warm, the shared index's work
    assert not {"clipasso", "train"} & set(done)  # long jobs: a visitor's own, never run unasked


def test_after_it_the_first_example_sends_no_prompt_through_the_text_tower(ctx, monkeypatch):
    monkeypatch.setenv("CLIP_LAB_WARM_UP", "1")
    backbone = ctx.start_loading().result()
    page = ctx.pages["zeroshot"]
    values = page.tab.defaults(**page.first_example(), model=ctx.default_choice, kept=None)

    def prompts_forwarded() -> int:
        before = backbone.text_forwards
        page.endpoints[0].handler(ctx, values)
        return backbone.text_forwards - before

    forget_texts(backbone)
    assert prompts_forwarded() > 0  # cold: the labels' 80 prompts each go through the text tower
    forget_texts(backbone)
    warmup.warm_up(ctx, background=False)
    assert prompts_forwarded() == 0


@pytest.mark.xfail(strict=False, reason=(
    "order-dependent since 2026-12-04: in whole-suite runs (two in a checkout, one of two fresh clones) one "
    "text forward more (1, 0, 0); passes alone and in every smaller combination tried; not yet found"))
def test_after_it_a_visitors_first_video_search_encodes_no_video_and_no_text(ctx, monkeypatch):
    """CLIP4Clip's first example is a visitor's (their own index): the warm-up does the tab's
    everyone's work instead — the bundled clips into the shared index, the first query's text — and
    makes no visitor's index."""
    from components import clip4clip as c4c

    monkeypatch.setenv("CLIP_LAB_WARM_UP", "1")
    backbone = ctx.start_loading().result()
    visitor = "0123456789abcdef"  # a visitor id as the cookie gives it
    warmup.warm_up(ctx, background=False)
    shared = c4c.index_for(backbone)
    assert len(shared) > 0
    page = ctx.pages["clip4clip"]
    values = page.tab.defaults(**page.first_example(), model=ctx.default_choice, kept=None)
    texts, videos = backbone.text_forwards, shared.encoded_videos
    answer = page.endpoints[0].handler(ctx, values, visitor=visitor)
    assert answer.outputs["ranking"]  # the bundled clips, ranked
    own = c4c.index_for(backbone, visitor)
    assert (backbone.text_forwards - texts, shared.encoded_videos - videos, own.encoded_videos) == (0, 0, 0)
    c4c.forget_visitor(backbone, visitor)


def test_off_it_runs_nothing(ctx, monkeypatch):
    monkeypatch.setenv("CLIP_LAB_WARM_UP", "0")
    assert warmup.warm_up(ctx) is None
    assert warmup.warm_up(ctx, background=False) is None


def test_in_the_background_it_is_a_daemon_thread(ctx, monkeypatch):
    monkeypatch.setenv("CLIP_LAB_WARM_UP", "1")
    thread = warmup.warm_up(ctx)
    assert thread.daemon and thread.name == "clip-lab-warm-up"
    thread.join()
