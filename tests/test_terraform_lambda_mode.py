"""`dogbreed deploy` / `destroy` on moto server with deploy.endpoint_mode = "lambda": the model
inside the classify Lambda. No SageMaker resource is created; the layer and the function (with
the model in its zip) are in place; the function's role may only write its logs and traces; the
alarms watch the API and the Lambda, the hops that exist; `deploy` prints a zero idle cost for
the serving path. A new model is a new Lambda version behind the `live` alias that API Gateway
invokes, and `deploy` starts the CodeDeploy deployment that shifts the alias to it.

Unverified here: moto stores CodeDeploy deployments but runs none (tests/moto_codedeploy.py), so
the canary's traffic split, the wait, the alarm-triggered stop and the alias moving back are
AWS's behaviour, not checked. What is checked is what CodeDeploy is given: the deployment group's
configuration, its rollback alarms (which must exist), the AppSpec's versions, and the role."""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner

from ops.api.lambda_layer import build_layer, pip_command
from ops.cli import cli
from ops.state import load_state, update_state
from tests.aws_helpers import client
from tests.conftest import REPO_ROOT
from tests.dog_artifacts import make_dog_artifact
from tests.test_terraform_deploy_modes import (
    LAMBDA_RUNTIME_CALLS,
    actions,
    needs_terraform,
    resources_of,
)


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    """The layer for this machine's Python (a deploy builds it for the Lambda's, test below)."""
    return build_layer(tmp_path_factory.mktemp("layer") / "layer.zip", python_version=None)


def test_the_deploy_layer_is_fetched_for_the_lambdas_python_and_platform(tmp_path):
    cmd = pip_command(tmp_path, "3.12", ("manylinux2014_x86_64", "manylinux_2_28_x86_64"))
    joined = " ".join(cmd)
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd
    assert "--python-version 3.12 --implementation cp" in joined
    assert "--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64" in joined
    assert {c.split("==")[0] for c in cmd if "==" in c} == {"numpy", "pillow", "onnxruntime"}


@pytest.mark.parametrize(
    ("mode", "training", "args", "expected"),
    [
        ("auto", "local", {}, True),
        ("auto", None, {"artifact": "model.tar.gz"}, True),
        ("auto", "sagemaker", {}, False),
        ("auto", "local", {"model_data_url": "s3://b/model.tar.gz"}, False),
        ("auto", None, {}, False),  # deploy then explains that no training is recorded
        ("lambda", "sagemaker", {}, True),  # deploy then explains it needs a local model
        ("serverless", "local", {}, False),
        ("instance", "local", {}, False),
    ],
)
def test_auto_puts_a_local_model_in_the_lambda_and_a_sagemaker_one_on_an_endpoint(
    mode, training, args, expected
):
    from ops.deploy.lambda_mode import picks_lambda
    from ops.settings import Settings
    from ops.state import update_state

    if training:
        update_state("training", {"backend": training, "artifact_dir": "/nowhere"})
    settings = Settings().with_overrides({"deploy.endpoint_mode": mode})
    assert picks_lambda(settings, args.get("artifact"), args.get("model_data_url")) is expected


