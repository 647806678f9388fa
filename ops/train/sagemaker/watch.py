"""Watching a SageMaker training job: live status, secondary status, metrics, elapsed time, cost.

`watch_training_job` polls DescribeTrainingJob (interval injectable for tests), prints each new
secondary-status transition as a log line, keeps a rich table up to date, and on Ctrl-C asks
whether to stop the job. Accuracy comes from FinalMetricDataList and, while the job trains, from
the CloudWatch metrics the algorithm emits (namespace /aws/sagemaker/TrainingJobs).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import click

from ops.settings import Settings

TERMINAL = ("Completed", "Failed", "Stopped")
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"
WATCHED_METRICS = ("train:accuracy", "validation:accuracy")


def make_console() -> Any:
    """Rich console; off a terminal (logs, CI) lines are kept wide instead of wrapped at 80."""

    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def as_datetime(value: Any) -> datetime | None:
    """Timestamps from boto3 are datetimes; from raw JSON they may be epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def elapsed_seconds(description: dict[str, Any], now: datetime | None = None) -> float:
    """Seconds from creation to the end (or to now while the job runs)."""
    now = now or datetime.now(UTC)
    start = as_datetime(description.get("CreationTime"))
    if start is None:
        return 0.0
    end = as_datetime(description.get("TrainingEndTime"))
    if description.get("TrainingJobStatus") not in TERMINAL or end is None:
        end = now
    return max(0.0, (end - start).total_seconds())


def estimate_cost(
    settings: Settings, seconds: float, billable_seconds: float | None = None
) -> dict[str, float | None]:
    """On-demand USD for `seconds` of the configured instances; spot saving when billable is known."""
    price = settings.aws.instance_prices.get(settings.aws.instance_type)
    if price is None:
        return {"price_per_hour": None, "on_demand_usd": None, "billed_usd": None, "saving": None}
    count = max(1, int(settings.aws.instance_count))
    on_demand = price * count * seconds / 3600.0
    billed = saving = None
    if billable_seconds is not None:
        billed = price * count * float(billable_seconds) / 3600.0
        if seconds > 0:
            saving = max(0.0, 1.0 - float(billable_seconds) / seconds)
    return {
        "price_per_hour": price,
        "on_demand_usd": on_demand,
        "billed_usd": billed,
        "saving": saving,
    }


def format_duration(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def format_cost(cost: dict[str, float | None]) -> str:
    if cost["on_demand_usd"] is None:
        return "n/a (instance type not in aws.instance_prices)"
    text = f"~${cost['on_demand_usd']:.2f} on-demand"
    if cost["billed_usd"] is not None:
        text += f", billed ~${cost['billed_usd']:.2f}"
        if cost["saving"]:
            text += f" (spot saving {cost['saving']:.0%})"
    return text


class MetricReader:
    """Latest value of the algorithm's CloudWatch metrics for one job; disables itself on error."""

    def __init__(self, cloudwatch: Any | None, names: tuple[str, ...] = WATCHED_METRICS):
        self.cloudwatch = cloudwatch
        self.names = names

    def latest(self, job_name: str, since: datetime | None) -> dict[str, float]:
        if self.cloudwatch is None:
            return {}
        now = datetime.now(UTC)
        start = (since or now - timedelta(days=1)) - timedelta(minutes=5)
        values: dict[str, float] = {}
        try:
            for name in self.names:
                points = self.cloudwatch.get_metric_statistics(
                    Namespace=METRIC_NAMESPACE,
                    MetricName=name,
                    Dimensions=[{"Name": "Host", "Value": f"{job_name}/algo-1"}],
                    StartTime=start,
                    EndTime=now + timedelta(minutes=5),
                    Period=60,
                    Statistics=["Maximum"],
                ).get("Datapoints", [])
                if points:
                    last = max(points, key=lambda p: p["Timestamp"])
                    values[name] = float(last["Maximum"])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            self.cloudwatch = None  # no permission or not available: FinalMetricDataList only
        return values


def job_metrics(
    description: dict[str, Any], live: dict[str, float] | None = None
) -> dict[str, float]:
    """Live CloudWatch values overlaid by the job's own final metric list."""
    metrics = dict(live or {})
    for m in description.get("FinalMetricDataList") or []:
        metrics[m["MetricName"]] = float(m["Value"])
    return metrics


def render_training(
    description: dict[str, Any], metrics: dict[str, float], settings: Settings, now: datetime
) -> Any:
    """The live table: one row per fact a user watches for."""
    from rich.table import Table

    seconds = elapsed_seconds(description, now)
    status = description.get("TrainingJobStatus", "?")
    colour = {"Completed": "green", "Failed": "red", "Stopped": "yellow"}.get(status, "cyan")
    table = Table(title=f"SageMaker training job {description.get('TrainingJobName', '')}")
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", f"[{colour}]{status}[/]")
    table.add_row("secondary status", str(description.get("SecondaryStatus", "")))
    table.add_row(
        "instances",
        f"{settings.aws.instance_type} x{settings.aws.instance_count}"
        + (" (spot)" if description.get("EnableManagedSpotTraining") else ""),
    )
    table.add_row("elapsed", format_duration(seconds))
    trained = description.get("TrainingTimeInSeconds") or seconds
    billable = description.get("BillableTimeInSeconds")
    table.add_row("estimated cost", format_cost(estimate_cost(settings, trained, billable)))
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    return table


def transition_lines(description: dict[str, Any], seen: int) -> list[str]:
    """Log lines for the secondary-status transitions after the first `seen`."""
    lines = []
    for t in (description.get("SecondaryStatusTransitions") or [])[seen:]:
        start = as_datetime(t.get("StartTime"))
        stamp = f"{start:%H:%M:%S}" if start else "--:--:--"
        message = t.get("StatusMessage", "")
        lines.append(f"{stamp} {t.get('Status', '?')}" + (f": {message}" if message else ""))
    return lines


def describe_training(client: Any, name: str) -> dict[str, Any]:
    from ops.aws.session import explain_client_error

    try:
        return client.describe_training_job(TrainingJobName=name)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"describing training job {name}") from exc


