"""Benchmark: `dogbreed import-model` on a built-in-format ResNet: conversion time, sizes, latency.

Builds a model in the built-in algorithm's format with MXNet (tests/mxnet_builtin_model.py: the
algorithm's ResNet v2 and layer names, random weights, so no accuracy figure), imports it with
the library call `import-model` makes (no prepared data: the thresholds and metrics steps are
not timed), then times the imported model.onnx in ONNX Runtime. Needs `make .venv-mxnet/.installed`.

    .venv/bin/python bench/import_model.py                       # ResNet-50, 224 px, 120 classes
    .venv/bin/python bench/import_model.py --layers 18 --size 64 # the tests' model

Prints one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def du(path: Path) -> int:
    """Bytes under `path` (files only, symlinks not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def latency(onnx_path: Path, size: int, batch: int, rounds: int, threads: int) -> float:
    """Median seconds of one ONNX Runtime forward of `batch` raw-pixel images."""
    import numpy as np
    import onnxruntime as ort

    from ops.endpoint.onnx_runtime import session_options

    session = ort.InferenceSession(
        str(onnx_path), session_options(threads), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(0).uniform(0, 255, (batch, 3, size, size)).astype(np.float32)
    session.run(None, {"input": x})  # warm-up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    from ops.settings import Settings
    from ops.train.sagemaker.import_artifact import import_builtin
    from ops.train.sagemaker.import_model import mxnet_python
    from tests.factories import BREEDS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, choices=(18, 50), default=50)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "import")
    a = parser.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    built = a.out / "builtin"
    args = ["build", str(built), "--classes", str(a.classes), "--size", str(a.size)]
    args += ["--layers", str(a.layers)]
    subprocess.run(
        [str(mxnet_python()), str(REPO / "tests" / "mxnet_builtin_model.py"), *args], check=True
    )
    names = [BREEDS[i % len(BREEDS)] for i in range(a.classes)]
    classes = [
        {"index": i, "wnid": f"{w}_{i}", "name": f"{n}_{i}"} for i, (w, n) in enumerate(names)
    ]
    (a.out / "classes.json").write_text(json.dumps(classes))
    source = {"tar": built / "model.tar.gz", "model": str(built / "model.tar.gz")}
    started = time.perf_counter()
    meta = import_builtin(Settings(), source, a.out / "artifact", a.out / "classes.json", None)
    total = time.perf_counter() - started
    onnx_path = a.out / "artifact" / "model.onnx"
    figures = {
        "model": f"ResNet-{a.layers}, {a.size} px, {a.classes} classes (built-in format, random weights)",
        "mxnet_step_s": meta["conversion"]["seconds"],
        "import_total_s": round(total, 1),
        "onnx_max_abs_diff": meta["onnx_max_abs_diff"],
        "torchscript_max_abs_diff": meta["torchscript_max_abs_diff"],
        "model_tar_mb": round((built / "model.tar.gz").stat().st_size / 1e6, 1),
        "model_onnx_mb": round(onnx_path.stat().st_size / 1e6, 1),
        "mxnet_venv_mb": round(du(mxnet_python().parents[1]) / 1e6),
        "threads": a.threads,
        "onnx_ms_batch1": round(1000 * latency(onnx_path, a.size, 1, a.rounds, a.threads), 1),
        "onnx_ms_per_image_batch16": round(
            1000 * latency(onnx_path, a.size, 16, max(3, a.rounds // 3), a.threads) / 16, 1
        ),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
