"""ViLT tab: the official engine on a tiny random ViLT, the CLIP engine with the oracle, the timing
panel, the question → prompt rules, IPOT, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components import vilt
from components.errors import InputError
from components.vilt import ClipVQA, ViltVQA, ipot, plan_question, time_visual_embeddings, vilt_size
from components.vqa_answers import ALL_ANSWERS, ANSWER_GROUPS, COLOURS, NUMBERS
from testkit import halves, solid

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "colour", "is", "the", "ball", "?", "how",
    "many", "cat", "##s", "are", "there", "red", "a", "on", "left",
]
LABELS = ["yes", "no", "red", "blue", "2", "cat", "ball"]


def build_tiny_vilt(folder):
    """A random ViltForQuestionAnswering (32 wide, 2 layers, 7 answers) with a BERT tokenizer built
    from a 21-word vocabulary file in `folder`: the real transformers classes, nothing downloaded."""
    from transformers import BertTokenizer, ViltConfig, ViltForQuestionAnswering, ViltImageProcessor, ViltProcessor

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizer(vocab=str(vocab))
    processor = ViltProcessor(image_processor=ViltImageProcessor(), tokenizer=tokenizer)
    config = ViltConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = ViltForQuestionAnswering(config).eval()
    return model, processor


@pytest.fixture(scope="module")
def tiny_vilt(tmp_path_factory):
    return build_tiny_vilt(tmp_path_factory.mktemp("vilt"))


# -- official engine, tiny random ViLT ------------------------------------------------------------
@pytest.mark.parametrize("alignment", ["attention", "ipot"])
def test_tiny_vilt_answers_from_the_label_map_with_a_map_per_word(tiny_vilt, alignment):
    model, processor = tiny_vilt
    image = halves((200, 30, 30), (30, 30, 200), size=(451, 300))
    result = ViltVQA(model, processor, alignment=alignment)(image, "What colour is the balls?")
    assert result.engine == "vilt"
    assert len(result.answers) == 5 and len(set(result.answers)) == 5
    assert set(result.answers) <= set(LABELS)
    assert np.all(np.diff(result.scores) <= 0) and np.all((result.scores > 0) & (result.scores < 1))
    # sigmoid of the head's logits, independent per answer
    assert result.candidate_scores.shape == (len(LABELS),)
    # one map per word ("balls" = ball + ##s is one word; "?" is not a word); ViLT's patch grid
    assert result.heat_keys == ("What", "colour", "is", "the", "balls")
    w, h = vilt_size(451, 300)
    assert result.heat_maps.shape == (5, h // 32, w // 32)
    np.testing.assert_allclose(result.heat_maps.reshape(5, -1).sum(1), 1.0, atol=1e-5)
    assert result.heatmap("balls").shape == (300, 451)
    assert result.heatmap().shape == (300, 451)


def test_tiny_vilt_is_deterministic_and_top_k_is_honoured(tiny_vilt):
    model, processor = tiny_vilt
    image = solid((10, 200, 10), size=(200, 120))
    first = ViltVQA(model, processor, top_k=3)(image, "how many cats are there?")
    again = ViltVQA(model, processor, top_k=3)(image, "how many cats are there?")
    assert len(first.answers) == 3
    assert first.answers == again.answers
    np.testing.assert_array_equal(first.heat_maps, again.heat_maps)
    # same answers as the plain transformers call (the patch order does not change the answer)
    encoding = processor(images=image, text="how many cats are there?", return_tensors="pt")
    with torch.inference_mode():
        plain = torch.sigmoid(model(**encoding).logits[0])
    np.testing.assert_allclose(first.candidate_scores, plain.numpy(), rtol=1e-4, atol=1e-6)


def test_attention_map_is_the_word_attention_to_patches(tiny_vilt):
    """Hand check: the "last"-layer map of a one-piece word equals its head-averaged attention row
    over the patch tokens, renormalised, put back at each patch's grid position."""
    model, processor = tiny_vilt
    image = solid((120, 120, 120), size=(64, 96))
    engine = ViltVQA(model, processor, attention_layers="last")
    result = engine(image, "red ball")
    text = processor.tokenizer("red ball", return_tensors="pt")
    pixels = processor.image_processor(images=image, return_tensors="pt")
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        embeds, mask, (index, (gh, gw)) = model.vilt.embeddings.visual_embed(
            pixels["pixel_values"], pixels["pixel_mask"], max_image_length=-1
        )
        out = model(**text, image_embeds=embeds, pixel_mask=mask, output_attentions=True)
    row = out.attentions[-1][0].mean(0)[2, 5:]  # token 2 = "ball" of [CLS] red ball [SEP]; 4 = image [CLS]
    expected = np.zeros((gh, gw), np.float32)
    expected[index[0, :, 0], index[0, :, 1]] = (row / row.sum()).numpy()
    np.testing.assert_allclose(result.heat_maps[result.heat_keys.index("ball")], expected, rtol=1e-5, atol=1e-7)


