"""Tab "CLIP4Clip": a video index (cached frame embeddings, faiss search) with text → video, image →
video (an example image or a frame of another video) and video → text ranking, CLIP4Clip's retrieval
metrics on an uploaded CSV of (video, caption) pairs, rankings and figures as CSV, and the operator's
collection (`--collection DIR`: shards made by `components.clip4clip.collection`, opened read-only)."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from app import render
from app.examples import ASSETS, VIDEO_LABEL, WORLD_LABEL, world_clips, world_examples
from app.howitworks import bars_picture, grid_picture, mosaic_picture, steps, text_picture
from app.scaffold import Answer, Page, Setting, Tab, quiet
from app.widgets import ImageUpload, VideoUpload
from components import clip4clip as c4c
from components.clip4clip import collection as library
from components.errors import InputError
from components.exports import tables
from components.media import load_image
from components.video import MAX_VIDEO_MB

VIDEOS = ASSETS / "videos"
BUNDLED = sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".webm", ".gif", ".mov", ".avi")) if VIDEOS.is_dir() else []
BUNDLED += world_clips()  # assets/world: indexed, searched and named like the clips above
EVAL_EXAMPLE = VIDEOS / "eval_pairs.csv"
MAX_UPLOADS = 20  # videos added in one go
MOMENT_PICTURES = 12  # collection hits whose best moment is decoded for the gallery (the rest: the table)
SIMILARITY_CHOICES = [(label, key) for key, label in c4c.SIMILARITIES.items()]
SIMILARITY_DOC = '"meanP" (faithful), "max" or "softmax" (labelled extensions)'

TAB = Tab(
    key="clip4clip",
    title="CLIP4Clip",
    name="CLIP4Clip — text–video retrieval",
    idea="Find videos by describing them: CLIP embeds one frame per second, meanP averages the "
    "normalised frame features into a video feature, and videos are ranked by cosine with the text.",
    paper="Luo et al., *CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval*, "
    "Neurocomputing 2022.",
    runs="faithful zero-shot re-implementation of CLIP4Clip's parameter-free meanP similarity on the shared "
    "CLIP model (1 frame/s, at most 12, 32 text tokens); “max over frames” and “text-conditioned "
    "softmax pooling” are labelled parameter-free extensions. The trained heads (seqTransf, "
    "tightTransf) are not available.",
    limits="video",
    warm=lambda ctx: warm_shared_index(ctx),  # defined below; the warm-up calls it once the model is loaded
    settings=[
        Setting("query", lambda: gr.Textbox("a red video", label="Describe the video", lines=2), str,
                "the text to find videos for"),
        Setting("k", lambda: gr.Slider(1, 50, value=6, step=1, label="Videos shown"), int, "how many videos to show"),
        Setting("similarity", lambda: gr.Radio(SIMILARITY_CHOICES, value="meanP", label="Similarity"), str,
                SIMILARITY_DOC),
        Setting("indexed_video", lambda: gr.Dropdown(
            [p.name for p in BUNDLED], value=None, label="A video in the index",
            allow_custom_value=True,  # the index changes under the page; the handler checks the name
        ), str, "the name of a video in the index (empty: the first one)"),
        Setting("video", lambda: VideoUpload("…or upload one (encoded, not added)"), str,
                "path of a video file to rank the captions for instead (encoded, not added)", file=True,
                replay=lambda: VideoUpload("The uploaded video the record was made with")),
        Setting("captions", lambda: gr.Textbox(
            "a red video\na green video\na blue video\nyellow stripes", lines=5,
            label="Captions, one per line", info=f"Up to {c4c.MAX_CAPTIONS}.",
        ), str, "captions, one per line"),
        Setting("CSV", lambda: gr.File(file_types=[".csv"], label="CSV of (video, caption) pairs"), str,
                "path of a CSV with columns video, caption", file=True,
                replay=lambda: gr.File(file_types=[".csv"], label="The CSV the record was made with")),
        Setting("files", lambda: gr.File(
            file_count="multiple", file_types=["video", ".gif"],
            label=f"Videos to add (up to {MAX_UPLOADS} at a time, {MAX_VIDEO_MB} MB each)",
        ), list, "paths of the video files to add to the index", file=True),
        Setting("query_image", lambda: ImageUpload("Search by this image"), str,
                "path of an example image to search the index by", file=True,
                replay=lambda: ImageUpload("The image the record was made with")),
        Setting("query_video", lambda: VideoUpload("…or by a frame of this video"), str,
                "path of a video whose frame at `query_time` is the query (when no image is given)", file=True,
                replay=lambda: VideoUpload("The video the record was made with")),
        Setting("query_time", lambda: gr.Number(0.0, label="The frame at (seconds)", minimum=0), float,
                "time in seconds of the video's frame to search by"),
        Setting("image_k", lambda: gr.Slider(1, 50, value=6, step=1, label="Videos shown"), int,
                "how many videos to show for an image query"),
        Setting("collection_query", lambda: gr.Textbox("a red video", label="Describe the video", lines=2), str,
                "the text to search the collection for (an image, when given, is used instead)"),
        Setting("collection_image", lambda: ImageUpload("…or search the collection by an image"), str,
                "path of an example image to search the collection by", file=True,
                replay=lambda: ImageUpload("The image the record was made with")),
        Setting("collection_k", lambda: gr.Slider(1, 100, value=10, step=1, label="Videos shown"), int,
                "how many of the collection's videos to show"),
    ],
)
TITLE = TAB.title


def build(ctx) -> None:
    page = Page(ctx, TAB)
    page.output("status", gr.Markdown("**Index:** loading…"))
    gr.Markdown(f"<small>{privacy_text()}</small>")
    page.input("similarity")
    with gr.Tab("Text → video"):
        build_search(page)
    with gr.Tab("Image → video"):
        build_image_search(page.panel())
    with gr.Tab("Video → text"):
        build_captions(page.panel())
    with gr.Tab("Evaluate"):
        build_evaluation(page.panel())
    with gr.Tab("Index"):
        build_index(page)
    with gr.Tab("Collection"):
        build_collection(page.panel())


def build_search(page: Page) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            query, _ = page.inputs("query", "k")
            search_button = gr.Button("Search", variant="primary")
            page.examples([["a red video"], ["a blue video"], ["yellow stripes"]], ["query"], VIDEO_LABEL)
            page.examples(world_examples("clip4clip"), ["query"], WORLD_LABEL)
        with gr.Column(scale=2):
            page.output("gallery", gr.Gallery(label="Ranked videos (cosine)", columns=3, height="auto"))
            page.output("ranking", gr.Dataframe(
                headers=["rank", "video", "cosine", "100·cosine", "best frame (s)"], label="Ranking", interactive=False,
            ))
            page.output("ranking_csv", gr.File(label="Ranking (CSV)"))
            page.notes_and_record("Run record (JSON): query, settings, index hashes, weights, ranking")
    page.strip()
    page.replay_panel(
        "The query is text, so the record alone replays it, against the index as it is now; the notes say "
        "if the index holds other videos than when the record was made.", files=[], title="Reproduce a search",
    )
    outputs = ["gallery", "ranking", "notes", "status", "record", "strip"]
    uses = ["query", "k", "similarity"]
    events = page.run(search_button, search, "search", uses=uses, outputs=outputs, replay=replay_search)
    events += page.run(query, search, "search_submit", uses=uses, outputs=outputs, replay=False, event="submit")
    for event in events:  # the table as CSV, after the search (its endpoint's outputs stay as they were)
        event.then(ranking_record_csv, [page.record], [page.outputs["ranking_csv"]], api_name=False,
                   queue=False)


def build_image_search(page: Page) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            page.inputs("query_image", "query_video", "query_time", "image_k")
            gr.Markdown("<small>The image tower embeds the picture once; it stands where a text query's embedding "
                        "would, so videos rank by meanP cosine with it, and each hit's best moment is its sampled "
                        "frame most like the picture.</small>")
            image_button = gr.Button("Search by image", variant="primary")
        with gr.Column(scale=2):
            page.output("image_gallery", gr.Gallery(label="Ranked videos (cosine with the image)", columns=3, height="auto"))
            page.output("image_ranking", gr.Dataframe(
                headers=["rank", "video", "cosine", "100·cosine", "best moment (s)"], label="Ranking", interactive=False,
            ))
            page.output("image_csv", gr.File(label="Ranking (CSV)"))
            page.notes_and_record("Run record (JSON): the query picture's hash, settings, index hashes, weights, ranking")
    page.replay_panel(
        "Upload the record and the picture (or the video) the search was made with: each is checked against the "
        "record's hash. It searches the index as it is now; the notes say if that holds other videos than then.",
        files=["query_image", "query_video"], title="Reproduce a search",
    )
    page.run(image_button, search_image, "search_image",
             uses=["query_image", "query_video", "query_time", "image_k", "similarity"],
             outputs=["image_gallery", "image_ranking", "notes", "status", "record", "image_csv"],
             record_as="clip4clip_search_image", replay=replay_search_image)


def build_collection(page: Page) -> None:
    gr.Markdown("<small>The operator's collection: videos indexed beforehand with "
                "`python -m components.clip4clip.collection index SRC --out DIR` (on this machine or a Ray cluster) "
                "and opened read-only with `python app.py --collection DIR`. Every visitor searches the same "
                "collection; nothing is added to it from the page. Ranked by meanP, the vector each video was stored "
                "with (the Similarity choice above applies to your own index).</small>")
    page.output("collection_status", gr.Markdown(collection_status()))
    with gr.Row():
        with gr.Column(scale=1):
            page.inputs("collection_query", "collection_image", "collection_k")
            collection_button = gr.Button("Search the collection", variant="primary")
        with gr.Column(scale=2):
            page.output("collection_gallery", gr.Gallery(label="Best moments", columns=3, height="auto"))
            page.output("collection_ranking", gr.Dataframe(
                headers=["rank", "video", "cosine", "100·cosine", "best moment (s)", "duration (s)"],
                label="Ranking", interactive=False,
            ))
            page.output("collection_csv", gr.File(label="Ranking (CSV)"))
            page.notes_and_record("Run record (JSON): the query, settings, the collection's size and model, ranking")
    page.replay_panel(
        "A text query replays from the record alone; an image query also needs the image (checked against the "
        "record's hash). It searches the collection open now; the notes say if that differs from the recorded one.",
        files=["collection_image"], title="Reproduce a search",
    )
    page.run(collection_button, search_collection, "collection_search",
             uses=["collection_query", "collection_image", "collection_k"],
             outputs=["collection_gallery", "collection_ranking", "notes", "collection_status", "record", "collection_csv"],
             record_as="clip4clip_collection", replay=replay_collection_search)


def build_captions(page: Page) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            page.inputs("indexed_video", "video", "captions")
            rank_button = gr.Button("Rank captions", variant="primary")
        with gr.Column(scale=2):
            page.output("caption_label", gr.Label(label="Softmax of 100·cosine over the captions"))
            page.output("caption_table", gr.Dataframe(
                headers=["rank", "caption", "cosine", "100·cosine"], label="Ranking", interactive=False,
            ))
            page.notes_and_record("Run record (JSON): video (index name or file hash), captions, settings, weights, ranking")
    page.strip()
    page.replay_panel(
        "A record of a video picked from the index replays from the record alone (the notes say if the index "
        "now holds other content under that name); one of an uploaded video needs that video.", files=["video"],
    )
    page.run(rank_button, rank_captions, "captions", uses=["indexed_video", "video", "captions", "similarity"],
             outputs=["caption_label", "caption_table"], record_as="clip4clip_captions", replay=replay_captions)


def build_evaluation(page: Page) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            page.input("CSV")
            gr.Markdown(
                "<small>Columns `video,caption` (header optional), one pair per row; videos are named "
                "as in the index (bundled clips are added when named). Up to "
                f"{c4c.MAX_EVAL_PAIRS} pairs. Metrics as CLIP4Clip defines them: R@1/5/10 (%), "
                "median and mean rank, both directions; tied scores count every tied position. A video with "
                "several captions switches to the official multi-caption protocol (text → video over the "
                "unique videos, lower median; video → text by each video's best caption).</small>"
            )
            evaluate_button = gr.Button("Evaluate", variant="primary")
            page.examples([[str(EVAL_EXAMPLE)]], ["CSV"], VIDEO_LABEL)
            page.examples(world_examples("clip4clip_evaluate"), ["CSV"], WORLD_LABEL)
        with gr.Column(scale=2):
            page.output("metrics", gr.Dataframe(
                headers=["direction", "R@1", "R@5", "R@10", "MdR", "MnR"], label="Metrics", interactive=False,
            ))
            page.output("matrix", gr.Plot(label="Similarity (captions × videos; the diagonal is the ground truth)"))
            page.output("evaluation_csv", gr.File(label="Metrics and similarity matrix (CSV)", file_count="multiple"))
            page.notes_and_record("Run record (JSON): settings, CSV hash, indexed videos' hashes, weights, metrics")
    page.strip()
    page.replay_panel("The notes say if the index now holds other content under a name the CSV uses.", files=["CSV"])
    page.run(evaluate_button, evaluate, "evaluate", uses=["CSV", "similarity"],
             outputs=["metrics", "matrix", "notes", "status", "record", "strip", "evaluation_csv"],
             record_as="clip4clip_evaluate",
             replay=replay_evaluation, long_job="evaluation", concurrency_limit=1, concurrency_id="clip4clip_evaluate")


def build_index(page: Page) -> None:
    with gr.Row():
        with gr.Column():
            page.input("files")
            add = gr.Button("Add to index", variant="primary")
            add_examples = gr.Button("Add the bundled example clips")
            remove = gr.Button("Remove my videos", size="sm", visible=not c4c.shared_index())
            page.limits()
        with gr.Column():
            page.output("add_log", gr.Markdown())
            page.output("index_gallery", gr.Gallery(label="Indexed videos", columns=4, height="auto"))
    page.output("picker", page.components["indexed_video"])  # its choices follow the index
    adding = ["status", "add_log", "picker", "index_gallery"]
    page.action(add, add_videos, "add", uses=["files"], outputs=adding, long_job="video indexing",
                gpu_seconds=lambda s: 15 + 3 * len(s.files or []), concurrency_limit=1)
    page.action(add_examples, add_bundled, "add_examples", outputs=adding, long_job="video indexing",
                gpu_seconds=15 + 3 * len(BUNDLED), concurrency_limit=1)
    page.action(page.components["indexed_video"], show_status, "status", outputs=["status", "picker", "index_gallery"],
                event="focus", gpu=False)  # reads the index; runs no model
    page.action(remove, remove_mine, "remove_mine", outputs=adding, gpu=False)


# -- the index ------------------------------------------------------------------------------------
def privacy_text() -> str:
    """Who sees the videos added here, and how long they stay (said in the tab)."""
    kept = ("on this server's disk until it is cleaned or, on a Space without mounted storage, until the "
            "Space restarts")
    if c4c.shared_index():
        return (f"The operator chose one shared index: every visitor searches and sees the frames of every video "
                f"added here, kept {kept}. Don't add videos you would not share.")
    hours = round(c4c.VISITOR_TTL_S / 3600)
    return (f"Your videos are yours: only this browser can search them or see their frames (it keeps an id in "
            f"a cookie, so a reload keeps them), until you remove them or {hours} hours after you last used "
            f"them; they are kept {kept}. The example clips are shared by everyone. (An operator can share "
            f"one index among all visitors: `python app.py --shared-index` or {c4c.registry.SHARED_ENV}=1.)")


def remove_mine(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """Remove this browser's own videos from the index (the shared examples stay)."""
    backbone = ctx.backbone(s.model)
    before = len(c4c.index_for(backbone, visitor)) - len(c4c.index_for(backbone).entries)
    c4c.forget_visitor(backbone, visitor)
    index = c4c.index_for(backbone, visitor)
    return Answer({"status": index_status(index), "add_log": f"- removed your {max(0, before)} video(s)",
                   "picker": gr.Dropdown(choices=index.names()), "index_gallery": gallery_items(index)})


