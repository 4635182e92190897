"""ViLT tab's CLIP engine, part one: a question becomes one statement per candidate answer.

CLIP learned from captions, which state what is seen; so "What colour is the ball?" + "red" is
written as "the ball is red." A small ordered table of question forms (`QUESTION_RULES`) does the
rewriting; questions it does not know fall back to the literal "question: … answer: …" prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from components.errors import InputError
from components.vqa_answers import KIND_WORDS

MAX_QUESTION_CHARS = 200
PROMPT_STYLES = ("statement", "qa")
QA_TEMPLATE = "question: {q} answer: {a}."


def check_question(question) -> str:
    """The question, whitespace collapsed; InputError when empty or too long."""
    if question is None or not isinstance(question, str):
        raise InputError("Type a question about the image, e.g. “What colour is the cat?”.")
    text = " ".join("".join(ch for ch in question if ch.isprintable() or ch.isspace()).split())
    if not text:
        raise InputError("Type a question about the image, e.g. “What colour is the cat?”.")
    if not any(ch.isalnum() for ch in text):  # only punctuation and symbols
        raise InputError("The question has no words; type a question about the image, e.g. “What colour is the cat?”.")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}. "
            "Ask one short question (ViLT reads at most 40 word pieces)."
        )
    return text


@dataclass(frozen=True)
class QuestionRule:
    """A question form: `pattern` (full match on the normalised question) → prompt templates per
    answer ("*" for any answer) and the group of answers that fit it (`vqa_answers.ANSWER_GROUPS`;
    "kind" = the group named by the question's `kind` word, e.g. "what animal is this")."""

    name: str
    pattern: str
    templates: dict
    group: str | None

    def match(self, normalised: str):
        return re.fullmatch(self.pattern, normalised)


_DEMONSTRATIVE = r"(?:this|that|these|those|it|shown|pictured|in the (?:picture|photo|image))"

# Ordered: the first rule that matches decides. Template fields: {a} the answer, {aa} the answer with
# "a"/"an", {q} the question; named groups of the pattern ({x}, {v}, {verb}, {kind}); {xb} is {x}
# without a leading article.
QUESTION_RULES: tuple[QuestionRule, ...] = (
    QuestionRule("colour of", r"what colou?rs? (?P<v>is|are|was|were) (?P<x>.+)", {"*": "{x} {v} {a}."}, "colours"),
    QuestionRule("colour of a kind", rf"what colou?r (?P<x>.+?) (?:is|are) {_DEMONSTRATIVE}", {"*": "a {a} {x}."}, "colours"),
    QuestionRule(
        "count",
        r"how many (?P<x>.+?)(?: (?:are|is|were|was|can|could|do|does|did|have|has)\b.*)?",
        {"*": "a photo of {a} {x}."},
        "numbers",
    ),
    QuestionRule(
        "is there",
        r"(?P<v>is|are) there (?:any |some )?(?P<x>.+)",
        {"yes": "a photo with {x}.", "no": "a photo with no {xb}."},
        "yes/no",
    ),
    QuestionRule(
        "yes/no",
        r"(?:is|are|was|were|does|do|did|can|could|has|have|will|would|should|may|might) .+",
        {},
        "yes/no",
    ),
    QuestionRule("doing", r"what (?P<v>is|are) (?P<x>.+?) doing(?: .*)?", {"*": "{x} {v} {a}."}, "activities"),
    QuestionRule("made of", r"what (?P<v>is|are) (?P<x>.+?) made (?:of|from)", {"*": "{x} {v} made of {a}."}, "materials"),
    QuestionRule("weather", r"(?:what is|how is) the weather(?: .*)?", {"*": "the weather is {a}."}, "weather"),
    QuestionRule("time of day", r"what time of (?:the )?day .+", {"*": "a photo taken in the {a}."}, "times"),
    QuestionRule("sport", r"what sport .+", {"*": "a photo of people playing {a}."}, "sports"),
    QuestionRule("where", r"where (?P<v>is|are|was|were) (?P<x>.+)", {"*": "a photo of {x} in the {a}."}, "places"),
    QuestionRule(
        "kind of",
        rf"what (?:kind|type|sort) of (?P<kind>\w+) (?:is|are) {_DEMONSTRATIVE}",
        {"*": "a photo of {aa}, a type of {kind}."},
        "kind",
    ),
    QuestionRule("what kind", rf"what (?P<kind>\w+) (?:is|are) {_DEMONSTRATIVE}", {"*": "a photo of {aa}."}, "kind"),
    QuestionRule("what is this", rf"what (?:is|are) {_DEMONSTRATIVE}", {"*": "a photo of {aa}."}, "objects"),
    QuestionRule(
        "action on",
        r"what (?P<v>is|are) (?P<x>.+?) (?P<verb>\w+ing)(?: .*)?",
        {"*": "{x} {v} {verb} {aa}."},
        "objects",
    ),
)


def normalise_question(question: str) -> str:
    text = question.lower().strip()
    text = re.sub(r"\bwhat'?s\b", "what is", text)
    text = re.sub(r"[?!.\s]+$", "", text)
    return " ".join(text.split())


def with_article(word: str) -> str:
    if word[:1].isdigit() or word in ("yes", "no"):
        return word
    return ("an " if word[:1] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class QuestionPlan:
    """How a question becomes one prompt per candidate answer."""

    question: str
    rule: str  # the matched QuestionRule's name, or "none"
    group: str | None  # answer group offered when no candidates are given; None = every answer
    style: str
    templates: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)

    def prompt(self, answer: str) -> str:
        if self.style == "statement":
            template = self.templates.get(answer, self.templates.get("*"))
            if template is not None:
                return template.format(a=answer, aa=with_article(answer), q=self.question, **self.fields)
        return QA_TEMPLATE.format(q=self.question, a=answer)


def plan_question(question: str, style: str = "statement") -> QuestionPlan:
    """Match the question against QUESTION_RULES; unmatched questions use the QA template."""
    if style not in PROMPT_STYLES:
        raise InputError(f"Unknown prompt style {style!r}; choose one of: {', '.join(PROMPT_STYLES)}")
    normalised = normalise_question(question)
    for rule in QUESTION_RULES:
        found = rule.match(normalised)
        if not found:
            continue
        fields = {k: v for k, v in found.groupdict().items() if v is not None}
        group = rule.group
        if group == "kind":
            group = KIND_WORDS.get(fields.get("kind", ""))
            if group is None:
                continue  # "what brand is this": not a kind we have answers for
        if "x" in fields:
            fields["xb"] = re.sub(r"^(?:a|an|the) ", "", fields["x"])
        return QuestionPlan(question, rule.name, group, style, dict(rule.templates), fields)
    return QuestionPlan(question, "none", None, style)
