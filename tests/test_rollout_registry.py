"""Shipping a new model on moto server with real `terraform apply`: the blue/green deployment
configuration with its rollback alarms, the drift alarms from the model's metrics.json, and the
model registry (register, list, approve, deploy a version, roll back with --previous).

Unverified here (moto shifts no traffic): that SageMaker really sends the canary share first,
waits, bakes, and rolls back when an alarm fires. What is checked is what terraform sent
(tests/moto_sagemaker_update.py records CreateEndpoint / UpdateEndpoint) and that every alarm
it names exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.deploy.container_image import image_tag
from ops.state import load_state
from tests.aws_helpers import client
from tests.factories import BREEDS
from tests.local_artifacts import TINY_BACKBONE, TINY_INPUT, tiny_model
from tests.test_terraform_monitoring import dogbreed, write_config
from tests.test_terraform_serving import _push_like_ci, needs_terraform

pytestmark = [pytest.mark.slow, pytest.mark.terraform, needs_terraform]

ROLLBACK_ALARMS = {
    "dogbreed-endpoint-5xx",
    "dogbreed-endpoint-model-latency",
    "dogbreed-api-5xx-rate",
    "dogbreed-api-p99-latency",
    "dogbreed-lambda-errors",
}


def artifact_with_figures(folder: Path, no_dog: float, confidence: float, top1: float) -> Path:
    """A tiny real artifact (export_artifact, as training writes it) whose metrics.json has the
    figures local training records: validation_top1, calibration.validation_after, dog record."""
    from ops.artifact.export import export_artifact
    from ops.model.preprocess import Preprocessing

    metrics = {
        "validation_top1": top1,
        "calibration": {
            "temperature": 1.3,
            "validation_before": {"mean_confidence": confidence + 0.05},
            "validation_after": {"mean_confidence": confidence},
        },
        "dog": {
            "signal": "top_probability",
            "validation_false_refusal": {"top_probability": no_dog},
        },
    }
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    folder.mkdir(parents=True)
    classes_json = folder.parent / f"{folder.name}-classes.json"
    classes_json.write_text(json.dumps(classes))
    model = tiny_model(3, seed=len(folder.name) + int(no_dog * 100))  # each its own weights
    pre = Preprocessing(input_size=TINY_INPUT, crop_pct=1.0)
    export_artifact(model, classes_json, pre, folder, {"backbone": TINY_BACKBONE}, metrics)
    return folder


def serving(moto_url) -> tuple[str, dict]:
    """(the model.tar.gz the endpoint serves, the classify Lambda's environment)."""
    sm = client(moto_url, "sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="dogbreed-classifier")
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    env = client(moto_url, "lambda").get_function_configuration(FunctionName="dogbreed-classify")
    return model["PrimaryContainer"]["ModelDataUrl"], env["Environment"]["Variables"]


def versions(config: Path) -> list[dict]:
    result = dogbreed(config, "models", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rollout_drift_alarms_and_registry_on_moto(
    tf_copy,
    moto_url,
    tmp_path,
    monkeypatch,
    endpoint_updates,  # tests/moto_sagemaker_update.py: what terraform sent SageMaker
):
    first = artifact_with_figures(tmp_path / "a", no_dog=0.05, confidence=0.8, top1=0.9)
    second = artifact_with_figures(tmp_path / "b", no_dog=0.1, confidence=0.7, top1=0.92)
    config = write_config(
        tmp_path, moto_url, tf_copy, 'endpoint_mode = "instance"\nautoscaling = false'
    )

    # 1. A first deploy: canary blue/green, rolled back by the alarms, which all exist. With no
    # Docker daemon here the first try creates the ECR repository and asks for the serving image;
    # it is then pushed as CI would (tests/test_terraform_serving.py), and the deploy goes on.
    result = dogbreed(config, "deploy", "--artifact", str(first))
    assert result.exit_code == 1 and "docker push" in result.output, result.output
    _push_like_ci(moto_url, image_tag())
    result = dogbreed(config, "deploy", "--artifact", str(first))
    assert result.exit_code == 0, result.output
    assert "Model version 1 registered in dogbreed-classifier (PendingManualApproval)" in (
        result.output
    )
    (create,) = [r for r in endpoint_updates if r["action"] == "CreateEndpoint"]
    policy = create["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 300,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    assert (policy["TerminationWaitInSeconds"], policy["MaximumExecutionTimeoutInSeconds"]) == (
        600,
        3600,
    )
    named = {
        a["AlarmName"] for a in create["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    }
    assert named == ROLLBACK_ALARMS
    cw = client(moto_url, "cloudwatch")
    existing = {
        a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=sorted(named))["MetricAlarms"]
    }
    assert set(existing) == named
    drift = ["dogbreed-drift-no-dog-rate", "dogbreed-drift-top1-probability"]
    existing = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=drift)["MetricAlarms"]}

    # Drift alarms: thresholds from the model's metrics.json and the margins (0.15).
    no_dog = existing["dogbreed-drift-no-dog-rate"]
    assert no_dog["Threshold"] == pytest.approx(0.05 + 0.15)
    assert no_dog["ComparisonOperator"] == "GreaterThanThreshold"
    queries = {q["Id"]: q for q in no_dog["Metrics"]}
    assert queries["drift"]["Expression"] == "IF(images >= 20, nodog / images, 0)"
    stat = queries["nodog"]["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
        "DogBreed/Answers",
        "NoDog",
    )
    assert stat["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": "dogbreed-classify"}]
    assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)
    top1 = existing["dogbreed-drift-top1-probability"]
    assert top1["Threshold"] == pytest.approx(0.8 - 0.15)
    assert top1["ComparisonOperator"] == "LessThanThreshold"
    body = cw.get_dashboard(DashboardName="dogbreed-serving")["DashboardBody"]
    assert '"DogBreed/Answers","NoDog"' in body.replace(" ", "")
    assert '"DogBreed/Answers","Top1Probability"' in body.replace(" ", "")

    # The registry knows the version serving, its top-1, its files and its status.
    (v1,) = versions(config)
    assert (v1["version"], v1["status"], v1["serving"]) == (1, "PendingManualApproval", True)
    assert v1["validation_top1"] == 0.9 and v1["source"] == "local"
    first_url, env = serving(moto_url)
    assert v1["model_data_url"] == first_url and "MODEL_VERSION" not in env

    # 2. Production: only approved versions deploy.
    monkeypatch.setenv("DOGBREED_DEPLOY__ALLOW_UNAPPROVED", "false")
    result = dogbreed(config, "deploy", "--artifact", str(second))
    assert result.exit_code == 1 and "only registered, approved model versions" in result.output
    result = dogbreed(config, "models", "register", "--artifact", str(second))
    assert result.exit_code == 0, result.output
    assert "Model version 2 registered" in result.output
    result = dogbreed(config, "deploy", "--model", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "model version 2 is PendingManualApproval" in result.output
    assert "dogbreed models approve 2" in result.output
    assert serving(moto_url)[0] == first_url  # nothing changed

    result = dogbreed(config, "models", "approve", "2", "--note", "canary looked fine")
    assert result.exit_code == 0 and "Model version 2: Approved" in result.output
    result = dogbreed(config, "deploy", "--model", "2")
    assert result.exit_code == 0, result.output
    second_url, env = serving(moto_url)
    assert second_url != first_url and env["MODEL_VERSION"] == "2"
    update = endpoint_updates[-1]
    assert update["action"] == "UpdateEndpoint"
    assert (
        update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "CANARY"
    )
    drift = cw.describe_alarms(AlarmNames=["dogbreed-drift-no-dog-rate"])["MetricAlarms"][0]
    assert drift["Threshold"] == pytest.approx(0.1 + 0.15)  # the new model's own figure
    listed = {v["version"]: v for v in versions(config)}
    assert listed[2]["serving"] and listed[2]["status"] == "Approved" and not listed[1]["serving"]
    assert load_state()["deployment"]["model_version"] == 2

    # 3. Roll back: --previous is version 1, which must be approved too.
    result = dogbreed(config, "deploy", "--previous")
    assert result.exit_code == 1 and "model version 1 is PendingManualApproval" in result.output
    assert dogbreed(config, "models", "approve", "1").exit_code == 0
    result = dogbreed(config, "deploy", "--previous")
    assert result.exit_code == 0, result.output
    url, env = serving(moto_url)
    assert url == first_url and env["MODEL_VERSION"] == "1"
    assert {v["version"]: v["serving"] for v in versions(config)} == {1: True, 2: False}

    result = dogbreed(config, "destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert client(moto_url, "sagemaker").list_endpoints()["Endpoints"] == []
