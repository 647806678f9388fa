"""The built-in algorithm's model.tar.gz, read and converted: checked layout, MXNet -> ONNX.

The algorithm writes image-classification-symbol.json (an MXNet ResNet ending in SoftmaxOutput,
input `data` of raw 0-255 RGB), image-classification-NNNN.params (NNNN: the epoch) and
model-shapes.json ([{"name": "data", "shape": [batch, 3, H, W]}]). Those files are checked here,
in this environment; the conversion runs ops/train/sagemaker/mxnet_convert.py with the isolated MXNet
interpreter (.venv-mxnet, `make .venv-mxnet/.installed`), because MXNet 1.9.1 needs numpy < 1.24
and must not enter the project's environment. The ONNX graph it writes is accepted only when ONNX
Runtime agrees with MXNet's own forward pass to TOLERANCE on the same images.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ops.errors import DogbreedError

PREFIX = "image-classification"
SYMBOL = f"{PREFIX}-symbol.json"
SHAPES = "model-shapes.json"
PARAMS = re.compile(rf"^{PREFIX}-(\d{{4}})\.params$")
REPO = Path(__file__).resolve().parents[3]
CONVERTER = Path(__file__).with_name("mxnet_convert.py")
MXNET_SETUP = "make .venv-mxnet/.installed"
TOLERANCE = 1e-4  # as for the local export (ops/artifact/export.py)
# Bounds on what a model.tar.gz may hold (ResNet-152's params are ~240 MB).
MAX_MEMBERS = 16
MAX_PARAMS_BYTES = 2 * 1024**3
MAX_JSON_BYTES = 32 * 1024**2
CONVERT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class BuiltinModel:
    """A checked built-in model folder: its epoch, input shape and class count."""

    folder: Path
    epoch: int
    channels: int
    height: int
    width: int
    num_classes: int

    @property
    def params(self) -> Path:
        return self.folder / f"{PREFIX}-{self.epoch:04d}.params"


def mxnet_python() -> Path:
    """The isolated MXNet interpreter: DOGBREED_MXNET_PYTHON, else this checkout's .venv-mxnet."""
    return Path(os.environ.get("DOGBREED_MXNET_PYTHON") or REPO / ".venv-mxnet" / "bin" / "python")


def require_mxnet() -> Path:
    """The MXNet interpreter, or a one-line error saying how to create it."""
    python = mxnet_python()
    if not python.is_file():
        raise DogbreedError(
            f"the MXNet environment is missing ({python})",
            hint=f"create it with `{MXNET_SETUP}` (MXNet 1.9.1 needs numpy < 1.24, so it has "
            "its own venv)",
        )
    return python


def _foreign(tar_path: Path, why: str) -> DogbreedError:
    return DogbreedError(
        f"{tar_path} is not a model of SageMaker's built-in image-classification algorithm: {why}",
        hint="pass the model.tar.gz a built-in training job wrote (its ModelArtifacts)",
    )


def _checked_members(tar: tarfile.TarFile, tar_path: Path) -> list[tarfile.TarInfo]:
    """The members to extract: plain files of the algorithm's names, within the size bounds."""
    members = []
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise _foreign(tar_path, f"it holds more than {MAX_MEMBERS} entries")
        name = member.name.removeprefix("./")
        if member.isdir() and name in ("", "."):
            continue
        if name == "model.onnx":
            raise _foreign(tar_path, "it is already a dogbreed artifact (use it with --artifact)")
        if not member.isfile() or not (name in (SYMBOL, SHAPES) or PARAMS.match(name)):
            raise _foreign(tar_path, f"unexpected entry {member.name!r}")
        limit = MAX_PARAMS_BYTES if PARAMS.match(name) else MAX_JSON_BYTES
        if member.size > limit:
            raise _foreign(tar_path, f"{name} is {member.size} bytes (limit {limit})")
        member.name = name
        members.append(member)
    return members