def ensure_examples(index: c4c.VideoIndex, progress=quiet) -> None:
    """The bundled clips are in the shared index once it has nothing (cached after the first time),
    and in every visitor's index beside their own videos, so a query always has something to rank
    and a visitor who uploaded first still finds the examples."""
    shared = c4c.index_for(index.backbone)  # examples are everyone's: kept in the shared index
    if len(shared) == 0 and BUNDLED:
        for step in shared.add(BUNDLED):
            progress((step.done, step.total), desc=f"indexing the bundled clip {step.name}")
    if index is not shared:
        index.include(shared.entries)


def warm_shared_index(ctx) -> None:
    """The warm-up's work for this tab (`Tab.warm`): the bundled clips indexed into the shared index,
    which is everyone's, and the search's first example run there (its query through the text tower),
    so a visitor's first search finds both done. No visitor's index is made or changed."""
    first = ctx.pages[TAB.key].first_example() if TAB.key in ctx.pages else {}
    s = TAB.defaults(**first)
    shared = c4c.index_for(ctx.backbone(ctx.default_choice))
    ensure_examples(shared)
    if len(shared):
        shared.search(s.query, int(s.k), s.similarity)


def index_status(index: c4c.VideoIndex) -> str:
    found = "".join(f"  \n⚠️ Found at start: {problem}." for problem in index.problems)
    return f"**Index:** {index.describe()}{found}"


