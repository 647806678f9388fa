"""The serving runtime: load a model artifact (folder or model.tar.gz) and run it with ONNX Runtime.

Used by the model server, `dogbreed predict` and the benchmarks, so all three compute exactly the
same probabilities. The artifact contract (written by ops/local/export.py):

    model.onnx          input "input" float32 [N,3,S,S] (preprocessed), output "probabilities" [N,C]
    preprocessing.json  ops.local.preprocess.Preprocessing
    classes.json        [{"index", "wnid", "name"}, ...]
    metadata.json       its "sha256" map is checked on load (a mismatch names the file)
    metrics.json        (optional here)
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lambda_src.answer import SIGNAL_TOP_PROBABILITY
from ops.errors import DogbreedError
from ops.local.photo_policy import CROP_SCALE, DEFAULT_POLICY, check_policy
from ops.local.photo_policy import combine as combine_views
from ops.local.photo_policy import views as policy_views
from ops.local.preprocess import (  # noqa: F401 - image_error_message: server/predict use it here
    DECODE_BUDGET,
    Preprocessing,
    image_error_message,
    load_image,
    open_image,
    preprocess_bytes,
    preprocess_image,
)

REQUIRED_FILES = ("model.onnx", "preprocessing.json", "classes.json")
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class Prediction:
    """One ranked class for one image."""

    index: int
    wnid: str
    name: str
    probability: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "wnid": self.wnid,
            "breed": self.name,
            "probability": self.probability,
        }


def _find_artifact_root(folder: Path) -> Path | None:
    """The folder holding model.onnx: the folder itself or one level below (tarball layouts vary)."""
    if (folder / "model.onnx").is_file():
        return folder
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (child / "model.onnx").is_file():
            return child
    return None


def extract_tarball(tar_path: Path, dest: Path | None = None) -> Path:
    """model.tar.gz -> a folder (a temporary one removed at exit unless `dest` is given)."""
    if dest is None:
        dest = Path(tempfile.mkdtemp(prefix="dogbreed-artifact-"))
        atexit.register(shutil.rmtree, dest, True)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:  # EOFError: truncated gzip
        raise DogbreedError(
            f"cannot extract model artifact {tar_path}: {exc or type(exc).__name__}",
            hint="the file is damaged or truncated: copy or export it again",
        ) from exc
    return dest


def _read_json(path: Path, what: str) -> Any:
    """A JSON file of the artifact; DogbreedError naming it when unreadable or invalid."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DogbreedError(
            f"artifact file {path} is not valid JSON ({exc})",
            hint=f"it should hold {what}: export the artifact again",
        ) from exc


def verify_checksums(root: Path) -> None:
    """Check every file listed in metadata.json's "sha256" map; DogbreedError naming a mismatch.

    Artifacts without the map (older exports, other producers) are accepted unchecked.
    """
    from ops.local.export import sha256_file

    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        return
    meta = _read_json(meta_path, "the artifact's metadata")
    sums = meta.get("sha256") if isinstance(meta, dict) else None
    if not isinstance(sums, dict):
        return
    for name, expected in sorted(sums.items()):
        path = root / name
        if not path.is_file():
            raise DogbreedError(f"model artifact file {path} is missing (listed in {meta_path})")
        if sha256_file(path) != expected:
            raise DogbreedError(
                f"model artifact file {path} does not match its sha256 in {meta_path}",
                hint="the file was changed or damaged: export the artifact again",
            )


def load_classes_file(path: Path) -> list[dict[str, Any]]:
    """classes.json ([{"index", "wnid", "name"}]) sorted by index; DogbreedError when invalid."""
    data = _read_json(path, 'a list of {"index", "wnid", "name"}')
    ok = (
        isinstance(data, list)
        and data
        and all(
            isinstance(c, dict)
            and isinstance(c.get("index"), int)
            and isinstance(c.get("wnid"), str)
            and isinstance(c.get("name"), str)
            for c in data
        )
    )
    if not ok:
        raise DogbreedError(
            f"artifact file {path} is not a list of {{index, wnid, name}} classes",
            hint="export the artifact again",
        )
    classes = sorted(data, key=lambda c: c["index"])
    if [c["index"] for c in classes] != list(range(len(classes))):
        raise DogbreedError(f"artifact file {path}: class indexes are not 0..{len(classes) - 1}")
    return classes


