"""What a finished SageMaker job leaves: the state file's "training" record, for the command.

`finish_training` turns a job's final description into the record (the same shape as a local
training's, ops/train/record.py) or the error of a failed or stopped job; the command that
watched the job writes the record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import state_path
from ops.train.record import common_fields


def final_metrics(description: dict[str, Any]) -> dict[str, float]:
    """FinalMetricDataList as {name: value}."""
    return {
        m["MetricName"]: float(m["Value"]) for m in description.get("FinalMetricDataList") or []
    }


def record_of_job(
    description: dict[str, Any], settings: Settings, image: str | None = None
) -> dict[str, Any]:
    """The state file's "training" record for a completed SageMaker job (what deploy reads)."""

    algorithm = description.get("AlgorithmSpecification", {})
    model_data_url = description.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    image_uri = image or algorithm.get("TrainingImage")
    if "sagemaker_program" in (description.get("HyperParameters") or {}):
        # a script-mode (recipe) job: its training container does not serve the ONNX artifact
        image_uri = image
    hyperparameters = description.get("HyperParameters") or {}
    classes = trained_classes(settings, hyperparameters, description["TrainingJobName"])
    return {
        **common_fields(
            "sagemaker", model_data_url, image_uri, classes, final_metrics(description)
        ),
        "job_name": description["TrainingJobName"],
        "job_arn": description.get("TrainingJobArn"),
        "training_image": algorithm.get("TrainingImage"),
        "model_data_url": model_data_url,
        "image_uri": image_uri,
        "region": settings.aws.region,
        "hyperparameters": hyperparameters,
        "billable_seconds": description.get("BillableTimeInSeconds"),
        "training_seconds": description.get("TrainingTimeInSeconds"),
        "settings": settings.as_dict(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def trained_classes(settings: Settings, hyperparameters: dict[str, Any], job: str) -> str | None:
    """A copy of the prepared classes.json beside the state file, when it matches the job's
    num_classes: what `deploy` ships, even after data.prepared_dir is prepared again."""

    path = PreparedData(settings.resolve(settings.data.prepared_dir)).classes_path
    if not path.is_file():
        return None
    classes = json.loads(path.read_text())
    expected = str(hyperparameters.get("num_classes") or "")
    if expected.isdigit() and int(expected) != len(classes):
        return None
    copy = state_path().parent / "trained" / f"{job}-classes.json"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(json.dumps(classes, indent=1))
    return str(copy)


def finish_training(
    description: dict[str, Any], settings: Settings, echo: Any = print
) -> dict[str, Any]:
    """The "training" record of a Completed job, for the command to write (record_training_job);
    {job_name, status} while it still runs; raise with the FailureReason when it Failed or was
    Stopped."""
    name = description["TrainingJobName"]
    status = description.get("TrainingJobStatus")
    if status == "Completed":
        record = record_of_job(description, settings)
        echo(f"Model artifact: {record['model_data_url']}")
        return record
    if status == "Failed":
        reason = description.get("FailureReason") or "no reason given"
        raise DogbreedError(f"training job {name} failed: {reason}")
    if status == "Stopped":
        raise DogbreedError(f"training job {name} was stopped before it finished")
    echo(f"Training job {name} is {status}; follow it with `dogbreed jobs --watch {name}`")
    return {"job_name": name, "status": status}
