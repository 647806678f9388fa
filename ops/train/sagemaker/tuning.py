"""SageMaker hyperparameter tuning: ranges from settings, the tuning request, the best model.

The best training job of a finished tuning job becomes the state file's "training" record (so
`deploy` serves it), and the tuning job itself is recorded under "tuning" (both written by the
`tune` command). The trials and their live table: ops/train/sagemaker/trials.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from ops.aws.builtin_images import image_uri
from ops.aws.session import connection_errors
from ops.errors import DogbreedError
from ops.hyperparameters import check_value
from ops.settings import Settings
from ops.settings_sections import Hyperparameters
from ops.train.sagemaker.job_record import record_of_job
from ops.train.sagemaker.job_request import (
    aws_tags,
    builtin_job_definition,
    check_job_rules,
    job_name,
)
from ops.train.sagemaker.preflight import checked_job_inputs
from ops.train.sagemaker.trials import objective_value, watch_tuning_job
from ops.train.sagemaker.watch import TERMINAL

MAX_TUNING_NAME = 32  # CreateHyperParameterTuningJob's limit
SCALINGS = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


def parameter_ranges(ranges: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """settings.tuning.ranges as SageMaker's ParameterRanges; every mistake is a clear error."""
    known = set(vars(Hyperparameters()))
    out: dict[str, list[dict[str, Any]]] = {
        "ContinuousParameterRanges": [],
        "IntegerParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, spec in sorted(ranges.items()):
        where = f"tuning.ranges.{name}"
        if name not in known:
            raise DogbreedError(f"{where}: not a hyperparameter of the algorithm", exit_code=2)
        kind = str(spec.get("type", "")).lower()
        if kind == "categorical":
            values = spec.get("values") or []
            if not values:
                raise DogbreedError(f"{where}: categorical range needs 'values'", exit_code=2)
            for value in values:
                check_value(name, value)  # each value must be one the algorithm accepts
            out["CategoricalParameterRanges"].append(
                {"Name": name, "Values": [str(v) for v in values]}
            )
            continue
        if kind not in ("continuous", "integer"):
            raise DogbreedError(
                f"{where}: type must be continuous, integer or categorical", exit_code=2
            )
        key, entry = _numeric_range(where, name, kind, spec)
        out[key].append(entry)
    if not any(out.values()):
        raise DogbreedError("tuning.ranges is empty: nothing to tune", exit_code=2)
    return out


def _numeric_range(where: str, name: str, kind: str, spec: dict[str, Any]):
    """One continuous or integer range: (its ParameterRanges key, the SageMaker entry)."""
    try:
        low, high = float(spec["min"]), float(spec["max"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DogbreedError(f"{where}: needs numeric 'min' and 'max'", exit_code=2) from exc
    if low >= high:
        raise DogbreedError(f"{where}: min must be below max", exit_code=2)
    check_value(name, low)  # both ends inside the documented range
    check_value(name, high)
    scaling = spec.get("scaling", "Auto")
    if scaling not in SCALINGS:
        raise DogbreedError(f"{where}: scaling must be one of {', '.join(SCALINGS)}", exit_code=2)
    if scaling == "Logarithmic" and low <= 0:
        raise DogbreedError(f"{where}: Logarithmic scaling needs min > 0", exit_code=2)
    if kind == "integer":
        if not (low.is_integer() and high.is_integer()):
            raise DogbreedError(f"{where}: integer range needs whole min/max", exit_code=2)
        low_s, high_s, key = str(int(low)), str(int(high)), "IntegerParameterRanges"
    else:
        low_s, high_s, key = repr(low), repr(high), "ContinuousParameterRanges"
    return key, {"Name": name, "MinValue": low_s, "MaxValue": high_s, "ScalingType": scaling}


def tuning_job_request(
    settings: Settings,
    *,
    name: str,
    image: str,
    role_arn: str,
    bucket: str,
    hyperparameters: dict[str, str],
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request: ranges, objective, limits, the trial definition."""
    check_job_rules(settings, info)
    tuning = settings.tuning
    ranges = parameter_ranges(tuning.ranges)
    tuned = {r["Name"] for group in ranges.values() for r in group}
    if tuning.early_stopping_type not in ("Auto", "Off"):
        raise DogbreedError("tuning.early_stopping_type must be 'Auto' or 'Off'", exit_code=2)
    if tuning.objective_type not in ("Maximize", "Minimize"):
        raise DogbreedError("tuning.objective_type must be 'Maximize' or 'Minimize'", exit_code=2)
    if not 1 <= tuning.max_parallel_jobs <= tuning.max_jobs:
        raise DogbreedError("tuning needs 1 <= max_parallel_jobs <= max_jobs", exit_code=2)
    definition = {
        "StaticHyperParameters": {k: v for k, v in hyperparameters.items() if k not in tuned},
        # one checkpoint prefix per tuning job; each trial is its own training job and SageMaker
        # syncs /opt/ml/checkpoints of that job only
        **builtin_job_definition(
            settings, image=image, role_arn=role_arn, bucket=bucket, checkpoint_name=name
        ),
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": tuning.strategy,
            "HyperParameterTuningJobObjective": {
                "Type": tuning.objective_type,
                "MetricName": tuning.objective_metric,
            },
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": int(tuning.max_jobs),
                "MaxParallelTrainingJobs": int(tuning.max_parallel_jobs),
            },
            "ParameterRanges": ranges,
            "TrainingJobEarlyStoppingType": tuning.early_stopping_type,
        },
        "TrainingJobDefinition": definition,
        "Tags": aws_tags(settings),
    }


def submit_tuning_job(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Check inputs like a training job, then CreateHyperParameterTuningJob."""
    from ops.aws.session import explain_client_error

    parameter_ranges(settings.tuning.ranges)  # before any AWS call
    inputs = checked_job_inputs(settings)
    sm = inputs.target.sagemaker
    request = tuning_job_request(
        settings,
        name=job_name(settings.project.name, max_len=MAX_TUNING_NAME),
        image=image_uri(settings.aws.region),
        role_arn=inputs.target.role_arn,
        bucket=inputs.target.bucket,
        hyperparameters=inputs.hyperparameters,
        info=inputs.info,
    )
    try:
        sm.create_hyper_parameter_tuning_job(**request)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, "creating the tuning job") from exc
    return sm, request


def best_training_description(
    client: Any, tuning: dict[str, Any], output_path: str
) -> dict[str, Any]:
    """DescribeTrainingJob of the best trial; its documented artifact path when it cannot be read."""
    best = tuning.get("BestTrainingJob") or {}
    if not best.get("TrainingJobName"):
        raise DogbreedError(
            f"tuning job {tuning.get('HyperParameterTuningJobName')} has no best training job"
        )
    best_name = best["TrainingJobName"]
    try:
        return client.describe_training_job(TrainingJobName=best_name)
    except botocore.exceptions.ClientError as exc:
        from ops.aws.session import explain_client_error

        if exc.response.get("Error", {}).get("Code") not in (
            "ValidationException",
            "ResourceNotFound",
        ):
            raise explain_client_error(exc, f"describing training job {best_name}") from exc
        # Not describable (emulators invent the best trial): trials write their model to
        # <output path>/<trial name>/output/model.tar.gz, so that is where it is.
        value = objective_value(best)
        metric = (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("MetricName")
        return {
            "TrainingJobName": best_name,
            "TrainingJobArn": best.get("TrainingJobArn"),
            "TrainingJobStatus": best.get("TrainingJobStatus"),
            "ModelArtifacts": {
                "S3ModelArtifacts": f"{output_path.rstrip('/')}/{best_name}/output/model.tar.gz"
            },
            "HyperParameters": best.get("TunedHyperParameters") or {},
            "FinalMetricDataList": []
            if value is None
            else [{"MetricName": metric or "objective", "Value": value}],
        }


def finish_tuning(
    client: Any,
    description: dict[str, Any],
    trials: list[dict[str, Any]] | None,
    request: dict[str, Any],
    settings: Settings,
    echo: Any = print,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The "tuning" record and the best trial's "training" record (None while it runs), for the
    command to write; a failed or empty tuning job is an error."""
    name = description["HyperParameterTuningJobName"]
    status = description.get("HyperParameterTuningJobStatus")
    if status not in TERMINAL:
        echo(f"Tuning job {name} is {status}; check it with `dogbreed jobs`.")
        return {"tuning_job_name": name, "status": status}, None
    if status == "Failed":
        reason = description.get("FailureReason") or "no reason given"
        raise DogbreedError(f"tuning job {name} failed: {reason}")
    if not (description.get("BestTrainingJob") or {}).get("TrainingJobName"):
        raise DogbreedError(f"tuning job {name} ended ({status}) without a successful trial")
    output_path = request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    best = best_training_description(client, description, output_path)
    image = request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    training = record_of_job(best, settings, image=image)
    training["tuning_job_name"] = name
    tuning_record = {
        "backend": "sagemaker",
        "tuning_job_name": name,
        "status": status,
        "best_training_job": best["TrainingJobName"],
        "best_objective": objective_value(description["BestTrainingJob"]),
        "objective_metric": settings.tuning.objective_metric,
        "model_data_url": training["model_data_url"],
        "trials": [
            {
                "job_name": t.get("TrainingJobName"),
                "status": t.get("TrainingJobStatus"),
                "objective": objective_value(t),
                "hyperparameters": t.get("TunedHyperParameters") or {},
            }
            for t in trials or []
        ],
        "config": request["HyperParameterTuningJobConfig"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    echo(
        f"Best trial: {best['TrainingJobName']} ({settings.tuning.objective_metric} = "
        f"{tuning_record['best_objective']})"
    )
    echo(f"Model artifact: {training['model_data_url']}")
    return tuning_record, training


@connection_errors("SageMaker tuning")
def tune_sagemaker(
    settings: Settings, wait: bool = True, poll_seconds: float | None = None, console: Any = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Submit the tuning job; with `wait`, watch it. (tuning record, best model's training
    record or None)."""
    from ops.train.sagemaker.watch import make_console

    console = console or make_console()
    sm, request = submit_tuning_job(settings)
    name = request["HyperParameterTuningJobName"]
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    console.print(
        f"Submitted tuning job [bold]{name}[/] ({limits['MaxNumberOfTrainingJobs']} trials, "
        f"{limits['MaxParallelTrainingJobs']} at a time, objective {settings.tuning.objective_metric})"
    )
    if not wait:
        console.print("Not waiting. Check it with `dogbreed jobs`.")
        return {"tuning_job_name": name, "status": "InProgress", "request": request}, None
    if poll_seconds is None:
        poll_seconds = max(settings.aws.poll_seconds, 0)
    description, trials = watch_tuning_job(sm, name, poll_seconds=poll_seconds, console=console)
    return finish_tuning(sm, description, trials, request, settings, echo=console.print)