def extract_builtin(tar_path: Path, dest: Path) -> Path:
    """Extract a built-in model.tar.gz into `dest` after checking every entry; returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            members = _checked_members(tar, tar_path)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DogbreedError(
            f"cannot extract {tar_path}: {exc or type(exc).__name__}",
            hint="the file is damaged or truncated: download the job's model.tar.gz again",
        ) from exc
    return dest


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DogbreedError(f"{path.name} is not valid JSON ({exc}): {what}") from exc


def _input_shape(folder: Path) -> tuple[int, int, int]:
    """(channels, height, width) of the `data` input, from model-shapes.json."""
    shapes = _read_json(folder / SHAPES, 'expected [{"name": "data", "shape": [N, 3, H, W]}]')
    data = (
        [s for s in shapes if isinstance(s, dict) and s.get("name") == "data"]
        if isinstance(shapes, list)
        else []
    )
    shape = data[0].get("shape") if data else None
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) for v in shape)):
        raise DogbreedError(f"{SHAPES} has no 4-d shape for the input `data`: {shapes!r}"[:300])
    _, channels, height, width = shape
    if channels != 3 or height != width or not 16 <= height <= 1024:
        raise DogbreedError(
            f"{SHAPES}: input {channels}x{height}x{width} is not supported",
            hint="the project's runtime takes square 3-channel (RGB) inputs of 16-1024 px",
        )
    return channels, height, width


def _symbol_classes(folder: Path) -> int:
    """The class count of the symbol: input `data`, FullyConnected -> SoftmaxOutput at the end."""
    symbol = _read_json(folder / SYMBOL, "the algorithm's MXNet graph")
    nodes = symbol.get("nodes") if isinstance(symbol, dict) else None
    if not isinstance(nodes, list) or len(nodes) < 3 or not all(isinstance(n, dict) for n in nodes):
        raise DogbreedError(f"{SYMBOL} has no graph nodes")
    if nodes[0].get("name") != "data" or nodes[-1].get("op") != "SoftmaxOutput":
        raise DogbreedError(
            f"{SYMBOL} is not the algorithm's graph: it should start at `data` and end in "
            f"SoftmaxOutput (it has {nodes[0].get('name')!r} ... {nodes[-1].get('op')!r})"
        )
    fc = [n for n in nodes if n.get("op") == "FullyConnected"]
    hidden = str((fc[-1].get("attrs") or {}).get("num_hidden", "")) if fc else ""
    if not hidden.isdigit() or int(hidden) < 2:
        raise DogbreedError(f"{SYMBOL}: no FullyConnected layer with a class count")
    return int(hidden)


def read_builtin(folder: Path) -> BuiltinModel:
    """Check an extracted built-in model folder; the epoch is the params file's NNNN (the last
    one when the job kept several)."""
    for name in (SYMBOL, SHAPES):
        if not (folder / name).is_file():
            raise DogbreedError(f"the model lacks {name}", hint="is this a built-in job's model?")
    epochs = sorted(int(m.group(1)) for p in folder.iterdir() if (m := PARAMS.match(p.name)))
    if not epochs:
        raise DogbreedError(f"the model has no {PREFIX}-NNNN.params file")
    channels, height, width = _input_shape(folder)
    return BuiltinModel(folder, epochs[-1], channels, height, width, _symbol_classes(folder))


def convert(model: BuiltinModel, images: np.ndarray, workdir: Path) -> dict[str, Any]:
    """Run the MXNet converter on `images` (float32 [N,3,H,W], raw 0-255): model.onnx in
    workdir, MXNet's outputs and its report. Any MXNet failure is a one-line DogbreedError."""
    python = require_mxnet()
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(workdir / "images.npy", images.astype(np.float32))
    argv = [str(python), str(CONVERTER), str(model.folder), str(model.epoch)]
    argv += [str(workdir / "images.npy"), str(workdir)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise DogbreedError(f"the MXNet conversion took over {CONVERT_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise DogbreedError(
            f"MXNet cannot convert {model.params.name}: {lines[-1] if lines else done.returncode}",
            hint="the params file may be truncated or not match the symbol: download it again",
        )
    report = _read_json(workdir / "report.json", "the converter's report")
    report["mxnet_outputs"] = np.load(workdir / "mxnet_outputs.npy")
    report["onnx"] = workdir / "model.onnx"
    return report


def onnx_outputs(onnx_path: Path, images: np.ndarray) -> np.ndarray:
    """ONNX Runtime's probabilities for `images` (the runtime's graph, CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"input": images.astype(np.float32)})[0]


def check_equivalence(onnx_path: Path, images: np.ndarray, reference: np.ndarray) -> float:
    """The largest |ONNX Runtime - MXNet| on the same images; DogbreedError above TOLERANCE."""
    got = onnx_outputs(onnx_path, images)
    if got.shape != reference.shape:
        raise DogbreedError(f"the ONNX graph answers {got.shape}, MXNet {reference.shape}")
    diff = float(np.max(np.abs(got - reference)))
    if not diff <= TOLERANCE:
        raise DogbreedError(
            f"the converted graph differs from MXNet's forward pass by {diff:.3g} "
            f"(> {TOLERANCE:g}): not imported",
            hint="report the model's symbol file; the import keeps only exact conversions",
        )
    return diff
