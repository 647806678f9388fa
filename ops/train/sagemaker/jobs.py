"""`dogbreed jobs`: the recent SageMaker training and tuning jobs, with status and accuracy."""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from ops.settings import Settings
from ops.train.sagemaker.watch import elapsed_seconds, format_duration

ACCURACY = "validation:accuracy"


def _newest_first(limit: int, name_contains: str) -> dict[str, Any]:
    """The list_* arguments both job kinds share: newest first, at most `limit`, optional filter."""
    kwargs: dict[str, Any] = {
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": max(1, min(limit, 100)),
    }
    if name_contains:
        kwargs["NameContains"] = name_contains
    return kwargs


def recent_training_jobs(client: Any, limit: int, name_contains: str = "") -> list[dict[str, Any]]:
    """Newest first, each described (for metrics): one row per job."""
    kwargs = _newest_first(limit, name_contains)
    summaries = client.list_training_jobs(**kwargs).get("TrainingJobSummaries", [])[:limit]
    rows = []
    for s in summaries:
        try:
            d = client.describe_training_job(TrainingJobName=s["TrainingJobName"])
        except botocore.exceptions.ClientError:
            d = dict(s)
        metrics = {m["MetricName"]: float(m["Value"]) for m in d.get("FinalMetricDataList") or []}
        rows.append(
            {
                "kind": "training",
                "name": s["TrainingJobName"],
                "status": d.get("TrainingJobStatus", s.get("TrainingJobStatus")),
                "created": d.get("CreationTime", s.get("CreationTime")),
                "elapsed": elapsed_seconds(d),
                "accuracy": metrics.get(ACCURACY),
                "train_accuracy": metrics.get("train:accuracy"),
                "failure": d.get("FailureReason"),
            }
        )
    return rows


def recent_tuning_jobs(client: Any, limit: int, name_contains: str = "") -> list[dict[str, Any]]:
    kwargs = _newest_first(limit, name_contains)
    summaries = client.list_hyper_parameter_tuning_jobs(**kwargs).get(
        "HyperParameterTuningJobSummaries", []
    )[:limit]
    rows = []
    for s in summaries:
        name = s["HyperParameterTuningJobName"]
        try:
            d = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except botocore.exceptions.ClientError:
            d = dict(s)
        best = d.get("BestTrainingJob") or {}
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        counters = d.get("TrainingJobStatusCounters") or {}
        rows.append(
            {
                "kind": "tuning",
                "name": name,
                "status": d.get("HyperParameterTuningJobStatus"),
                "created": d.get("CreationTime"),
                "accuracy": float(metric["Value"]) if "Value" in metric else None,
                "best": best.get("TrainingJobName"),
                "trials": sum(int(v) for v in counters.values()),
                "failure": d.get("FailureReason") or None,
            }
        )
    return rows


def list_jobs(settings: Settings, limit: int = 10, show_all: bool = False) -> list[dict[str, Any]]:
    """Training then tuning jobs of this project (or all, with show_all), newest first."""
    from ops.aws.session import connection_errors, explain_client_error, make_client

    client = make_client(settings, "sagemaker")
    contains = "" if show_all else settings.project.name
    try:
        with connection_errors("listing SageMaker jobs"):
            return recent_training_jobs(client, limit, contains) + recent_tuning_jobs(
                client, limit, contains
            )
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, "listing SageMaker jobs") from exc


def render_jobs(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="SageMaker jobs (newest first)")
    for col in ("kind", "name", "status", "created", "duration", "val accuracy", "notes"):
        table.add_column(col)
    for r in rows:
        created = r.get("created")
        created_s = created.strftime("%Y-%m-%d %H:%M") if hasattr(created, "strftime") else ""
        acc = r.get("accuracy")
        notes = r.get("failure") or ""
        if r["kind"] == "tuning":
            notes = notes or f"{r.get('trials', 0)} trials, best {r.get('best') or '-'}"
        table.add_row(
            r["kind"],
            r["name"],
            str(r.get("status")),
            created_s,
            format_duration(r["elapsed"]) if "elapsed" in r else "",
            "-" if acc is None else f"{acc:.4f}",
            notes,
        )
    return table
