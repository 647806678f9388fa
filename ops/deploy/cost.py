"""What the deployed serving stack costs per month with no traffic, from the deploy.* price table.

At idle, API Gateway and Lambda cost nothing (they bill per request), nor does the model inside
the Lambda (endpoint_mode "lambda"), and a serverless endpoint costs nothing unless it keeps
provisioned concurrency warm; an instance endpoint bills its instances around the clock (at
autoscaling's minimum), and CloudWatch bills alarms and the dashboard per month. S3 storage of the data and models comes on top and is not counted here.
"""

from __future__ import annotations

from typing import Any

from ops.settings import Settings

HOURS_PER_MONTH = 730  # AWS pricing pages' month


def idle_cost(
    settings: Settings, alarms: int = 0, dashboards: int = 0, serverless_memory_mb: int = 0
) -> dict[str, Any]:
    """{"lines": [(what, usd or None)], "total_usd", "unknown"}: None = price not in the table.

    serverless_memory_mb: what was deployed (deploy.serverless_memory_mb = 0 picks it per model).
    """
    dep = settings.deploy
    lines: list[tuple[str, float | None]] = []
    if dep.endpoint_mode == "instance":
        count = max(1, dep.autoscaling_min_capacity)
        price = dep.endpoint_instance_prices.get(dep.endpoint_instance_type)
        what = f"endpoint: {count} x {dep.endpoint_instance_type} always on"
        lines.append((what, None if price is None else price * count * HOURS_PER_MONTH))
    elif dep.endpoint_mode == "lambda":
        lines.append(("no endpoint: the model runs inside the Lambda (pay per request)", 0.0))
    elif dep.serverless_provisioned_concurrency > 0:
        gb = (serverless_memory_mb or dep.serverless_memory_mb) / 1024
        warm = dep.serverless_provisioned_concurrency
        usd = warm * gb * dep.serverless_provisioned_price_gb_hour * HOURS_PER_MONTH
        lines.append((f"endpoint: serverless, {warm} provisioned x {gb:g} GB kept warm", usd))
    else:
        lines.append(("endpoint: serverless, scales to zero (pay per request)", 0.0))
    lines.append(("API Gateway + Lambda: per request only", 0.0))
    if alarms:
        lines.append((f"CloudWatch: {alarms} alarms", alarms * dep.alarm_price_month))
    if dashboards:
        lines.append(
            (f"CloudWatch: {dashboards} dashboard(s)", dashboards * dep.dashboard_price_month)
        )
    known = [usd for _, usd in lines if usd is not None]
    return {
        "lines": lines,
        "total_usd": sum(known),
        "unknown": [what for what, usd in lines if usd is None],
    }


def describe_idle_cost(cost: dict[str, Any]) -> str:
    """The cost as printed by `deploy`: a total, then one line per item."""
    head = f"Expected cost at idle: ~${cost['total_usd']:.2f}/month"
    if cost["unknown"]:
        head += " + items without a price (add them to deploy.endpoint_instance_prices)"
    rows = [
        f"  {what}: " + ("price unknown" if usd is None else f"${usd:.2f}/month")
        for what, usd in cost["lines"]
    ]
    return "\n".join([head, *rows, "  (S3 storage not included; prices: deploy.* settings)"])
