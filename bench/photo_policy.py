"""Full photos: compare the photo policies (ops/local/photo_policy.py) on uncropped photos.

Runs every view any policy uses once per photo (the whole photo resized, squashed, and the five
crops), then scores each policy from those answers: top-1, dogs accepted at the artifact's dog
threshold, and for the crop policies whether the chosen view holds the annotated dog (coverage
of the dog box inside the view, IoU with it). Latency: each policy end to end (decode, views,
preprocessing, model) on the first `--latency` photos, one photo at a time.

The dev set (../shared/stanford-dogs-full-dev, 400 photos of the train split) was seen cropped
in training: compare policies with it, do not quote its accuracy as the model's.

    .venv/bin/python bench/photo_policy.py --artifact artifacts/latest \\
        --photos ../shared/stanford-dogs-full-dev --annotations ../shared/stanford-dogs/Annotation
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:  # noqa: C901 - one linear run: load, measure each policy, print the table
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", default="artifacts/latest")
    parser.add_argument("--photos", type=Path, default=Path("../shared/stanford-dogs-full-dev"))
    parser.add_argument(
        "--annotations", type=Path, default=Path("../shared/stanford-dogs/Annotation")
    )
    parser.add_argument("--limit", type=int, default=0, help="first N photos (0 = all)")
    parser.add_argument("--latency", type=int, default=40, help="photos timed per policy")
    parser.add_argument("--dog-threshold", type=float, help="instead of the artifact's")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from ops.data.layout import read_annotation
    from ops.local import photo_policy as pp
    from ops.local.preprocess import decode_image, preprocess_image
    from ops.local.runtime import load_runtime

    runtime = load_runtime(args.artifact)
    index_of = {c["wnid"]: c["index"] for c in runtime.classes}
    rels = (args.photos / "list.txt").read_text().split()
    if args.limit:
        rels = rels[: args.limit]
    size, prep = runtime.input_size, runtime.preprocessing

    records = []
    t0 = time.perf_counter()
    for n, rel in enumerate(rels, 1):
        img = decode_image((args.photos / "Images" / rel).read_bytes())
        boxes = pp.view_boxes(*img.size, "crops-mean")
        inputs = [preprocess_image(v, prep) for v in pp.views(img, "crops-mean", size)]
        inputs.append(preprocess_image(pp.views(img, "squash", size)[0], prep))
        rows = runtime.predict_rows(np.stack(inputs))
        folder, _, name = rel.partition("/")
        ann = read_annotation(args.annotations / folder / name.rsplit(".", 1)[0])
        records.append(
            {
                "rel": rel,
                "label": index_of[rel.split("-", 1)[0]],
                "probs": np.stack([p for p, _ in rows]),
                "dog": None if rows[0][1] is None else np.asarray([d for _, d in rows]),
                "boxes": boxes,
                "dog_box": ann.boxes[0] if ann and ann.boxes else None,
                "size": img.size,
            }
        )
        if n % 50 == 0:
            print(f"  {n}/{len(rels)} photos ({time.perf_counter() - t0:.0f} s)", flush=True)

    threshold = (
        runtime.dog["threshold"]
        if runtime.dog["output"]
        else runtime.dog["top_probability_threshold"]
    )
    if args.dog_threshold is not None:
        threshold = args.dog_threshold
    results = {}
    for policy in pp.POLICIES:
        correct, accepted, coverage, iou = [], [], [], []
        for r in records:
            if policy == "squash":
                probs, dog = r["probs"][-1:], None if r["dog"] is None else r["dog"][-1:]
            elif policy == "resize":
                probs, dog = r["probs"][:1], None if r["dog"] is None else r["dog"][:1]
            else:
                probs, dog = r["probs"][:-1], None if r["dog"] is None else r["dog"][:-1]
            merged, score, view = pp.combine(probs, dog, policy)
            score = float(merged.max()) if score is None else score
            correct.append(int(np.argmax(merged)) == r["label"])
            accepted.append(score >= threshold)
            if policy == "crops-max-dog" and r["dog_box"] is not None:
                coverage.append(pp.box_coverage(r["boxes"][view], r["dog_box"]))
                iou.append(pp.box_iou(r["boxes"][view], r["dog_box"]))
        results[policy] = {
            "top1": round(float(np.mean(correct)), 4),
            "dogs_accepted": round(float(np.mean(accepted)), 4),
            "views": 1 if policy in ("resize", "squash") else 6,
        }
        if coverage:
            results[policy]["chosen_view_dog_coverage"] = round(float(np.mean(coverage)), 3)
            results[policy]["chosen_view_iou"] = round(float(np.mean(iou)), 3)
            results[policy]["chose_whole_photo"] = round(
                float(np.mean([v == 0 for _, v in _views(records)])), 3
            )
    # the box of the whole photo against the dog, for reference
    whole_iou = [pp.box_iou(r["boxes"][0], r["dog_box"]) for r in records if r["dog_box"]]

    timed = rels[: args.latency]
    for policy in pp.POLICIES:
        rt = load_runtime(args.artifact, photo_policy=policy)
        data = [(args.photos / "Images" / rel).read_bytes() for rel in timed]
        rt.classify_bytes(data[0])  # warm-up
        ms = []
        for d in data:
            t = time.perf_counter()
            rt.classify_bytes(d)
            ms.append((time.perf_counter() - t) * 1000)
        results[policy]["latency_ms_median"] = round(statistics.median(ms), 1)
        results[policy]["latency_ms_p90"] = round(float(np.percentile(ms, 90)), 1)

    print(f"\n{len(records)} photos, dog threshold {threshold:.4f} ({runtime.dog['signal']})")
    print(
        f"{'policy':16} {'top-1':>7} {'dogs kept':>10} {'views':>6} {'median ms':>10} "
        f"{'p90 ms':>8}  chosen view vs dog box"
    )
    for policy, r in results.items():
        extra = ""
        if "chosen_view_dog_coverage" in r:
            extra = (
                f"coverage {r['chosen_view_dog_coverage']:.2f}, IoU {r['chosen_view_iou']:.2f}, "
                f"whole photo chosen {r['chose_whole_photo']:.0%}"
            )
        print(
            f"{policy:16} {r['top1']:7.2%} {r['dogs_accepted']:10.2%} {r['views']:6d} "
            f"{r['latency_ms_median']:10.1f} {r['latency_ms_p90']:8.1f}  {extra}"
        )
    print(f"whole photo vs dog box: mean IoU {np.mean(whole_iou):.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _views(records):
    """(record, view chosen by crops-max-dog) pairs."""
    from ops.local import photo_policy as pp

    for r in records:
        probs, dog = r["probs"][:-1], None if r["dog"] is None else r["dog"][:-1]
        yield r, pp.combine(probs, dog, "crops-max-dog")[2]


if __name__ == "__main__":
    main()
