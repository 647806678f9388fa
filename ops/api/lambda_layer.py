"""Lambda mode's packages: the layer (numpy, Pillow, ONNX Runtime) and what the function zip adds
(the artifact's model files and the runtime code `dogbreed serve` runs), both deterministic.

The layer's wheels are fetched by pip for the Lambda's Python and platform (--platform
--only-binary) in a deploy, or for this machine's Python in the tests; the versions are the ones
installed here, so the Lambda computes with the same libraries as `dogbreed serve`. The model sits
in the function zip, not the layer or S3 (measured in bench/lambda_mode.py, docs/serving.md): it
changes with each deploy while the layer does not, and a cold start then reads it from local disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import ops
from ops.api.lambda_package import write_zip
from ops.errors import DogbreedError

LAYER_PACKAGES = ("numpy", "pillow", "onnxruntime")  # onnxruntime imports without its other deps
LAMBDA_PYTHON = "3.12"  # terraform/modules/lambda_classify's runtime, python3.12
# x86_64 Lambda runs Amazon Linux 2023 (glibc 2.34): manylinux 2014 and 2_28 wheels both load.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # function + layers, unzipped (Lambda quotas)
DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # a zip sent in the API call; larger ones via S3
MODEL_FILES = ("model.onnx", "classes.json", "preprocessing.json", "metadata.json")
MODEL_DIR_IN_ZIP = "model"  # lambda_src/model.py's default MODEL_DIR
# zip path -> file under the repository: ops/endpoint/onnx_runtime.py and everything it imports.
RUNTIME_CODE = (
    "lambda_src/__init__.py",
    "lambda_src/answer.py",
    "ops/__init__.py",
    "ops/archives.py",
    "ops/artifact/__init__.py",
    "ops/artifact/reader.py",
    "ops/endpoint/__init__.py",
    "ops/endpoint/onnx_runtime.py",
    "ops/errors.py",
    "ops/hashing.py",
    "ops/model/__init__.py",
    "ops/model/dogness.py",
    "ops/model/graph.py",
    "ops/model/heatmap.py",
    "ops/model/open_set.py",
    "ops/model/photo_policy.py",
    "ops/model/preprocess.py",
    "ops/model/ranking.py",
    "ops/settings_sections.py",
    "ops/state.py",
    "ops/state_shape.py",
)
REPO_ROOT = Path(ops.__file__).resolve().parents[1]


def pinned_packages() -> list[str]:
    """The layer's requirements, pinned to the versions installed here (what `serve` runs)."""
    try:
        return [f"{name}=={metadata.version(name)}" for name in LAYER_PACKAGES]
    except metadata.PackageNotFoundError as exc:
        raise DogbreedError(
            f"{exc.name} is not installed here", hint="pip install -e '.[local]'"
        ) from None


def pip_command(target: Path, python_version: str | None, platforms: tuple[str, ...]) -> list[str]:
    """pip install of the layer's wheels into `target`: for `python_version` on `platforms`, or
    for this interpreter when python_version is None."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    cmd += ["--no-deps", "--only-binary=:all:", "--no-compile", "--disable-pip-version-check"]
    if python_version:
        cmd += ["--python-version", python_version, "--implementation", "cp"]
        for platform in platforms:
            cmd += ["--platform", platform]
    return cmd + pinned_packages()


def _layer_files(site: Path) -> list[tuple[str, Path]]:
    """(zip name under python/, file) of an installed target, sorted; no caches, no console
    scripts (their shebangs name the build machine), no test suites."""
    keep = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if not path.is_file() or rel.parts[0] == "bin":
            continue
        if "__pycache__" in rel.parts or "tests" in rel.parts[:-1]:
            continue
        keep.append((f"python/{rel.as_posix()}", path))
    return keep


def build_layer(
    out_path: Path, python_version: str | None = LAMBDA_PYTHON, platforms=LAMBDA_PLATFORMS
) -> Path:
    """The layer zip (python/ holds the packages, as Lambda mounts it at /opt/python), built once
    per requirement set and platform: an unchanged layer keeps its bytes and its hash."""
    out_path = Path(out_path)
    key = json.dumps([pinned_packages(), python_version, list(platforms)])
    stamp = out_path.with_suffix(".key")
    if out_path.is_file() and stamp.is_file() and stamp.read_text() == key:
        return out_path
    with tempfile.TemporaryDirectory(prefix="dogbreed-layer-") as tmp:
        site = Path(tmp) / "python"
        proc = subprocess.run(
            pip_command(site, python_version, tuple(platforms)),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DogbreedError(
                f"pip could not fetch the layer's wheels: {tail[0]}",
                hint="the wheels come from PyPI for the Lambda's platform: check the network",
            )
        write_zip(out_path, _layer_files(site), level=6)
    stamp.write_text(key)
    return out_path


def function_extra(artifact_dir: Path) -> dict[str, bytes]:
    """What the function zip adds in lambda mode: the model files under model/ and the runtime
    code (ops/endpoint/onnx_runtime.py and its imports, byte for byte)."""
    artifact_dir = Path(artifact_dir)
    missing = [name for name in MODEL_FILES if not (artifact_dir / name).is_file()]
    if missing:
        raise DogbreedError(f"model artifact {artifact_dir} lacks {', '.join(missing)}")
    extra = {f"{MODEL_DIR_IN_ZIP}/{n}": (artifact_dir / n).read_bytes() for n in MODEL_FILES}
    extra.update({name: (REPO_ROOT / name).read_bytes() for name in RUNTIME_CODE})
    return extra


def unzipped_bytes(*zips: Path) -> int:
    """The unzipped size of the zips together (what Lambda's 250 MB limit counts)."""
    total = 0
    for path in zips:
        with zipfile.ZipFile(path) as zf:
            total += sum(info.file_size for info in zf.infolist())
    return total


def check_unzipped_limit(function_zip: Path, layer_zip: Path) -> int:
    """The unzipped total, or a DogbreedError naming both sizes when over Lambda's 250 MB."""
    total = unzipped_bytes(function_zip, layer_zip)
    if total > UNZIPPED_LIMIT_BYTES:
        raise DogbreedError(
            f"the Lambda's function zip and layer unzip to {total / 2**20:.0f} MiB, over"
            f" Lambda's limit of {UNZIPPED_LIMIT_BYTES / 2**20:.0f} MiB",
            hint='use deploy.endpoint_mode = "serverless" for a model this large',
        )
    return total


def extract_for_lambda(function_zip: Path, layer_zip: Path, root: Path) -> tuple[Path, Path]:
    """Lay the zips out as Lambda does: the function at root/task, the layer at root/opt
    (packages in root/opt/python); returns (task, opt/python). Used by tests and the bench."""
    task, opt = Path(root) / "task", Path(root) / "opt"
    shutil.rmtree(task, ignore_errors=True)
    shutil.rmtree(opt, ignore_errors=True)
    zipfile.ZipFile(function_zip).extractall(task)
    zipfile.ZipFile(layer_zip).extractall(opt)
    return task, opt / "python"