def load_preprocessing_file(path: Path) -> Preprocessing:
    """preprocessing.json -> Preprocessing; DogbreedError naming the file when invalid."""
    data = _read_json(path, "the preprocessing settings")
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        prep = Preprocessing(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})
        if not (
            isinstance(prep.input_size, int)
            and prep.input_size > 0
            and 0 < float(prep.crop_pct) <= 1
            and len(prep.mean) == 3
            and len(prep.std) == 3
            and all(float(v) > 0 for v in prep.std)
        ):
            raise ValueError("input_size, crop_pct, mean or std out of range")
        from ops.local.preprocess import _RESAMPLE

        if prep.interpolation not in _RESAMPLE:
            raise ValueError(f"unknown interpolation {prep.interpolation!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise DogbreedError(
            f"artifact file {path} is not valid preprocessing settings ({exc})",
            hint="export the artifact again",
        ) from exc
    return prep


def resolve_artifact_dir(path: Path | str) -> Path:
    """An artifact folder or model.tar.gz -> the folder with model.onnx; DogbreedError if invalid."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DogbreedError(f"model artifact {path} not found", hint="run `dogbreed train` first")
    folder = extract_tarball(path) if path.is_file() else path
    root = _find_artifact_root(folder)
    if root is None:
        raise DogbreedError(
            f"{path} is not a model artifact (no model.onnx)",
            hint="pass the folder or model.tar.gz written by `dogbreed train` (local backend)",
        )
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise DogbreedError(f"model artifact {path} lacks {', '.join(missing)}")
    verify_checksums(root)
    return root


def default_artifact() -> Path:
    """The artifact of the last local training run, from the state file."""
    from ops.state import get_record

    record = get_record("training") or {}
    if record.get("backend", "local") == "local":
        for key in ("artifact_dir", "model_tar"):
            if record.get(key) and Path(record[key]).exists():
                return Path(record[key])
    raise DogbreedError(
        "no local model artifact recorded",
        hint="run `dogbreed train` (backend local) or pass --artifact DIR|model.tar.gz",
    )


def session_options(threads: int = 0, spin: bool = True):
    """ONNX Runtime options: all graph optimisations, one intra-op pool sized to the cores.

    spin=False stops idle pool threads from busy-waiting: a server needs those cycles for
    decoding images and answering HTTP between batches.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    return opts


