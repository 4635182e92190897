"""What training never sees: held-out seeds and held-out colour × shape combinations.

Seeds are split into disjoint ranges by purpose, so an example, a test or the benchmark can never draw a
scene the model was trained on. Eight colour × shape combinations (one per colour and one per shape, a
Latin-square pattern) never appear in any training image: scoring them measures compositional
zero-shot recognition — the model has seen every colour and every shape, never these pairs.
"""

from __future__ import annotations

from components.world.scenes import COLOURS, SHAPES

# Disjoint seed ranges (a scene's seed is start + index).
SEED_RANGES = {
    "train": (0, 1_000_000_000),
    "held_out": (2_000_000_000, 2_100_000_000),  # the meaning benchmark and the tests
    "examples": (2_100_000_000, 2_200_000_000),  # the tabs' world examples (also never trained on)
}

_colours = list(COLOURS)
# colour i is never shown as shape (3·i + 1) mod 8: each colour and each shape loses exactly one pair.
HELD_OUT_COMBINATIONS: frozenset[tuple[str, str]] = frozenset(
    (_colours[i], SHAPES[(3 * i + 1) % len(SHAPES)]) for i in range(len(_colours))
)


def is_held_out(colour: str, shape: str) -> bool:
    return (colour, shape) in HELD_OUT_COMBINATIONS


def seeds(split: str, count: int, offset: int = 0) -> range:
    """`count` seeds of a split, starting `offset` into its range."""
    start, stop = SEED_RANGES[split]
    if offset + count > stop - start:
        raise ValueError(f"the {split} split has {stop - start} seeds")
    return range(start + offset, start + offset + count)
