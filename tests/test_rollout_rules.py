"""The rollout rules moto does not check (docs/aws-rules.md), on the real `terraform plan` of the
root configuration with the variables `dogbreed deploy` passes: the defaults are a blue/green
update rolled back by the monitoring alarms, and each violating setting is refused."""

from __future__ import annotations

import pytest

from tests.terraform_plans import Refusals
from tests.test_aws_rules import deploy_vars, needs_terraform  # noqa: F401

pytestmark = [pytest.mark.terraform, needs_terraform]

ENDPOINT_ADDR = "module.endpoint[0].aws_sagemaker_endpoint.this"
ROLLBACK = [
    "dogbreed-endpoint-5xx",
    "dogbreed-endpoint-model-latency",
    "dogbreed-api-5xx-rate",
    "dogbreed-api-p99-latency",
    "dogbreed-lambda-errors",
]


def _policy(after: dict) -> tuple[dict, dict, list[str]]:
    (config,) = after[ENDPOINT_ADDR]["deployment_config"]
    (policy,) = config["blue_green_update_policy"]
    (routing,) = policy["traffic_routing_configuration"]
    (rollback,) = config["auto_rollback_configuration"]
    return policy, routing, sorted(a["alarm_name"] for a in rollback["alarms"])


def test_serverless_default_shifts_all_at_once_then_bakes_with_rollback_alarms(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
):
    policy, routing, alarms = _policy(root_plan.after(deploy_vars()))
    assert routing["type"] == "ALL_AT_ONCE" and routing["canary_size"] == []
    assert (policy["termination_wait_in_seconds"], routing["wait_interval_in_seconds"]) == (
        600,
        300,
    )
    assert policy["maximum_execution_timeout_in_seconds"] == 3600
    assert alarms == sorted(ROLLBACK)


def test_instance_default_is_a_ten_percent_canary(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
):
    after = root_plan.after(
        deploy_vars(endpoint_mode="instance", drift_no_dog_expected=0.05, drift_top1_expected=0.8)
    )
    policy, routing, alarms = _policy(after)
    assert routing["type"] == "CANARY"
    assert routing["canary_size"] == [{"type": "CAPACITY_PERCENT", "value": 10}]
    # the same set with drift alarms: changing it would replace the endpoint (ForceNew)
    assert alarms == sorted(ROLLBACK)
    assert 'module.monitoring[0].aws_cloudwatch_metric_alarm.drift["drift-no-dog-rate"]' in after
    linear = root_plan.after(
        deploy_vars(endpoint_mode="instance", rollout_policy="linear", rollout_max_seconds=7200)
    )
    _, routing, _ = _policy(linear)
    assert routing["type"] == "LINEAR"
    assert routing["linear_step_size"] == [{"type": "CAPACITY_PERCENT", "value": 20}]


@pytest.mark.parametrize("policy", ["canary", "linear"])
def test_stepped_traffic_shifting_on_serverless_is_refused(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
    policy,
):
    error = root_plan.refused(deploy_vars(rollout_policy=policy, rollout_max_seconds=7200))
    assert "Serverless endpoints shift traffic all at once" in error


def test_a_rollout_longer_than_its_timeout_is_refused(root_plan, deploy_vars):  # noqa: F811
    # linear 20 %: 4 waits of 900 s + a 1800 s bake = 5400 s > 3600 s
    error = root_plan.refused(
        deploy_vars(
            endpoint_mode="instance",
            rollout_policy="linear",
            rollout_wait_seconds=900,
            rollout_bake_seconds=1800,
        )
    )
    assert "rollout_max_seconds must exceed the rollout's waits" in error


OUT_OF_RANGE = {
    "rollout_canary_percent": 60,
    "rollout_linear_step_percent": 5,
    "rollout_wait_seconds": 4000,
    "rollout_max_seconds": 300,
}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("rollout_canary_percent", 60, "rollout_canary_percent must be 1-50"),
        ("rollout_linear_step_percent", 5, "rollout_linear_step_percent must be 10-50"),
        ("rollout_wait_seconds", 4000, "rollout_wait_seconds must be 0-3600"),
        ("rollout_max_seconds", 300, "rollout_max_seconds must be 600-14400"),
    ],
)
def test_rollout_sizes_and_waits_outside_sagemakers_ranges_are_refused(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
    variable,
    value,
    message,
):
    # Four independent variable validations report together: one refused plan serves the four
    # cases (tests/terraform_plans.py Refusals), each still checked for its own message.
    refused = Refusals(root_plan, deploy_vars, [{"endpoint_mode": "instance", **OUT_OF_RANGE}])
    assert message in refused(**{variable: value})


# --- lambda mode: CodeDeploy shifts the alias (modules/lambda_classify rollout.tf) -----------

LAMBDA = "module.lambda[0]"


def _lambda_plan(plan, make_vars, layer, **rollout) -> dict:
    """The planned resources of lambda mode with these rollout settings (the layer file only
    needs to exist for a plan)."""
    return plan.after(
        make_vars(
            endpoint_mode="lambda",
            model_data_url="",
            image_uri="",
            lambda_layer_zip_path=str(layer),
            **rollout,
        )
    )


@pytest.mark.parametrize(
    ("rollout", "routing"),
    [
        # the settings' linear 20 % every 300 s: no predefined Lambda configuration has 20 %
        (
            {"rollout_policy": "linear"},
            {"type": "TimeBasedLinear", "time_based_linear": [{"interval": 5, "percentage": 20}]},
        ),
        # a 25 % canary for 90 s: CodeDeploy counts whole minutes, rounded up
        (
            {"rollout_canary_percent": 25, "rollout_wait_seconds": 90},
            {"type": "TimeBasedCanary", "time_based_canary": [{"interval": 2, "percentage": 25}]},
        ),
    ],
)
def test_lambda_mode_settings_without_a_predefined_configuration_get_a_custom_one(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
    lambda_zip,
    rollout,
    routing,
):
    after = _lambda_plan(root_plan, deploy_vars, lambda_zip, **rollout)
    config = after[f"{LAMBDA}.aws_codedeploy_deployment_config.custom[0]"]
    assert config["compute_platform"] == "Lambda"
    (planned,) = config["traffic_routing_config"]
    for key, value in routing.items():
        assert planned[key] == value, (key, planned)
    group = after[f"{LAMBDA}.aws_codedeploy_deployment_group.this[0]"]
    assert group["deployment_config_name"] == config["deployment_config_name"]
    assert group["deployment_style"] == [
        {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}
    ]
    # the function publishes versions; the alias starts on the first; API Gateway invokes it
    assert after[f"{LAMBDA}.aws_lambda_function.this"]["publish"] is True
    assert after[f"{LAMBDA}.aws_lambda_alias.live[0]"]["name"] == "live"
    assert after["module.api[0].aws_lambda_permission.apigw"]["qualifier"] == "live"
    # no SageMaker rollout in this mode
    assert ENDPOINT_ADDR not in after


def test_endpoint_modes_keep_invoking_the_function_without_versions(
    root_plan,  # noqa: F811
    deploy_vars,  # noqa: F811
):
    after = root_plan.after(deploy_vars())  # the serverless default: shared with the test above
    assert after[f"{LAMBDA}.aws_lambda_function.this"]["publish"] is False
    assert not [a for a in after if "codedeploy" in a or "aws_lambda_alias" in a]
    assert after["module.api[0].aws_lambda_permission.apigw"]["qualifier"] in (None, "")
