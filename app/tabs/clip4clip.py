"""Tab "CLIP4Clip": a video index (cached frame embeddings, faiss search) with text → video and
video → text ranking, and CLIP4Clip's retrieval metrics on an uploaded CSV of (video, caption) pairs."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from app import render, runs
from app.examples import ASSETS, VIDEO_LABEL, WORLD_LABEL, world_clips, world_examples
from app.howitworks import bars_picture, grid_picture, how_it_works, mosaic_picture, steps, text_picture
from app.widgets import VideoUpload, method_header, replay_panel, user_errors, video_limits
from components import clip4clip as c4c
from components.errors import InputError
from components.video import MAX_VIDEO_MB

TITLE = "CLIP4Clip"
VIDEOS = ASSETS / "videos"
BUNDLED = sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".webm", ".gif", ".mov", ".avi")) if VIDEOS.is_dir() else []
BUNDLED += world_clips()  # assets/world: indexed, searched and named like the clips above
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
                gr.Examples([["a red video"], ["a blue video"], ["yellow stripes"]], inputs=[query], label=VIDEO_LABEL)
                gr.Examples(world_examples("clip4clip"), inputs=[query], label=WORLD_LABEL)
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
                caption_record = gr.File(label="Run record (JSON): video (index name or file hash), captions, settings, weights, ranking")
        caption_strip = how_it_works()
        caption_record_in, (caption_video_in,), caption_replay_button = replay_panel(
            inputs=lambda: [VideoUpload("The uploaded video the record was made with")],
            note="A record of a video picked from the index replays from the record alone (the notes say if "
            "the index now holds other content under that name); one of an uploaded video needs that video.",
        )

    with gr.Tab("Evaluate"):
        with gr.Row():
            with gr.Column(scale=1):
                pairs_file = gr.File(file_types=[".csv"], label="CSV of (video, caption) pairs")
                gr.Markdown(
                    "<small>Columns `video,caption` (header optional), one pair per row; videos are named "
                    "as in the index (bundled clips are added when named). Up to "
                    f"{c4c.MAX_EVAL_PAIRS} pairs. Metrics as CLIP4Clip defines them: R@1/5/10 (%), "
                    "median and mean rank, both directions; tied scores count every tied position. A video with "
                    "several captions switches to the official multi-caption protocol (text → video over the "
                    "unique videos, lower median; video → text by each video's best caption).</small>"
                )
                evaluate = gr.Button("Evaluate", variant="primary")
                gr.Examples([[str(EVAL_EXAMPLE)]], inputs=[pairs_file], label=VIDEO_LABEL)
                gr.Examples(world_examples("clip4clip_evaluate"), inputs=[pairs_file], label=WORLD_LABEL)
            with gr.Column(scale=2):
                metrics = gr.Dataframe(
                    headers=["direction", "R@1", "R@5", "R@10", "MdR", "MnR"], label="Metrics", interactive=False,
                )
                matrix = gr.Plot(label="Similarity (captions × videos; the diagonal is the ground truth)")
                eval_notes = gr.Markdown()
                eval_record = gr.File(label="Run record (JSON): settings, CSV hash, indexed videos' hashes, weights, metrics")
        eval_strip = how_it_works()
        eval_record_in, (eval_csv_in,), eval_replay_button = replay_panel(
            inputs=lambda: [gr.File(file_types=[".csv"], label="The CSV the record was made with")],
            note="The notes say if the index now holds other content under a name the CSV uses.",
        )

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
            extra=dict(index=state),
        )
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
        else:
            ensure_examples(index)
            if not name and not index.names():
                raise InputError("Pick a video from the index or upload one.")
            if not isinstance(name, (str, type(None))):
                raise InputError("The video to rank captions for is named by its name in the index.")
            video = index.entry(name or index.names()[0])  # a name in the index, never a path on the server
        result = index.captions(video, captions_text, method, thumbnails=True)
        probs = np.exp(result.logits - result.logits.max())
        probs /= probs.sum()
        label = {c: float(p) for c, p in zip(result.captions, probs)}
        ranking = result.ranking()
        rows = [
            [rank, c, round(s, 4), round(float(c4c.LOGIT_SCALE * s), 2)]
            for rank, (c, s) in enumerate(ranking, 1)
        ]
        notes = [f"Video: {result.video}", *result.notes]
        if not result.thumbnails:
            notes.append("The video's file is no longer at hand, so its frames are not shown (the index keeps their embeddings).")
        record_path = runs.write_record(
            "clip4clip_captions",
            settings=dict(indexed_video=None if uploaded else result.video, captions=captions_text, similarity=method),
            files={"video": uploaded} if uploaded else {},
            model_choice=model_choice,
            weights=index.backbone.describe(),
            scores=dict(ranking=[[c, s] for c, s in ranking]),
            extra={} if uploaded else dict(indexed_video={"name": result.video, "sha256": result.key}),
        )
        return label, rows, "\n".join(f"- {n}" for n in notes), record_path, captions_strip_for(index, result)

    def captions_strip_for(index, result):
        """The run's own arrays: the video's sampled frames, the captions, each frame's cosine with
        each caption, and the pooled score per caption under the chosen similarity."""
        per_frame = np.asarray(result.frame_scores, np.float64).T  # (F frames, C captions)
        frames, count = per_frame.shape
        times = f"{result.times[0]:.0f}–{result.times[-1]:.0f} s" if len(result.times) else ""
        if result.thumbnails:
            film = mosaic_picture([Image.fromarray(t) for t in result.thumbnails], columns=min(frames, 4) or 1)
            film_caption = f"{frames} frame{'s' if frames != 1 else ''} sampled at 1 per second ({times}, at most 12); the image tower embeds each"
        else:
            try:
                film = mosaic_picture([Image.fromarray(index.entry(result.key).thumbnail)], columns=1)
            except InputError:
                film = mosaic_picture([])
            film_caption = f"{frames} frames were embedded at 1 per second when indexed ({times}); the middle one is shown"
        ranking = result.ranking()
        return steps(
            (film, film_caption),
            (text_picture("Captions", list(result.captions)),
             f"The text tower embeds the {count} caption{'s' if count != 1 else ''} (each capped at 32 tokens)"),
            (grid_picture(per_frame if per_frame.size else np.zeros((1, 1))),
             f"Each frame's cosine with each caption (rows: {frames} frames in time, columns: {count} captions as given)"),
            (bars_picture([c for c, _ in ranking], [v for _, v in ranking], f"{result.similarity} cosine"),
             f"{c4c.SIMILARITIES[result.similarity]} → one score per caption → ranking"),
        )

    @user_errors
    def replay_captions(record_path, video_path):
        saved = runs.read_record(record_path, "clip4clip_captions")
        uploaded = isinstance(saved.get("inputs"), dict) and "video" in saved["inputs"]
        label, rows, run_notes, *rest = runs.replay(
            saved, {"video": video_path if uploaded else None}, run_captions,
            ["indexed_video", "video", "captions", "similarity"],
        )
        notes = []
        if not uploaded:
            name = saved["settings"]["indexed_video"]
            recorded = saved["indexed_video"].get("sha256") if isinstance(saved.get("indexed_video"), dict) else None
            now = index_for(ctx.backbone(saved["model"])).entry(name).key if name else None
            if recorded and now and now != recorded:
                notes.append(f"⚠️ The index's “{name}” is not the video this record was made with (other content), so the ranking may differ.")
            elif recorded and now:
                notes.append(f"Same video as the recorded run (“{name}”, by content hash).")
            if video_path:
                notes.append("The record is of a video in the index; the uploaded video was not used.")
        return (label, rows, "\n".join([*(f"- {n}" for n in notes), run_notes]).strip(), *rest)

    @user_errors
    def run_evaluation(csv_file, method, model_choice, progress=gr.Progress()):
        if not csv_file:
            raise InputError("Upload a CSV of (video, caption) pairs, or pick the example.")
        index = index_for(ctx.backbone(model_choice))
        csv_path = getattr(csv_file, "name", csv_file)
        pairs = c4c.parse_pairs(Path(csv_path))
        bundled = {p.name: p for p in BUNDLED}
        wanted = [bundled[v] for v in dict.fromkeys(v for v, _ in pairs) if v in bundled and v not in index.names()]
        if wanted:
            progress(0, desc="adding the bundled clips the CSV names")
            for _ in index.add(wanted, [p.name for p in wanted]):
                pass
        result = index.evaluate(pairs, method)
        metrics_rows = {"text → video": result.text_to_video.as_row(), "video → text": result.video_to_text.as_row()}
        table = [[direction, *(round(v, 2) for v in row.values())] for direction, row in metrics_rows.items()]
        figure = render.video_heatmap(
            result.similarity,
            [f"{i + 1}. {c[:40]}" for i, c in enumerate(result.captions)],
            [f"{i + 1}. {v[:30]}" for i, v in enumerate(result.videos)],
            colorbar="cosine", xaxis="video", yaxis="caption",
        )
        notes = [f"{len(pairs)} pairs · similarity: {c4c.SIMILARITIES[method]}", *result.notes]
        record_path = runs.write_record(
            "clip4clip_evaluate",
            settings=dict(similarity=method),
            files={"CSV": csv_path},
            model_choice=model_choice,
            weights=index.backbone.describe(),
            scores=dict(metrics=metrics_rows),
            extra=dict(videos={name: index.entry(name).key for name in dict.fromkeys(result.videos)}),
        )
        return (
            table, figure, "\n".join(f"- {n}" for n in notes), index_status(index), record_path,
            evaluation_strip_for(result),
        )

    def evaluation_strip_for(result):
        """The run's own arrays: the pairs, the captions × videos cosine matrix, and where each
        ground truth ranked, summarised as R@K per direction."""
        n = len(result.captions)
        t2v, v2t = result.text_to_video, result.video_to_text

        def recalls(metrics, title):
            return bars_picture(
                ["R@1", "R@5", "R@10"], [metrics.R1, metrics.R5, metrics.R10],
                f"{title}: MdR {metrics.MdR:g}, MnR {metrics.MnR:.1f}", vmax=100.0,
            )

        return steps(
            (text_picture(f"{n} pairs (video ← caption)", [f"{v} ← {c}" for v, c in result.pairs]),
             f"The CSV's {n} (video, caption) pairs; every caption is embedded once, every video is in the index"),
            (grid_picture(result.similarity),
             f"Cosine of each caption with each video ({n} × {len(result.videos)}; rows: captions, columns: videos; "
             f"ground truth: each caption's own video; scored {result.protocol}, as CLIP4Clip's official code)"),
            (recalls(t2v, "text → video"),
             f"Text → video: each row sorted; where its ground truth lands gives R@1/5/10 (%) over {len(t2v.ranks)} ranks"),
            (recalls(v2t, "video → text"),
             f"Video → text: the same on each column; {c4c.SIMILARITIES[result.method]}"),
        )

    @user_errors
    def replay_evaluation(record_path, csv_file, progress=gr.Progress()):
        saved = runs.read_record(record_path, "clip4clip_evaluate")
        out = runs.replay(
            saved, {"CSV": getattr(csv_file, "name", csv_file)},
            lambda *args: run_evaluation(*args, progress=progress), ["CSV", "similarity"],
        )
        table, figure, notes, status_text, *rest = out
        recorded = saved.get("videos") if isinstance(saved.get("videos"), dict) else {}
        index = index_for(ctx.backbone(saved["model"]))
        changed = [name for name, key in recorded.items() if name in index.names() and index.entry(name).key != key]
        if changed:
            shown = ", ".join(changed[:5]) + ("…" if len(changed) > 5 else "")
            notes = f"- ⚠️ The index holds other content under {len(changed)} of the CSV's names ({shown}) than when the record was made, so the metrics may differ.\n{notes}"
        elif recorded:
            notes = f"- Same videos as the recorded run ({len(recorded)}, by content hash).\n{notes}"
        return (table, figure, notes, status_text, *rest)

    search_outputs = [gallery, ranking, search_notes, status, search_record, search_strip]
    search.click(
        run_search, [query, k, similarity, ctx.model_picker], search_outputs, api_name="clip4clip_search",
    )
    query.submit(
        run_search, [query, k, similarity, ctx.model_picker], search_outputs, api_name="clip4clip_search_submit",
    )
    replay_button.click(replay_search, [record_in], search_outputs, api_name="clip4clip_replay")
    caption_outputs = [caption_label, caption_table, caption_notes, caption_record, caption_strip]
    rank_captions.click(
        run_captions, [pick, upload_one, captions, similarity, ctx.model_picker], caption_outputs,
        api_name="clip4clip_captions",
    )
    caption_replay_button.click(
        replay_captions, [caption_record_in, caption_video_in], caption_outputs, api_name="clip4clip_captions_replay",
    )
    eval_outputs = [metrics, matrix, eval_notes, status, eval_record, eval_strip]
    evaluate.click(
        run_evaluation, [pairs_file, similarity, ctx.model_picker], eval_outputs,
        api_name="clip4clip_evaluate", concurrency_limit=1, concurrency_id="clip4clip_evaluate",
    )
    eval_replay_button.click(
        replay_evaluation, [eval_record_in, eval_csv_in], eval_outputs,
        api_name="clip4clip_evaluate_replay", concurrency_limit=1, concurrency_id="clip4clip_evaluate",
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
