"""The model artifact: ONNX (what serving runs) + state dict + the files that describe it.

Contract (read by ops/artifact/reader.py and ops/endpoint/onnx_runtime.py):

    <out_dir>/model.onnx          input "input" float32 [N,3,S,S] (preprocessed, dynamic N),
                                  output "probabilities" float32 [N,C] (softmax inside the graph)
                                  and, when the backbone had an ImageNet classifier, "dog_score"
                                  float32 [N] (ops/model/dogness.py), "known_score" float32 [N]
                                  (ops/model/open_set.py) and "cam" float32 [N,h,w] (graph.py)
    <out_dir>/preprocessing.json  ops.model.preprocess.Preprocessing
    <out_dir>/classes.json        copy of the prepared classes.json
    <out_dir>/model.pt            torch state dict (of the logits model)
    <out_dir>/metadata.json       backbone, num_classes, mode, hyperparameters, created, onnx_max_abs_diff,
                                  sha256 {file: hex digest} of every other file (checked on load),
                                  "dog": the dog signal and its thresholds (ops/model/dogness.py)
    <out_dir>/metrics.json        training history + final validation top-1/top-5
    <out_dir>/model.tar.gz        all of the above, deterministic (sorted, mtime 0, uid 0)

The export is checked: ONNX Runtime and PyTorch must agree to 1e-4 on the same input, otherwise
the artifact is not written as valid (a DogbreedError is raised).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import shutil
import tarfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.hashing import sha256_file
from ops.model.preprocess import Preprocessing

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
TOLERANCE = 1e-4
ARTIFACT_FILES = (
    "model.onnx",
    "preprocessing.json",
    "classes.json",
    "model.pt",
    "metadata.json",
    "metrics.json",
)


def _softmax_wrapper(model):
    """The logits model as the exported graph: probabilities, the dog score (with a dog head,
    ops/model/dogness.py), the open-set known score and the activation map (ops/model/graph.py),
    all from one backbone pass."""
    from ops.model.graph import wrap

    return wrap(model)


def _outputs(wrapped) -> list[str]:
    """The graph's output names, in the wrapper's order (ops/model/graph.py)."""
    from ops.model.graph import output_names

    return output_names(wrapped)


def export_onnx(model, path: Path, input_size: int, opset: int = 17) -> None:
    """Write model (logits) + softmax as ONNX with a dynamic batch dimension."""
    import torch

    wrapped = _softmax_wrapper(model)
    outputs = _outputs(wrapped)
    dummy = torch.randn(2, 3, input_size, input_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            wrapped,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def onnx_max_abs_diff(
    model, onnx_path: Path, input_size: int, batch: int = 3, seed: int = 0
) -> float:
    """Largest |ONNX Runtime - PyTorch| over every output of a random batch, relative to the
    value where it is over 1 (the open-set energy and the activation map are unbounded: float32
    rounding grows with them; probabilities and the dog score are in [0, 1], so absolute); the
    plain logits model's probabilities must match too."""
    import numpy as np
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, input_size, input_size)).astype(np.float32)
    wrapped = _softmax_wrapper(model)
    with torch.no_grad():
        expected = wrapped(torch.from_numpy(x))
        expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
        plain = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(_outputs(wrapped), {INPUT_NAME: x})
    diff = 0.0
    for g, e in zip(got, expected, strict=True):
        if g.shape != e.shape:
            raise DogbreedError(f"ONNX output shape {g.shape} != PyTorch {e.shape}")
        diff = max(diff, float(np.max(np.abs(g - e) / np.maximum(1.0, np.abs(e)))))
    return max(diff, float(np.max(np.abs(got[0] - plain))))


# The code base's one streaming sha256 (also what `data fetch` checks downloads with).
CHECKSUMMED_FILES = tuple(name for name in ARTIFACT_FILES if name != "metadata.json")


def deterministic_tar(target: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz of name -> bytes: sorted, mtime 0, uid/gid 0, so equal inputs give equal bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[name]))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    tmp.replace(target)
    return target


def write_tar(out_dir: Path, names: tuple[str, ...] = ARTIFACT_FILES) -> Path:
    """model.tar.gz of the named artifact files (deterministic)."""
    members = {name: (out_dir / name).read_bytes() for name in names}
    return deterministic_tar(out_dir / "model.tar.gz", members)


def _require_close(diff: float, what: str) -> None:
    """DogbreedError when an export differs from its reference by more than TOLERANCE."""
    if not diff <= TOLERANCE:
        raise DogbreedError(
            f"{what} export check failed: they differ by {diff:.2e} (> {TOLERANCE:g})"
        )


def export_artifact(
    model,
    classes_json: Path,
    preprocessing: Preprocessing,
    out_dir: Path,
    metadata: dict[str, Any],
    metrics: dict[str, Any],
) -> Path:
    """Write the artifact folder + model.tar.gz; returns the tarball's path.

    `model` maps a preprocessed [N,3,S,S] batch to logits [N,C]; it is exported on CPU in eval
    mode (the caller's model is not modified: a CPU copy is used when it lives elsewhere).
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cpu_model = _cpu_eval_copy(model)
    classes = json.loads(Path(classes_json).read_text())
    size = preprocessing.input_size
    _check_output_shape(cpu_model, size, len(classes), classes_json)
    diffs = _export_graphs(cpu_model, out_dir, size)

    preprocessing.save(out_dir / "preprocessing.json")
    if Path(classes_json).resolve() != (out_dir / "classes.json").resolve():
        shutil.copyfile(classes_json, out_dir / "classes.json")
    torch.save(cpu_model.state_dict(), out_dir / "model.pt")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    meta = {
        "num_classes": len(classes),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **metadata,
        **diffs,
        "torch_version": torch.__version__,
        "input_size": size,
        "sha256": {name: sha256_file(out_dir / name) for name in CHECKSUMMED_FILES},
    }
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return write_tar(out_dir)


def _cpu_eval_copy(model):
    """`model` in eval mode on CPU: itself when it lives there already, else a CPU copy."""

    import torch

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    return (copy.deepcopy(model).cpu() if device.type != "cpu" else model).eval()


def _check_output_shape(cpu_model, size: int, num_classes: int, classes_json: Path) -> None:
    """DogbreedError unless the model maps one [1,3,S,S] image to [1, number of classes]."""
    import torch

    with torch.no_grad():
        logits = cpu_model(torch.zeros(1, 3, size, size))
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise DogbreedError(
            f"model gives outputs of shape {tuple(logits.shape)} but {classes_json} has "
            f"{num_classes} classes"
        )


def _export_graphs(cpu_model, out_dir: Path, size: int) -> dict[str, float]:
    """Write model.onnx, checked against PyTorch; the largest difference, for metadata.json."""
    onnx_path = out_dir / "model.onnx"
    export_onnx(cpu_model, onnx_path, size)
    diff = onnx_max_abs_diff(cpu_model, onnx_path, size)
    _require_close(diff, "ONNX (ONNX Runtime vs PyTorch)")
    return {"onnx_max_abs_diff": diff}


def artifact_digest(artifact: Path | str) -> str | None:
    """sha256 of an artifact's ONNX weights (a folder's model.onnx, or the file itself), or None.

    The identity of a served model for resuming an evaluation: a re-exported identical model has
    the same digest although its folder, metadata and timings differ.
    """

    path = Path(artifact)
    try:
        onnx = path / "model.onnx" if path.is_dir() else path
        if onnx.is_file():
            return f"sha256:{sha256_file(onnx)}"
    except OSError:
        pass
    return None
