"""The model registry: a SageMaker model package group with one version per trained model.

A version holds what the endpoint needs (image, model.tar.gz, container environment) in its
inference specification, and what people and deploy need to judge it in its metadata: where it
came from, its validation top-1 and drift baselines, the Lambda's dog threshold, digests of the
settings and the data manifests, and the S3 URLs of its classes.json, metrics.json and a
registration.json with everything in full (CustomerMetadataProperties values hold 256
characters). The approval status (PendingManualApproval -> Approved / Rejected) gates production
deploys; `deployed_at` records which version the endpoint serves, so AWS itself knows which
model answers and what ran before it (`deploy --previous`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.exceptions

from ops.aws.session import explain_client_error, make_client, resolve_bucket
from ops.errors import DogbreedError
from ops.settings import Settings

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
MAX_VERSIONS = 100  # versions listed (newest first); older ones stay in the group
MAX_FILE_BYTES = 4 * 1024 * 1024  # classes.json / metrics.json read back from S3
MAX_METADATA_VALUE = 256  # CustomerMetadataProperties value length (API_CreateModelPackage)


def group_name(settings: Settings) -> str:
    """deploy.model_package_group, else "<project>-classifier"."""
    return settings.deploy.model_package_group or f"{settings.project.name}-classifier"


@dataclass(frozen=True)
class Registration:
    """What one version records: the serving triple, its files and the figures to judge it by."""

    model_data_url: str
    image_uri: str
    source: str  # local | sagemaker-builtin | sagemaker-recipe | given
    classes: Path
    environment: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # the artifact's metrics.json
    details: dict[str, Any] = field(default_factory=dict)  # settings, data digests, metadata
    figures: dict[str, str] = field(default_factory=dict)  # short metadata (validation_top1, ...)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version as `dogbreed models` shows it and deploy serves it."""

    version: int
    arn: str
    status: str
    created: str
    image_uri: str
    model_data_url: str
    environment: dict[str, str]
    metadata: dict[str, str]

    @property
    def top1(self) -> float | None:
        try:
            return float(self.metadata["validation_top1"])
        except (KeyError, ValueError):
            return None

    @property
    def deployed_at(self) -> str:
        return self.metadata.get("deployed_at", "")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_digests(prepared: Path | None) -> dict[str, str]:
    """sha256 of the data manifests a model was trained on (classes + .lst files) that exist."""
    if prepared is None:
        return {}
    names = ("classes.json", "train_lst/train.lst", "validation_lst/validation.lst")
    return {n: _digest((prepared / n).read_bytes()) for n in names if (prepared / n).is_file()}


def _client(settings: Settings):
    return make_client(settings, "sagemaker")


def ensure_group(settings: Settings) -> str:
    """The model package group, created on first use; returns its name."""
    sm, name = _client(settings), group_name(settings)
    try:
        sm.describe_model_package_group(ModelPackageGroupName=name)
        return name
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "ValidationException",
            "ResourceNotFound",
        ):
            raise explain_client_error(exc, f"reading model package group {name}") from exc
    try:
        sm.create_model_package_group(
            ModelPackageGroupName=name,
            ModelPackageGroupDescription=f"Dog breed classifiers of project {settings.project.name}",
            Tags=[{"Key": k, "Value": v} for k, v in sorted(settings.aws.tags.items())],
        )
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"creating model package group {name}") from exc
    return name


def _version_of(description: dict[str, Any]) -> ModelVersion:
    container = (description.get("InferenceSpecification") or {}).get("Containers") or [{}]
    created = description.get("CreationTime")
    return ModelVersion(
        version=int(description.get("ModelPackageVersion") or 0),
        arn=description["ModelPackageArn"],
        status=description.get("ModelApprovalStatus") or PENDING,
        created=created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else "",
        image_uri=container[0].get("Image", ""),
        model_data_url=container[0].get("ModelDataUrl", ""),
        environment=dict(container[0].get("Environment") or {}),
        metadata=dict(description.get("CustomerMetadataProperties") or {}),
    )


def list_versions(settings: Settings) -> list[ModelVersion]:
    """The group's newest MAX_VERSIONS versions, newest first; [] when the group does not exist."""
    sm, name = _client(settings), group_name(settings)
    try:
        summaries = sm.list_model_packages(
            ModelPackageGroupName=name,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=MAX_VERSIONS,
        )["ModelPackageSummaryList"]
        described = [
            sm.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries
        ]
    except botocore.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return []
        raise explain_client_error(exc, f"listing model package group {name}") from exc
    return sorted((_version_of(d) for d in described), key=lambda v: v.version, reverse=True)


def get_version(settings: Settings, version: int) -> ModelVersion:
    """One version by number, or a DogbreedError naming the versions there are."""
    versions = list_versions(settings)
    for found in versions:
        if found.version == version:
            return found
    known = ", ".join(str(v.version) for v in versions) or "none"
    raise DogbreedError(
        f"model version {version} is not in {group_name(settings)} (versions: {known})",
        hint="`dogbreed models` lists them",
    )