def test_vilt_question_limits(tiny_vilt):
    model, processor = tiny_vilt
    engine = ViltVQA(model, processor)
    image = solid((1, 2, 3))
    with pytest.raises(InputError, match="at most 38 word pieces"):
        engine(image, " ".join(["red"] * 45))
    with pytest.raises(InputError, match="no words"):
        engine(image, "? ?")
    with pytest.raises(InputError, match="Unknown alignment"):
        ViltVQA(model, processor, alignment="gradcam")


def test_missing_weights_say_so_without_downloading(tmp_path):
    from components.errors import WeightsError

    with pytest.raises(WeightsError, match="not in the Hugging Face cache"):
        vilt.load_vilt(vilt.VQA_CHECKPOINT, "cpu", cache_dir=str(tmp_path))


# -- fidelity: METHODS.md §10 ----------------------------------------------------------------------
def test_one_bounded_cache_for_the_official_engine_and_the_timing_modules():
    from components.vilt import paper

    built = []

    def build(key):
        built.append(key)
        return object()

    first = paper.loaded(build, "a")
    assert paper.loaded(build, "a") is first and built == ["a"]
    for key in range(paper.MAX_LOADED):  # more than fit: the least recently used goes first
        paper.loaded(build, key)
    assert paper._cached.cache_info().currsize == paper.MAX_LOADED
    assert paper.loaded(build, "a") is not first and built.count("a") == 2

    def refuse(key):
        built.append(key)
        raise OSError("no weights")

    for _ in range(2):  # a failed build is not kept: the next call tries again
        with pytest.raises(OSError):
            paper.loaded(refuse, "missing")
    assert built.count("missing") == 2
    assert vilt.patch_projection("cpu") is vilt.patch_projection("cpu")  # the timing modules go through it too


def test_paper_constants():
    assert vilt.VQA_CHECKPOINT == "dandelin/vilt-b32-finetuned-vqa"
    assert (vilt.HIDDEN_SIZE, vilt.NUM_LAYERS, vilt.PATCH_SIZE) == (768, 12, 32)
    assert (vilt.SHORTER_EDGE, vilt.LONGER_EDGE, vilt.MAX_TEXT_TOKENS) == (384, 639, 40)
    assert vilt.VQA_ANSWERS == 3129 and vilt.VQAV2_TEST_DEV == 71.26
    assert vilt.QUOTED_MS == {"region": 810.0, "grid": 45.0, "patch": 0.4}
    assert vilt.TOP_K == 5


@pytest.mark.parametrize("size", [(512, 512), (451, 300), (300, 451), (1000, 200), (33, 40)])
def test_vilt_size_matches_the_official_processor(size):
    from transformers import ViltImageProcessor

    image = solid((9, 9, 9), size=size)
    pixels = ViltImageProcessor()(images=image, return_tensors="pt")["pixel_values"]
    assert vilt_size(*size) == (pixels.shape[3], pixels.shape[2])


def test_vilt_size_by_hand():
    assert vilt_size(512, 512) == (384, 384)
    assert vilt_size(451, 300) == (576, 384)  # 577.3 → 577 → 576
    assert vilt_size(2000, 500) == (608, 160)  # long side capped at 639 → 608; short 159.75 → 160


