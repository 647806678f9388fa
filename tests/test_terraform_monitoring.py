"""Alarms, dashboard, SNS, autoscaling and the idle-cost print of `dogbreed deploy`, after a real
`terraform apply` against moto server, and `destroy` leaving none of them behind."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.state import load_state, update_state
from tests.aws_helpers import client
from tests.factories import BREEDS
from tests.moto_shims import autoscaling_tagging  # noqa: F401
from tests.test_terraform_serving import IMAGE, MODEL, needs_terraform

pytestmark = [pytest.mark.slow, pytest.mark.terraform, needs_terraform]


@pytest.fixture
def tf_dir(tf_copy):  # noqa: F811 (the fixture imported above)
    """The serving tests' throw-away copy of terraform/."""
    return tf_copy


ENDPOINT_DIMS = [
    {"Name": "EndpointName", "Value": "dogbreed-classifier"},
    {"Name": "VariantName", "Value": "AllTraffic"},
]


def write_config(tmp_path, moto_url, tf_dir, deploy_lines: str):
    prepared = tmp_path / "prepared"
    prepared.mkdir(exist_ok=True)
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    (prepared / "classes.json").write_text(json.dumps(classes))
    config = tmp_path / "dogbreed.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_url}"\n[data]\nprepared_dir = "{prepared}"\n'
        f'[deploy]\nterraform_dir = "{tf_dir}"\n{deploy_lines}\n'
    )
    update_state("training", {"backend": "sagemaker", "model_data_url": MODEL, "image_uri": IMAGE})
    return config


def dogbreed(config, *args: str):
    """One `dogbreed --config CONFIG ...` command, as a user runs it."""
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def alarms_by_name(moto_url) -> dict[str, dict]:
    cw = client(moto_url, "cloudwatch")
    return {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}


