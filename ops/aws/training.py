"""SageMaker training jobs for the built-in image-classification algorithm: request, submit, record.

The request is built by pure functions (`training_job_request`, `sagemaker_hyperparameters`) so
tests can compare it field by field; `train_sagemaker` is the thin edge that checks the inputs in
S3, submits the job, watches it (ops.aws.watch) and records the result in the state file.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from ops.aws.session import connection_errors
from ops.data.manifest import CHANNELS, PreparedData
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import get_record, update_state

ALGORITHM = "image-classification"
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


def image_uri(region: str) -> str:
    """The algorithm's training image in `region`, from the SageMaker SDK's table (slow import)."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    config_logger = logging.getLogger("sagemaker.config")
    if config_logger.level == logging.NOTSET:  # the SDK logs its config search at INFO
        config_logger.setLevel(logging.WARNING)
    from sagemaker import image_uris

    try:
        return image_uris.retrieve(ALGORITHM, region)
    except ValueError as exc:
        raise DogbreedError(
            f"the {ALGORITHM} algorithm is not available in region {region!r}",
            exit_code=2,
            hint="set aws.region to a SageMaker region, e.g. us-east-1",
        ) from exc


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
    return {k: format_hyperparameter(v) for k, v in hp.items() if v != "" and v is not None}


def prepared_info(settings: Settings) -> dict[str, Any] | None:
    """The prepared folder's info.json, or None when it is not on this machine."""
    path = PreparedData(settings.resolve(settings.data.prepared_dir)).info_path
    if not path.is_file():
        return None
    return PreparedData(path.parent).info()


def s3_uri(bucket: str, *parts: str) -> str:
    return "s3://" + "/".join([bucket, *(p.strip("/") for p in parts if p.strip("/"))]) + "/"


def channel_prefix(settings: Settings, channel: str) -> str:
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


def resource_config(settings: Settings) -> dict[str, Any]:
    return {
        "InstanceType": settings.aws.instance_type,
        "InstanceCount": int(settings.aws.instance_count),
        "VolumeSizeInGB": int(settings.aws.volume_size_gb),
    }


def stopping_condition(settings: Settings) -> dict[str, int]:
    cond = {"MaxRuntimeInSeconds": int(settings.aws.max_run_seconds)}
    if settings.aws.use_spot:
        if settings.aws.max_wait_seconds < settings.aws.max_run_seconds:
            raise DogbreedError(
                "aws.max_wait_seconds must be >= aws.max_run_seconds for spot training",
                exit_code=2,
            )
        cond["MaxWaitTimeInSeconds"] = int(settings.aws.max_wait_seconds)
    return cond


def aws_tags(settings: Settings, **extra: str) -> list[dict[str, str]]:
    tags = {**settings.aws.tags, "dogbreed:project": settings.project.name, **extra}
    return [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]


def training_job_request(
    settings: Settings,
    *,
    name: str,
    image: str,
    role_arn: str,
    bucket: str,
    hyperparameters: dict[str, str],
) -> dict[str, Any]:
    """The CreateTrainingJob request for one run of the built-in algorithm."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters,
        "InputDataConfig": input_channels(settings, bucket),
        "OutputDataConfig": {"S3OutputPath": s3_uri(bucket, settings.aws.output_prefix)},
        "ResourceConfig": resource_config(settings),
        "StoppingCondition": stopping_condition(settings),
        "EnableManagedSpotTraining": bool(settings.aws.use_spot),
        "Tags": aws_tags(settings),
    }
    if settings.aws.use_spot:
        request["CheckpointConfig"] = {
            "S3Uri": s3_uri(bucket, settings.aws.checkpoint_prefix, name),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return request


def resolve_role(settings: Settings) -> str:
    """aws.role_arn, else the role `dogbreed deploy` / terraform recorded, else a clear error."""
    if settings.aws.role_arn:
        return settings.aws.role_arn
    infra = get_record("infrastructure") or {}
    if infra.get("sagemaker_role_arn"):
        return infra["sagemaker_role_arn"]
    raise DogbreedError(
        "no SageMaker execution role",
        exit_code=2,
        hint="set aws.role_arn (or DOGBREED_AWS__ROLE_ARN), or create it with "
        "`dogbreed deploy` / terraform/examples/training-infra",
    )


def check_role(settings: Settings, role_arn: str) -> None:
    """Fail early when the role does not exist (skipped when IAM may not be read)."""
    from ops.aws.session import make_client

    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        make_client(settings, "iam").get_role(RoleName=role_name)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            raise DogbreedError(
                f"SageMaker execution role {role_arn} does not exist",
                hint="create it with terraform (modules/sagemaker_role) or fix aws.role_arn",
            ) from exc
        # AccessDenied and friends: the caller may not read IAM; SageMaker will check the role.


def check_channels(s3: Any, settings: Settings, bucket: str) -> dict[str, int]:
    """Each channel prefix must hold at least one object; returns the counts seen (first page)."""
    from ops.aws.session import explain_client_error

    counts: dict[str, int] = {}
    for channel in CHANNELS:
        prefix = channel_prefix(settings, channel)
        try:
            page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        except botocore.exceptions.ClientError as exc:
            raise explain_client_error(exc, f"listing s3://{bucket}/{prefix}") from exc
        counts[channel] = int(page.get("KeyCount", 0))
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise DogbreedError(
            f"S3 channel(s) {', '.join(empty)} empty under s3://{bucket}/"
            f"{settings.aws.data_prefix.strip('/')}/",
            hint="run `dogbreed data upload` first",
        )
    return counts


def submit_training_job(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Check inputs, then CreateTrainingJob; returns (sagemaker client, request)."""
    from ops.aws.session import explain_client_error, make_client, resolve_bucket

    role_arn = resolve_role(settings)
    sm = make_client(settings, "sagemaker")
    s3 = make_client(settings, "s3")
    bucket = resolve_bucket(settings)
    check_channels(s3, settings, bucket)
    check_role(settings, role_arn)
    hyperparameters = sagemaker_hyperparameters(settings, prepared_info(settings))
    request = training_job_request(
        settings,
        name=job_name(settings.project.name),
        image=image_uri(settings.aws.region),
        role_arn=role_arn,
        bucket=bucket,
        hyperparameters=hyperparameters,
    )
    try:
        sm.create_training_job(**request)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, "creating the training job") from exc
    return sm, request


