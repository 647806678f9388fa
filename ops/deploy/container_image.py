"""The serving image's build context and model data, both deterministic and content-addressed.

The context is the Dockerfile plus the files `.dockerignore` allows (an allowlist: `*`, then one
`!path` per file the entrypoint imports), so `docker build .` at the repository root and the
staged folder `dogbreed deploy` builds from hold the same files. Its digest (sha256 over each
file's path and bytes) names the image tag: the same code gives the same tag. The model data is
the artifact's serving files (model.onnx, classes.json, preprocessing.json, metadata.json with
its sha256 map cut to those files) as a deterministic model.tar.gz: the same artifact gives the
same bytes, S3 key and model name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ops.errors import DogbreedError

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
SERVING_FILES = ("model.onnx", "classes.json", "preprocessing.json", "metadata.json")
TAG_PREFIX = "ctx-"
# The endpoint's environment (ops/endpoint/container_entrypoint.py reads it): the toolkit's INFO log
# level and invocation timeout, and a fixed batch size, so a cold start spends no time timing one.
CONTAINER_ENVIRONMENT = {
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "SAGEMAKER_MODEL_SERVER_TIMEOUT": "60",
    "DOGBREED_SERVE__MAX_BATCH_SIZE": "4",
}
# Serverless memory for this image (deploy.serverless_memory_mb = 0): the smallest SageMaker size
# above the server's measured peak, Lite2 with the deploy environment 218 MB (664 MB even when
# the batch size is timed at start; docs/deploy-local-model.md, bench/container_fit.py).
SERVERLESS_MEMORY_MB = 1024


def context_files(root: Path = REPO_ROOT) -> list[str]:
    """The build context's files (relative, sorted): the Dockerfile and .dockerignore's `!` lines."""
    ignore = root / DOCKERIGNORE
    if not ignore.is_file():
        raise DogbreedError(f"{ignore} not found: it lists the serving image's files")
    lines = [line.strip() for line in ignore.read_text().splitlines()]
    if "*" not in lines:
        raise DogbreedError(f"{ignore} must start from '*' (an allowlist of serving files)")
    names = sorted({line[1:] for line in lines if line.startswith("!")} | {DOCKERFILE})
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise DogbreedError(f"{ignore} lists files that do not exist: {', '.join(missing)}")
    return names


def context_digest(root: Path = REPO_ROOT) -> str:
    """sha256 over each context file's path and bytes (hex): equal code gives an equal digest."""
    h = hashlib.sha256()
    for name in context_files(root):
        data = (root / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def image_tag(root: Path = REPO_ROOT) -> str:
    """The image tag for this code: "ctx-" + the first 20 hex digits of the context digest."""
    return TAG_PREFIX + context_digest(root)[:20]


def stage_context(dest: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the context files into `dest` (emptied first): `docker build dest` builds the image."""
    if dest.exists():
        shutil.rmtree(dest)
    for name in context_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target)
    shutil.copyfile(root / DOCKERIGNORE, dest / DOCKERIGNORE)
    return dest


def serving_members(artifact_dir: Path) -> dict[str, bytes]:
    """The artifact files the container reads, with metadata.json's sha256 map cut to them."""
    members = {
        name: (artifact_dir / name).read_bytes()
        for name in SERVING_FILES
        if (artifact_dir / name).is_file()
    }
    if "metadata.json" in members:
        meta = json.loads(members["metadata.json"])
        if isinstance(meta.get("sha256"), dict):
            meta["sha256"] = {k: v for k, v in meta["sha256"].items() if k in members}
        members["metadata.json"] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    return members


def write_model_data(artifact: Path | str, target: Path) -> Path:
    """The artifact (folder or model.tar.gz) -> the endpoint's model.tar.gz at `target`."""
    from ops.artifact.export import deterministic_tar
    from ops.artifact.reader import resolve_artifact_dir

    return deterministic_tar(target, serving_members(resolve_artifact_dir(artifact)))