class ModelRuntime:
    """An artifact loaded for inference: ONNX Runtime session, classes and preprocessing."""

    def __init__(
        self,
        artifact_dir: Path,
        threads: int = 0,
        source: Path | None = None,
        spin: bool = True,
        photo_policy: str = DEFAULT_POLICY,
    ):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # the [local] extra is not installed
            raise DogbreedError(
                "onnxruntime is not installed", hint="pip install -e '.[local]'"
            ) from exc
        self.artifact_dir = Path(artifact_dir)
        self.source = Path(source or artifact_dir)  # what the user named (folder or tarball)
        self.preprocessing = load_preprocessing_file(self.artifact_dir / "preprocessing.json")
        self.classes: list[dict[str, Any]] = load_classes_file(self.artifact_dir / "classes.json")
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        try:
            self.session = ort.InferenceSession(
                str(self.artifact_dir / "model.onnx"),
                session_options(threads, spin),
                providers=providers,
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise DogbreedError(f"cannot load {self.artifact_dir / 'model.onnx'}: {exc}") from exc
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = INPUT_NAME if INPUT_NAME in inputs else inputs[0]
        self.output_name = OUTPUT_NAME if OUTPUT_NAME in outputs else outputs[0]
        n_out = self.session.get_outputs()[outputs.index(self.output_name)].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.classes):
            raise DogbreedError(
                f"{self.artifact_dir}: model has {n_out} outputs but classes.json lists "
                f"{len(self.classes)} classes"
            )
        self.dog = dog_settings(self.artifact_dir, outputs)
        self.photo_policy = check_photo_policy(photo_policy)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    def preprocess(self, data: bytes) -> np.ndarray:
        """Image bytes -> float32 [3,S,S]; raises BadImageError for undecodable bytes."""
        return preprocess_bytes(data, self.preprocessing)

    def predict_arrays(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N,3,S,S] preprocessed images -> float32 [N,C] probabilities."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def predict_images(self, images: list[bytes], batch_size: int = 32) -> np.ndarray:
        """Encoded images -> [N,C] probabilities (raises BadImageError on the first bad one)."""
        arrays = [self.preprocess(data) for data in images]
        if not arrays:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        outs = [
            self.predict_arrays(np.stack(arrays[i : i + batch_size]))
            for i in range(0, len(arrays), batch_size)
        ]
        return np.concatenate(outs)

    # -- the dog signal and the photo policy (ops/local/dogness.py, ops/local/photo_policy.py) --
    def predict_rows(self, batch: np.ndarray) -> list[tuple[np.ndarray, float | None]]:
        """float32 [N,3,S,S] -> one (probabilities [C], dog score or None) per image."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.dog["output"] is None:
            return [(row, None) for row in self.predict_arrays(batch)]
        probs, dog = self.session.run(
            [self.output_name, self.dog["output"]], {self.input_name: batch}
        )
        return [(row, float(d)) for row, d in zip(probs, dog.reshape(-1), strict=True)]

    def preprocess_views(self, data: bytes) -> np.ndarray:
        """Image bytes -> float32 [K,3,S,S]: the photo policy's views (K = 1 for "resize"),
        decoded within the process's pixel budget like `preprocess`."""
        if self.photo_policy == DEFAULT_POLICY:
            return self.preprocess(data)[None]
        # crops are CROP_SCALE of the photo: decode large enough for them to keep the input size
        img = open_image(data, int(np.ceil(self.input_size / CROP_SCALE)))
        with DECODE_BUDGET.hold(img.width * img.height):
            views = policy_views(load_image(img), self.photo_policy, self.input_size)
            return np.stack([preprocess_image(view, self.preprocessing) for view in views])

    def combine(self, rows: list[tuple[np.ndarray, float | None]]) -> ImageOutput:
        """The views' (probabilities, dog score) -> one ImageOutput, as the policy merges them."""
        probs = np.stack([p for p, _ in rows])
        dogs = None if rows[0][1] is None else np.asarray([d for _, d in rows])
        merged, dog, view = combine_views(probs, dogs, self.photo_policy)
        if dog is None:
            signal, score = SIGNAL_TOP_PROBABILITY, float(merged.max())
            threshold = self.dog["top_probability_threshold"]
        else:
            signal, score, threshold = self.dog["signal"], dog, self.dog["threshold"]
        return ImageOutput(merged, score, signal, threshold, view)

    def classify_bytes(self, data: bytes) -> ImageOutput:
        """One encoded image through the policy and the model (raises BadImageError)."""
        return self.combine(self.predict_rows(self.preprocess_views(data)))

    def top_k(self, probabilities: np.ndarray, k: int = 5) -> list[Prediction]:
        """One image's probability vector -> its k most likely classes, best first."""
        k = max(1, min(k, len(probabilities)))
        order = np.argsort(-probabilities, kind="stable")[:k]
        return [
            Prediction(
                index=int(i),
                wnid=self.classes[i]["wnid"],
                name=self.classes[i]["name"],
                probability=float(probabilities[i]),
            )
            for i in order
        ]