def final_metrics(description: dict[str, Any]) -> dict[str, float]:
    """FinalMetricDataList as {name: value}."""
    return {
        m["MetricName"]: float(m["Value"]) for m in description.get("FinalMetricDataList") or []
    }


def training_record(
    description: dict[str, Any], settings: Settings, image: str | None = None
) -> dict[str, Any]:
    """The state file's "training" record for a completed SageMaker job (what deploy reads)."""
    from ops.training_record import common_fields

    algorithm = description.get("AlgorithmSpecification", {})
    model_data_url = description.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    image_uri = image or algorithm.get("TrainingImage")
    classes = settings.resolve(settings.data.prepared_dir) / "classes.json"
    return {
        **common_fields(
            "sagemaker", model_data_url, image_uri, str(classes), final_metrics(description)
        ),
        "job_name": description["TrainingJobName"],
        "job_arn": description.get("TrainingJobArn"),
        "model_data_url": model_data_url,
        "image_uri": image_uri,
        "region": settings.aws.region,
        "hyperparameters": description.get("HyperParameters", {}),
        "billable_seconds": description.get("BillableTimeInSeconds"),
        "training_seconds": description.get("TrainingTimeInSeconds"),
        "settings": settings.as_dict(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def finish_training(
    description: dict[str, Any], settings: Settings, echo: Any = print
) -> dict[str, Any]:
    """Record a Completed job; raise with the FailureReason when it Failed or was Stopped."""
    name = description["TrainingJobName"]
    status = description.get("TrainingJobStatus")
    if status == "Completed":
        record = training_record(description, settings)
        path = update_state("training", record)
        echo(f"Model artifact: {record['model_data_url']}")
        echo(f"Recorded in {path}")
        return record
    if status == "Failed":
        reason = description.get("FailureReason") or "no reason given"
        raise DogbreedError(f"training job {name} failed: {reason}")
    if status == "Stopped":
        raise DogbreedError(f"training job {name} was stopped before it finished")
    echo(f"Training job {name} is {status}; follow it with `dogbreed jobs --watch {name}`")
    return {"job_name": name, "status": status}


@connection_errors("SageMaker training")
def train_sagemaker(
    settings: Settings, wait: bool = True, poll_seconds: float | None = None, console: Any = None
) -> dict[str, Any]:
    """Submit the training job; with `wait`, watch it and record the model for `deploy`."""
    from ops.aws.watch import make_console, watch_training_job

    console = console or make_console()
    sm, request = submit_training_job(settings)
    name = request["TrainingJobName"]
    console.print(
        f"Submitted training job [bold]{name}[/] ({settings.aws.instance_type} x"
        f"{settings.aws.instance_count}, spot={'on' if settings.aws.use_spot else 'off'})"
    )
    if not wait:
        console.print(f"Not waiting. Follow it with `dogbreed jobs --watch {name}`.")
        return {"job_name": name, "status": "InProgress", "request": request}
    if poll_seconds is None:
        poll_seconds = settings.aws.poll_seconds
    description = watch_training_job(sm, name, settings, poll_seconds=poll_seconds, console=console)
    return finish_training(description, settings, echo=console.print)
