"""The rollout and drift-alarm variables of a deploy: how a new model takes traffic (settings) and
what its answers are expected to look like (the model's own metrics.json).

The drift alarms (terraform/modules/monitoring/drift.tf) compare live answers with the figures
the model was validated with: the share of validation dogs it refused ("no dog recognised") and
its mean top-1 probability. They are read here, at deploy time, from the metrics.json beside the
model's classes.json (a local artifact's folder, or a registry version's downloaded files); a
model without them (the built-in algorithm) gets no drift alarm, and deploy says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ops.deploy.serving_model import lambda_environment
from ops.settings import Settings

MAX_METRICS_BYTES = 4 * 1024 * 1024  # metrics.json holds a history of epochs: small
SIGNAL_TOP_PROBABILITY = "top_probability"  # what the Lambda judges a container's answers by
REGISTRY_FILE = "registry.json"  # beside a registry version's classes.json: which version it is


def _probability(value: Any) -> float | None:
    """A finite number in [0, 1], else None (metrics.json is read, not trusted)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0 <= value <= 1 else None


def read_json_file(path: Path) -> dict[str, Any]:
    """A small JSON object file, or {} when it is missing, too big or not an object."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_METRICS_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def drift_baselines(metrics: dict[str, Any], signal: str = SIGNAL_TOP_PROBABILITY) -> dict:
    """{"no_dog": validation dogs refused by `signal`'s threshold, "top1": validation mean top-1
    probability (calibrated when the model was)}, each None when metrics.json lacks it."""
    dog = metrics.get("dog") if isinstance(metrics.get("dog"), dict) else {}
    refused = dog.get("validation_false_refusal") if isinstance(dog, dict) else None
    no_dog = _probability(refused.get(signal)) if isinstance(refused, dict) else None
    calibration = metrics.get("calibration") if isinstance(metrics.get("calibration"), dict) else {}
    top1 = None
    for record in (calibration.get("validation_after"), calibration.get("validation_before")):
        if isinstance(record, dict) and top1 is None:
            top1 = _probability(record.get("mean_confidence"))
    if top1 is None:  # an evaluation report's metrics.json
        top1 = _probability(metrics.get("mean_confidence"))
    return {"no_dog": no_dog, "top1": top1 if top1 else None}


def model_files_dir(model: Any) -> Path | None:
    """The folder of the model's classes.json (a local artifact, a registry version's files)."""
    classes = getattr(model, "classes", None)
    return Path(classes).parent if classes else None


def rollout_variables(settings: Settings, model: Any) -> dict[str, Any]:
    """The root configuration's rollout, drift and MODEL_VERSION variables for serving `model`
    (a ServingModel of ops/deploy/serving_stack.py)."""

    dep = settings.deploy
    folder = model_files_dir(model)
    metrics = read_json_file(folder / "metrics.json") if folder else {}
    baselines = drift_baselines(metrics)
    if dep.dog_min_top_probability and dep.dog_min_top_probability != getattr(
        model, "dog_min_top_probability", 0.0
    ):
        baselines["no_dog"] = None  # another threshold than the validated one: rate unknown
    environment = lambda_environment(settings, getattr(model, "dog_min_top_probability", 0.0))
    version = read_json_file(folder / REGISTRY_FILE).get("version") if folder else None
    if version:
        environment["MODEL_VERSION"] = str(version)
    return {
        "lambda_environment": environment,
        "rollout_policy": dep.rollout_policy,
        "rollout_canary_percent": dep.rollout_canary_percent,
        "rollout_linear_step_percent": dep.rollout_linear_step_percent,
        "rollout_wait_seconds": dep.rollout_wait_seconds,
        "rollout_bake_seconds": dep.rollout_bake_seconds,
        "rollout_max_seconds": dep.rollout_max_seconds,
        "drift_no_dog_expected": baselines["no_dog"],
        "drift_top1_expected": baselines["top1"],
        "drift_no_dog_margin": dep.drift_no_dog_margin,
        "drift_top1_margin": dep.drift_top1_margin,
        "drift_min_images": dep.drift_min_images,
        "drift_period_seconds": dep.drift_period_seconds,
    }


def _lambda_shape(variables: dict[str, Any]) -> str:
    """The steps of a CodeDeploy Lambda deployment, as modules/lambda_classify rollout.tf maps the
    settings (its intervals are whole minutes, at least one)."""
    policy = variables.get("rollout_policy", "auto")
    minutes = max(1, math.ceil(int(variables.get("rollout_wait_seconds", 300)) / 60))
    if policy in ("auto", "canary"):
        percent = variables.get("rollout_canary_percent", 10)
        return f"canary: {percent} % of requests for {minutes} min, then all"
    if policy == "linear":
        step = variables.get("rollout_linear_step_percent", 20)
        return f"linear: {step} % more of the requests every {minutes} min"
    return "all_at_once: every request moves at once"


def describe_rollout(variables: dict[str, Any]) -> list[str]:
    """What the deploy printed about rollout and drift: one line each, for what the mode does."""
    monitored = variables.get("monitoring_enabled", True)
    if variables.get("endpoint_mode") == "lambda":  # modules/lambda_classify rollout.tf
        lines = [
            "Rollout: CodeDeploy moves the Lambda's live alias to the new version, "
            + _lambda_shape(variables)
            + (
                "; rolled back when an API or Lambda alarm fires during it (no bake after it)"
                if monitored
                else "; rolled back only if the deployment fails (monitoring is off: no alarms)"
            )
        ]
    else:
        policy = variables.get("rollout_policy", "auto")
        if policy == "auto":  # as modules/sagemaker_endpoint/rollout.tf resolves it
            policy = "canary" if variables.get("endpoint_mode") == "instance" else "all_at_once"
        lines = [
            f"Rollout: blue/green on the SageMaker endpoint, {policy} (bake"
            f" {variables.get('rollout_bake_seconds')} s); "
            + (
                "rolled back when an endpoint, API or Lambda alarm fires"
                if monitored
                else "no rollback alarm (monitoring is off)"
            )
        ]
    missing = [
        name
        for name, key in (
            ("no-dog rate", "drift_no_dog_expected"),
            ("top-1", "drift_top1_expected"),
        )
        if variables.get(key) is None
    ]
    if missing:
        lines.append(
            f"No {' or '.join(missing)} drift alarm: the model's metrics.json has no such"
            " validation figure"
        )
    return lines
