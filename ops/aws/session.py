"""One place that builds boto3 clients from settings, and turns AWS setup problems into DogbreedError.

`aws.endpoint_url` (or the standard AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> variables that
boto3 reads itself) points every client at an emulator such as moto server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from ops.errors import DogbreedError
from ops.settings import Settings


def make_session(settings: Settings) -> boto3.Session:
    kwargs: dict[str, Any] = {"region_name": settings.aws.region}
    if settings.aws.profile:
        kwargs["profile_name"] = settings.aws.profile
    try:
        return boto3.Session(**kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise DogbreedError(f"AWS profile {settings.aws.profile!r} not found", exit_code=2) from exc


def make_client(settings: Settings, service: str, max_pool: int = 10) -> Any:
    """A boto3 client for `service`, honouring aws.endpoint_url and failing early without credentials."""
    session = make_session(settings)
    if session.get_credentials() is None:
        raise DogbreedError(
            "no AWS credentials found",
            hint="run `aws configure`, set AWS_PROFILE, or use --backend local",
        )
    if (
        session.region_name not in session.get_available_regions(service)
        and not settings.aws.endpoint_url
    ):
        known = session.get_available_regions(service)
        if known:
            raise DogbreedError(
                f"unknown or unsupported AWS region {session.region_name!r} for {service}"
            )
    config = Config(
        retries={"max_attempts": 10, "mode": "adaptive"},
        max_pool_connections=max_pool,
        user_agent_extra="dogbreed-id",
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.aws.endpoint_url:
        kwargs["endpoint_url"] = settings.aws.endpoint_url
    return session.client(service, **kwargs)


def explain_client_error(exc: botocore.exceptions.ClientError, action: str) -> DogbreedError:
    """A one-line DogbreedError for an AWS error, with hints for the common causes."""
    err = exc.response.get("Error", {})
    code = err.get("Code", "Unknown")
    message = err.get("Message", str(exc))
    hints = {
        "NoSuchBucket": "create it with `terraform apply` or set aws.bucket",
        "AccessDenied": "check the IAM policy of your credentials",
        "ResourceLimitExceeded": "request a SageMaker quota increase for this instance type",
        "ExpiredToken": "refresh your AWS credentials",
        "InvalidClientTokenId": "your AWS access key is not valid",
    }
    return DogbreedError(f"{action} failed: {code}: {message}", hint=hints.get(code))


def account_id(settings: Settings) -> str:
    """The AWS account id of the current credentials (STS GetCallerIdentity)."""
    try:
        return make_client(settings, "sts").get_caller_identity()["Account"]
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, "reading the AWS account id") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise DogbreedError(f"cannot reach AWS STS: {exc}") from exc


def resolve_bucket(settings: Settings) -> str:
    """aws.bucket, else "<project>-<account>-<region>" (the name terraform's storage module gets)."""
    if settings.aws.bucket:
        return settings.aws.bucket
    return f"{settings.project.name}-{account_id(settings)}-{settings.aws.region}".lower()


@contextlib.contextmanager
def connection_errors(action: str) -> Iterator[None]:
    """Turn botocore's transport/credential errors (no HTTP answer at all) into one-line errors."""
    try:
        yield
    except botocore.exceptions.EndpointConnectionError as exc:
        raise DogbreedError(
            f"{action} failed: cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}",
            hint="check aws.region, aws.endpoint_url and your network",
        ) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise DogbreedError(f"{action} failed: no AWS credentials found") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise DogbreedError(f"{action} failed: {exc}") from exc
