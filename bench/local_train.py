"""Benchmark the local backend's training modes on a prepared dataset: wall time + validation top-1.

    .venv/bin/python bench/local_train.py --data /tmp/realdata/prepared            # head (default)
    .venv/bin/python bench/local_train.py --data DIR --modes head,partial,full \\
        --train-limit 600 --val-limit 600 --epochs 1                                # image modes

`head` runs the real default `dogbreed train` path (feature cache under --cache; a second run of
the same command measures the cached path). `partial`/`full` train on images, so on a 2-core CPU
they are measured on a class-balanced subset (--train-limit/--val-limit) and their time per epoch
is extrapolated to the full training set. Prints one JSON line per mode and appends them to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.data.manifest import LstEntry, PreparedData, write_lst  # noqa: E402


def subset(prepared: PreparedData, dest: Path, train_limit: int, val_limit: int) -> Path:
    """A prepared folder with every k-th line of each manifest (images linked, not copied)."""
    dest.mkdir(parents=True, exist_ok=True)
    for split, limit in (("train", train_limit), ("validation", val_limit)):
        entries = prepared.entries(split)
        if limit and limit < len(entries):
            step = len(entries) / limit
            entries = [entries[int(i * step)] for i in range(limit)]
        link = dest / split
        if not link.exists():
            link.symlink_to(prepared.images_dir(split).resolve(), target_is_directory=True)
        write_lst(
            dest / f"{split}_lst" / f"{split}.lst",
            [LstEntry(i, e.label, e.path) for i, e in enumerate(entries)],
        )
    for name in ("classes.json", "info.json"):
        (dest / name).write_bytes((prepared.root / name).read_bytes())
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared data folder")
    parser.add_argument("--modes", default="head")
    parser.add_argument("--backbone", default="")
    parser.add_argument("--epochs", type=int, default=0, help="0 = the default settings")
    parser.add_argument("--train-limit", type=int, default=0, help="0 = all (head only)")
    parser.add_argument("--val-limit", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path(".dogbreed/cache"))
    parser.add_argument("--set", action="append", default=[], help="section.key=value")
    parser.add_argument("--out", type=Path, default=Path("bench/local_train.jsonl"))
    args = parser.parse_args()

    os.environ.setdefault("DOGBREED_STATE_FILE", str(Path(tempfile.mkdtemp()) / "state.json"))
    from ops.settings import load_settings
    from ops.train.local.run import train_local

    prepared = PreparedData(args.data).check()
    work = Path(tempfile.mkdtemp(prefix="bench-local-"))
    data = prepared.root
    if args.train_limit or args.val_limit:
        data = subset(prepared, work / "data", args.train_limit, args.val_limit)
    full_train = len(prepared.entries("train"))
    for mode in args.modes.split(","):
        overrides = {
            "data.prepared_dir": str(data),
            "local.mode": mode,
            "local.cache_dir": str(args.cache.resolve()),
            "local.artifacts_dir": str(work / "artifacts"),
        }
        if args.backbone:
            overrides["local.backbone"] = args.backbone
        if args.epochs:
            overrides["hyperparameters.epochs"] = args.epochs
        for item in args.set:
            key, _, value = item.partition("=")
            overrides[key] = value
        settings = load_settings().with_overrides(overrides)
        t0 = time.perf_counter()
        record = train_local(settings, resume=False)
        wall = time.perf_counter() - t0
        m = record["metrics"]
        n_train = len(PreparedData(data).entries("train"))
        row = {
            "mode": mode,
            "backbone": settings.local.backbone,
            "train_images": n_train,
            "val_images": len(PreparedData(data).entries("validation")),
            "wall_s": round(wall, 1),
            "timings": m["timings"],
            "before_training_top1": m["before_training_top1"],
            "validation_top1": m["validation_top1"],
            "validation_top5": m["validation_top5"],
            "stopped": m["stopped"],
            "overrides": {k: v for k, v in overrides.items() if not k.endswith("_dir")},
            "load_avg_1m": os.getloadavg()[0],
        }
        history = json.loads((Path(record["artifact_dir"]) / "metrics.json").read_text())["history"]
        epochs = [h for h in history if h["epoch"] > 0]
        row["epochs"] = len(epochs)
        if mode != "head" and epochs:
            per_epoch = sum(h["seconds"] for h in epochs) / len(epochs)
            row["epoch_s_full_train_set_estimate"] = round(per_epoch * full_train / n_train, 1)
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