@dataclass
class ImageOutput:
    """One image's model answer: probabilities and the dog signal with its threshold."""

    probabilities: np.ndarray
    dog_score: float
    dog_signal: str  # "imagenet" (the graph's dog_score output) or "top_probability"
    dog_threshold: float
    view: int = 0  # which of the photo policy's views answered (-1: an average)

    def endpoint_body(self, as_object: bool) -> list[float] | dict[str, Any]:
        """The built-in algorithm's list of probabilities, or the object with the dog fields
        (lambda_src/answer.py reads both)."""
        probabilities = self.probabilities.tolist()
        if not as_object:
            return probabilities
        return {
            "probabilities": probabilities,
            "dog_score": self.dog_score,
            "dog_signal": self.dog_signal,
            "dog_threshold": self.dog_threshold,
        }


def dog_settings(artifact_dir: Path, outputs: list[str]) -> dict[str, Any]:
    """The artifact's dog signal: graph output (or None) and thresholds, from metadata.json.

    Artifacts from before the dog signal, or without thresholds, accept everything (threshold 0)
    and say so through their signal name."""
    from ops.local.dogness import OUTPUT_NAME as DOG_OUTPUT
    from ops.local.dogness import SIGNAL_IMAGENET

    try:
        meta = json.loads((artifact_dir / "metadata.json").read_text())
    except (OSError, ValueError):
        meta = {}
    record = meta.get("dog") or {}
    output = DOG_OUTPUT if DOG_OUTPUT in outputs else None
    return {
        "output": output,
        "signal": SIGNAL_IMAGENET if output else SIGNAL_TOP_PROBABILITY,
        "threshold": float(record.get("threshold") or 0.0) if output else 0.0,
        "top_probability_threshold": float(record.get("top_probability_threshold") or 0.0),
    }


def measure_batch_sizes(
    runtime: ModelRuntime,
    candidates=(1, 2, 4, 8, 16, 32),
    min_seconds: float = 0.25,
    rounds: int = 3,
) -> dict[int, float]:
    """images/s of the model forward at each batch size (random preprocessed input).

    The candidates take turns in `rounds` short rounds and each keeps its median, so a burst of
    load from other processes skews one round of every size instead of all of one size.
    """
    import statistics
    import time

    s = runtime.input_size
    rng = np.random.default_rng(0)
    inputs = {bs: rng.standard_normal((bs, 3, s, s)).astype(np.float32) for bs in candidates}
    for x in inputs.values():
        runtime.predict_arrays(x)  # warm-up: first runs allocate
    runs: dict[int, list[float]] = {bs: [] for bs in candidates}
    for _ in range(max(1, rounds)):
        for bs, x in inputs.items():
            n, t0 = 0, time.perf_counter()
            while n == 0 or time.perf_counter() - t0 < min_seconds / max(1, rounds):
                runtime.predict_arrays(x)
                n += bs
            runs[bs].append(n / (time.perf_counter() - t0))
    return {bs: statistics.median(r) for bs, r in runs.items()}


def pick_batch_size(throughput: dict[int, float], tolerance: float = 0.05) -> int:
    """The smallest batch size within `tolerance` of the best throughput (less latency, same speed).

    On a CPU the fastest batch is often small (4-8): larger batches fall out of the caches.
    """
    best = max(throughput.values())
    return min(bs for bs, ips in throughput.items() if ips >= (1 - tolerance) * best)


def load_runtime(
    artifact: Path | str | None = None,
    threads: int = 0,
    spin: bool = True,
    photo_policy: str = DEFAULT_POLICY,
) -> ModelRuntime:
    """A ModelRuntime for an artifact folder or model.tar.gz (default: the last local training)."""
    source = Path(artifact or default_artifact()).expanduser().resolve()
    return ModelRuntime(
        resolve_artifact_dir(source),
        threads=threads,
        source=source,
        spin=spin,
        photo_policy=photo_policy,
    )


def check_photo_policy(policy: str) -> str:
    """serve.photo_policy checked, as a one-line user error."""
    try:
        return check_policy(policy)
    except ValueError as exc:
        raise DogbreedError(f"serve.photo_policy: {exc}", exit_code=2) from None