def stop_training(client: Any, name: str) -> None:
    from ops.aws.session import explain_client_error

    try:
        client.stop_training_job(TrainingJobName=name)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"stopping training job {name}") from exc


def watch_training_job(
    client: Any,
    name: str,
    settings: Settings,
    *,
    poll_seconds: float = 30.0,
    console: Any = None,
    cloudwatch: Any = "auto",
    sleep: Callable[[float], None] = time.sleep,
    confirm: Callable[..., bool] = click.confirm,
) -> dict[str, Any]:
    """Poll until the job ends (or the user detaches with Ctrl-C); returns the last description."""
    from ops.aws.session import make_client

    console = console or make_console()
    if cloudwatch == "auto":
        try:
            cloudwatch = make_client(settings, "cloudwatch")
        except Exception:  # metrics are a nicety; the job state is what matters
            cloudwatch = None
    reader = MetricReader(cloudwatch)
    seen = 0
    last_status = None
    description: dict[str, Any] = {}

    def poll(live) -> bool:
        nonlocal seen, last_status, description
        description = describe_training(client, name)
        status = description.get("TrainingJobStatus")
        for line in transition_lines(description, seen):
            live.console.print(line)
        seen = len(description.get("SecondaryStatusTransitions") or [])
        if status != last_status:
            live.console.print(f"Status: {status}")
            last_status = status
        live_values = {}
        if description.get("SecondaryStatus") in ("Training", "Uploading", "Completed"):
            live_values = reader.latest(name, as_datetime(description.get("CreationTime")))
        metrics = job_metrics(description, live_values)
        live.update(render_training(description, metrics, settings, datetime.now(UTC)))
        return status in TERMINAL

    def stop() -> None:
        stop_training(client, name)
        console.print(f"Stopping {name}; waiting for SageMaker to confirm...")

    watch_live(
        console,
        poll,
        stop,
        question=f"Stop training job {name}?",
        detached=f"Detached; job {name} keeps running.",
        poll_seconds=poll_seconds,
        sleep=sleep,
        confirm=confirm,
        refresh_per_second=2,
    )
    return description


def watch_live(
    console: Any,
    poll: Callable[[Any], bool],
    stop: Callable[[], None],
    *,
    question: str,
    detached: str,
    poll_seconds: float,
    sleep: Callable[[float], None],
    confirm: Callable[..., bool],
    refresh_per_second: int,
) -> None:
    """The live loop of every job watcher: poll(live) until it says the job ended, sleeping between.

    Ctrl-C asks `question`: yes stops the job (stop()) and keeps watching until it ends (a second
    Ctrl-C leaves at once); no detaches, the job keeps running.
    """
    from rich.live import Live

    stopping = False
    with Live(console=console, refresh_per_second=refresh_per_second, transient=False) as live:
        while True:
            try:
                if poll(live):
                    break
                sleep(poll_seconds)
            except KeyboardInterrupt:
                live.stop()
                if stopping:
                    break
                if confirm(question, default=False):
                    stop()
                    stopping = True
                    live.start()
                    continue
                console.print(detached)
                break
    if not console.is_terminal:
        console.line()  # Live leaves no newline after its last frame off a terminal
