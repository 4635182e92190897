"""CLIP4Clip: text–video retrieval with CLIP (Luo et al. 2022), zero-shot with meanP, over a video index.

The paper's parameter-free path, as its official code runs it:
1. Frames: one per second; more than `max_frames` = 12 → 12 picked uniformly; shorter videos are
   padded, with a mask.
2. Text capped at 32 tokens (start and end markers included).
3. meanP: L2-normalise each frame feature, zero the padding, divide the sum by the number of valid
   frames (0 counted as 1), normalise again; score = logit_scale · text·video with logit scale
   exp(ln 100) = 100.
4. Metrics: per query, rank = 0-based position of the ground truth after sorting scores descending;
   R@K = % of ranks < K; median rank = median + 1; mean rank = mean + 1; video→text uses the
   transposed matrix. Tied scores: every sorted position whose score equals the ground truth's is
   recorded, so a tie adds several ranks (and the percentages are over all recorded ranks).
   A set where a video has several captions is scored as the official code scores its multi-sentence
   datasets (`multi_caption_metrics`): text → video ranks each caption over the unique videos
   (`tensor_text_to_video_metrics`: double argsort, torch's lower median + 1, mean + 1, rank std);
   video → text takes, for each video, the best of each other video's captions
   (`tensor_video_to_text_sim`), then the metrics above.

Labelled extensions (parameter-free, not in the paper): `max` — the best single frame's cosine;
`softmax` — text-conditioned softmax pooling: frames weighted by softmax(100 · cos(text, frame)), the
weighted mean renormalised, then cosine with the text.

The package, by subject:
- `similarity`: the paper's constants and similarity calculators (meanP and the two extensions), the
  softmax over captions and each video's best frame.
- `metrics`: CLIP4Clip's retrieval metrics (one caption per video, and the multi-caption protocol).
- `texts`: captions and (video, caption) pairs as a person gives them.
- `results`: what the index answers with.
- `index`: `VideoIndex`, the on-disk index (frame embeddings cached by content hash, faiss search).
- `registry`: one index per backbone in the process, and which videos it held (a run's provenance).
"""

from components.clip4clip.index import (
    CACHE_ENV,
    EXACT_UP_TO,
    IVF_PROBES,
    SHORTLIST,
    THUMBNAIL_SIDE,
    VISITORS,
    VideoIndex,
    default_cache_dir,
)
from components.clip4clip.metrics import Metrics, multi_caption_metrics, retrieval_metrics
from components.clip4clip.registry import (
    RECORD_INDEX_KEYS,
    VISITOR_TTL_S,
    expire_visitors,
    forget_indexes,
    forget_visitor,
    shared_index,
    index_difference,
    index_for,
    index_state,
    indexes,
)
from components.clip4clip.results import Evaluation, IndexedVideo, IndexProgress, TextToVideo, VideoToText
from components.clip4clip.similarity import (
    FRAME_RATE,
    LOGIT_SCALE,
    MAX_FRAMES,
    MAX_WORDS,
    POOL_TEMPERATURE,
    SIMILARITIES,
    best_frame,
    caption_probabilities,
    mean_pool,
    similarity_matrix,
)
from components.clip4clip.texts import MAX_CAPTIONS, MAX_EVAL_PAIRS, cap_text, parse_captions, parse_pairs