def test_serverless_deploy_has_alarms_dashboard_email_and_warm_capacity(tf_dir, moto_url, tmp_path):
    config = write_config(
        tmp_path,
        moto_url,
        tf_dir,
        'alarm_email = "oncall@example.com"\nserverless_provisioned_concurrency = 2',
    )
    result = dogbreed(config, "deploy")
    assert result.exit_code == 0, result.output

    # One alarm per hop, each on the documented metric, dimensions, statistic and unit.
    alarms = alarms_by_name(moto_url)
    assert sorted(alarms) == sorted(
        f"dogbreed-{key}"
        for key in (
            "api-5xx-rate",
            "api-p99-latency",
            "lambda-errors",
            "lambda-throttles",
            "lambda-duration-near-timeout",
            "endpoint-5xx",
            "endpoint-model-latency",
            "endpoint-cold-start",
        )
    )
    api = alarms["dogbreed-api-5xx-rate"]
    assert (api["Namespace"], api["MetricName"], api["Statistic"]) == (
        "AWS/ApiGateway",
        "5XXError",
        "Average",
    )
    assert api["Threshold"] == 0.05
    assert {d["Name"]: d["Value"] for d in api["Dimensions"]} == {
        "ApiName": "dogbreed-api",
        "Stage": "prod",
    }
    latency = alarms["dogbreed-api-p99-latency"]
    assert latency["ExtendedStatistic"] == "p99" and latency["Threshold"] == 5000
    duration = alarms["dogbreed-lambda-duration-near-timeout"]
    assert (duration["MetricName"], duration["Statistic"]) == ("Duration", "Maximum")
    assert duration["Threshold"] == 28 * 1000 * 0.8  # 80 % of the 28 s Lambda timeout, in ms
    assert duration["Dimensions"] == [{"Name": "FunctionName", "Value": "dogbreed-classify"}]
    model_latency = alarms["dogbreed-endpoint-model-latency"]
    assert model_latency["Threshold"] == 2000 * 1000  # ModelLatency is in microseconds
    cold = alarms["dogbreed-endpoint-cold-start"]
    assert (cold["Namespace"], cold["MetricName"]) == ("AWS/SageMaker", "ModelSetupTime")
    assert sorted(cold["Dimensions"], key=lambda d: d["Name"]) == ENDPOINT_DIMS
    assert alarms["dogbreed-endpoint-5xx"]["MetricName"] == "Invocation5XXErrors"
    assert all(a["TreatMissingData"] == "notBreaching" for a in alarms.values())

    # They all notify one encrypted SNS topic with the e-mail subscribed.
    sns = client(moto_url, "sns")
    (topic,) = sns.list_topics()["Topics"]
    assert all(a["AlarmActions"] == [topic["TopicArn"]] for a in alarms.values())
    attrs = sns.get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]
    assert attrs["KmsMasterKeyId"] == "alias/aws/sns"
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
    assert (sub["Protocol"], sub["Endpoint"]) == ("email", "oncall@example.com")

    # One dashboard of the whole path, with every alarm on it.
    cw = client(moto_url, "cloudwatch")
    body = json.loads(cw.get_dashboard(DashboardName="dogbreed-serving")["DashboardBody"])
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        a["AlarmArn"] for a in alarms.values()
    )
    lines = [
        line
        for w in body["widgets"]
        if w["type"] == "metric"
        for line in w["properties"]["metrics"]
    ]
    plotted = {(line[0], line[1]) for line in lines}
    assert {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("AWS/SageMaker", "ModelLatency"),
        ("AWS/SageMaker", "ModelSetupTime"),
    } <= plotted
    assert [
        "AWS/SageMaker",
        "ModelSetupTime",
        *sum(([d["Name"], d["Value"]] for d in ENDPOINT_DIMS), []),
    ] in lines

    # Serverless warm capacity reaches the endpoint configuration.
    sm = client(moto_url, "sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="dogbreed-classifier")
    cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert cfg["ProductionVariants"][0]["ServerlessConfig"]["ProvisionedConcurrency"] == 2

    # deploy recorded and printed what the stack costs with no traffic.
    dep = load_state()["deployment"]
    assert dep["dashboard_url"].endswith("#dashboards:name=dogbreed-serving")
    assert len(dep["alarm_names"]) == 8 and dep["model_name"].startswith("dogbreed-classifier-")
    warm = 2 * 3 * 0.0168 * 730  # 2 provisioned x 3 GB x $/GB-hour x hours/month
    assert f"Expected cost at idle: ~${warm + 8 * 0.10 + 3.00:.2f}/month" in result.output
    assert "2 provisioned x 3 GB kept warm" in result.output

    result = dogbreed(config, "destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert cw.describe_alarms()["MetricAlarms"] == []
    assert cw.list_dashboards()["DashboardEntries"] == []
    assert sns.list_topics()["Topics"] == [] and sns.list_subscriptions()["Subscriptions"] == []


def test_instance_deploy_scales_on_invocations_per_instance(
    tf_dir,
    moto_url,
    tmp_path,
    autoscaling_tagging,  # noqa: F811
):
    config = write_config(
        tmp_path,
        moto_url,
        tf_dir,
        'endpoint_mode = "instance"\nautoscaling_min_capacity = 1\nautoscaling_max_capacity = 3',
    )
    result = dogbreed(config, "deploy")
    assert result.exit_code == 0, result.output

    aas = client(moto_url, "application-autoscaling")
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/dogbreed-classifier/variant/AllTraffic"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["TargetValue"] == 100
    assert autoscaling_tagging[target["ScalableTargetARN"]] == {"project": "dogbreed-id"}

    # No cold-start alarm for instances, no SNS topic unless asked; CPU on the dashboard instead.
    alarms = alarms_by_name(moto_url)
    assert len(alarms) == 7 and "dogbreed-endpoint-cold-start" not in alarms
    assert all(a["AlarmActions"] == [] for a in alarms.values())
    assert client(moto_url, "sns").list_topics()["Topics"] == []
    cw = client(moto_url, "cloudwatch")
    body = cw.get_dashboard(DashboardName="dogbreed-serving")["DashboardBody"]
    assert '"CPUUtilization"' in body and "ModelSetupTime" not in body

    always_on = 1 * 0.115 * 730  # autoscaling's minimum of ml.m5.large around the clock
    assert f"Expected cost at idle: ~${always_on + 7 * 0.10 + 3.00:.2f}/month" in result.output
    assert "1 x ml.m5.large always on" in result.output

    result = dogbreed(config, "destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_provisioned_concurrency_above_max_concurrency_is_refused_before_anything_is_created(
    tf_dir,
    moto_url,
    tmp_path,
):
    # AWS: ProvisionedConcurrency "should be less than or equal to MaxConcurrency"; moto accepts it.
    config = write_config(
        tmp_path,
        moto_url,
        tf_dir,
        "serverless_max_concurrency = 2\nserverless_provisioned_concurrency = 3",
    )
    result = dogbreed(config, "deploy")
    assert result.exit_code == 1
    message = " ".join(result.output.split())  # terraform wraps its error lines
    assert (
        "serverless_provisioned_concurrency must be at most serverless_max_concurrency" in message
    )
    assert client(moto_url, "sagemaker").list_endpoints()["Endpoints"] == []
