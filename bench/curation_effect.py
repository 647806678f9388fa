"""What curation buys: top-1 without the audit's flagged images, and with the poodles merged.

Trains the `dogbreed train` head recipe on the cached features (ops/audit/audit.cached_splits, the
same cache and starting head, so the baseline row reproduces `dogbreed train`'s top-1 before
calibration, which does not change predictions):

  exclusions   baseline vs trained without the flagged training images (relabelled ones moved),
               each on the whole test split and on the test split without its own flagged images
  merge        the 120-class model vs a model trained on a `prepare --merge` folder: the merged
               class's recall (before: any of its source breeds counts) and overall top-1

    .venv/bin/python bench/curation_effect.py --data data/prepared \\
        --exclusions data/prepared/audit/exclusions.csv --merged data/merged [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def train_and_predict(data, train_mask=None, train_labels=None) -> np.ndarray:
    """Validation predictions of the head recipe trained on (a subset of) the train features."""
    from ops.audit.audit import probabilities, train_head_on

    x, y = data.x["train"], data.y["train"] if train_labels is None else train_labels
    if train_mask is not None:
        x, y = x[train_mask], y[train_mask]
    head = train_head_on(data.fresh_head, x, y, data.recipe, 42)
    return probabilities(head, data.x["validation"]).argmax(1)


def exclusions_effect(data, exclusions: Path) -> dict:
    from ops.data.exclusions import read_exclusions

    wanted = read_exclusions(exclusions)
    index = {c.wnid: c.index for c in data.classes} | {c.name: c.index for c in data.classes}
    train = data.entries["train"]
    keep = np.asarray([wanted.get(e.path, None) != "" for e in train])
    labels = data.y["train"].copy()
    for i, e in enumerate(train):
        if wanted.get(e.path):
            labels[i] = index[wanted[e.path]]
    val = data.entries["validation"]
    clean_val = np.asarray([e.path not in wanted for e in val])
    y = data.y["validation"]
    out = {
        "train_excluded": int((~keep).sum()),
        "train_relabelled": int(sum(bool(wanted.get(e.path)) for e in train)),
        "test_flagged": int((~clean_val).sum()),
        "test_images": len(val),
    }
    for name, pred in (
        ("baseline", train_and_predict(data)),
        ("without_flagged", train_and_predict(data, keep, labels)),
        ("only_excluded", train_and_predict(data, keep)),  # relabels ignored, exclusions only
    ):
        out[name] = {
            "top1_test": round(float((pred == y).mean()), 5),
            "top1_test_without_flagged": round(float((pred[clean_val] == y[clean_val]).mean()), 5),
        }
    return out


def merge_effect(data, merged) -> dict:
    before = train_and_predict(data)
    after = train_and_predict(merged)
    merged_names = {c.name for c in merged.classes}
    sources = [c.index for c in data.classes if c.name not in merged_names]
    target = next(c for c in merged.classes if c.name not in {d.name for d in data.classes})
    y, ym = data.y["validation"], merged.y["validation"]
    in_group = np.isin(y, sources)
    assert in_group.sum() == (ym == target.index).sum(), "merged folder has other validation images"
    strict = {data.classes[s].name: round(float((before[y == s] == s).mean()), 4) for s in sources}
    return {
        "merged_class": target.name,
        "sources": [data.classes[s].name for s in sources],
        "validation_images": int(in_group.sum()),
        "before": {
            "top1": round(float((before == y).mean()), 5),
            "strict_recall": strict,
            "group_recall": round(float(np.isin(before[in_group], sources).mean()), 4),
            "top1_counting_group_as_one": round(
                float(((before == y) | (in_group & np.isin(before, sources))).mean()), 5
            ),
        },
        "after": {
            "top1": round(float((after == ym).mean()), 5),
            "merged_recall": round(float((after[ym == target.index] == target.index).mean()), 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--exclusions", type=Path)
    parser.add_argument("--merged", type=Path, help="a folder from `data prepare --merge`")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from ops.audit.audit import cached_splits
    from ops.settings import load_settings

    settings = load_settings()
    data = cached_splits(settings, args.data)
    result = {}
    if args.exclusions:
        result["exclusions"] = ex = exclusions_effect(data, args.exclusions)
        print(
            f"exclusions: {ex['train_excluded']} train images left out, "
            f"{ex['train_relabelled']} relabelled; {ex['test_flagged']} of {ex['test_images']} "
            "test images flagged"
        )
        print(f"{'training data':28} {'top-1 whole test':>17} {'top-1 test w/o flagged':>23}")
        for name in ("baseline", "without_flagged", "only_excluded"):
            r = ex[name]
            print(f"{name:28} {r['top1_test']:17.2%} {r['top1_test_without_flagged']:23.2%}")
    if args.merged:
        result["merge"] = m = merge_effect(data, cached_splits(settings, args.merged))
        b, a = m["before"], m["after"]
        print(
            f"\nmerge {', '.join(m['sources'])} -> {m['merged_class']} "
            f"({m['validation_images']} test images)"
        )
        print(
            f"  before: top-1 {b['top1']:.2%}; strict recall "
            + ", ".join(f"{k} {v:.1%}" for k, v in b["strict_recall"].items())
            + f"; any poodle for a poodle {b['group_recall']:.1%}; "
            f"top-1 counting the group as one {b['top1_counting_group_as_one']:.2%}"
        )
        print(f"  after:  top-1 {a['top1']:.2%}; merged class recall {a['merged_recall']:.1%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
