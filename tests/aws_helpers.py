"""Arrange steps shared by the SageMaker tests: settings pointed at an endpoint, a bucket with channels, a role."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from ops.data.manifest import CHANNELS
from ops.settings import Settings

BUCKET = "dogbreed-test-data"
ROLE_NAME = "dogbreed-sagemaker-test"
ASSUME_SAGEMAKER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def client(endpoint: str, service: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


def create_role(endpoint: str) -> str:
    """The SageMaker execution role in the emulated IAM; returns its ARN."""
    iam = client(endpoint, "iam")
    return iam.create_role(
        RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(ASSUME_SAGEMAKER)
    )["Role"]["Arn"]


def upload_channels(endpoint: str, prepared: Path, prefix: str = "stanford-dogs") -> int:
    """What `dogbreed data upload` leaves in S3: <prefix>/<channel>/<relative path>."""
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket=BUCKET)
    count = 0
    for channel in CHANNELS:
        for path in sorted((prepared / channel).rglob("*")):
            if path.is_file():
                key = f"{prefix}/{channel}/{path.relative_to(prepared / channel).as_posix()}"
                s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                count += 1
    return count


def sagemaker_settings(endpoint: str, prepared: Path, role_arn: str, **overrides) -> Settings:
    """Settings for the sagemaker backend against `endpoint` (moto server or the fake)."""
    values = {
        "project.backend": "sagemaker",
        "aws.endpoint_url": endpoint,
        "aws.bucket": BUCKET,
        "aws.role_arn": role_arn,
        "data.prepared_dir": str(prepared),
        **overrides,
    }
    return Settings().with_overrides(values)


def settings_toml(endpoint: str, prepared: Path, role_arn: str, extra: str = "") -> str:
    """The same settings as a dogbreed.toml, for CLI tests."""
    return (
        f'[project]\nname = "dogbreed"\nbackend = "sagemaker"\n'
        f'[aws]\nendpoint_url = "{endpoint}"\nbucket = "{BUCKET}"\nrole_arn = "{role_arn}"\npoll_seconds = 0\n'
        f'[data]\nprepared_dir = "{prepared}"\n{extra}'
    )


def text_console(width: int = 200) -> tuple[Console, io.StringIO]:
    """A rich console writing plain text into a buffer, so tests can read the live view."""
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, highlight=False), buf


@pytest.fixture
def role_arn(moto_url):
    """A SageMaker execution role in the moto account."""
    return create_role(moto_url)


@pytest.fixture
def uploaded(moto_url, prepared_dir):
    """A prepared folder whose four channels are in the moto bucket."""
    upload_channels(moto_url, prepared_dir)
    return prepared_dir
