"""The meaning benchmark (issue 16): every tab's real pipeline on held-out world examples, scored
against the generator's truth (components/world/meaning.py).

The backbones per tab: the two shipped Minis (`mini`, the ViT the app falls back to, and `mini-rn`,
the ResNet), each architecture with random weights (`random`, `random-rn`: the floor, which should sit
near chance) and the toy oracle of tests/oracle.py where its vocabulary reaches (it knows 6 of the
world's 8 colour words and nothing else). Each tab's table gives the chance level, Mini's target, and
the floor the tests assert, half-way between the two.

    python benchmarks/bench_meaning.py [--quick]
    python benchmarks/bench_meaning.py --candidate clip-lab-mini-rn=/path/to.safetensors [--tabs zeroshot,vilt]
    python benchmarks/bench_meaning.py --tabs clipasso --judge clip-lab-mini-v1=/path/to.safetensors

--candidate scores a trained checkpoint of one of Mini's configs (components/mini/*.json) in Mini's
place, alone, into results/meaning-<model>.json; --judge has CLIPasso's sketches judged by another
checkpoint than the other shipped Mini (results/meaning-judged-by-<model>.json).
"""

from __future__ import annotations

import argparse
import time

from common import report

from components import mini
from components.backbone import load_backbone
from components.world import meaning

