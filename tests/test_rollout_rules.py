"""The rollout rules moto does not check (docs/aws-rules.md), on the real `terraform plan` of the
root configuration with the variables `dogbreed deploy` passes: the defaults are a blue/green
update rolled back by the monitoring alarms, and each violating setting is refused."""

from __future__ import annotations

import pytest

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
    error = root_plan.refused(deploy_vars(endpoint_mode="instance", **{variable: value}))
    assert message in error
