"""The backbone's ONNX file in the feature cache: exported once, checked on every read, rebuilt
when damaged.

backbone.onnx sits beside the feature shards with backbone.onnx.sha256 ({"sha256", "bytes"}),
written after it. A file that is truncated, changed, left without its record (an older version,
an interrupted export) or that ONNX Runtime cannot load is rebuilt with a warning, never a silent
fall back to PyTorch (three times slower, on every run).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ops.hashing import sha256_file

ONNX_NAME = "backbone.onnx"
RECORD_NAME = "backbone.onnx.sha256"


def _export(extractor, input_size: int, path: Path) -> None:
    """torch.onnx.export to a temporary name, renamed, then its checksum record."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            extractor.cpu().eval(),
            (torch.zeros(2, 3, input_size, input_size),),
            str(tmp),
            input_names=["input"],
            output_names=["features"],
            dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, path)
    record = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    tmp_record = path.with_name(RECORD_NAME + ".tmp")
    tmp_record.write_text(json.dumps(record) + "\n")
    os.replace(tmp_record, path.with_name(RECORD_NAME))


def cached_onnx_problem(path: Path) -> str | None:
    """Why the cached file cannot be trusted, or None when it matches its record."""
    try:
        record = json.loads(path.with_name(RECORD_NAME).read_text())
        expected, size = record["sha256"], record["bytes"]
    except FileNotFoundError:
        return "no checksum record beside it"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"its checksum record is unreadable ({type(exc).__name__})"
    actual = path.stat().st_size
    if actual != size:
        return f"{actual:,} bytes, {size:,} expected: truncated or changed"
    if sha256_file(path) != expected:
        return "its sha256 does not match the record"
    return None


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def backbone_session(extractor, input_size: int, work_dir: Path, threads: int):
    """An ONNX Runtime session of the backbone from work_dir/backbone.onnx, exported first when
    missing, and exported again (with a warning) when the cached one fails its checks."""
    path = Path(work_dir) / ONNX_NAME
    if path.is_file():
        problem = cached_onnx_problem(path)
        if problem is None:
            try:
                return _session(path, threads)
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
                problem = f"ONNX Runtime cannot load it: {type(exc).__name__}"
        warnings.warn(f"cached {path} is damaged ({problem}): rebuilding it", stacklevel=2)
        path.unlink(missing_ok=True)
    _export(extractor, input_size, path)
    return _session(path, threads)
