"""The idle-cost estimate `dogbreed deploy` prints, from the deploy.* price table."""

from __future__ import annotations

from ops.deploy.cost import describe_idle_cost, idle_cost
from ops.settings import Settings


def test_idle_cost_without_a_price_says_so():
    settings = Settings().with_overrides(
        {"deploy.endpoint_mode": "instance", "deploy.endpoint_instance_type": "ml.r5.large"}
    )
    text = describe_idle_cost(idle_cost(settings, alarms=7, dashboards=1))
    assert text.splitlines()[0] == (
        "Expected cost at idle: ~$3.70/month + items without a price "
        "(add them to deploy.endpoint_instance_prices)"
    )
    assert "1 x ml.r5.large always on: price unknown" in text
    serverless = idle_cost(Settings())
    assert serverless["total_usd"] == 0 and not serverless["unknown"]


def test_provisioned_serverless_cost_uses_the_deployed_memory():
    settings = Settings().with_overrides({"deploy.serverless_provisioned_concurrency": 2})
    assert settings.deploy.serverless_memory_mb == 0  # chosen per model at deploy
    cost = idle_cost(settings, serverless_memory_mb=2048)
    assert "2 provisioned x 2 GB kept warm" in cost["lines"][0][0]
    assert round(cost["total_usd"], 2) == round(2 * 2 * 0.0168 * 730, 2)


def test_lambda_mode_costs_nothing_at_idle_but_its_alarms():
    """The model inside the Lambda: no endpoint; provisioned serverless settings do not apply."""
    settings = Settings().with_overrides(
        {"deploy.endpoint_mode": "lambda", "deploy.serverless_provisioned_concurrency": 2}
    )
    cost = idle_cost(settings, alarms=5, dashboards=1)
    assert cost["lines"][0] == (
        "no endpoint: the model runs inside the Lambda (pay per request)",
        0.0,
    )
    assert round(cost["total_usd"], 2) == 3.50 and not cost["unknown"]
