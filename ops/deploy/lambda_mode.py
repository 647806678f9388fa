"""`deploy` with deploy.endpoint_mode = "lambda": a local model runs inside the classify Lambda.

The default, "auto", picks it for a local model and a serverless endpoint for a SageMaker
built-in one (measured in bench/lambda_mode.py, docs/serving.md: no endpoint to create or pay
for, one hop fewer, a cold start of seconds).

No SageMaker model or endpoint: the function zip holds the handler, the artifact's model files and
the runtime code of `dogbreed serve` (ops/api/lambda_layer.py), and a layer holds numpy,
Pillow and ONNX Runtime for the Lambda's Python. Both are checked against Lambda's 250 MB
unzipped limit before Terraform runs. A new model is a new published version of the function,
which CodeDeploy shifts the `live` alias to (ops/deploy/lambda_rollout.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.api.lambda_layer import (
    LAMBDA_PYTHON,
    build_layer,
    check_unzipped_limit,
    function_extra,
)
from ops.api.lambda_package import build_lambda_zip, sha256_b64
from ops.artifact.reader import dog_settings, resolve_artifact_dir
from ops.deploy.rollout import rollout_variables
from ops.deploy.serving_model import ServingModel, build_dir
from ops.deploy.serving_stack import _model_variables, resolve_model, terraform_variables
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.train.record import last_local_artifact, read_training


def picks_lambda(settings: Settings, artifact, model_data_url: str | None = None) -> bool:
    """Whether the model runs inside the Lambda: deploy.endpoint_mode = "lambda", or "auto" with
    a local model (--artifact, or a last training of the local backend)."""

    mode = settings.deploy.endpoint_mode
    if mode != "auto":
        return mode == "lambda"
    if model_data_url:
        return False
    if artifact is not None:
        return True
    record = read_training()
    return record is not None and record.backend == "local"


def auto_variables(
    settings: Settings,
    artifact: Path | str | None,
    echo: Callable[[str], Any],
    model_data_url: str | None = None,
    image_uri: str | None = None,
) -> tuple[ServingModel, dict[str, Any]]:
    """deploy.endpoint_mode "lambda" or "auto": the model and the variables of the mode it means
    (a SageMaker built-in model under "auto": a serverless endpoint, as before "auto" existed)."""
    if picks_lambda(settings, artifact, model_data_url):
        lam = settings.with_overrides({"deploy.endpoint_mode": "lambda"})
        return lambda_mode_variables(lam, artifact, echo)
    serverless = settings.with_overrides({"deploy.endpoint_mode": "serverless"})
    model = resolve_model(serverless, model_data_url, image_uri, artifact)
    return model, _model_variables(serverless, model, echo)


def lambda_artifact(artifact: Path | str | None) -> Path:
    """The artifact folder to put inside the Lambda: --artifact, else the last local training."""

    if artifact is None:
        record = read_training()
        if record is None or record.backend != "local":
            raise DogbreedError(
                'deploy.endpoint_mode = "lambda" runs a local model (ONNX) inside the Lambda,'
                " and no local training is recorded",
                hint="run `dogbreed train` (local backend) or pass --artifact DIR|model.tar.gz",
            )
        artifact = last_local_artifact()
    return resolve_artifact_dir(artifact)


def layer_zip(settings: Settings, echo: Callable[[str], Any]) -> Path:
    """deploy.lambda_layer_zip when set, else the layer built for the Lambda's Python."""
    given = settings.deploy.lambda_layer_zip
    if given:
        path = settings.resolve(given)
        if not path.is_file():
            raise DogbreedError(f"deploy.lambda_layer_zip: {path} not found")
        return path
    echo(f"Lambda layer: numpy, Pillow, ONNX Runtime for Python {LAMBDA_PYTHON} (pip, cached)")
    return build_layer(build_dir() / f"lambda-layer-py{LAMBDA_PYTHON}.zip")


def lambda_mode_variables(
    settings: Settings, artifact: Path | str | None, echo: Callable[[str], Any] = print
) -> tuple[ServingModel, dict[str, Any]]:
    """(the model, the root configuration's variables) for a deploy in lambda mode."""
    if settings.deploy.endpoint_mode != "lambda":
        raise DogbreedError("lambda_mode_variables needs deploy.endpoint_mode = lambda")
    root = lambda_artifact(artifact)
    classes = root / "classes.json"
    function_zip = build_lambda_zip(build_dir() / "lambda.zip", classes, extra=function_extra(root))
    layer = layer_zip(settings, echo)
    total = check_unzipped_limit(function_zip, layer)
    echo(
        f"Lambda package: {function_zip} ({function_zip.stat().st_size / 2**20:.1f} MiB, sha256"
        f" {sha256_b64(function_zip)}) + layer {layer.name}"
        f" ({layer.stat().st_size / 2**20:.1f} MiB): {total / 2**20:.0f} MiB unzipped of 250"
    )
    threshold = dog_settings(root, outputs=[])["top_probability_threshold"]
    model = ServingModel(
        model_data_url="",
        image_uri="",
        classes=classes,
        serverless_memory_mb=0,
        dog_min_top_probability=threshold,
    )
    variables = terraform_variables(
        settings, zip_path=function_zip, dog_min_top_probability=threshold
    ) | rollout_variables(settings, model)  # the CodeDeploy rollout, drift alarms from metrics.json
    variables["lambda_layer_zip_path"] = str(layer)
    variables["lambda_model_memory_mb"] = settings.deploy.lambda_model_memory_mb
    echo(f"The model runs inside the Lambda ({root}): no SageMaker endpoint")
    return model, variables