def test_ipot_marginals_and_a_permutation():
    cost = torch.ones(3, 3) - torch.eye(3)[[2, 0, 1]]  # zero cost on the permutation 0→2, 1→0, 2→1
    plan = ipot(cost, beta=0.1, iterations=200)
    np.testing.assert_allclose(plan.sum(1).numpy(), [1 / 3] * 3, atol=1e-6)
    np.testing.assert_allclose(plan.sum(0).numpy(), [1 / 3] * 3, atol=1e-6)
    assert plan.argmax(1).tolist() == [2, 0, 1]
    assert plan[0, 2] > 0.33
    rect = ipot(torch.rand(2, 5, generator=torch.Generator().manual_seed(0)), iterations=300)
    np.testing.assert_allclose(rect.sum(0).numpy(), [0.2] * 5, atol=1e-9)  # σ is updated last: exact
    np.testing.assert_allclose(rect.sum(1).numpy(), [0.5, 0.5], atol=1e-4)  # rows: converging


# -- CLIP engine, oracle ---------------------------------------------------------------------------
def test_clip_engine_red_ball(oracle):
    result = ClipVQA(oracle)(solid((230, 20, 20)), "What colour is the ball?")
    assert result.top_answer == "red"
    assert result.question_type == "colour of" and result.answer_group == "colours"
    assert result.candidates == COLOURS
    assert result.prompts[result.candidates.index("red")] == "the ball is red."
    assert len(result.answers) == 5
    # softmax of logit_scale × cosine over every candidate; the top-5 are its largest entries
    probs = np.exp(100 * result.candidate_scores) / np.exp(100 * result.candidate_scores).sum()
    np.testing.assert_allclose(result.scores, np.sort(probs)[::-1][:5], rtol=1e-4)


@pytest.mark.parametrize("style", ["statement", "qa"])
def test_clip_engine_with_own_candidates_and_heatmap(oracle, style):
    image = halves((20, 20, 230), (230, 20, 20), size=(128, 64))  # blue left, red right
    result = ClipVQA(oracle, prompt_style=style)(image, "Which colour is on the left?", ["red", "blue", "green"])
    assert result.answers[0] in ("red", "blue")  # the image's mean is purple: both colours beat green
    assert result.answers[-1] == "green"
    assert result.answer_group == "your candidates" and len(result.answers) == 3
    heat = result.heatmap("red")
    assert heat.shape == (64, 128)
    assert heat[:, 72:].mean() > 0.5 > 0 > heat[:, :56].mean()  # "red" lights up the red half


def test_clip_engine_pays_once_per_image(oracle):
    engine = ClipVQA(oracle)
    image = solid((230, 20, 20))
    features = engine.embed(image)
    before = oracle.image_forwards
    first = engine(None, "What colour is the ball?", features=features)
    second = engine(None, "what color are the shoes", features=features)
    assert oracle.image_forwards == before
    assert first.top_answer == second.top_answer == "red"
    assert second.prompts[second.candidates.index("red")] == "the shoes are red."


def test_tiny_clip_plumbing(tiny_vit):
    result = ClipVQA(tiny_vit)(halves((200, 30, 30), (30, 30, 200), size=(100, 60)), "How many cats are there?")
    assert result.candidates == NUMBERS and len(result.answers) == 5
    assert result.heat_maps.shape[0] == 5 and result.heatmap().shape == (60, 100)
    assert np.isfinite(result.heat_maps).all()