def test_lambda_mode_refuses_a_sagemaker_built_in_model_in_one_line(tmp_path):
    update_state("training", {"backend": "sagemaker", "model_data_url": "s3://b/m.tar.gz"})
    config = tmp_path / "dogbreed.toml"
    terraform = REPO_ROOT / "terraform"  # read only: the refusal comes before terraform init
    config.write_text(f'[deploy]\nterraform_dir = "{terraform}"\nendpoint_mode = "lambda"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "runs a local model (ONNX) inside the Lambda" in result.output


def test_previous_in_lambda_mode_refuses_a_model_to_deploy_before_any_aws_call(tmp_path):
    update_state(
        "deployment",
        {"status": "deployed", "lambda_name": "dogbreed-classify", "rollout": {"alias": "live"}},
    )
    config = tmp_path / "dogbreed.toml"
    config.write_text('[aws]\nendpoint_url = "http://127.0.0.1:9"\n')  # nothing listens there
    result = CliRunner().invoke(
        cli, ["--config", str(config), "deploy", "--previous", "--artifact", str(tmp_path)]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--previous moves the Lambda's alias back to the version before" in result.output


def role_statements(iam, role: str) -> list[dict]:
    """Every statement of the role's inline policies, as IAM returns them."""
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        statements += (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]
    return statements


def role_actions(iam, role: str) -> set[str]:
    return actions(role_statements(iam, role))


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_lambda_mode_deploys_without_sagemaker_and_destroys(tf_copy, moto_url, tmp_path, layer):
    artifact = make_dog_artifact(tmp_path / "model", 3, 0.5)
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n'
        f'[deploy]\nterraform_dir = "{tf_copy}"\n'  # endpoint_mode "auto": a local model -> lambda
        f'lambda_layer_zip = "{layer}"\nmonitoring = true\nautoscaling = false\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy", "--artifact", artifact])
    assert result.exit_code == 0, result.output
    assert "no SageMaker endpoint" in result.output
    assert "no endpoint: the model runs inside the Lambda (pay per request): $0.00/month" in (
        result.output
    )
    dep = load_state()["deployment"]
    assert dep["variables"]["endpoint_mode"] == "lambda"
    assert dep["api_url"] and dep["endpoint_name"] is None and dep["model_name"] is None

    sm = client(moto_url, "sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []

    lam = client(moto_url, "lambda")
    fn = lam.get_function(FunctionName="dogbreed-classify")
    conf = fn["Configuration"]
    env = conf["Environment"]["Variables"]
    assert env["CLASSIFY_BACKEND"] == "model" and "ENDPOINT_NAME" not in env
    assert conf["MemorySize"] == 1769 and conf["Architectures"] == ["x86_64"]
    reserved = lam.get_function_concurrency(FunctionName="dogbreed-classify")
    assert reserved["ReservedConcurrentExecutions"] == 20  # the stage's burst limit
    (attached,) = conf["Layers"]
    versions = lam.list_layer_versions(LayerName="dogbreed-classify-runtime")["LayerVersions"]
    assert [v["LayerVersionArn"] for v in versions] == [attached["Arn"]]
    with zipfile.ZipFile(dep["variables"]["lambda_zip_path"]) as zf:
        names = set(zf.namelist())
    assert {"handler.py", "model.py", "model/model.onnx", "ops/endpoint/onnx_runtime.py"} <= names
    bucket = load_state()["infrastructure"]["bucket_name"]
    stored = client(moto_url, "s3").get_object(
        Bucket=bucket, Key="lambda-layers/dogbreed-classify-runtime.zip"
    )
    assert stored["Body"].read() == layer.read_bytes()

    # The role: its own logs and traces, nothing of SageMaker or S3.
    lambda_actions = role_actions(client(moto_url, "iam"), "dogbreed-classify-lambda")
    assert lambda_actions <= LAMBDA_RUNTIME_CALLS, lambda_actions
    iam_roles = [r["RoleName"] for r in client(moto_url, "iam").list_roles()["Roles"]]
    assert "dogbreed-sagemaker-inference" not in iam_roles

    # The alarms watch the hops that exist: the API and the Lambda.
    alarms = set(dep["alarm_names"])
    assert alarms and not [a for a in alarms if a.startswith("endpoint")], alarms
    assert {"api-5xx-rate", "lambda-errors", "lambda-duration-near-timeout"} <= alarms
    body = client(moto_url, "cloudwatch").get_dashboard(DashboardName="dogbreed-serving")
    assert "AWS/SageMaker" not in body["DashboardBody"]

    check_rollout(moto_url, config, result.output, tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert lam.list_functions()["Functions"] == []
    assert client(moto_url, "codedeploy").list_applications()["applications"] == []
    remaining = lam.list_layer_versions(LayerName="dogbreed-classify-runtime")["LayerVersions"]
    assert remaining == []


ROLLBACK_ALARMS = {"dogbreed-api-5xx-rate", "dogbreed-api-p99-latency", "dogbreed-lambda-errors"}


def appspec_versions(deploy, deployment_id: str) -> dict:
    """The Lambda resource's Properties of a deployment's AppSpec (what CodeDeploy would run)."""
    revision = deploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["revision"]
    assert revision["revisionType"] == "AppSpecContent"
    (resource,) = json.loads(revision["appSpecContent"]["content"])["Resources"]
    (spec,) = resource.values()
    assert spec["Type"] == "AWS::Lambda::Function"
    return spec["Properties"]


def check_rollout(moto_url, config, first_output: str, tmp_path) -> None:
    """The alias, the CodeDeploy group and role after a first deploy; a second deploy with
    another model starts a deployment 1 -> 2; --previous one back to the version before."""
    lam, deploy = client(moto_url, "lambda"), client(moto_url, "codedeploy")
    function = lam.get_function(FunctionName="dogbreed-classify")["Configuration"]
    function_arn = function["FunctionArn"].removesuffix(":$LATEST")
    alias = lam.get_alias(FunctionName="dogbreed-classify", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert "Alias dogbreed-classify:live serves version 1" in first_output
    assert "CodeDeploy moves the Lambda's live alias to the new version, canary: 10 %" in (
        first_output
    )

    # API Gateway invokes the alias, not $LATEST.
    apigw = client(moto_url, "apigateway")
    (api,) = apigw.get_rest_apis()["items"]
    resource = next(
        r for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/classify"
    )
    uri = apigw.get_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST")[
        "uri"
    ]
    assert uri.endswith(f"functions/{function_arn}:live/invocations"), uri
    policy = json.loads(
        lam.get_policy(FunctionName="dogbreed-classify", Qualifier="live")["Policy"]
    )
    assert {s["Sid"] for s in policy["Statement"]} >= {"AllowApiGatewayInvoke"}

    # The deployment group: the default canary's predefined configuration, traffic control,
    # rolled back on failure and on the rollback alarms, which exist in CloudWatch.
    (app,) = deploy.batch_get_applications(applicationNames=["dogbreed-classify"])[
        "applicationsInfo"
    ]
    assert app["computePlatform"] == "Lambda"
    group = deploy.get_deployment_group(
        applicationName="dogbreed-classify", deploymentGroupName="live"
    )["deploymentGroupInfo"]
    assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    assert group["autoRollbackConfiguration"]["enabled"] is True
    assert set(group["autoRollbackConfiguration"]["events"]) == {
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
    }
    assert group["alarmConfiguration"]["enabled"] is True
    named = {a["name"] for a in group["alarmConfiguration"]["alarms"]}
    assert named == ROLLBACK_ALARMS
    existing = client(moto_url, "cloudwatch").describe_alarms(AlarmNames=sorted(named))
    assert {a["AlarmName"] for a in existing["MetricAlarms"]} == named

    # The service role, as applied: this function's alias and versions, and the alarms' state.
    iam = client(moto_url, "iam")
    role = iam.get_role(RoleName=group["serviceRoleArn"].rsplit("/", 1)[1])["Role"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "codedeploy.amazonaws.com"}
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    assert len(iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]) == 1
    statements = role_statements(iam, role["RoleName"])
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
    granted = {action: resources_of(statements, action) for action in actions(statements)}
    assert granted == {
        "lambda:GetAlias": {function_arn, f"{function_arn}:live"},
        "lambda:UpdateAlias": {function_arn, f"{function_arn}:live"},
        "lambda:GetProvisionedConcurrencyConfig": {f"{function_arn}:*"},
        "cloudwatch:DescribeAlarms": {"*"},
    }

    # 2. Another model: terraform publishes version 2 and leaves the alias on 1; deploy starts
    # the CodeDeploy deployment 1 -> 2 and says how to watch and stop it.
    second = make_dog_artifact(tmp_path / "model-2", 3, 0.7)
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy", "--artifact", second])
    assert result.exit_code == 0, result.output
    versions = lam.list_versions_by_function(FunctionName="dogbreed-classify")["Versions"]
    assert {v["Version"] for v in versions} == {"$LATEST", "1", "2"}
    assert lam.get_alias(FunctionName="dogbreed-classify", Name="live")["FunctionVersion"] == "1"
    rollout = load_state()["deployment"]["rollout"]
    assert (rollout["current_version"], rollout["target_version"]) == ("1", "2")
    deployment = rollout["deployment_id"]
    assert f"CodeDeploy deployment {deployment}: dogbreed-classify:live version 1 -> 2" in (
        result.output
    )
    assert f"aws deploy get-deployment --deployment-id {deployment}" in result.output
    assert f"aws deploy stop-deployment --deployment-id {deployment} --auto-rollback-enabled" in (
        result.output
    )
    assert appspec_versions(deploy, deployment) == {
        "Name": "dogbreed-classify",
        "Alias": "live",
        "CurrentVersion": "1",
        "TargetVersion": "2",
    }
    info = deploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
    assert (info["applicationName"], info["deploymentGroupName"]) == ("dogbreed-classify", "live")

    # 3. CodeDeploy finished (moto does not: the alias is moved as it would move it); then
    # --previous shifts it back to version 1 the same way, with no terraform run.
    lam.update_alias(FunctionName="dogbreed-classify", Name="live", FunctionVersion="2")
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy", "--previous"])
    assert result.exit_code == 0, result.output
    back = load_state()["deployment"]["rollout"]["deployment_id"]
    assert back != deployment and "version 2 -> 1" in result.output
    assert appspec_versions(deploy, back)["CurrentVersion"] == "2"
    assert appspec_versions(deploy, back)["TargetVersion"] == "1"

    # 4. The rolled-back version is not shifted to again by a deploy of the same model (say,
    # one run for a settings change): Terraform publishes nothing, and deploy starts nothing.
    lam.update_alias(FunctionName="dogbreed-classify", Name="live", FunctionVersion="1")
    result = CliRunner().invoke(cli, ["--config", str(config), "deploy", "--artifact", second])
    assert result.exit_code == 0, result.output
    assert "version 2 was rolled back before and is not shifted to again" in result.output
    listed = deploy.list_deployments(
        applicationName="dogbreed-classify", deploymentGroupName="live"
    )
    assert sorted(listed["deployments"]) == sorted([deployment, back])