def gallery_items(index: c4c.VideoIndex, limit: int = 60) -> list:
    return [(e.thumbnail, f"{e.name} · {e.duration:.1f} s") for e in index.entries[:limit]]


def show_status(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """The index's status line, its videos for the picker and its gallery."""
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    return Answer({"status": index_status(index), "picker": gr.Dropdown(choices=index.names()),
                   "index_gallery": gallery_items(index)})


def add_videos(ctx, s, progress=quiet, visitor: str = ""):
    """Add uploaded videos to the index, one line of the log per video (a bad one is skipped)."""
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    paths = [getattr(f, "name", f) for f in (s.files or [])]
    if not paths:
        raise InputError("Choose one or more video files to add.")
    if len(paths) > MAX_UPLOADS:
        raise InputError(f"You chose {len(paths)} videos; add at most {MAX_UPLOADS} at a time.")
    yield from _adding(index, paths, [Path(p).name for p in paths], progress)


def add_bundled(ctx, s, progress=quiet, visitor: str = ""):
    """Add the bundled example clips (and the world's) to the shared index, which every visitor's
    index shows."""
    backbone = ctx.backbone(s.model)
    shared, own = c4c.index_for(backbone), c4c.index_for(backbone, visitor)
    yield from _adding(shared, BUNDLED, [p.name for p in BUNDLED], progress, shown=own)


def _adding(index, paths, names, progress, shown=None):
    """Add to `index`, showing `shown` (the visitor's own index, which includes the shared one)."""
    shown = shown or index
    lines = []
    for step in index.add(paths, names):
        progress((step.done, step.total), desc=f"indexing {step.name}")
        if step.skipped:
            lines.append(f"- ⚠️ {step.name}: {step.skipped}")
        else:
            lines.append(f"- {step.entry.name}: {'from the cache' if step.cached else 'encoded'}")
        if shown is not index:
            shown.include(index.entries)
        yield Answer({"status": index_status(shown), "add_log": "\n".join(lines)})
    yield Answer({"status": index_status(shown), "add_log": "\n".join(lines),
                  "picker": gr.Dropdown(choices=shown.names()), "index_gallery": gallery_items(shown)})


# -- text → video ---------------------------------------------------------------------------------
def search(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """The videos of the index that best match the query, with each one's best frame."""
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    ensure_examples(index, progress)
    result = index.search(s.query, int(s.k), s.similarity)
    items, rows, moments = _ranked(index, result)
    frames = [tables.best_frame(row) for row in np.asarray(result.frame_scores, np.float64)]
    return Answer(
        {"gallery": items, "ranking": rows, "status": index_status(index)},
        notes=list(result.notes), steps=search_steps(result, items),
        # video, cosine, best moment (s), best frame: in full, so the CSV made from the record is exact
        scores=dict(ranking=[[name, float(score), float(moment), frame]
                             for name, score, moment, frame in zip(result.names, result.scores, moments, frames)]),
        weights=index.backbone.describe(), extra=dict(index=c4c.index_state(index)),
    )


def ranking_record_csv(record) -> str | None:
    """A text search's ranking as CSV, read from its run record (the record keeps every figure in full;
    the table on the page shows them rounded)."""
    if not record:
        return None
    try:
        saved = json.loads(Path(getattr(record, "name", record)).read_text(encoding="utf-8"))
        ranking = saved["scores"]["ranking"]
        names, scores, moments, frames = zip(*ranking) if ranking else ((),) * 4
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a search's record (the CSV stays empty; the ranking is still on the page)
    if not names:
        return None
    return tables.save(tables.table(tables.RANKING_HEADER, tables.ranking_rows(names, scores, moments, frames)),
                       "clip4clip-ranking")


def _ranked(index, result):
    """The gallery items, table rows and best moments (s) of a ranking of the index's videos."""
    items, rows, moments = [], [], []
    for rank, (name, key, score) in enumerate(zip(result.names, result.keys, result.scores), 1):
        entry = index.entry(key)
        best_time = c4c.best_frame(result.frame_scores[rank - 1], entry.times)
        moments.append(best_time)
        items.append((entry.thumbnail, f"#{rank} {name} · {score:.3f} · best at {best_time:.1f} s"))
        rows.append([rank, name, round(float(score), 4), round(float(c4c.LOGIT_SCALE * score), 2), round(best_time, 1)])
    return items, rows, moments


def query_picture(image, video, seconds) -> tuple[Image.Image, str]:
    """The picture an image query searches by: the example image, else the frame at `seconds` of the
    video; and how the notes name it (by the file's own name, never a server path)."""
    if image:
        path = getattr(image, "name", image)
        return load_image(path).image, f"the image {Path(path).name}"
    if video:
        path = getattr(video, "name", video)
        seconds = 0.0 if seconds is None else float(seconds)
        return library.frame_at(path, seconds, max_mb=MAX_VIDEO_MB), f"the frame at {seconds:.1f} s of {Path(path).name}"
    raise InputError("Upload an example image, or a video and the time of the frame to search by.")


# -- image → video --------------------------------------------------------------------------------
def search_image(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """The videos of the index that best match an example image (or a frame of another video), each
    with its best-matching moment."""
    picture, named = query_picture(s.query_image, s.query_video, s.query_time)
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    ensure_examples(index, progress)
    result = index.search_image(picture, int(s.image_k), s.similarity, label=named)
    items, rows, moments = _ranked(index, result)
    return Answer(
        {"image_gallery": items, "image_ranking": rows, "status": index_status(index),
         "image_csv": tables.save(tables.ranking_csv(result, moments), "clip4clip-image-ranking")},
        notes=[f"Searched by {named}.", *result.notes],
        scores=dict(ranking=[[name, float(score)] for name, score in zip(result.names, result.scores)]),
        weights=index.backbone.describe(), extra=dict(index=c4c.index_state(index)),
    )


# -- the operator's collection --------------------------------------------------------------------
def collection_status() -> str:
    """The collection's line for the page: what is open (size, model, index), or how to open one."""
    folder = library.configured()
    if not folder:
        return (f"**Collection:** none is open on this server (start the app with `--collection DIR` or "
                f"{library.COLLECTION_ENV}=DIR).")
    try:
        return f"**Collection:** {library.open_collection(folder).describe()}"
    except InputError as error:
        return f"**Collection:** ⚠️ {error}"


def search_collection(ctx, s, progress=quiet) -> Answer:
    """The operator's collection searched by a text or an example image: each hit with its best
    moment (the frame, decoded when the video is at hand) and its metadata."""
    folder = library.configured()
    if not folder:
        raise InputError("No collection is open on this server: the operator starts the app with --collection DIR "
                         f"(or {library.COLLECTION_ENV}=DIR), DIR made by python -m components.clip4clip.collection index.")
    collection = library.open_collection(folder)
    picture, notes = None, []
    if s.collection_image:
        picture, named = query_picture(s.collection_image, None, None)
        notes.append(f"Searched by {named}" + (" (the text was not used)." if (s.collection_query or "").strip() else "."))
    backbone = ctx.backbone(s.model)
    result = collection.search(backbone, s.collection_query, picture, int(s.collection_k))
    items, rows = [], []
    for hit in result.hits:
        moment = "" if hit.moment is None else round(hit.moment, 1)
        rows.append([hit.rank, hit.name, round(hit.score, 4), round(c4c.LOGIT_SCALE * hit.score, 2), moment,
                     "" if hit.duration is None else round(hit.duration, 1)])
        shown = collection.moment_picture(hit) if hit.rank <= MOMENT_PICTURES else None
        if shown is not None:
            items.append((np.asarray(shown), f"#{hit.rank} {hit.name} · {hit.score:.3f} · at {hit.moment:.1f} s"))
    if result.hits and result.hits[0].moment is not None and not items:
        notes.append("The collection's video files are not reachable from this server, so the moments are listed "
                     "without their frames.")
    return Answer(
        {"collection_gallery": items, "collection_ranking": rows, "collection_status": collection_status(),
         "collection_csv": tables.save(tables.collection_csv(result), "clip4clip-collection-ranking")},
        notes=[*notes, *result.notes],
        scores=dict(ranking=[[hit.name, hit.score, hit.moment] for hit in result.hits]),
        weights=backbone.describe(),
        extra=dict(collection={"videos": len(collection), "model": collection.model, "weights": collection.weights,
                               "index": collection.index_info.get("factory", "exact scan")}),
    )


def replay_search(ctx, s, record, progress=quiet, visitor: str = "") -> Answer:
    """The recorded search against the index as it is now, saying whether it holds the same videos."""
    return _said_index(ctx, s, record, visitor, search(ctx, s, progress, visitor=visitor))


def replay_search_image(ctx, s, record, progress=quiet, visitor: str = "") -> Answer:
    """The recorded image search (its picture uploaded again) against the index as it is now, saying
    whether it holds the same videos."""
    return _said_index(ctx, s, record, visitor, search_image(ctx, s, progress, visitor=visitor))


def _said_index(ctx, s, record, visitor: str, answer: Answer) -> Answer:
    """`answer` (a replay's, on the visitor's own index, as the run had) with a first note saying
    whether the index holds the videos it held when the record was made."""
    now = c4c.index_state(c4c.index_for(ctx.backbone(s.model), visitor))
    recorded = record.get("index") if isinstance(record.get("index"), dict) else {}
    difference = c4c.index_difference(recorded, now)
    first = f"⚠️ {difference}" if difference else f"Same index as the recorded run ({now['videos']} videos)."
    answer.notes = [first, *answer.notes]
    return answer


def replay_collection_search(ctx, s, record, progress=quiet) -> Answer:
    """The recorded collection search against the collection open now, saying whether it is the one
    the record was made with (its size, model, weights and index)."""
    answer = search_collection(ctx, s, progress)
    recorded = record.get("collection") if isinstance(record.get("collection"), dict) else {}
    now = answer.extra["collection"]
    changed = [f"{key} {recorded.get(key)!r} then, {now[key]!r} now" for key in now if recorded.get(key) != now[key]]
    first = (f"⚠️ The collection open now differs from the recorded one: {'; '.join(changed)}." if changed
             else f"Same collection as the recorded run ({now['videos']} videos, {now['model']}).")
    answer.notes = [first, *answer.notes]
    return answer


def search_steps(result, items):
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
        (bars_picture(list(result.names), result.scores, f"{result.similarity} cosine"),
         f"{c4c.SIMILARITIES[result.similarity]} → one score per video → ranking"),
    )


# -- video → text ---------------------------------------------------------------------------------
def _video_to_rank(index, s):
    """The uploaded video, else the indexed video named (a name in the index, never a server path)."""
    if s.video:
        return s.video
    ensure_examples(index)
    if not s.indexed_video and not index.names():
        raise InputError("Pick a video from the index or upload one.")
    if not isinstance(s.indexed_video, (str, type(None))):
        raise InputError("The video to rank captions for is named by its name in the index.")
    return index.entry(s.indexed_video or index.names()[0])


def rank_captions(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """The captions ranked for one video, with the softmax CLIP4Clip's logit scale gives them."""
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    result = index.captions(_video_to_rank(index, s), s.captions, s.similarity, thumbnails=True)
    label = {c: float(p) for c, p in zip(result.captions, c4c.caption_probabilities(result.logits))}
    ranking = result.ranking()
    rows = [[rank, c, round(v, 4), round(float(c4c.LOGIT_SCALE * v), 2)] for rank, (c, v) in enumerate(ranking, 1)]
    notes = [f"Video: {result.video}", *result.notes]
    if not result.thumbnails:
        notes.append("The video's file is no longer at hand, so its frames are not shown (the index keeps their embeddings).")
    uploaded = bool(s.video)
    return Answer(
        {"caption_label": label, "caption_table": rows}, notes=notes, steps=captions_steps(index, result),
        scores=dict(ranking=[[c, v] for c, v in ranking]), weights=index.backbone.describe(),
        extra={} if uploaded else dict(indexed_video={"name": result.video, "sha256": result.key}),
        settings=dict(indexed_video=None if uploaded else result.video),
    )


def replay_captions(ctx, s, record, progress=quiet, visitor: str = "") -> Answer:
    """The recorded ranking again, saying whether the index's video of that name is the same content."""
    answer = rank_captions(ctx, s, progress, visitor=visitor)
    if isinstance(record.get("inputs"), dict) and "video" in record["inputs"]:
        return answer  # an uploaded video: the scaffold checked it against the record's hash
    name = s.indexed_video
    recorded = record["indexed_video"].get("sha256") if isinstance(record.get("indexed_video"), dict) else None
    now = c4c.index_for(ctx.backbone(s.model), visitor).entry(name).key if name else None
    if recorded and now and now != recorded:
        answer.notes = [f"⚠️ The index's “{name}” is not the video this record was made with (other content), "
                        "so the ranking may differ.", *answer.notes]
    elif recorded and now:
        answer.notes = [f"Same video as the recorded run (“{name}”, by content hash).", *answer.notes]
    return answer


def captions_steps(index, result):
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


# -- evaluation -----------------------------------------------------------------------------------
def evaluate(ctx, s, progress=quiet, visitor: str = "") -> Answer:
    """CLIP4Clip's retrieval metrics over the CSV's (video, caption) pairs of indexed videos."""
    if not s.CSV:
        raise InputError("Upload a CSV of (video, caption) pairs, or pick the example.")
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    pairs = c4c.parse_pairs(Path(getattr(s.CSV, "name", s.CSV)))
    bundled = {p.name: p for p in BUNDLED}
    wanted = [bundled[v] for v in dict.fromkeys(v for v, _ in pairs) if v in bundled and v not in index.names()]
    if wanted:
        progress(0, desc="adding the bundled clips the CSV names")
        for _ in index.add(wanted, [p.name for p in wanted]):
            pass
    result = index.evaluate(pairs, s.similarity)
    metrics_rows = {"text → video": result.text_to_video.as_row(), "video → text": result.video_to_text.as_row()}
    figure = render.video_heatmap(
        result.similarity,
        [f"{i + 1}. {c[:40]}" for i, c in enumerate(result.captions)],
        [f"{i + 1}. {v[:30]}" for i, v in enumerate(result.videos)],
        colorbar="cosine", xaxis="video", yaxis="caption",
    )
    figures = [tables.save(tables.metrics_csv(result), "clip4clip-metrics"),
               tables.save(tables.matrix_csv(result), "clip4clip-similarity")]
    return Answer(
        {"metrics": [[direction, *(round(v, 2) for v in row.values())] for direction, row in metrics_rows.items()],
         "matrix": figure, "status": index_status(index), "evaluation_csv": figures},
        notes=[f"{len(pairs)} pairs · similarity: {c4c.SIMILARITIES[s.similarity]}", *result.notes],
        steps=evaluation_steps(result), scores=dict(metrics=metrics_rows), weights=index.backbone.describe(),
        extra=dict(videos={name: index.entry(name).key for name in dict.fromkeys(result.videos)}),
    )


def replay_evaluation(ctx, s, record, progress=quiet, visitor: str = "") -> Answer:
    """The recorded evaluation again, saying whether the index holds other content under the CSV's names."""
    answer = evaluate(ctx, s, progress, visitor=visitor)
    recorded = record.get("videos") if isinstance(record.get("videos"), dict) else {}
    index = c4c.index_for(ctx.backbone(s.model), visitor)
    changed = [name for name, key in recorded.items() if name in index.names() and index.entry(name).key != key]
    if changed:
        shown = ", ".join(changed[:5]) + ("…" if len(changed) > 5 else "")
        answer.notes = [f"⚠️ The index holds other content under {len(changed)} of the CSV's names ({shown}) than "
                        "when the record was made, so the metrics may differ.", *answer.notes]
    elif recorded:
        answer.notes = [f"Same videos as the recorded run ({len(recorded)}, by content hash).", *answer.notes]
    return answer


def evaluation_steps(result):
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