# Examples per tab: the benchmark's sizes (the tests score a prefix of each).
N = {
    "zeroshot": 256,
    "lseg": 64,
    "groupvit": 64,
    "vild": 48,
    "glip": 48,
    "clip4clip": 50,
    "actionclip": 100,
    "pointclip_v1": 120,
    "pointclip_v2": 120,
    "vilt": 192,
    "depthclip": 64,
    "clipasso": 24,
}
QUICK = {tab: max(12, n // 4) for tab, n in N.items()} | {"clip4clip": 50}
# The oracle embeds colour (chroma, light, dark) and knows only colour words: where labels differ in
# nothing it can read, it is not scored.
ORACLE_SKIPS = {
    "actionclip": "knows no action words",
    "pointclip_v1": "knows no solid names",
    "pointclip_v2": "knows no solid names",
    "depthclip": "knows no distance words",
    "clipasso": "has no image tower for the sketch loss",
}


def checkpoint(spec: str):
    """"MODEL=WEIGHTS" → that checkpoint as a backbone (MODEL one of Mini's configs)."""
    model, _, weights = spec.partition("=")
    mini.register()
    return load_backbone(model, weights, "cpu", fallback_to_random=False)


# The shipped Minis by their benchmark names, and the random-weight floor of each one's architecture.
MINIS = {"mini": mini.MODEL, "mini-rn": mini.RN_MODEL}
RANDOMS = {"random": mini.MODEL, "random-rn": mini.RN_MODEL}


def is_mini(name: str) -> bool:
    return name in MINIS


def backbones() -> dict:
    from tests.oracle import oracle_backbone

    out = {}
    for name, model in MINIS.items():
        if mini.weights(model).is_file():
            out[name] = load_backbone(model, mini.TAG, "cpu")
        else:
            print(f"! {mini.weights(model).name} is missing: {model} is not scored "
                  f"(train it with python -m components.mini.train --model {model})")
    out.update({name: load_backbone(model, "random", "cpu") for name, model in RANDOMS.items()})
    return out | {"oracle": oracle_backbone()}


def verdict(name: str, score: meaning.Score) -> str:
    """Mini against its target and floor; the others against chance (within a quarter of the way
    from chance to the target counts as near chance)."""
    if is_mini(name):
        if score.value >= score.target:
            return "reaches target"
        return "above floor" if score.value >= score.floor else "BELOW FLOOR"
    margin = (score.target - score.chance) / 4
    if abs(score.value - score.chance) <= margin:
        return "near chance"
    return "above chance" if score.value > score.chance else "below chance"


def _parts(score: meaning.Score) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in score.parts.items())


def _print(rows: list[dict]) -> None:
    keys = ["backbone", "value", "chance", "target", "floor", "n", "seconds", "verdict", "parts"]
    cells = [[_cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def run(quick: bool = False, models: dict | None = None, tabs=None, judge=None) -> list[dict]:
    sizes = QUICK if quick else N
    models = models or backbones()
    rows = []
    for tab, scorer in meaning.SCORERS.items():
        if tabs and tab not in tabs:
            continue
        tab_rows, notes = [], {}  # each backbone's notes (the choices its score made), shown once each
        for name, backbone in models.items():
            if name == "oracle" and tab in ORACLE_SKIPS:
                tab_rows.append(dict(tab=tab, backbone=name, verdict=f"n/a: {ORACLE_SKIPS[tab]}"))
                continue
            if tab == "clipasso" and judge is None and not meaning.judge_weights(backbone).is_file():
                tab_rows.append(dict(tab=tab, backbone=name, verdict=f"n/a: no judge ({meaning.judge_weights(backbone).name})"))
                continue
            start = time.perf_counter()
            score = scorer(backbone, n=sizes[tab], **({"judge": judge} if tab == "clipasso" and judge else {}))
            notes[name] = score.notes
            tab_rows.append(
                dict(
                    tab=tab, backbone=name, metric=score.metric, value=score.value, chance=score.chance,
                    target=score.target, floor=score.floor, n=score.n,
                    seconds=time.perf_counter() - start, verdict=verdict(name, score), parts=_parts(score),
                )
            )
        print(f"\n-- {tab}: {tab_rows[0].get('metric', '')}")
        _print(tab_rows)
        for note in dict.fromkeys(n for per_backbone in notes.values() for n in per_backbone):
            print(f"   · {note}")
        rows.extend(dict(r, notes=" | ".join(notes[r["backbone"]])) if is_mini(r["backbone"]) else r for r in tab_rows)
    _summary(rows)
    return rows


def _summary(rows: list[dict]) -> None:
    scored = [r for r in rows if "value" in r]  # not the n/a rows
    random = [r for r in scored if r["backbone"] in RANDOMS]
    near = [r["tab"] for r in random if r["verdict"] == "near chance"]
    off = [f"{r['tab']} ({r['verdict']}: {r['value']:.3f} vs {r['chance']:.3f})" for r in random if r["verdict"] != "near chance"]
    print(f"\nRandom weights sit near chance on {len(near)} of {len(random)} tabs (within a quarter of the way to the target).")
    if off:
        print("Not near chance: " + "; ".join(off) + ".")
        if any(r["tab"] in ("vild", "glip") and r["verdict"] == "below chance" for r in random):
            print("  (ViLD / GLIP chance assumes perfect boxes; random weights pass the score thresholds on almost no region.)")
    for name in MINIS:
        minis = [r for r in scored if r["backbone"] == name]
        if minis:
            below = [f"{r['tab']} {r['value']:.3f} < floor {r['floor']:.3f}" for r in minis if r["verdict"] == "BELOW FLOOR"]
            reached = sum(r["verdict"] == "reaches target" for r in minis)
            print(f"{name} reaches its target on {reached} of {len(minis)} tabs; below the floor: {'; '.join(below) or 'none'}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer examples per tab")
    parser.add_argument("--candidate", metavar="MODEL=WEIGHTS", help="score this checkpoint in Mini's place, alone")
    parser.add_argument("--judge", metavar="MODEL=WEIGHTS", help="judge CLIPasso's sketches with this checkpoint")
    parser.add_argument("--tabs", help="comma-separated tabs (default all)")
    args = parser.parse_args()
    tabs = set(args.tabs.split(",")) if args.tabs else None
    if tabs and tabs - set(meaning.SCORERS):
        parser.error(f"unknown tabs {', '.join(sorted(tabs - set(meaning.SCORERS)))}; the tabs are {', '.join(meaning.SCORERS)}")
    name = "meaning"
    models = None
    if args.candidate:
        models, name = {"mini": checkpoint(args.candidate)}, f"meaning-{args.candidate.partition('=')[0]}"
    judge = checkpoint(args.judge) if args.judge else None
    if judge is not None:
        name += f"-judged-by-{args.judge.partition('=')[0]}"
    report(name, run(quick=args.quick, models=models, tabs=tabs, judge=judge))
