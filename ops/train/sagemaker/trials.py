"""The trials of a SageMaker tuning job: listing them, their objective, the live trials table.

`watch_tuning_job` polls the tuning job under ops.train.sagemaker.watch.watch_live (the same Ctrl-C loop as a
training job's watcher) and redraws the table of finished trials, best first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import click

from ops.train.sagemaker.watch import TERMINAL


def list_trials(client: Any, name: str) -> list[dict[str, Any]] | None:
    """The tuning job's training jobs (all pages), or None when the service cannot list them."""
    trials: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
    try:
        while True:
            page = client.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
            trials.extend(page.get("TrainingJobSummaries", []))
            if not page.get("NextToken"):
                return trials
            kwargs["NextToken"] = page["NextToken"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return None


def objective_value(trial: dict[str, Any]) -> float | None:
    """The trial's final objective metric, None before it has one."""
    metric = trial.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return float(metric["Value"]) if "Value" in metric else None


def render_trials(description: dict[str, Any], trials: list[dict[str, Any]] | None) -> Any:
    """Table of finished trials, best first, under the job's counters."""
    from rich.table import Table

    counters = description.get("TrainingJobStatusCounters") or {}
    status = description.get("HyperParameterTuningJobStatus", "?")
    title = (
        f"Tuning job {description.get('HyperParameterTuningJobName', '')}: {status} "
        f"(completed {counters.get('Completed', 0)}, running {counters.get('InProgress', 0)}, "
        f"failed {counters.get('NonRetryableError', 0) + counters.get('RetryableError', 0)}, "
        f"stopped {counters.get('Stopped', 0)})"
    )
    table = Table(title=title)
    for col in ("trial", "status", "objective", "hyperparameters"):
        table.add_column(col)
    finished = [t for t in trials or [] if t.get("TrainingJobStatus") in TERMINAL]
    finished.sort(key=lambda t: -(objective_value(t) or float("-inf")))
    for t in finished:
        value = objective_value(t)
        params = ", ".join(
            f"{k}={v}" for k, v in sorted((t.get("TunedHyperParameters") or {}).items())
        )
        table.add_row(
            t.get("TrainingJobName", "?"),
            t.get("TrainingJobStatus", "?"),
            "-" if value is None else f"{value:.4f}",
            params,
        )
    return table


def watch_tuning_job(
    client: Any,
    name: str,
    *,
    poll_seconds: float = 60.0,
    console: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    confirm: Callable[..., bool] = click.confirm,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Poll the tuning job with a live trials table until it ends; Ctrl-C offers to stop it."""
    from ops.aws.session import explain_client_error
    from ops.train.sagemaker.watch import make_console, watch_live

    console = console or make_console()
    description: dict[str, Any] = {}
    trials: list[dict[str, Any]] | None = None
    can_list = True

    def poll(live) -> bool:
        nonlocal description, trials, can_list
        try:
            description = client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name
            )
        except botocore.exceptions.ClientError as exc:
            raise explain_client_error(exc, f"describing tuning job {name}") from exc
        if can_list:
            trials = list_trials(client, name)
            can_list = trials is not None
        live.update(render_trials(description, trials))
        return description.get("HyperParameterTuningJobStatus") in TERMINAL

    def stop() -> None:
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        console.print(f"Stopping {name}...")

    watch_live(
        console,
        poll,
        stop,
        question=f"Stop tuning job {name} and its trials?",
        detached=f"Detached; tuning job {name} keeps running.",
        poll_seconds=poll_seconds,
        sleep=sleep,
        confirm=confirm,
        refresh_per_second=1,
    )
    return description, trials