# -- question → prompt rules -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, answer, rule, group, prompt",
    [
        ("What colour is the ball?", "red", "colour of", "colours", "the ball is red."),
        ("What color are the shoes", "black", "colour of", "colours", "the shoes are black."),
        ("What colour car is this?", "blue", "colour of a kind", "colours", "a blue car."),
        ("How many cats are there?", "2", "count", "numbers", "a photo of 2 cats."),
        ("How many people", "3", "count", "numbers", "a photo of 3 people."),
        ("Is there a cat?", "yes", "is there", "yes/no", "a photo with a cat."),
        ("Is there a cat?", "no", "is there", "yes/no", "a photo with no cat."),
        ("Is the man smiling?", "yes", "yes/no", "yes/no", "question: Is the man smiling? answer: yes."),
        ("What is the cat doing?", "sleeping", "doing", "activities", "the cat is sleeping."),
        ("What is the astronaut holding?", "helmet", "action on", "objects", "the astronaut is holding a helmet."),
        ("What animal is this?", "owl", "what kind", "animals", "a photo of an owl."),
        ("What kind of food is shown?", "pizza", "kind of", "food", "a photo of a pizza, a type of food."),
        ("What shape is this?", "star", "what kind", "shapes", "a photo of a star."),
        ("What kind of shape is pictured?", "oval", "kind of", "shapes", "a photo of an oval, a type of shape."),
        ("What's the weather like?", "sunny", "weather", "weather", "the weather is sunny."),
        ("Where is the cat?", "kitchen", "where", "places", "a photo of the cat in the kitchen."),
        ("What is the cup made of?", "glass", "made of", "materials", "the cup is made of glass."),
        ("Who took this?", "man", "none", None, "question: Who took this? answer: man."),
    ],
)
def test_question_rules(question, answer, rule, group, prompt):
    plan = plan_question(question)
    assert (plan.rule, plan.group) == (rule, group)
    assert plan.prompt(answer) == prompt
    assert plan_question(question, "qa").prompt(answer) == f"question: {question} answer: {answer}."


def test_what_shape_is_this_offers_the_shapes(oracle):
    """ "What shape is this?" once matched no rule (no "shape" kind word): it was asked with the literal
    QA prompt over every answer. Now it is a kind question over the shapes group."""
    result = ClipVQA(oracle)(solid((230, 20, 20)), "What shape is this?")
    assert result.question_type == "what kind" and result.answer_group == "shapes"
    assert result.candidates == ANSWER_GROUPS["shapes"] and {"circle", "square", "triangle", "star"} <= set(result.candidates)
    assert result.prompts[result.candidates.index("star")] == "a photo of a star."


def test_shipped_answers():
    assert ANSWER_GROUPS["yes/no"] == ("yes", "no")
    assert {"red", "blue", "green", "white", "black"} <= set(COLOURS)
    assert NUMBERS[:3] == ("0", "1", "2")
    assert len(ALL_ANSWERS) == len(set(ALL_ANSWERS)) > 200


# -- timing panel ----------------------------------------------------------------------------------
def test_timing_three_positive_measurements(tiny_vit):
    timing = time_visual_embeddings(solid((90, 90, 90), size=(96, 64)), tiny_vit, runs=1, warmup=0)
    assert timing.kinds == ("patch", "grid", "clip")
    assert timing.measured_ms.shape == (3,) and np.all(timing.measured_ms > 0)
    h, w = 384, 576  # ViLT's resize of 96×64
    assert timing.input_sizes[0] == (h, w) == timing.input_sizes[1]
    assert timing.output_shapes[0] == ((h // 32) * (w // 32), 768)
    assert timing.output_shapes[1] == (2048, h // 32, w // 32)
    assert timing.quoted_ms == {"region": 810.0, "grid": 45.0, "patch": 0.4}
    assert timing.ratio("grid") > 0


# -- bad inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, message",
    [("", "Type a question"), ("   \n ", "Type a question"), (None, "Type a question"), ("x" * 2000, "2000 characters")],
)
def test_bad_questions(oracle, question, message):
    with pytest.raises(InputError, match=message):
        ClipVQA(oracle)(solid((1, 2, 3)), question)


def test_no_candidates(oracle):
    with pytest.raises(InputError, match="at least one candidate"):
        ClipVQA(oracle)(solid((1, 2, 3)), "What colour is it?", [" ", ""])
    with pytest.raises(InputError, match="prompt style"):
        ClipVQA(oracle, prompt_style="poem")
