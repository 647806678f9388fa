"""The serving runtime: a model artifact run with ONNX Runtime, its answers ranked and combined.

Used by the model server, `dogbreed predict` and the benchmarks, so all three compute exactly the
same probabilities. The artifact is found, verified and parsed by ops/artifact/reader.py (its
contract is there); the photo policy's views and their combination by ops/model/photo_policy.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lambda_src.answer import SIGNAL_TOP_PROBABILITY
from ops.artifact.reader import (
    default_artifact,
    dog_settings,
    load_classes_file,
    load_preprocessing_file,
    resolve_artifact_dir,
)
from ops.errors import DogbreedError
from ops.model.graph import CAM_OUTPUT
from ops.model.open_set import artifact_settings as open_set_settings
from ops.model.photo_policy import CROP_SCALE, DEFAULT_POLICY, check_policy
from ops.model.photo_policy import combine as combine_views
from ops.model.photo_policy import views as policy_views
from ops.model.preprocess import (
    DECODE_BUDGET,
    load_image,
    open_image,
    preprocess_bytes,
    preprocess_image,
)

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


class Row(tuple):
    """One view's (probabilities [C], dog score or None), unpacked as a pair; `extra` holds the
    graph's other answers for it: "known_score" and "cam" (ops/model/graph.py)."""

    extra: dict[str, Any]

    def __new__(cls, probabilities, dog_score, extra: dict[str, Any] | None = None):
        row = super().__new__(cls, (probabilities, dog_score))
        row.extra = extra or {}
        return row


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


def session_options(threads: int = 0, spin: bool = True):
    """ONNX Runtime options: all graph optimisations, one intra-op pool sized to the cores.

    spin=False stops idle pool threads from busy-waiting: a server needs those cycles for
    decoding images and answering HTTP between batches.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No CPU arena: it keeps the largest batch's buffers for the life of the process (Lite2 after
    # the batch-size timing: 1083 MB at rest with it, 150 MB without; docs/local-serving.md).
    opts.enable_cpu_mem_arena = False
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
        self.known = open_set_settings(self.artifact_dir, outputs)  # ops/model/open_set.py
        self.cam_output = CAM_OUTPUT if CAM_OUTPUT in outputs else None  # ops/model/graph.py
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

    # -- the dog signal and the photo policy (ops/model/dogness.py, ops/model/photo_policy.py) --
    def predict_rows(self, batch: np.ndarray) -> list[Row]:
        """float32 [N,3,S,S] -> one (probabilities [C], dog score or None) per image; each row's
        `extra` holds "known_score" and "cam" when the graph answers them (ops/model/graph.py)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        extra = {"known_score": self.known["output"], "cam": self.cam_output}
        names = [n for n in (self.output_name, self.dog["output"], *extra.values()) if n]
        got = dict(zip(names, self.session.run(names, {self.input_name: batch}), strict=True))
        probs = got[self.output_name]
        dog = got.get(self.dog["output"])
        dog = [None] * len(probs) if dog is None else dog.reshape(-1).tolist()
        extra = {key: got[name] for key, name in extra.items() if name}
        return [
            Row(row, dog[i], {key: value[i] for key, value in extra.items()})
            for i, row in enumerate(probs)
        ]

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
        probs = np.stack([row[0] for row in rows])
        dogs = None if rows[0][1] is None else np.asarray([row[1] for row in rows])
        merged, dog, view = combine_views(probs, dogs, self.photo_policy)
        if dog is None:
            signal, score = SIGNAL_TOP_PROBABILITY, float(merged.max())
            threshold = self.dog["top_probability_threshold"]
        else:
            signal, score, threshold = self.dog["signal"], dog, self.dog["threshold"]
        out = ImageOutput(merged, score, signal, threshold, view)
        extra = [getattr(row, "extra", {}) for row in rows]
        if "known_score" in extra[0]:  # the answering view's (an average: the mean)
            known = [float(e["known_score"]) for e in extra]
            out.known_score = float(np.mean(known)) if view < 0 else known[view]
            out.known_threshold = self.known["threshold"]
        if "cam" in extra[0] and view >= 0:
            out.cam = np.asarray(extra[view]["cam"], dtype=np.float32)
        return out

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
    known_score: float | None = None  # open-set score, ops/model/open_set.py (None: no verdict)
    known_threshold: float | None = None
    cam: np.ndarray | None = None  # [h, w] activation map of the top breed (ops/model/graph.py)

    def endpoint_body(self, as_object: bool) -> list[float] | dict[str, Any]:
        """The built-in algorithm's list of probabilities, or the object with the dog fields
        (lambda_src/answer.py reads both)."""
        probabilities = self.probabilities.tolist()
        if not as_object:
            return probabilities
        body = {
            "probabilities": probabilities,
            "dog_score": self.dog_score,
            "dog_signal": self.dog_signal,
            "dog_threshold": self.dog_threshold,
        }
        if self.known_score is not None:
            body.update(known_score=self.known_score, known_threshold=self.known_threshold)
        if self.cam is not None:
            body["cam"] = normalised_map(self.cam)
        return body


def normalised_map(cam: np.ndarray) -> list[list[float]]:
    """An activation map scaled to [0, 1] (its minimum 0, its peak 1), 3 decimals: what the page
    draws over the image."""
    from ops.model.heatmap import scaled

    return np.round(scaled(cam), 3).tolist()


def load_runtime(
    artifact: Path | str | None = None,
    threads: int = 0,
    spin: bool = True,
    photo_policy: str = DEFAULT_POLICY,
    limits=None,
) -> ModelRuntime:
    """A ModelRuntime for an artifact folder or model.tar.gz (default: the last local training;
    a tarball is extracted within `limits`, ops/archives.py)."""
    source = Path(artifact or default_artifact()).expanduser().resolve()
    return ModelRuntime(
        resolve_artifact_dir(source, limits),
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
