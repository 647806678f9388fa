"""A local artifact as a SageMaker model for AWS's PyTorch inference container (model.tar.gz).

Layout (what the container's inference toolkit reads from /opt/ml/model):

    model.ts                  the artifact's TorchScript export (softmax inside; no timm needed)
    classes.json              the class names, in class-index order
    preprocessing.json        ops.model.preprocess.Preprocessing
    metadata.json             the artifact's metadata, its "sha256" map now of the files above
                              and of code/ (checked by ops.artifact.reader.verify_checksums)
    code/inference.py         ops/artifact/container_inference.py: model_fn, input_fn, predict_fn, output_fn
    code/ops/...              the handler's helpers, copied byte for byte from this package

`deploy` uploads it; `dogbreed serve` (serve.runtime = "container") builds and runs the same
files through the same handler, so local serving and the endpoint share one code path. The tar
is deterministic (sorted, mtime 0, uid 0): the same artifact gives the same bytes and S3 key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ops
from ops.artifact.export import TORCHSCRIPT_NAME, deterministic_tar, sha256_file
from ops.errors import DogbreedError

PACKAGE_NAME = "model.tar.gz"
MODEL_FILES = (TORCHSCRIPT_NAME, "classes.json", "preprocessing.json")
# code/ path -> source file under the ops package: the handler and everything it imports.
CODE_FILES = {
    "inference.py": "artifact/container_inference.py",
    "ops/__init__.py": "__init__.py",
    "ops/errors.py": "errors.py",
    "ops/model/__init__.py": "model/__init__.py",
    "ops/model/preprocess.py": "model/preprocess.py",
}
# Serverless memory for this package (deploy.serverless_memory_mb = 0): the smallest setting
# holding the worker's measured peak RSS plus 1 GB for TorchServe's JVM and the OS
# (bench/container_fit.py; figures in docs/deploy-local-model.md).
SERVERLESS_MEMORY_MB = 2048
# The toolkit's settings (what the SageMaker SDK's PyTorchModel sets for an entry point).
CONTAINER_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}


def package_sources() -> dict[str, Path]:
    """Every package member -> the file it is copied from (code/ from the ops sources)."""
    root = Path(ops.__file__).parent
    return {f"code/{name}": root / source for name, source in CODE_FILES.items()}


def package_members(artifact_dir: Path) -> dict[str, bytes]:
    """name -> bytes of the package built from an artifact folder (metadata.json last)."""
    artifact_dir = Path(artifact_dir)
    missing = [name for name in MODEL_FILES if not (artifact_dir / name).is_file()]
    if missing:
        raise DogbreedError(
            f"model artifact {artifact_dir} lacks {', '.join(missing)}",
            hint="it predates the TorchScript export: run `dogbreed train` again "
            "(with the feature cache warm this takes seconds)",
        )
    members = {name: (artifact_dir / name).read_bytes() for name in MODEL_FILES}
    members.update({name: path.read_bytes() for name, path in package_sources().items()})
    meta_path = artifact_dir / "metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta["sha256"] = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    meta["package"] = {"format": "sagemaker-pytorch-inference", "handler": "code/inference.py"}
    members["metadata.json"] = (json.dumps(meta, indent=2, default=str) + "\n").encode()
    return members


def write_package(artifact_dir: Path, target: Path) -> Path:
    """Write the deterministic model.tar.gz of an artifact folder to `target`; returns it."""
    return deterministic_tar(target, package_members(artifact_dir))


def extract_package(tar_path: Path, dest: Path) -> Path:
    """model.tar.gz -> `dest` (what SageMaker puts in /opt/ml/model), checksums verified."""
    from ops.artifact.reader import extract_tarball, verify_checksums

    root = extract_tarball(Path(tar_path), Path(dest))
    if not (root / "code" / "inference.py").is_file():
        raise DogbreedError(f"{tar_path} is not a dogbreed container package (no code/)")
    verify_checksums(root)
    return root


def package_digest(tar_path: Path) -> str:
    """The package's sha256, 12 hex digits: its S3 key, so a new model never overwrites an old."""
    return sha256_file(Path(tar_path))[:12]
