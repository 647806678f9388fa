"""What a deployed endpoint runs (ServingModel), and where deploy builds what it uploads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ops.settings import Settings
from ops.state import state_path

BUILT_IN_SERVERLESS_MEMORY_MB = 3072  # the built-in algorithm's MXNet ResNet (not measured here)


@dataclass(frozen=True)
class ServingModel:
    """What the endpoint runs: model data + image + container environment, and for a local
    artifact the package to upload and the class names it was trained on."""

    model_data_url: str
    image_uri: str
    environment: dict[str, str] = field(default_factory=dict)
    package: Path | None = None  # a local model's model.tar.gz, uploaded to model_data_url
    classes: Path | None = None  # the artifact's classes.json, for the Lambda
    serverless_memory_mb: int = (
        BUILT_IN_SERVERLESS_MEMORY_MB  # when deploy.serverless_memory_mb = 0
    )
    # The Lambda's "no dog" cut on the top probability (lambda_src/answer.py), for an artifact
    # without a dog score: the fallback threshold it was trained with.
    dog_min_top_probability: float = 0.0


def build_dir() -> Path:

    return state_path().parent / "build"


def lambda_environment(settings: Settings, model_threshold: float = 0.0) -> dict[str, str]:
    """The Lambda's extra environment: the top-probability "no dog" cut, from
    deploy.dog_min_top_probability when set, else the model's own (0 = refuse nothing)."""
    threshold = settings.deploy.dog_min_top_probability or model_threshold
    return {"DOG_MIN_TOP_PROBABILITY": repr(float(threshold))} if threshold > 0 else {}
