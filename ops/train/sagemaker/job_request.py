"""The parts every SageMaker job request shares: training jobs, tuning trials and recipe jobs.

Pure functions of the settings (no AWS call), so tests compare requests field by field: the job
name, the hyperparameters as the algorithm takes them, the four input channels, the resource and
stopping configuration, tags, and the rules AWS applies that moto does not (check_job_rules).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from ops.data.manifest import CHANNELS
from ops.errors import DogbreedError
from ops.hyperparameters import SPEC, UNSET, check_resize
from ops.settings import Settings

CONTENT_TYPE = "application/x-image"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
MAX_JOB_NAME = 63  # CreateTrainingJob's limit


def job_name(project: str, now: datetime | None = None, max_len: int = MAX_JOB_NAME) -> str:
    """A unique, readable name: <project>-YYYYmmdd-HHMMSS-xxxx, trimmed to SageMaker's limits."""
    now = now or datetime.now(UTC)
    suffix = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    if max_len < 40:  # tuning jobs allow only 32 characters: use a 2-digit year
        suffix = f"{now:%y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    prefix = re.sub(r"[^a-zA-Z0-9-]+", "-", project).strip("-") or "job"
    prefix = prefix[: max_len - len(suffix) - 1].rstrip("-")
    return f"{prefix}-{suffix}"


def format_hyperparameter(value: Any) -> str:
    """SageMaker takes every hyperparameter as a string; booleans as the algorithm's True/False."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def sagemaker_hyperparameters(settings: Settings, info: dict[str, Any] | None) -> dict[str, str]:
    """settings.hyperparameters as strings; num_classes / num_training_samples from info.json when 0."""
    hp = dict(vars(settings.hyperparameters))
    for key in ("num_classes", "num_training_samples"):
        if not hp.get(key):
            if not info or not info.get(key):
                raise DogbreedError(
                    f"hyperparameters.{key} is 0 and the prepared info.json does not give it",
                    hint=f"run `dogbreed data prepare`, or --set hyperparameters.{key}=N",
                )
            hp[key] = int(info[key])
    return {k: format_hyperparameter(v) for k, v in hp.items() if _is_sent(k, v)}


def _is_sent(name: str, value: Any) -> bool:
    """Optional hyperparameters left at 0 / "" are not sent (the algorithm's default applies)."""
    if isinstance(value, bool) or (name in SPEC and not SPEC[name].optional):
        return True
    return value not in UNSET


def s3_uri(bucket: str, *parts: str) -> str:
    """s3://bucket/part/.../ with single slashes and a trailing one (a prefix)."""
    return "s3://" + "/".join([bucket, *(p.strip("/") for p in parts if p.strip("/"))]) + "/"


def channel_prefix(settings: Settings, channel: str) -> str:
    """The key prefix of one channel under aws.data_prefix, as `data upload` writes it."""
    return "/".join(p for p in (settings.aws.data_prefix.strip("/"), channel) if p) + "/"


def input_channels(settings: Settings, bucket: str) -> list[dict[str, Any]]:
    """The four channels `dogbreed data upload` fills: images and .lst manifests per split."""
    return [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{channel_prefix(settings, channel)}",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": CONTENT_TYPE,
            "CompressionType": "None",
            "InputMode": "File",
        }
        for channel in CHANNELS
    ]


# "For training, the image classification algorithm supports P2, P3, G4dn, and G5 GPU instances"
# https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html#IC-instances
TRAINING_INSTANCE_FAMILIES = ("p2", "p3", "p3dn", "g4dn", "g5")
SPOT_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html"


def check_job_rules(settings: Settings, info: dict[str, Any] | None) -> None:
    """The rules AWS applies to a training or tuning job and moto does not, before any AWS call."""
    aws = settings.aws
    family = aws.instance_type.removeprefix("ml.").split(".")[0]
    if not aws.instance_type.startswith("ml.") or family not in TRAINING_INSTANCE_FAMILIES:
        raise DogbreedError(
            f"aws.instance_type {aws.instance_type!r}: the image-classification algorithm trains"
            " only on GPU instances (ml.p2, ml.p3, ml.g4dn, ml.g5)",
            exit_code=2,
            hint="e.g. ml.p3.2xlarge or ml.g5.xlarge",
        )
    if aws.instance_count > 1 and not settings.hyperparameters.kv_store:
        raise DogbreedError(
            f"aws.instance_count = {aws.instance_count} needs hyperparameters.kv_store"
            " (dist_sync or dist_async) for multi-instance training",
            exit_code=2,
        )
    check_spot(settings)
    check_resize(settings.hyperparameters, info)


def check_spot(settings: Settings) -> None:
    """Managed spot training: MaxWait >= MaxRun, and checkpoints somewhere (any training job)."""
    aws = settings.aws
    if aws.use_spot:
        if aws.max_wait_seconds < aws.max_run_seconds:
            raise DogbreedError(
                f"spot training needs aws.max_wait_seconds ({aws.max_wait_seconds}) >="
                f" aws.max_run_seconds ({aws.max_run_seconds}) ({SPOT_DOC})",
                exit_code=2,
            )
        if not aws.checkpoint_prefix.strip("/"):
            raise DogbreedError(
                "spot training needs a checkpoint location: aws.checkpoint_prefix is empty"
                f" ({SPOT_DOC})",
                exit_code=2,
            )


def resource_config(settings: Settings) -> dict[str, Any]:
    """ResourceConfig: instance type and count, volume size."""
    return {
        "InstanceType": settings.aws.instance_type,
        "InstanceCount": int(settings.aws.instance_count),
        "VolumeSizeInGB": int(settings.aws.volume_size_gb),
    }


def stopping_condition(settings: Settings) -> dict[str, int]:
    """StoppingCondition: MaxRuntime, and MaxWait for spot jobs."""
    cond = {"MaxRuntimeInSeconds": int(settings.aws.max_run_seconds)}
    if settings.aws.use_spot:  # MaxWait >= MaxRun: check_job_rules
        cond["MaxWaitTimeInSeconds"] = int(settings.aws.max_wait_seconds)
    return cond


def aws_tags(settings: Settings, **extra: str) -> list[dict[str, str]]:
    """aws.tags plus the project tag (and `extra`), sorted, as SageMaker Tags."""
    tags = {**settings.aws.tags, "dogbreed:project": settings.project.name, **extra}
    return [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]


def builtin_job_definition(
    settings: Settings, *, image: str, role_arn: str, bucket: str, checkpoint_name: str
) -> dict[str, Any]:
    """What a training job and each tuning trial of the built-in algorithm share: image, role,
    channels, output, resources, stopping, spot and (with spot) its checkpoint location."""
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "InputDataConfig": input_channels(settings, bucket),
        "OutputDataConfig": {"S3OutputPath": s3_uri(bucket, settings.aws.output_prefix)},
        "ResourceConfig": resource_config(settings),
        "StoppingCondition": stopping_condition(settings),
        "EnableManagedSpotTraining": bool(settings.aws.use_spot),
    }
    if settings.aws.use_spot:
        # Spot needs a checkpoint location (check_job_rules), or an interrupted job starts over.
        definition["CheckpointConfig"] = {
            "S3Uri": s3_uri(bucket, settings.aws.checkpoint_prefix, checkpoint_name),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return definition
