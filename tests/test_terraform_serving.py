"""The root Terraform configuration (storage + role + SageMaker endpoint + Lambda + API Gateway):
fmt, validate, checkov, and `dogbreed deploy` / `destroy` against moto server, leaving nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.api.lambda_package import build_lambda_zip, sha256_b64
from ops.cli import cli
from ops.state import load_state, update_state
from tests.aws_helpers import client
from tests.conftest import REPO_ROOT
from tests.factories import BREEDS

TERRAFORM = shutil.which("terraform")
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
MODEL = "s3://dogbreed-models/training-output/job-1/output/model.tar.gz"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"

needs_terraform = pytest.mark.skipif(
    TERRAFORM is None, reason="the terraform binary is not installed"
)


def tf(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [TERRAFORM, *args, "-no-color"], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (
        f"terraform {args[0]}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc


def grants(iam, role_arn: str, action_part: str) -> list[dict]:
    """The statements of a role's one inline policy whose actions mention `action_part`."""
    role = role_arn.rsplit("/", 1)[1]
    (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    return [s for s in doc["Statement"] if action_part in json.dumps(s["Action"])]


# --- the Lambda package ------------------------------------------------------------------------


def test_lambda_zip_is_deterministic(tmp_path):
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps([{"index": 0, "wnid": "n1", "name": "a"}]))
    first = build_lambda_zip(tmp_path / "a" / "lambda.zip", classes)
    os.utime(classes, (1, 1))  # a different mtime must not matter
    second = build_lambda_zip(tmp_path / "b" / "lambda.zip", classes)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        assert names == sorted(names) and "handler.py" in names and "classes.json" in names
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in zf.infolist()} == {0o100644}
    classes.write_text(json.dumps([{"index": 0, "wnid": "n1", "name": "b"}]))
    third = build_lambda_zip(tmp_path / "c" / "lambda.zip", classes)
    assert sha256_b64(third) != sha256_b64(first)


# --- static checks -----------------------------------------------------------------------------


@needs_terraform
def test_terraform_fmt_and_validate(tf_copy):
    tf(REPO_ROOT / "terraform", "fmt", "-check", "-recursive")
    tf(tf_copy, "init", "-input=false", "-backend=false")
    tf(tf_copy, "validate")


@pytest.mark.slow
def test_checkov_passes_with_documented_skips():
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed in {CHECKOV.parent.parent} (run `make checkov`)")
    proc = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO_ROOT / "terraform" / ".checkov.yaml")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    readme = (REPO_ROOT / "terraform" / "README.md").read_text()
    config = (REPO_ROOT / "terraform" / ".checkov.yaml").read_text()
    skipped = [
        line.split("-", 1)[1].split("#")[0].strip()
        for line in config.splitlines()
        if line.strip().startswith("- CKV")
    ]
    assert skipped and all(check in readme for check in skipped)


# --- deploy / destroy against moto ----------------------------------------------------------------


def test_deploy_explains_a_recorded_local_model_that_is_gone(tmp_path):
    update_state("training", {"backend": "local", "artifact_dir": str(tmp_path / "artifacts")})
    result = CliRunner().invoke(cli, ["deploy"])
    assert result.exit_code == 1
    assert "no local model artifact recorded" in result.output and "Traceback" not in result.output


