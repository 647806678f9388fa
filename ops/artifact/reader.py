"""Reading a model artifact (folder or model.tar.gz): find it, extract it, verify it, parse its files.

The contract (written by ops/artifact/export.py):

    model.onnx          input "input" float32 [N,3,S,S] (preprocessed), output "probabilities" [N,C]
    preprocessing.json  ops.model.preprocess.Preprocessing
    classes.json        [{"index", "wnid", "name"}, ...]
    metadata.json       its "sha256" map is checked on load (a mismatch names the file), and its
                        "dog" record holds the dog signal's thresholds
    metrics.json        (optional here)

Every problem is a DogbreedError that names the file and says how to fix it. The servers
(ops/endpoint/onnx_runtime.py, the serving image's ops/endpoint/container_entrypoint.py) and deploy read
artifacts through here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lambda_src.answer import SIGNAL_TOP_PROBABILITY
from ops.archives import ArchiveLimits, extract_archive, member_path, temporary_folder
from ops.errors import DogbreedError
from ops.model.preprocess import Preprocessing
from ops.settings_sections import LocalSettings
from ops.state import get_record

REQUIRED_FILES = ("model.onnx", "preprocessing.json", "classes.json")


def _find_artifact_root(folder: Path) -> Path | None:
    """The folder holding model.onnx: the folder itself or one level below (tarball layouts vary)."""
    if (folder / "model.onnx").is_file():
        return folder
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (child / "model.onnx").is_file():
            return child
    return None


def artifact_limits(settings: Any = None) -> ArchiveLimits:
    """The caps on a model.tar.gz: local.artifact_max_* of `settings` (default: the defaults)."""
    local = settings.local if settings is not None else LocalSettings()
    return ArchiveLimits.from_settings(local, "artifact", "local")


def extract_tarball(
    tar_path: Path, dest: Path | None = None, limits: ArchiveLimits | None = None
) -> Path:
    """model.tar.gz -> a folder (a temporary one removed at exit unless `dest` is given), through
    the one checked extraction (ops/archives.py); the default caps are local.artifact_max_*."""
    folder = dest if dest is not None else temporary_folder("dogbreed-artifact-")
    try:
        return extract_archive(
            Path(tar_path), folder, "model artifact", limits or artifact_limits()
        )
    except BaseException:
        if dest is None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _read_json(path: Path, what: str) -> Any:
    """A JSON file of the artifact; DogbreedError naming it when unreadable or invalid."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DogbreedError(
            f"artifact file {path} is not valid JSON ({exc})",
            hint=f"it should hold {what}: export the artifact again",
        ) from exc


def _listed_file(root: Path, name: object, meta_path: Path) -> Path:
    """A name of the sha256 map as a path inside the artifact; anything else (absolute, `..`,
    a link leading out) gets one error that does not say whether an outside file exists."""
    plain = member_path(name) if isinstance(name, str) else None
    path = root.joinpath(*plain.parts) if plain else None
    if path is None or not path.resolve().is_relative_to(root.resolve()):
        raise DogbreedError(
            f"{meta_path}: the sha256 map names {str(name)[:200]!r}, which is not a file "
            "inside the artifact",
            hint="only plain relative names of the artifact's own files are allowed",
        )
    return path


def verify_checksums(root: Path) -> None:
    """Check every file listed in metadata.json's "sha256" map; DogbreedError naming a mismatch.

    Artifacts without the map (older exports, other producers) are accepted unchecked.
    """
    from ops.artifact.export import sha256_file

    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        return
    meta = _read_json(meta_path, "the artifact's metadata")
    sums = meta.get("sha256") if isinstance(meta, dict) else None
    if not isinstance(sums, dict):
        return
    for name, expected in sorted(sums.items()):
        path = _listed_file(root, name, meta_path)
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
        from ops.model.preprocess import _RESAMPLE

        if prep.interpolation not in _RESAMPLE:
            raise ValueError(f"unknown interpolation {prep.interpolation!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise DogbreedError(
            f"artifact file {path} is not valid preprocessing settings ({exc})",
            hint="export the artifact again",
        ) from exc
    return prep


def resolve_artifact_dir(path: Path | str, limits: ArchiveLimits | None = None) -> Path:
    """An artifact folder or model.tar.gz (extracted within `limits`) -> the folder with
    model.onnx; DogbreedError if invalid."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DogbreedError(f"model artifact {path} not found", hint="run `dogbreed train` first")
    folder = extract_tarball(path, limits=limits) if path.is_file() else path
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

    record = get_record("training") or {}
    if record.get("backend", "local") == "local":
        for key in ("artifact_dir", "model_tar"):
            if record.get(key) and Path(record[key]).exists():
                return Path(record[key])
    raise DogbreedError(
        "no local model artifact recorded",
        hint="run `dogbreed train` (backend local) or pass --artifact DIR|model.tar.gz",
    )


def dog_settings(artifact_dir: Path, outputs: list[str]) -> dict[str, Any]:
    """The artifact's dog signal: graph output (or None) and thresholds, from metadata.json.

    Artifacts from before the dog signal, or without thresholds, accept everything (threshold 0)
    and say so through their signal name."""
    from ops.model.dogness import OUTPUT_NAME as DOG_OUTPUT
    from ops.model.dogness import SIGNAL_IMAGENET

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
