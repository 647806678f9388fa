"""SageMaker training jobs for the built-in image-classification algorithm: request, submit, follow.

The request is built by pure functions (`training_job_request`, and the parts every job shares in
ops/train/sagemaker/job_request.py) so tests can compare it field by field; `train_sagemaker` is the thin edge
that checks the inputs in S3 (ops/train/sagemaker/preflight.py), submits the job, watches it (ops.train.sagemaker.watch)
and returns the record (ops/train/sagemaker/job_record.py) for the command to write.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from ops.aws.builtin_images import image_uri
from ops.aws.session import connection_errors
from ops.settings import Settings
from ops.train.sagemaker.job_record import finish_training
from ops.train.sagemaker.job_request import (
    aws_tags,
    builtin_job_definition,
    check_job_rules,
    job_name,
)
from ops.train.sagemaker.preflight import checked_job_inputs


def training_job_request(
    settings: Settings,
    *,
    name: str,
    image: str,
    role_arn: str,
    bucket: str,
    hyperparameters: dict[str, str],
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob request for one run of the built-in algorithm."""
    check_job_rules(settings, info)
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "HyperParameters": hyperparameters,
        **builtin_job_definition(
            settings, image=image, role_arn=role_arn, bucket=bucket, checkpoint_name=name
        ),
        "Tags": aws_tags(settings),
    }
    return request


def submit_training_job(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Check inputs, then CreateTrainingJob; returns (sagemaker client, request)."""
    inputs = checked_job_inputs(settings)
    sm = inputs.target.sagemaker
    request = training_job_request(
        settings,
        name=job_name(settings.project.name),
        image=image_uri(settings.aws.region),
        role_arn=inputs.target.role_arn,
        bucket=inputs.target.bucket,
        hyperparameters=inputs.hyperparameters,
        info=inputs.info,
    )
    return create_training_job(sm, request)


def create_training_job(sm: Any, request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """CreateTrainingJob with AWS's refusal explained; (client, request) for follow_job."""
    from ops.aws.session import explain_client_error

    try:
        sm.create_training_job(**request)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, "creating the training job") from exc
    return sm, request


@connection_errors("SageMaker training")
def train_sagemaker(
    settings: Settings, wait: bool = True, poll_seconds: float | None = None, console: Any = None
) -> dict[str, Any]:
    """Submit the training job; with `wait`, watch it and return the record for `deploy`
    (the command writes it), else {job_name, status, request}."""
    from ops.train.sagemaker.watch import make_console

    console = console or make_console()
    sm, request = submit_training_job(settings)
    return follow_job(settings, sm, request, wait, poll_seconds, console)


def follow_job(
    settings: Settings,
    sm: Any,
    request: dict,
    wait: bool,
    poll_seconds: float | None,
    console: Any,
    what: str = "training job",
    detail: str = "",
) -> dict[str, Any]:
    """After submitting: watch the job to its end and return its record, or say how to follow it
    later."""
    from ops.train.sagemaker.watch import watch_training_job

    name = request["TrainingJobName"]
    console.print(
        f"Submitted {what} [bold]{name}[/] ({detail}{settings.aws.instance_type} x"
        f"{settings.aws.instance_count}, spot={'on' if settings.aws.use_spot else 'off'})"
    )
    if not wait:
        console.print(f"Not waiting. Follow it with `dogbreed jobs --watch {name}`.")
        return {"job_name": name, "status": "InProgress", "request": request}
    if poll_seconds is None:
        poll_seconds = settings.aws.poll_seconds
    description = watch_training_job(sm, name, settings, poll_seconds=poll_seconds, console=console)
    return finish_training(description, settings, echo=console.print)
