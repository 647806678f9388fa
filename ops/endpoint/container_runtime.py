"""`dogbreed serve` on the container package: the endpoint's own code/inference.py, run here.

serve.runtime = "container" builds the model.tar.gz that `deploy` uploads (ops/artifact/
container_package.py), extracts it as SageMaker does, imports its code/inference.py and answers
every request with that module's model_fn / input_fn / predict_fn: the probabilities a local
`serve` returns are the deployed endpoint's. The model server around it (batching, limits, the
SageMaker runtime API) is unchanged; it checks the content type and Accept with the same
answers as input_fn / output_fn (415 / 406) before reading a body.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from ops.artifact.reader import dog_settings, load_classes_file, load_preprocessing_file
from ops.endpoint.onnx_runtime import ModelRuntime
from ops.errors import DogbreedError
from ops.hashing import sha256_file
from ops.model.photo_policy import DEFAULT_POLICY
from ops.model.preprocess import BadImageError


def import_handler(package_dir: Path) -> ModuleType:
    """The package's code/inference.py as a module, imported as the toolkit imports it (code/ on
    sys.path for its helpers)."""
    code = Path(package_dir) / "code"
    path = code / "inference.py"
    if str(code) not in sys.path:
        sys.path.append(str(code))  # after the installed ops: the copies are byte-identical
    name = f"dogbreed_inference_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DogbreedError(f"cannot import the inference handler {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


class ContainerRuntime(ModelRuntime):
    """A ModelRuntime whose preprocessing and forward pass are the package handler's functions."""

    def __init__(self, package_dir: Path, source: Path | None = None):
        # ModelRuntime.__init__ loads ONNX; this runtime has no ONNX, only the package.
        self.artifact_dir = Path(package_dir)
        self.source = Path(source or package_dir)
        self.preprocessing = load_preprocessing_file(self.artifact_dir / "preprocessing.json")
        self.classes = load_classes_file(self.artifact_dir / "classes.json")
        self.handler = import_handler(self.artifact_dir)
        self.model = self.handler.model_fn(str(self.artifact_dir))
        self.identity = "container:" + sha256_file(self.artifact_dir / "metadata.json")
        # The package's TorchScript graph has no dog_score output yet: the dog verdict uses the
        # documented top-probability fallback, and whole photos are resized (docs/real-photos.md).
        self.dog = dog_settings(self.artifact_dir, outputs=[])
        self.photo_policy = DEFAULT_POLICY

    def preprocess(self, data: bytes) -> np.ndarray:
        """input_fn of the handler -> float32 [3,S,S]; BadImageError for what it answers 400."""
        from sagemaker_inference.errors import BaseInferenceToolkitError

        try:
            tensor = self.handler.input_fn(data, "application/x-image")
        except BaseInferenceToolkitError as exc:
            if exc.status_code == 400:  # the server adds its own "unable to decode" prefix
                reason = exc.message.removeprefix("unable to decode the image: ")
                raise BadImageError(reason, exit_code=2) from None
            raise
        return tensor[0].numpy()

    def predict_arrays(self, batch: np.ndarray) -> np.ndarray:
        """predict_fn of the handler on a [N,3,S,S] batch -> [N,C] probabilities."""
        import torch

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.handler.predict_fn(torch.from_numpy(batch), self.model)


def load_container_runtime(
    artifact: Path | str, build_dir: Path, settings=None
) -> ContainerRuntime:
    """Build the container package of a local artifact, extract it and load its handler."""
    from ops.artifact.container_package import extract_package, package_digest, write_package
    from ops.artifact.reader import artifact_limits, resolve_artifact_dir

    source = Path(artifact).expanduser().resolve()
    root = resolve_artifact_dir(source, artifact_limits(settings))
    tar = write_package(root, Path(build_dir) / "container" / "model.tar.gz")
    folder = Path(build_dir) / "container" / package_digest(tar)
    return ContainerRuntime(extract_package(tar, folder), source=source)
