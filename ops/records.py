"""The typed "serve", "deployment" and "infrastructure" records of the state file, one reader each.

A leaf, not a stage's own module, because each is read by a stage that comes before its writer in
the import order: `classify` (ops/api) and `evaluate` find the deployed API, and training finds
the role that `deploy --infra-only` created. (The "training" record has its reader in
ops/train/record.py: only later stages read it.) A field of the wrong type is a one-line error
that names the record when the state file is read (ops/state_shape.py), never a traceback here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ops.state import get_record


@dataclass(frozen=True)
class ServeRecord:
    """What a running (or stopped) `dogbreed serve` left: its URLs, model and process."""

    status: str = ""
    runtime_url: str | None = None
    api_url: str | None = None
    endpoint_name: str | None = None
    artifact: str | None = None
    model_identity: str | None = None
    runtime: str | None = None
    max_batch_size: int | None = None
    pid: int | None = None
    started_at: str | None = None
    stopped_at: str | None = None

    @property
    def running(self) -> bool:
        return self.status != "stopped"


@dataclass(frozen=True)
class DeploymentRecord:
    """What `dogbreed deploy` applied: the API, the endpoint, the model and the variables."""

    status: str = ""
    api_url: str | None = None
    classify_url: str | None = None
    api_key: str | None = None
    endpoint_name: str | None = None
    lambda_name: str | None = None
    model_name: str | None = None
    alarm_names: dict[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None
    model_data_url: str | None = None
    image_uri: str | None = None
    model_package: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    rollout: dict[str, Any] = field(default_factory=dict)  # lambda mode (ops/deploy/lambda_rollout)
    deployed_at: str | None = None
    destroyed_at: str | None = None

    @property
    def deployed(self) -> bool:
        return self.status == "deployed"


@dataclass(frozen=True)
class InfrastructureRecord:
    """The bucket and SageMaker role a deploy (or `--infra-only`) created."""

    bucket_name: str | None = None
    sagemaker_role_arn: str | None = None
    terraform_dir: str | None = None
    applied_at: str | None = None
    status: str | None = None
    destroyed_at: str | None = None


def _read(cls: type, key: str, path: Path | None):
    """cls from the state file's `key` record, or None. The file's reader has already checked
    each field's type (ops/state_shape.py, one table for every record); unknown keys stay out."""
    record = get_record(key, path)
    if record is None:
        return None
    return cls(**{f.name: record[f.name] for f in fields(cls) if record.get(f.name) is not None})


def read_serve(path: Path | None = None) -> ServeRecord | None:
    return _read(ServeRecord, "serve", path)


def read_deployment(path: Path | None = None) -> DeploymentRecord | None:
    return _read(DeploymentRecord, "deployment", path)


def read_infrastructure(path: Path | None = None) -> InfrastructureRecord | None:
    return _read(InfrastructureRecord, "infrastructure", path)
