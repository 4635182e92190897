"""Build `components/pointclip_v2_prompts.json` from PointCLIP V2's official `best_param.py`.

PointCLIP V2 (Zhu et al., ICCV 2023) publishes, in `zeroshot_cls/trainers/best_param.py` of
github.com/yangyangyang127/PointCLIP_V2 (MIT licence), one GPT-written prompt per class for
ModelNet40 and ScanObjectNN and each of four CLIP backbones, as Python lists under the keys
`<dataset>_<backbone>_test_prompts`, in the datasets' class order. This script reads that file as
*data* (parsed with `ast.literal_eval` on the assignments, nothing executed), pairs each list with the
class names of CLIP Lab's presets (`components/labelsets/modelnet40.json`, `scanobjectnn.json`, the
same order) and writes the JSON keyed dataset → backbone (open_clip's names) → class → prompt.

    .venv/bin/python assets/extract_pointclip_v2_prompts.py PATH/TO/best_param.py \
        --licence PATH/TO/LICENSE --commit 0b5aee8eca534593a6e4a5b249e9468474f16d4c

The repository's MIT notice (copyright and permission text) is copied into the data's `licence_text`,
as the licence asks of copies.

The prompts are kept verbatim (one of them starts with a space; CLIP's tokenizer strips it).
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "components" / "pointclip_v2_prompts.json"
REPOSITORY = "https://github.com/yangyangyang127/PointCLIP_V2"
FILE = "zeroshot_cls/trainers/best_param.py"
DATASETS = {"modelnet40": ("ModelNet40", "modelnet40.json"), "scanobjectnn": ("ScanObjectNN", "scanobjectnn.json")}
BACKBONES = {"rn50": "RN50", "rn101": "RN101", "vit_b32": "ViT-B-32", "vit_b16": "ViT-B-16"}  # official NAME2 → open_clip


def published_lists(source: str) -> dict[str, list[str]]:
    """Every `best_prompt_weight['…_test_prompts'] = [...]` assignment of the file, by key."""
    found = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript)):
            continue
        key = ast.literal_eval(node.targets[0].slice)
        if isinstance(key, str) and key.endswith("_test_prompts"):
            found[key] = ast.literal_eval(node.value)
    return found


def build(source: str, commit: str, licence_text: str) -> dict:
    lists = published_lists(source)
    prompts: dict[str, dict[str, dict[str, str]]] = {}
    for name, (dataset, labels_file) in DATASETS.items():
        classes = json.loads((ROOT / "components" / "labelsets" / labels_file).read_text(encoding="utf-8"))["labels"]
        prompts[dataset] = {}
        for official, backbone in BACKBONES.items():
            values = lists[f"{name}_{official}_test_prompts"]
            if len(values) != len(classes) or not all(isinstance(v, str) and v.strip() for v in values):
                raise SystemExit(f"{name} {official}: {len(values)} prompts for {len(classes)} classes")
            prompts[dataset][backbone] = dict(zip(classes, values))
    return {
        "source": f"{REPOSITORY}, {FILE} at commit {commit}: the `<dataset>_<backbone>_test_prompts` lists, "
        "paired in order with the datasets' classes",
        "licence": "MIT License, Copyright (c) 2023 Xiangyang ZHU, Renrui ZHANG (the repository's LICENSE)",
        "licence_text": licence_text.strip(),
        "prompts": prompts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("best_param", type=Path, help=f"the official {FILE}")
    parser.add_argument("--licence", type=Path, required=True, help="the repository's LICENSE file")
    parser.add_argument("--commit", required=True, help="the repository commit the file was read at")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    licence_text = args.licence.read_text(encoding="utf-8")
    if "MIT License" not in licence_text:
        raise SystemExit(f"{args.licence}: not the MIT licence the data was cleared under; check it first")
    data = build(args.best_param.read_text(encoding="utf-8"), args.commit, licence_text)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = {d: {b: len(c) for b, c in by.items()} for d, by in data["prompts"].items()}
    print(f"wrote {args.out}: {counts}")


if __name__ == "__main__":
    main()
