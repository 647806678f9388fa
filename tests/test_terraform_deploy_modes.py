"""`dogbreed deploy` / `destroy` on moto server in both endpoint modes, then: a second plan shows
only moto's own differences (docs/aws-rules.md lists them), every IAM policy in the applied state
grants no more than its component calls, and moto's IAM enforcement denies a call outside it."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.state import load_state, update_state
from tests.aws_helpers import client
from tests.conftest import REPO_ROOT
from tests.factories import BREEDS

TERRAFORM = shutil.which("terraform")
MODEL_BUCKET = "dogbreed-models"
MODEL = f"s3://{MODEL_BUCKET}/training-output/job-1/output/model.tar.gz"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"

# What a second `terraform plan` right after `apply` still changes on moto server: {address:
# (actions, attributes that differ)}. Each is moto not storing or not returning what it was sent
# (docs/aws-rules.md explains each); AWS returns them, so there the plan is empty.
MOTO_DIFFERENCES = {
    # moto accepts binaryMediaTypes but never returns them
    "module.api[0].aws_api_gateway_rest_api.this": ("update", {"binary_media_types"}),
    # moto answers DescribeModel with an empty VpcConfig (forces replacement), Environment {}
    # and no tags; the replacement then renames the endpoint configuration and updates the
    # endpoint in place
    "module.endpoint[0].aws_sagemaker_model.this": (
        "create/delete",
        {"vpc_config", "primary_container", "tags"},
    ),
    "module.endpoint[0].aws_sagemaker_endpoint_configuration.this": (
        "create/delete",
        {"production_variants", "data_capture_config", "kms_key_arn", "tags"},
    ),
    "module.endpoint[0].aws_sagemaker_endpoint.this": ("update", set()),
}
# moto does not store EnableNetworkIsolation (issue 11): instance mode's true reads back false
MOTO_INSTANCE_DIFFERENCES = {
    "module.endpoint[0].aws_sagemaker_model.this": {"enable_network_isolation"}
}


def moto_differences(mode: str) -> dict:
    expected = {k: (a, set(v)) for k, (a, v) in MOTO_DIFFERENCES.items()}
    if mode == "instance":
        for address, attributes in MOTO_INSTANCE_DIFFERENCES.items():
            expected[address][1].update(attributes)
    return expected


# Calls SageMaker itself makes with each role (AWS: "CreateModel API: Execution Role
# Permissions" and "CreateTrainingJob API: Execution Role Permissions"), reduced to what the
# built-in algorithm uses.
INFERENCE_CALLS = {
    "s3:GetObject",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}
TRAINING_CALLS = {
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "cloudwatch:PutMetricData",
}
# The Lambda service's own calls with the function's role: its log stream and, with active
# tracing, X-Ray segments.
LAMBDA_RUNTIME_CALLS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}

needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")


def tf(workdir: Path, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [TERRAFORM, *args, "-no-color"], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode in ok, (
        f"terraform {args[0]}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc


def handler_calls() -> set[str]:
    """IAM actions of the AWS operations the lambda_src modules call, read from their source."""
    import botocore.session

    session = botocore.session.get_session()
    by_method = {}
    for service, prefix in (("sagemaker-runtime", "sagemaker"), ("s3", "s3")):
        model = session.get_service_model(service)
        for op in model.operation_names:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()
            by_method[snake] = f"{prefix}:{op}"
    trees = [ast.parse(p.read_text()) for p in sorted((REPO_ROOT / "lambda_src").glob("*.py"))]
    return {
        by_method[node.func.attr]
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in by_method
    }


def role_policies(state: dict) -> dict[str, list[dict]]:
    """{role name: statements} of every inline policy in the local state file (read directly:
    `terraform show -json` would start the 675 MB AWS provider to print the same values)."""
    out: dict[str, list[dict]] = {}
    for res in state["resources"]:
        if res["mode"] == "managed" and res["type"] == "aws_iam_role_policy":
            for instance in res["instances"]:
                values = instance["attributes"]
                out.setdefault(values["role"], []).extend(json.loads(values["policy"])["Statement"])
    return out


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in _listed(s["Action"])}


def resources_of(statements: list[dict], action: str) -> set[str]:
    return {r for s in statements if action in _listed(s["Action"]) for r in _listed(s["Resource"])}


def assumed(moto_url: str, role_arn: str) -> dict:
    creds = client(moto_url, "sts").assume_role(RoleArn=role_arn, RoleSessionName="dogbreed-test")[
        "Credentials"
    ]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def as_role(moto_url: str, service: str, creds: dict):
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1", **creds)


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
@pytest.mark.parametrize("mode", ["serverless", "instance"])
def test_deploy_replan_least_privilege_and_destroy(tf_copy, moto_url, tmp_path, mode):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    trained = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    (prepared / "classes.json").write_text(json.dumps(trained[:2]))  # re-prepared since training
    trained_copy = tmp_path / "trained-classes.json"  # the copy the training record points at
    trained_copy.write_text(json.dumps(trained))
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n[data]\nprepared_dir = "{prepared}"\n'
        f'[deploy]\nterraform_dir = "{tf_copy}"\nendpoint_mode = "{mode}"\n'
        # The serving path's own resources: the alarms, dashboard and autoscaling (issue 16)
        # have their deploy/destroy test in test_terraform_monitoring.py, with the moto shim
        # that autoscaling's tagging needs.
        "monitoring = false\nautoscaling = false\n"
    )
    update_state(
        "training",
        {
            "backend": "sagemaker",
            "model_data_url": MODEL,
            "image_uri": IMAGE,
            "hyperparameters": {"num_classes": "3"},
            "classes": str(trained_copy),
        },
    )
    s3 = client(moto_url, "s3")
    s3.create_bucket(Bucket=MODEL_BUCKET)
    s3.put_object(Bucket=MODEL_BUCKET, Key=MODEL.split("/", 3)[3], Body=b"model")

    result = CliRunner().invoke(cli, ["--config", str(config), "deploy"])
    assert result.exit_code == 0, result.output
    dep = load_state()["deployment"]

    # The Lambda ships the classes the model was trained on, not the re-prepared folder's.
    import zipfile

    with zipfile.ZipFile(dep["variables"]["lambda_zip_path"]) as zf:
        assert len(json.loads(zf.read("classes.json"))) == 3

    sm = client(moto_url, "sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="dogbreed-classifier")
    cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = cfg["ProductionVariants"]
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"].endswith(":role/dogbreed-sagemaker-inference")
    assert ("ServerlessConfig" in variant) == (mode == "serverless")

    # A second plan right after apply: only moto's own differences.
    (tf_copy / "vars.tfvars.json").write_text(json.dumps(dep["variables"]))
    plan = tf(tf_copy, "plan", "-input=false", "-var-file=vars.tfvars.json", "-out=again.plan")
    shown = json.loads(tf(tf_copy, "show", "-json", "again.plan").stdout)
    changed = {}
    for change in shown.get("resource_changes", []):
        if change["change"]["actions"] == ["no-op"] or change["mode"] == "data":
            continue
        before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
        unknown = change["change"].get("after_unknown") or {}
        changed[change["address"]] = (
            "/".join(change["change"]["actions"]),
            # attributes that differ and are known now (computed ones follow from these)
            {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            - {k for k, v in unknown.items() if v is True},
        )
    found = {k: [a, sorted(v)] for k, (a, v) in changed.items()}
    assert changed == moto_differences(mode), json.dumps(found, indent=1) + plan.stdout[-3000:]

    # A new integration timeout redeploys the API (defect 10: it was missing from the triggers).
    (tf_copy / "timeout.tfvars.json").write_text(
        json.dumps({**dep["variables"], "api_integration_timeout_ms": 20000, "lambda_timeout": 19})
    )
    tf(tf_copy, "plan", "-input=false", "-var-file=timeout.tfvars.json", "-out=timeout.plan")
    shown = json.loads(tf(tf_copy, "show", "-json", "timeout.plan").stdout)
    actions_of = {c["address"]: c["change"]["actions"] for c in shown["resource_changes"]}
    assert actions_of["module.api[0].aws_api_gateway_deployment.this"] == ["create", "delete"]

    # Least privilege: every action each role allows is one its component calls.
    state = json.loads((tf_copy / "terraform.tfstate").read_text())
    policies = role_policies(state)
    lam = policies["dogbreed-classify-lambda"]
    assert actions(lam) <= handler_calls() | LAMBDA_RUNTIME_CALLS
    assert resources_of(lam, "sagemaker:InvokeEndpoint") == {endpoint["EndpointArn"]}
    assert "s3:GetObject" not in actions(lam)  # classes ship in the zip (CLASSES_S3_URI unset)
    inference = policies["dogbreed-sagemaker-inference"]
    assert actions(inference) == INFERENCE_CALLS
    assert resources_of(inference, "s3:GetObject") == {f"arn:aws:s3:::{MODEL[5:]}"}
    assert resources_of(inference, "ecr:BatchGetImage") == {
        "arn:aws:ecr:us-east-1:811284229777:repository/image-classification"
    }
    training = policies["dogbreed-sagemaker-execution"]
    assert actions(training) == TRAINING_CALLS
    bucket = load_state()["infrastructure"]["bucket_name"]
    assert resources_of(training, "s3:GetObject") == {
        f"arn:aws:s3:::{bucket}/stanford-dogs/*",
        f"arn:aws:s3:::{bucket}/checkpoints/*",
        # the recipe job's uploaded source (ops/train/sagemaker/recipe_job.py), nothing else of the output
        f"arn:aws:s3:::{bucket}/training-output/*/source/*",
    }
    assert resources_of(training, "s3:PutObject") == {
        f"arn:aws:s3:::{bucket}/training-output/*",
        f"arn:aws:s3:::{bucket}/checkpoints/*",
    }
    assert "s3:DeleteObject" not in actions(training)

    # moto's IAM enforcement: the roles' own calls pass, a call outside the policy is denied.
    from moto.core.authorization import enable_iam_authentication

    inference_creds = assumed(moto_url, model["ExecutionRoleArn"])
    lambda_creds = assumed(moto_url, "arn:aws:iam::123456789012:role/dogbreed-classify-lambda")
    with enable_iam_authentication():
        key = MODEL.split("/", 3)[3]
        body = as_role(moto_url, "s3", inference_creds).get_object(Bucket=MODEL_BUCKET, Key=key)
        assert body["Body"].read() == b"model"
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            as_role(moto_url, "s3", inference_creds).put_object(
                Bucket=MODEL_BUCKET, Key=key, Body=b"overwritten"
            )
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            as_role(moto_url, "s3", lambda_creds).get_object(Bucket=MODEL_BUCKET, Key=key)
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            as_role(moto_url, "sagemaker", lambda_creds).delete_endpoint(
                EndpointName="dogbreed-classifier"
            )
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    # destroy: nothing left behind.
    result = CliRunner().invoke(cli, ["--config", str(config), "destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert [
        r["RoleName"]
        for r in client(moto_url, "iam").list_roles()["Roles"]
        if r["RoleName"].startswith("dogbreed")
    ] == []
