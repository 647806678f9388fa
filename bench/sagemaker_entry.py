"""Benchmark the SageMaker recipe job's entry point here: AWS's toolkit runs it on a temporary /opt/ml.

    .venv/bin/python bench/sagemaker_entry.py --data DIR --train-limit 600 --val-limit 600 \\
        --epochs 1 --mode partial --set local.num_workers=1

Same request as `dogbreed --backend sagemaker train --algorithm recipe` builds (hyperparameters,
packed source), the channels linked to a class-balanced manifest subset (bench/local_train.py's
`subset`), CPU, one process. Prints one JSON line: wall time (toolkit start to artifact), epoch 0
and final validation top-1, seconds per epoch and that time extrapolated to the full training
set, for comparison with bench/local_train.py's figure for the same mode (docs/local-training.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from local_train import subset  # noqa: E402

from ops.data.manifest import PreparedData  # noqa: E402
from ops.settings import load_settings  # noqa: E402
from ops.train.sagemaker.recipe_job import pack_source, recipe_job_request  # noqa: E402
from tests.sagemaker_toolkit import lay_out_job, run_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared data folder")
    parser.add_argument("--mode", default="partial")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=600)
    parser.add_argument("--val-limit", type=int, default=600)
    parser.add_argument("--set", action="append", default=[], help="section.key=value")
    args = parser.parse_args()

    prepared = PreparedData(args.data).check()
    work = Path(tempfile.mkdtemp(prefix="bench-sagemaker-"))
    data = subset(prepared, work / "data", args.train_limit, args.val_limit)
    overrides = {"local.mode": args.mode, "hyperparameters.epochs": args.epochs}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = value
    settings = load_settings().with_overrides(overrides)
    source = work / "sourcedir.tar.gz"
    source.write_bytes(pack_source(PreparedData(data)))
    request = recipe_job_request(
        settings,
        name="bench",
        image="local",
        role_arn="arn:aws:iam::123456789012:role/bench",
        bucket="bench",
        source=str(source),
    )
    root = lay_out_job(work / "ml", data, request["HyperParameters"], link=True)
    t0 = time.perf_counter()
    status, log = run_job(root, timeout=3600)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(log[-3000:])
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    history = metrics["history"]
    per_epoch = sum(h["seconds"] for h in history[1:]) / max(1, len(history) - 1)
    full = len(prepared.entries("train"))
    n_train = len(PreparedData(data).entries("train"))
    print(
        json.dumps(
            {
                "path": "sagemaker-training toolkit -> dogbreed_train.py",
                "mode": args.mode,
                "backbone": settings.local.backbone,
                "train_images": n_train,
                "val_images": len(PreparedData(data).entries("validation")),
                "epochs": len(history) - 1,
                "epoch0_top1": history[0]["val_top1"],
                "final_top1": history[-1]["val_top1"],
                "seconds_per_epoch": round(per_epoch, 1),
                "full_epoch_minutes": round(per_epoch * full / n_train / 60, 1),
                "wall_s": round(wall, 1),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