def test_deploy_without_any_training_says_what_to_pass():
    result = CliRunner().invoke(cli, ["deploy"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no training is recorded" in result.output and "--artifact" in result.output


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_deploy_and_destroy_the_serving_stack_on_moto(tf_copy, moto_url, tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    (prepared / "classes.json").write_text(json.dumps(classes))
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n[data]\nprepared_dir = "{prepared}"\n'
        f'[deploy]\nterraform_dir = "{tf_copy}"\n'
    )
    update_state("training", {"backend": "sagemaker", "model_data_url": MODEL, "image_uri": IMAGE})

    result = CliRunner().invoke(cli, ["--config", str(config), "deploy"])
    assert result.exit_code == 0, result.output

    state = load_state()
    dep, infra = state["deployment"], state["infrastructure"]
    assert (
        dep["endpoint_name"] == "dogbreed-classifier" and dep["lambda_name"] == "dogbreed-classify"
    )
    assert dep["api_url"].endswith("/prod") and dep["classify_url"] == dep["api_url"] + "/classify"
    assert dep["api_key"]
    assert infra["bucket_name"] == "dogbreed-123456789012-us-east-1"
    assert infra["sagemaker_role_arn"].endswith(":role/dogbreed-sagemaker-execution")

    # SageMaker: model from the training artifact, serverless endpoint configuration.
    sm = client(moto_url, "sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="dogbreed-classifier")
    cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = cfg["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == MODEL
    assert model["PrimaryContainer"]["Image"] == IMAGE

    # Lambda: the zip we built, its env, reserved concurrency, a role that may only invoke the endpoint.
    lam = client(moto_url, "lambda")
    fn = lam.get_function(FunctionName="dogbreed-classify")
    conf = fn["Configuration"]
    assert conf["CodeSha256"] == sha256_b64(Path(dep["variables"]["lambda_zip_path"]))
    assert conf["Handler"] == "handler.handler" and conf["Runtime"].startswith("python3")
    assert conf["Environment"]["Variables"]["ENDPOINT_NAME"] == "dogbreed-classifier"
    # serverless max_concurrency 5, fan-out 5 per request -> one request at a time (issue 11)
    assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 1
    assert conf["Environment"]["Variables"]["MAX_CONCURRENCY"] == "5"
    iam = client(moto_url, "iam")
    assert grants(iam, conf["Role"], "sagemaker") == [
        {
            "Sid": "InvokeTheEndpoint",
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": endpoint["EndpointArn"],
        }
    ]
    logs = client(moto_url, "logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    assert groups["/aws/lambda/dogbreed-classify"]["retentionInDays"] == 365
    assert "/aws/apigateway/dogbreed-api/access" in groups

    # API Gateway: POST /classify proxied to the Lambda, stage prod, API key + usage plan.
    apigw = client(moto_url, "apigateway")
    (api,) = apigw.get_rest_apis()["items"]
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api["id"])["items"]}
    assert "POST" in resources["/classify"]["resourceMethods"]
    method = apigw.get_method(
        restApiId=api["id"], resourceId=resources["/classify"]["id"], httpMethod="POST"
    )
    assert method["apiKeyRequired"] is True
    integration = method["methodIntegration"]
    assert integration["type"] == "AWS_PROXY" and conf["FunctionArn"] in integration["uri"]
    assert method["httpMethod"] == "POST" and integration["httpMethod"] == "POST"
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["accessLogSettings"]["destinationArn"].endswith(
        ":log-group:/aws/apigateway/dogbreed-api/access"
    )
    (plan,) = apigw.get_usage_plans()["items"]
    assert plan["apiStages"][0]["apiId"] == api["id"] and plan["throttle"]["rateLimit"] == 10

    # moto accepts binaryMediaTypes but does not return them, so the applied state holds [];
    # what Terraform sends is read from its plan against that state (the values it applies).
    (tf_copy / "vars.tfvars.json").write_text(json.dumps(dep["variables"]))
    tf(
        tf_copy,
        "plan",
        "-input=false",
        "-refresh=false",
        "-var-file=vars.tfvars.json",
        "-out=tf.plan",
    )
    planned = json.loads(tf(tf_copy, "show", "-json", "tf.plan").stdout)
    after = {c["address"]: c["change"]["after"] for c in planned["resource_changes"]}
    assert after["module.api[0].aws_api_gateway_rest_api.this"]["binary_media_types"] == [
        "image/jpeg",
        "image/png",
        "application/x-image",
        "application/octet-stream",
    ]
    settings = after["module.api[0].aws_api_gateway_method_settings.all"]["settings"][0]
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == (10, 20)

    # destroy: nothing left behind.
    result = CliRunner().invoke(cli, ["--config", str(config), "destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert lam.list_functions()["Functions"] == []
    assert apigw.get_rest_apis()["items"] == []
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_api_keys()["items"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert client(moto_url, "s3").list_buckets()["Buckets"] == []
    assert [
        r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("dogbreed")
    ] == []
    assert logs.describe_log_groups()["logGroups"] == []
    assert load_state()["deployment"]["status"] == "destroyed"
    assert not list(REPO_ROOT.joinpath("terraform").glob("*.tfstate"))


# --- a locally trained model on the project's serving image ------------------------------------


def test_deploy_refuses_an_image_that_is_not_named_by_digest(tmp_path):
    """--image for a local model must be URI@sha256:...: refused before any AWS or Terraform."""
    from tests.dog_artifacts import make_dog_artifact

    artifact = make_dog_artifact(tmp_path / "model")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dogbreed-serving:latest"
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[deploy]\nterraform_dir = "{REPO_ROOT / "terraform"}"\nendpoint_mode = "serverless"\n'
    )
    deploy = ["--config", str(config), "deploy", "--artifact", str(artifact), "--image", image]
    result = CliRunner().invoke(cli, deploy)
    assert result.exit_code == 2
    assert "must name the serving image by digest" in result.output
    assert "Traceback" not in result.output


def _push_like_ci(moto_url: str, tag: str) -> str:
    """What `docker push` of the serving image leaves in ECR (a manifest under this code's tag);
    returns its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "0" * 64, "size": 1, "mediaType": "x"},
        "layers": [],
    }
    ecr = client(moto_url, "ecr")
    image = ecr.put_image(
        repositoryName="dogbreed-serving", imageManifest=json.dumps(manifest), imageTag=tag
    )["image"]
    return image["imageId"]["imageDigest"]


def _applied_policy(tf_dir: Path, module: str) -> dict:
    """The inline policy of `module`'s aws_iam_role_policy, read from the applied Terraform state."""
    state = json.loads(tf(tf_dir, "show", "-json").stdout)
    modules = state["values"]["root_module"]["child_modules"]
    (found,) = [
        r
        for m in modules
        if m["address"] == module
        for r in m["resources"]
        if r["type"] == "aws_iam_role_policy"
    ]
    return json.loads(found["values"]["policy"])


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_local_model_deploys_the_serving_image_by_digest_on_moto(tf_copy, moto_url, tmp_path):
    """`dogbreed deploy --artifact` of a local model: with no Docker daemon and no image in ECR,
    the ECR repository is created and the two commands to build and push are printed; once this
    code's tag is in ECR (as CI pushes it), the model runs that image by digest, its ONNX files in
    the bucket, an inference role that pulls only that repository; `destroy` removes it all."""
    import tarfile

    from ops.deploy.container_image import image_tag
    from ops.deploy.serving_stack import resolve_model
    from ops.settings import load_settings
    from tests.dog_artifacts import make_dog_artifact

    artifact = make_dog_artifact(tmp_path / "model")
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n[deploy]\nterraform_dir = "{tf_copy}"\n'
        'endpoint_mode = "serverless"\n'  # the serving image ("auto" puts it in the Lambda)
    )
    deploy = ["--config", str(config), "deploy", "--artifact", str(artifact)]
    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dogbreed-serving"

    result = CliRunner().invoke(cli, deploy)
    assert result.exit_code == 1
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert f"docker build -t {repo}:{image_tag()} " in error
    assert f"docker push {repo}:{image_tag()}" in error
    ecr = client(moto_url, "ecr")
    (repository,) = ecr.describe_repositories()["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfiguration"]["encryptionType"] == "AES256"
    rules = json.loads(
        ecr.get_lifecycle_policy(repositoryName="dogbreed-serving")["lifecyclePolicyText"]
    )["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]

    digest = _push_like_ci(moto_url, image_tag())
    result = CliRunner().invoke(cli, deploy)
    assert result.exit_code == 0, result.output
    assert f"Serving image {repo}:{image_tag()} is in ECR ({digest})" in result.output
    dep = load_state()["deployment"]
    assert dep["image_uri"] == f"{repo}@{digest}"

    # S3: the artifact's ONNX files only, at a content-addressed key; the same artifact given as
    # model.tar.gz gives the same bytes and key.
    bucket = "dogbreed-123456789012-us-east-1"
    key = dep["model_data_url"].removeprefix(f"s3://{bucket}/")
    s3 = client(moto_url, "s3")
    (tmp_path / "uploaded.tar.gz").write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    with tarfile.open(tmp_path / "uploaded.tar.gz") as tar:
        assert sorted(tar.getnames()) == [
            "classes.json",
            "metadata.json",
            "model.onnx",
            "preprocessing.json",
        ]
    settings = load_settings(config, environ={})
    again = resolve_model(settings, artifact=artifact / "model.tar.gz", image_uri=dep["image_uri"])
    assert again.model_data_url == dep["model_data_url"]

    # SageMaker: the serving image by digest, no PyTorch container, the contract's environment.
    sm = client(moto_url, "sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="dogbreed-classifier")
    cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = cfg["ProductionVariants"]
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Image"] == f"{repo}@{digest}" and "pytorch" not in json.dumps(
        model, default=str
    )
    assert container["ModelDataUrl"] == dep["model_data_url"]
    assert container["Environment"]["DOGBREED_SERVE__MAX_BATCH_SIZE"] == "4"
    assert container["Environment"]["DOGBREED_SERVE__MAX_IMAGE_BYTES"] == "4000000"  # serverless
    from ops.deploy.container_image import SERVERLESS_MEMORY_MB

    assert variant["ServerlessConfig"]["MemorySizeInMB"] == SERVERLESS_MEMORY_MB == 1024

    # The inference role, as applied: pull from this repository only, read this object only.
    policy = _applied_policy(tf_copy, "module.inference_role[0]")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["PullImage"]["Resource"] == repository["repositoryArn"]
    assert by_sid["ReadModelArtifact"]["Resource"] == f"arn:aws:s3:::{bucket}/{key}"
    ecr_resources = [s["Resource"] for s in policy["Statement"] if "ecr:" in json.dumps(s)]
    assert sorted(ecr_resources) == sorted(["*", repository["repositoryArn"]])  # "*": login only

    # The Lambda ships the artifact's class names.
    with zipfile.ZipFile(dep["variables"]["lambda_zip_path"]) as zf:
        shipped = json.loads(zf.read("classes.json"))
    assert shipped == json.loads((artifact / "classes.json").read_text())

    result = CliRunner().invoke(cli, ["--config", str(config), "destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert ecr.describe_repositories()["repositories"] == []
    assert s3.list_buckets()["Buckets"] == []


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_deploy_infra_only_creates_the_bucket_and_role_and_nothing_else(
    tf_copy, moto_url, tmp_path
):
    """`dogbreed deploy --infra-only`: no model needed, no endpoint, Lambda or API; then destroy."""
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n[data]\nprepared_dir = "{tmp_path / "none"}"\n'
        f'[deploy]\nterraform_dir = "{tf_copy}"\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy", "--infra-only"])
    assert result.exit_code == 0, result.output
    assert "terraform apply (bucket + role + ECR repository only)" in result.output
    state = load_state()
    assert state["deployment"]["status"] == "infrastructure-only"
    assert state["deployment"]["api_url"] is None and "training" not in state
    assert state["infrastructure"]["bucket_name"] == "dogbreed-123456789012-us-east-1"
    assert state["infrastructure"]["sagemaker_role_arn"].endswith(
        ":role/dogbreed-sagemaker-execution"
    )
    s3 = client(moto_url, "s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["dogbreed-123456789012-us-east-1"]
    assert client(moto_url, "lambda").list_functions()["Functions"] == []
    assert client(moto_url, "apigateway").get_rest_apis()["items"] == []
    assert client(moto_url, "sagemaker").list_endpoints()["Endpoints"] == []
    ecr = client(moto_url, "ecr")  # the serving image can be pushed before the first model
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
        "dogbreed-serving"
    ]

    result = CliRunner().invoke(cli, ["--config", str(config), "destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert s3.list_buckets()["Buckets"] == []
