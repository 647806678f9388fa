"""The typed "serve", "deployment" and "infrastructure" records of the state file, one reader each.

A leaf, not a stage's own module, because each is read by a stage that comes before its writer in
the import order: `classify` (ops/api) and `evaluate` find the deployed API, and training finds
the role that `deploy --infra-only` created. (The "training" record has its reader in
ops/train/record.py: only later stages read it.) A field of the wrong type is a one-line error
that names the record, never a traceback further on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ops.errors import DogbreedError
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


def _kind(hint: Any) -> type:
    """The plain type of a field's hint: str for `str | None`, dict for `dict[str, Any]`."""
    args = [a for a in get_args(hint) if a is not type(None)]
    hint = args[0] if args and get_origin(hint) is not dict else hint
    return get_origin(hint) or hint


def _typed(cls: type, key: str, record: dict[str, Any]):
    """cls from a state-file dict: unknown keys kept out, each known value type-checked."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in record or record[f.name] is None:
            continue
        value = record[f.name]
        kind = _kind(hints[f.name])
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise DogbreedError(
                f'the state file\'s "{key}" record has {f.name} = {value!r}, not a {kind.__name__}',
                hint="fix or delete that record in .dogbreed/state.json (it is re-written by "
                "the command that made it)",
            )
        values[f.name] = value
    return cls(**values)


def _read(cls: type, key: str, path: Path | None):
    record = get_record(key, path)
    if record is None:
        return None
    if not isinstance(record, dict):
        raise DogbreedError(
            f'the state file\'s "{key}" record is not an object',
            hint="fix or delete it in .dogbreed/state.json",
        )
    return _typed(cls, key, record)


def read_serve(path: Path | None = None) -> ServeRecord | None:
    return _read(ServeRecord, "serve", path)


def read_deployment(path: Path | None = None) -> DeploymentRecord | None:
    return _read(DeploymentRecord, "deployment", path)


def read_infrastructure(path: Path | None = None) -> InfrastructureRecord | None:
    return _read(InfrastructureRecord, "infrastructure", path)
