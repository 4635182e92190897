"""Tab "CLIP4Clip": a video index (cached frame embeddings, faiss search) with text → video and
video → text ranking, and CLIP4Clip's retrieval metrics on an uploaded CSV of (video, caption) pairs."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from app import render, runs
from app.examples import ASSETS
from app.howitworks import bars_picture, grid_picture, how_it_works, mosaic_picture, steps, text_picture
from app.widgets import VideoUpload, method_header, user_errors, video_limits
from components import clip4clip as c4c
from components.errors import InputError
from components.video import MAX_VIDEO_MB

TITLE = "CLIP4Clip"
VIDEOS = ASSETS / "videos"
BUNDLED = sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".webm", ".gif", ".mov", ".avi")) if VIDEOS.is_dir() else []
EVAL_EXAMPLE = VIDEOS / "eval_pairs.csv"
MAX_UPLOADS = 20  # videos added in one go
SIMILARITY_CHOICES = [(label, key) for key, label in c4c.SIMILARITIES.items()]

_indexes: dict[tuple[str, str, str], c4c.VideoIndex] = {}
_indexes_lock = threading.Lock()


def index_for(backbone) -> c4c.VideoIndex:
    """The process-wide index of one backbone (its embeddings live in the on-disk cache)."""
    key = (backbone.model_name, backbone.weights, backbone.device)
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = c4c.VideoIndex(backbone)
        return _indexes[key]


def ensure_examples(index: c4c.VideoIndex, progress=None) -> None:
    """An empty index gets the bundled clips (cached after the first time), so a query always has
    something to rank."""
    if len(index) == 0 and BUNDLED:
        for step in index.add(BUNDLED):
            if progress is not None:
                progress((step.done, step.total), desc=f"indexing the bundled clip {step.name}")


def index_status(index: c4c.VideoIndex) -> str:
    return f"**Index:** {index.describe()}"


RECORD_INDEX_KEYS = 500  # a record lists the indexed videos' hashes up to this many (else only a digest)


def index_state(index: c4c.VideoIndex) -> dict:
    """Which videos the index held, by content hash: part of a search's result."""
    entries = [(e.key, e.name) for e in list(index.entries)]
    keys = sorted(key for key, _ in entries)
    state = {"videos": len(keys), "digest": hashlib.sha256("\n".join(keys).encode()).hexdigest()}
    if len(keys) <= RECORD_INDEX_KEYS:
        state["keys"] = {key: name for key, name in entries}
    return state


def index_difference(recorded: dict, now: dict) -> str:
    """A plain sentence when the index differs from the recorded one, else ""."""
    if recorded.get("digest") == now["digest"]:
        return ""
    text = f"The index differs from the recorded run ({recorded.get('videos', '?')} videos then, {now['videos']} now)"
    then_keys, now_keys = recorded.get("keys"), now.get("keys")
    if isinstance(then_keys, dict) and isinstance(now_keys, dict):
        missing = [then_keys[k] for k in then_keys if k not in now_keys]
        added = [now_keys[k] for k in now_keys if k not in then_keys]
        if missing:
            text += f"; missing now: {', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}"
        if added:
            text += f"; added since: {', '.join(added[:5])}{'…' if len(added) > 5 else ''}"
    return text + ", so the ranking may differ."


