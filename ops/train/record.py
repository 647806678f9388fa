"""The state file's "training" record: one shape for both backends, one reader for every stage.

Every record has backend, artifact (a local artifact folder or s3://.../model.tar.gz), image (the
inference image URI; None locally), classes (the classes.json trained on) and metrics; backend
extras (job_name, model_tar, billable_seconds, ...) sit beside them. `read_training` is what
deploy, serve and the pipeline read, also for records written before these fields existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.state import get_record

KEY = "training"


def common_fields(
    backend: str, artifact: str | None, image: str | None, classes: str | None, metrics: dict
) -> dict[str, Any]:
    """The fields every training record has, whichever backend wrote it."""
    return {
        "backend": backend,
        "artifact": artifact,
        "image": image,
        "classes": classes,
        "metrics": metrics,
    }


@dataclass(frozen=True)
class TrainingRecord:
    """The last training as deploy, serve and the pipeline see it."""

    backend: str
    artifact: str | None
    image: str | None
    classes: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # the whole stored record


def from_record(record: dict[str, Any]) -> TrainingRecord:
    """A stored record as a TrainingRecord (older records: artifact_dir / model_data_url /
    image_uri stand in for the common fields)."""
    backend = record.get("backend", "local")
    artifact = record.get("artifact") or (
        record.get("artifact_dir") or record.get("model_tar")
        if backend == "local"
        else record.get("model_data_url")
    )
    return TrainingRecord(
        backend=backend,
        artifact=artifact,
        image=record.get("image") or record.get("image_uri"),
        classes=record.get("classes"),
        metrics=record.get("metrics") or {},
        extra=dict(record),
    )


def read_training(path: Path | None = None) -> TrainingRecord | None:
    """The last training, or None when none is recorded."""

    record = get_record(KEY, path)
    return from_record(record) if record else None


def last_local_artifact(path: Path | None = None) -> Path:
    """The artifact of the last local training, for `serve` and `predict` without --artifact."""
    record = read_training(path)
    if record is not None and record.backend == "local":
        for candidate in (record.artifact, record.extra.get("model_tar")):
            if candidate and Path(candidate).exists():
                return Path(candidate)
    raise DogbreedError(
        "no local model artifact recorded",
        hint="run `dogbreed train` (backend local) or pass --artifact DIR|model.tar.gz",
    )
