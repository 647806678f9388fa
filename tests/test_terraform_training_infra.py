"""terraform/examples/training-infra (modules storage + sagemaker_role) applied and destroyed against moto server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.aws_helpers import client
from tests.conftest import REPO_ROOT

TERRAFORM = shutil.which("terraform")

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
    pytest.mark.skipif(TERRAFORM is None, reason="the terraform binary is not installed"),
]


@pytest.fixture
def workdir(tmp_path, tf_env):
    """A copy of terraform/ (modules + the example) so .terraform and state stay out of the repo."""
    root = tmp_path / "terraform"
    shutil.copytree(REPO_ROOT / "terraform" / "modules", root / "modules")
    shutil.copytree(
        REPO_ROOT / "terraform" / "examples" / "training-infra",
        root / "examples" / "training-infra",
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
    )
    return root / "examples" / "training-infra"


def tf(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [TERRAFORM, *args, "-no-color"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    if check and proc.returncode != 0:
        pytest.fail(f"terraform {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def moto_vars(workdir: Path, moto_url: str, lifecycle: bool = True) -> list[str]:
    """A tfvars file pointing the provider at moto server (JSON, so null can be passed)."""
    values = {
        "endpoints": {"s3": moto_url, "iam": moto_url, "sts": moto_url},
        "emulator": True,
        "force_destroy": True,
    }
    if not lifecycle:
        values["noncurrent_version_expiration_days"] = None
    path = workdir / ("moto.tfvars.json" if lifecycle else "moto-no-lifecycle.tfvars.json")
    path.write_text(json.dumps(values))
    return [f"-var-file={path}"]


def test_training_infra_applies_and_destroys_against_moto(workdir, moto_url):
    tf(workdir, "init", "-input=false")

    # The default configuration plans the lifecycle rule (noncurrent versions, stale uploads).
    tf(workdir, "plan", "-input=false", "-out=default.tfplan", *moto_vars(workdir, moto_url))
    planned = json.loads(tf(workdir, "show", "-json", "default.tfplan").stdout)
    lifecycle = next(
        r
        for r in planned["planned_values"]["root_module"]["child_modules"][1]["resources"]
        + planned["planned_values"]["root_module"]["child_modules"][0]["resources"]
        if r["type"] == "aws_s3_bucket_lifecycle_configuration"
    )
    (rule,) = lifecycle["values"]["rule"]
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 90
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 7
    assert rule["status"] == "Enabled"

    # Applied without it: against moto the provider polls GetBucketLifecycleConfiguration for
    # ~55 s after the PUT (with or without the multipart-abort element), doubling this test.
    vars_ = moto_vars(workdir, moto_url, lifecycle=False)
    tf(workdir, "apply", "-input=false", "-auto-approve", *vars_)
    outputs = json.loads(tf(workdir, "output", "-json").stdout)
    bucket = outputs["bucket_name"]["value"]
    role_arn = outputs["sagemaker_role_arn"]["value"]

    # The bucket is named like dogbreed's default and locked down.
    assert bucket == "dogbreed-123456789012-us-east-1"
    s3 = client(moto_url, "s3")
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    # The role is SageMaker's and may touch only that bucket.
    iam = client(moto_url, "iam")
    role_name = outputs["sagemaker_role_name"]["value"]
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["Arn"] == role_arn
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    s3_resources = {
        r
        for st in doc["Statement"]
        if any(a.startswith("s3:") for a in _list(st["Action"]))
        for r in _list(st["Resource"])
    }
    # the data prefix read, output and checkpoint prefixes written: not the whole bucket
    assert s3_resources == {
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/stanford-dogs/*",
        f"arn:aws:s3:::{bucket}/training-output/*",
        f"arn:aws:s3:::{bucket}/checkpoints/*",
    }
    logs = next(st for st in doc["Statement"] if st.get("Sid") == "TrainingLogs")
    assert all(":log-group:/aws/sagemaker/" in r for r in _list(logs["Resource"]))

    # A re-apply changes nothing (idempotent), and destroy removes everything.
    plan = tf(
        workdir,
        "plan",
        "-input=false",
        "-detailed-exitcode",
        *vars_,
        check=False,
    )
    assert plan.returncode == 0, plan.stdout[-2000:]
    tf(workdir, "destroy", "-input=false", "-auto-approve", *vars_)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert role_name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    # Variable validation catches a bad bucket name before any API call.
    bad = tf(
        workdir,
        "plan",
        "-input=false",
        "-var=bucket_name=Bad_Bucket",
        *vars_,
        check=False,
    )
    assert bad.returncode != 0 and "bucket_name must be 3-63 characters" in bad.stderr


def _list(value):
    return value if isinstance(value, list) else [value]
