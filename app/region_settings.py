"""What the region-based tabs (ViLD, GLIP) share: their proposal settings and how regions are
embedded, declared once, the start of a run, and the line of notes that says what those settings
proposed. Each tab puts `proposal_settings()` and `region_embedding_setting()` in its own table;
`region_pipeline` builds its pipeline with them."""

from __future__ import annotations


import gradio as gr

from app.scaffold import Setting, device_of
from components import regions
from components.backbone import resolve_device
from components.exports import coco
from components.exports import folders
from components.media import load_image

COCO_LABEL = "Boxes as COCO JSON: the annotation file, and the results list pycocotools' COCO.loadRes reads"

PROMPT_SETS = [("ViLD's 63 prompts (first use of a word: 63 text forwards)", "63"),
               ("one prompt: “This is a photo of a {}.”", "1")]


def proposal_settings() -> list[Setting]:
    """sources, max_proposals, prompts: where proposals come from, how many are embedded, and the
    prompt set of the text embeddings."""
    return [
        Setting("sources", lambda: gr.CheckboxGroup(
            [(regions.SOURCE_LABELS[s], s) for s in regions.SOURCES], value=list(regions.SOURCES),
            label="Proposal sources"),
            list[str], f"proposal sources, any of {', '.join(regions.SOURCES)}"),
        Setting("max_proposals", lambda: gr.Slider(
            1, regions.MAX_PROPOSALS_LIMIT, regions.MAX_PROPOSALS, step=1,
            label="Regions to embed (with crops, each costs two CLIP forwards: 1× and 1.5×)"),
            int, f"regions embedded (with crops two CLIP forwards each; default {regions.MAX_PROPOSALS})"),
        Setting("prompts", lambda: gr.Radio(PROMPT_SETS, value="63", label="Prompts"),
                str, '"63" (ViLD\'s 63 prompts per word) or "1" (one prompt, “This is a photo of a {}.”)'),
    ]


def region_embedding_setting() -> Setting:
    """How each region is embedded: ViLD's 1× + 1.5× crops, or pooled from one dense pass (the
    default on a CPU, where the crops' forwards are most of a run's time; crops on a GPU)."""
    return Setting("region_embedding", lambda ctx=None: gr.Radio(
        [(regions.REGION_EMBEDDING_LABELS[k], k) for k in regions.REGION_EMBEDDINGS],
        value=regions.default_region_embedding(resolve_device(device_of(ctx))), label="Region embeddings",
        info="Pooled: one CLIP pass over the image (the dense map the dense proposals use), each box the mean "
             "of the patch embeddings inside it; fast, but not ViLD's method. Crops: ViLD's image teacher."),
        str, '"crops" (ViLD\'s 1× + 1.5× crops, two CLIP forwards a region) or "pooled" (each region pooled '
             'from one dense CLIP pass; default on a CPU)')


def upgrade_record(saved: dict) -> dict:
    """A record written before "Region embeddings" existed embedded its regions as crops."""
    settings = saved.get("settings")
    if isinstance(settings, dict) and "region_embedding" not in settings:
        return {**saved, "settings": {**settings, "region_embedding": "crops"}}
    return saved


def pipeline_settings(s) -> dict:
    """The proposal settings of a run as the pipelines (`vild.ViLD`, `glip.GLIP`) take them."""
    # a run without a prompt set (ViLD's image-guided one: no text) takes the default
    return dict(sources=tuple(s.sources or ()), max_proposals=int(s.max_proposals),
                prompt_engineering=getattr(s, "prompts", "63") != "1",
                region_embedding=s.region_embedding or "crops")


def region_pipeline(ctx, s, progress, pipeline, **settings):
    """The run's backbone, its image (`components.media.load_image`) and `pipeline` (`vild.ViLD`
    or `glip.GLIP`) built on that backbone with `settings` and the run's proposal settings."""
    backbone = ctx.backbone(s.model)
    loaded = load_image(s.image)
    progress(0.1, desc="Proposing regions and embedding them")
    return backbone, loaded, pipeline(backbone, **settings, **pipeline_settings(s))


def proposals_line(result) -> str:
    """What the proposal step found (by source, before de-duplication and the cap) and how long
    proposing and scoring took, for a ViLD or GLIP result."""
    found = ", ".join(f"{regions.SOURCE_LABELS[k]}: {v}" for k, v in result.found.items())
    how = ("pooled from the dense CLIP map (one forward; a CLIP-backed shortcut, not ViLD's crops)"
           if result.region_embedding == "pooled" else "embedded as 1× + 1.5× crops (ViLD's image teacher)")
    return (f"Proposals found before de-duplication and the cap — {found or 'none'}. Regions {how}. "
            f"Proposing took {result.proposal_seconds:.2f} s, embedding and scoring {result.scoring_seconds:.2f} s.")


def coco_output() -> gr.File:
    """The download beside a region tab's answer: its boxes as COCO JSON (`coco_files`)."""
    return gr.File(label=COCO_LABEL, file_count="multiple", interactive=False)


def coco_files(tab: str, image, name: str, boxes, labels, scores, categories, description: str) -> list[str]:
    """The shown boxes of a run as two COCO files in a fresh temporary folder — `<tab>-boxes.coco.json`
    (images, categories, annotations with bbox [x, y, w, h] in pixels of `image` and a score) and
    `<tab>-boxes.results.json` (the results list) — named by the image's base name only."""
    folder = folders.answer_folder(f"{tab}-coco")
    document = coco.dataset(boxes, labels, scores, categories=list(categories), image_size=image.size,
                            file_name=name or "image.png", description=description)
    return [coco.write(document, folder / f"{tab}-boxes.coco.json"),
            coco.write(coco.results(document), folder / f"{tab}-boxes.results.json")]
