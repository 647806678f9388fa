"""Checks against AWS before a SageMaker job is submitted: the role, the uploaded channels.

Shared by training, tuning and recipe jobs, so a missing role or an empty channel fails with a
hint before CreateTrainingJob, not minutes later in the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from ops.data.manifest import CHANNELS, PreparedData
from ops.errors import DogbreedError
from ops.records import read_infrastructure
from ops.settings import Settings
from ops.train.sagemaker.job_request import (
    channel_prefix,
    check_job_rules,
    sagemaker_hyperparameters,
)


def prepared_info(settings: Settings) -> dict[str, Any] | None:
    """The prepared folder's info.json, or None when it is not on this machine."""
    path = PreparedData(settings.resolve(settings.data.prepared_dir)).info_path
    if not path.is_file():
        return None
    return PreparedData(path.parent).info()


def resolve_role(settings: Settings) -> str:
    """aws.role_arn, else the role `dogbreed deploy` / terraform recorded, else a clear error."""
    if settings.aws.role_arn:
        return settings.aws.role_arn
    infra = read_infrastructure()
    if infra and infra.sagemaker_role_arn:
        return infra.sagemaker_role_arn
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


@dataclass(frozen=True)
class JobTarget:
    """Where any SageMaker job of ours runs, once the role, the bucket and its channels check out."""

    sagemaker: Any
    s3: Any
    role_arn: str
    bucket: str


def checked_job_target(settings: Settings) -> JobTarget:
    """The role, the bucket and its uploaded channels: the AWS checks every job submit runs."""
    from ops.aws.session import make_client, resolve_bucket

    role_arn = resolve_role(settings)
    sm, s3 = make_client(settings, "sagemaker"), make_client(settings, "s3")
    bucket = resolve_bucket(settings)
    check_channels(s3, settings, bucket)
    check_role(settings, role_arn)
    return JobTarget(sm, s3, role_arn, bucket)


@dataclass(frozen=True)
class JobInputs:
    """What a built-in algorithm job (training or tuning) needs once every check has passed."""

    target: JobTarget
    info: dict[str, Any] | None
    hyperparameters: dict[str, str]


def checked_job_inputs(settings: Settings) -> JobInputs:
    """The local rules first (no AWS call), then the AWS checks of checked_job_target."""
    info = prepared_info(settings)
    check_job_rules(settings, info)
    hyperparameters = sagemaker_hyperparameters(settings, info)
    return JobInputs(checked_job_target(settings), info, hyperparameters)