def _upload_files(settings: Settings, reg: Registration, key: str) -> dict[str, str]:
    """classes.json, metrics.json and registration.json under <model_prefix>/registry/<key>/."""
    s3, bucket = make_client(settings, "s3"), resolve_bucket(settings)
    prefix = f"{settings.deploy.model_prefix.strip('/')}/registry/{key}"
    full = {**reg.details, "metrics": reg.metrics, "figures": reg.figures, "source": reg.source}
    bodies = {
        "classes_url": ("classes.json", reg.classes.read_bytes()),
        "metrics_url": ("metrics.json", json.dumps(reg.metrics, default=str).encode()),
        "registration_url": ("registration.json", json.dumps(full, default=str).encode()),
    }
    urls = {}
    for name, (filename, body) in bodies.items():
        try:
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{filename}", Body=body)
        except botocore.exceptions.ClientError as exc:
            raise explain_client_error(exc, f"uploading s3://{bucket}/{prefix}/{filename}") from exc
        urls[name] = f"s3://{bucket}/{prefix}/{filename}"
    return urls


def find_registered(settings: Settings, reg: Registration) -> ModelVersion | None:
    """The version already holding this model.tar.gz + image, if any (registering is idempotent)."""
    for found in list_versions(settings):
        if (found.model_data_url, found.image_uri) == (reg.model_data_url, reg.image_uri):
            return found
    return None


def register(settings: Settings, reg: Registration) -> tuple[ModelVersion, bool]:
    """(the version, whether it is new): a new version, pending approval, unless this model is
    registered already."""
    existing = find_registered(settings, reg)
    if existing is not None:
        return existing, False
    group = ensure_group(settings)
    key = _digest(f"{reg.model_data_url}\n{reg.image_uri}".encode())[:16]
    urls = _upload_files(settings, reg, key)
    metadata = {**reg.figures, **urls, "source": reg.source}
    metadata = {k: str(v)[:MAX_METADATA_VALUE] for k, v in metadata.items() if v not in (None, "")}
    try:
        arn = _client(settings).create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"{reg.source} model {reg.model_data_url}"[:1024],
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": reg.image_uri,
                        "ModelDataUrl": reg.model_data_url,
                        "Environment": dict(reg.environment),
                    }
                ],
                "SupportedContentTypes": ["application/x-image", "image/jpeg", "image/png"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus=PENDING,
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": urls["metrics_url"]}
                }
            },
            CustomerMetadataProperties=metadata,
        )["ModelPackageArn"]
        found = _version_of(_client(settings).describe_model_package(ModelPackageName=arn))
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"registering a model version in {group}") from exc
    return found, True


def update(
    settings: Settings, found: ModelVersion, status: str | None = None, note: str = "", **metadata
) -> ModelVersion:
    """Set a version's approval status and/or metadata. The current status and the rest of the
    metadata are sent back unchanged: moto replaces both on UpdateModelPackage (the status with
    none), AWS keeps what is not sent, so on AWS this is the same request."""
    request: dict[str, Any] = {
        "ModelPackageArn": found.arn,
        "ModelApprovalStatus": status or found.status,
        "CustomerMetadataProperties": {
            **found.metadata,
            **{k: str(v) for k, v in metadata.items()},
        },
    }
    if status and note:
        request["ApprovalDescription"] = note[:1000]
    sm = _client(settings)
    try:
        sm.update_model_package(**request)
        return _version_of(sm.describe_model_package(ModelPackageName=found.arn))
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"updating model version {found.version}") from exc


def mark_deployed(settings: Settings, found: ModelVersion) -> ModelVersion:
    """Record that the endpoint now serves `found` (its deployed_at: now)."""
    return update(settings, found, deployed_at=datetime.now(UTC).isoformat(timespec="microseconds"))


def deployed_order(versions: list[ModelVersion]) -> list[ModelVersion]:
    """Versions that were ever deployed, the one serving now first."""
    return sorted((v for v in versions if v.deployed_at), key=lambda v: v.deployed_at, reverse=True)


def _read_s3(settings: Settings, url: str) -> bytes:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    s3 = make_client(settings, "s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        if head.get("ContentLength", 0) > MAX_FILE_BYTES:
            raise DogbreedError(f"{url} is over {MAX_FILE_BYTES} bytes: not a registry file")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"reading {url}") from exc


def fetch_files(settings: Settings, found: ModelVersion, folder: Path) -> Path:
    """classes.json and metrics.json of `found` in `folder` (+ registry.json naming the
    version), for deploy; returns the classes.json path."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in (("classes_url", "classes.json"), ("metrics_url", "metrics.json")):
        url = found.metadata.get(key, "")
        if not url.startswith("s3://"):
            if name == "classes.json":
                raise DogbreedError(f"model version {found.version} records no classes.json")
            continue
        (folder / name).write_bytes(_read_s3(settings, url))
    registry = {"version": found.version, "arn": found.arn, "status": found.status}
    (folder / "registry.json").write_text(json.dumps(registry))
    return folder / "classes.json"