def build(ctx) -> None:
    method_header(
        "CLIP4Clip — text–video retrieval",
        "Find videos by describing them: CLIP embeds one frame per second, meanP averages the "
        "normalised frame features into a video feature, and videos are ranked by cosine with the text.",
        "Luo et al., *CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval*, "
        "Neurocomputing 2022.",
        "faithful zero-shot re-implementation of CLIP4Clip's parameter-free meanP similarity on the shared "
        "CLIP model (1 frame/s, at most 12, 32 text tokens); “max over frames” and “text-conditioned "
        "softmax pooling” are labelled parameter-free extensions. The trained heads (seqTransf, "
        "tightTransf) are not available.",
    )
    status = gr.Markdown("**Index:** loading…")
    gr.Markdown(
        "<small>The index is shared by everyone using this app and kept on disk (frame embeddings and "
        "small thumbnails, keyed by each file's content hash + model + weights; directory set by "
        f"`{c4c.CACHE_ENV}`). Don't add videos you would not share.</small>"
    )
    similarity = gr.Radio(SIMILARITY_CHOICES, value="meanP", label="Similarity")

    with gr.Tab("Text → video"):
        with gr.Row():
            with gr.Column(scale=1):
                query = gr.Textbox("a red video", label="Describe the video", lines=2)
                k = gr.Slider(1, 50, value=6, step=1, label="Videos shown")
                search = gr.Button("Search", variant="primary")
                gr.Examples([["a red video"], ["a blue video"], ["yellow stripes"]], inputs=[query])
            with gr.Column(scale=2):
                gallery = gr.Gallery(label="Ranked videos (cosine)", columns=3, height="auto")
                ranking = gr.Dataframe(
                    headers=["rank", "video", "cosine", "100·cosine", "best frame (s)"],
                    label="Ranking", interactive=False,
                )
                search_notes = gr.Markdown()
                search_record = gr.File(label="Run record (JSON): query, settings, index hashes, weights, ranking")
        search_strip = how_it_works()
        with gr.Accordion("Reproduce a search", open=False):
            record_in = gr.File(label="Run record (JSON)", file_types=[".json"])
            gr.Markdown(
                "<small>The query is text, so the record alone replays it, against the index as it is "
                "now; the notes say if the index holds other videos than when the record was made.</small>"
            )
            replay_button = gr.Button("Replay")

    with gr.Tab("Video → text"):
        with gr.Row():
            with gr.Column(scale=1):
                pick = gr.Dropdown(
                    [p.name for p in BUNDLED], value=None, label="A video in the index",
                    allow_custom_value=True,  # the index changes under the page; the handler checks the name
                )
                upload_one = VideoUpload("…or upload one (encoded, not added)")
                captions = gr.Textbox(
                    "a red video\na green video\na blue video\nyellow stripes", lines=5,
                    label="Captions, one per line", info=f"Up to {c4c.MAX_CAPTIONS}.",
                )
                rank_captions = gr.Button("Rank captions", variant="primary")
            with gr.Column(scale=2):
                caption_label = gr.Label(label="Softmax of 100·cosine over the captions")
                caption_table = gr.Dataframe(
                    headers=["rank", "caption", "cosine", "100·cosine"], label="Ranking", interactive=False,
                )
                caption_notes = gr.Markdown()

    with gr.Tab("Evaluate"):
        with gr.Row():
            with gr.Column(scale=1):
                pairs_file = gr.File(file_types=[".csv"], label="CSV of (video, caption) pairs")
                gr.Markdown(
                    "<small>Columns `video,caption` (header optional), one pair per row; videos are named "
                    "as in the index (bundled clips are added when named). Up to "
                    f"{c4c.MAX_EVAL_PAIRS} pairs. Metrics as CLIP4Clip defines them: R@1/5/10 (%), "
                    "median and mean rank, both directions; tied scores count every tied position.</small>"
                )
                evaluate = gr.Button("Evaluate", variant="primary")
                gr.Examples([[str(EVAL_EXAMPLE)]], inputs=[pairs_file])
            with gr.Column(scale=2):
                metrics = gr.Dataframe(
                    headers=["direction", "R@1", "R@5", "R@10", "MdR", "MnR"], label="Metrics", interactive=False,
                )
                matrix = gr.Plot(label="Similarity (captions × videos; the diagonal is the ground truth)")
                eval_notes = gr.Markdown()

    with gr.Tab("Index"):
        with gr.Row():
            with gr.Column():
                uploads = gr.File(
                    file_count="multiple", file_types=["video", ".gif"],
                    label=f"Videos to add (up to {MAX_UPLOADS} at a time, {MAX_VIDEO_MB} MB each)",
                )
                add = gr.Button("Add to index", variant="primary")
                add_examples = gr.Button("Add the bundled example clips")
                video_limits()
            with gr.Column():
                add_log = gr.Markdown()
                index_gallery = gr.Gallery(label="Indexed videos", columns=4, height="auto")

    def names_update(index):
        return gr.Dropdown(choices=index.names())

    def gallery_items(index, limit: int = 60):
        return [(e.thumbnail, f"{e.name} · {e.duration:.1f} s") for e in index.entries[:limit]]

    @user_errors
    def show_status(model_choice):
        index = index_for(ctx.backbone(model_choice))
        return index_status(index), names_update(index), gallery_items(index)

    @user_errors
    def add_videos(files, model_choice, progress=gr.Progress()):
        index = index_for(ctx.backbone(model_choice))
        paths = [getattr(f, "name", f) for f in (files or [])]
        if not paths:
            raise InputError("Choose one or more video files to add.")
        if len(paths) > MAX_UPLOADS:
            raise InputError(f"You chose {len(paths)} videos; add at most {MAX_UPLOADS} at a time.")
        names = [Path(p).name for p in paths]
        yield from _adding(index, paths, names, progress)

    @user_errors
    def add_bundled(model_choice, progress=gr.Progress()):
        index = index_for(ctx.backbone(model_choice))
        yield from _adding(index, BUNDLED, [p.name for p in BUNDLED], progress)

    def _adding(index, paths, names, progress):
        lines = []
        for step in index.add(paths, names):
            progress((step.done, step.total), desc=f"indexing {step.name}")
            if step.skipped:
                lines.append(f"- ⚠️ {step.name}: {step.skipped}")
            else:
                lines.append(f"- {step.entry.name}: {'from the cache' if step.cached else 'encoded'}")
            yield index_status(index), "\n".join(lines), gr.skip(), gr.skip()
        yield index_status(index), "\n".join(lines), names_update(index), gallery_items(index)

    @user_errors
    def run_search(text, top, method, model_choice, progress=gr.Progress()):
        index = index_for(ctx.backbone(model_choice))
        ensure_examples(index, progress)
        result = index.search(text, int(top), method)
        state = index_state(index)
        items, rows = [], []
        for rank, (name, key, score) in enumerate(zip(result.names, result.keys, result.scores), 1):
            entry = index.entry(key)
            frame_scores = result.frame_scores[rank - 1]
            best = int(np.nanargmax(frame_scores)) if np.isfinite(frame_scores).any() else 0
            best_time = float(entry.times[best]) if best < len(entry.times) else 0.0
            items.append((entry.thumbnail, f"#{rank} {name} · {score:.3f}"))
            rows.append([rank, name, round(float(score), 4), round(float(c4c.LOGIT_SCALE * score), 2), round(best_time, 1)])
        notes = "\n".join(f"- {n}" for n in result.notes)
        record_path = runs.write_record(
            "clip4clip",
            settings=dict(query=text, k=top, similarity=method),
            files={},
            model_choice=model_choice,
            weights=index.backbone.describe(),
            scores=dict(ranking=[[name, float(score)] for name, score in zip(result.names, result.scores)]),
        )
        saved = json.loads(Path(record_path).read_text(encoding="utf-8"))
        saved["index"] = state
        Path(record_path).write_text(json.dumps(saved, indent=2, ensure_ascii=False), encoding="utf-8")
        return items, rows, notes, index_status(index), record_path, search_strip_for(result, items)

    def search_strip_for(result, items):
        """The search's own arrays: the capped query, the ranked videos' thumbnails (as in the
        gallery), each frame's cosine with the query, and the scores of the chosen calculator."""
        per_frame = np.asarray(result.frame_scores, np.float64)
        shown = len(result.names)
        return steps(
            (text_picture("Query (capped at 32 tokens)", [result.query]),
             f"The text tower embeds the query “{result.query}” once"),
            (mosaic_picture([Image.fromarray(np.asarray(image)) for image, _ in items], columns=min(shown, 4) or 1),
             f"The top {shown} video{'s' if shown != 1 else ''} in the index (middle frame; frames were embedded at 1 per second when indexed)"),
            (grid_picture(per_frame if per_frame.size else np.zeros((1, 1))),
             "Each frame's cosine with the query (rows: ranked videos, columns: frames; dark = padding or low)"),
            (bars_picture(list(result.names), result.scores,
                          f"{result.similarity} cosine"),
             f"{c4c.SIMILARITIES[result.similarity]} → one score per video → ranking"),
        )

    @user_errors
    def replay_search(record_path, progress=gr.Progress()):
        saved = runs.read_record(record_path, "clip4clip")
        out = runs.replay(saved, {}, lambda *args: run_search(*args, progress=progress), ["query", "k", "similarity"])
        index = index_for(ctx.backbone(saved["model"]))
        difference = index_difference(saved.get("index") or {}, index_state(index))
        items, rows, notes, status_text, *rest = out
        if difference:
            notes = f"- ⚠️ {difference}\n{notes}".rstrip()
        else:
            notes = f"- Same index as the recorded run ({index_state(index)['videos']} videos).\n{notes}".rstrip()
        return (items, rows, notes, status_text, *rest)

    @user_errors
    def run_captions(name, uploaded, captions_text, method, model_choice):
        index = index_for(ctx.backbone(model_choice))
        if uploaded:
            video = uploaded
        elif name:
            video = name
        else:
            ensure_examples(index)
            if not index.names():
                raise InputError("Pick a video from the index or upload one.")
            video = index.names()[0]
        result = index.captions(video, captions_text, method)
        probs = np.exp(result.logits - result.logits.max())
        probs /= probs.sum()
        label = {c: float(p) for c, p in zip(result.captions, probs)}
        rows = [
            [rank, c, round(s, 4), round(float(c4c.LOGIT_SCALE * s), 2)]
            for rank, (c, s) in enumerate(result.ranking(), 1)
        ]
        notes = [f"Video: {result.video}", *result.notes]
        return label, rows, "\n".join(f"- {n}" for n in notes)

    @user_errors
    def run_evaluation(csv_file, method, model_choice, progress=gr.Progress()):
        if not csv_file:
            raise InputError("Upload a CSV of (video, caption) pairs, or pick the example.")
        index = index_for(ctx.backbone(model_choice))
        pairs = c4c.parse_pairs(Path(getattr(csv_file, "name", csv_file)))
        bundled = {p.name: p for p in BUNDLED}
        wanted = [bundled[v] for v in dict.fromkeys(v for v, _ in pairs) if v in bundled and v not in index.names()]
        if wanted:
            progress(0, desc="adding the bundled clips the CSV names")
            for _ in index.add(wanted, [p.name for p in wanted]):
                pass
        result = index.evaluate(pairs, method)
        table = [
            ["text → video", *(round(v, 2) for v in result.text_to_video.as_row().values())],
            ["video → text", *(round(v, 2) for v in result.video_to_text.as_row().values())],
        ]
        figure = render.video_heatmap(
            result.similarity,
            [f"{i + 1}. {c[:40]}" for i, c in enumerate(result.captions)],
            [f"{i + 1}. {v[:30]}" for i, v in enumerate(result.videos)],
            colorbar="cosine", xaxis="video", yaxis="caption",
        )
        notes = [f"{len(pairs)} pairs · similarity: {c4c.SIMILARITIES[method]}", *result.notes]
        return table, figure, "\n".join(f"- {n}" for n in notes), index_status(index)

    search_outputs = [gallery, ranking, search_notes, status, search_record, search_strip]
    search.click(
        run_search, [query, k, similarity, ctx.model_picker], search_outputs, api_name="clip4clip_search",
    )
    query.submit(
        run_search, [query, k, similarity, ctx.model_picker], search_outputs, api_name="clip4clip_search_submit",
    )
    replay_button.click(replay_search, [record_in], search_outputs, api_name="clip4clip_replay")
    rank_captions.click(
        run_captions, [pick, upload_one, captions, similarity, ctx.model_picker],
        [caption_label, caption_table, caption_notes], api_name="clip4clip_captions",
    )
    evaluate.click(
        run_evaluation, [pairs_file, similarity, ctx.model_picker], [metrics, matrix, eval_notes, status],
        api_name="clip4clip_evaluate", concurrency_limit=1,
    )
    add.click(
        add_videos, [uploads, ctx.model_picker], [status, add_log, pick, index_gallery],
        api_name="clip4clip_add", concurrency_limit=1,
    )
    add_examples.click(
        add_bundled, [ctx.model_picker], [status, add_log, pick, index_gallery],
        api_name="clip4clip_add_examples", concurrency_limit=1,
    )
    pick.focus(show_status, [ctx.model_picker], [status, pick, index_gallery], api_name="clip4clip_status")
