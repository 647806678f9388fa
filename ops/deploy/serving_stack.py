"""`dogbreed deploy` / `destroy`: the root Terraform configuration, driven with the last trained model.

deploy = build the Lambda zip (deterministic) -> terraform init -> apply with the model ->
record the outputs in the state file ("deployment": API URL, endpoint, Lambda; "infrastructure":
bucket, SageMaker role). The model is a SageMaker training job's artifact + the built-in
algorithm's image, or a locally trained artifact: its ONNX files as model data in the project
bucket (ops/deploy/container_image.py) served by the project's own image, named by digest
(ops/deploy/serving_image.py); the bucket and ECR repository come first (an apply without a
model) when they do not exist yet; in lambda mode a local artifact runs inside the Lambda
(ops/deploy/lambda_mode.py) and a CodeDeploy deployment moves its alias to the version the apply
published (ops/deploy/lambda_rollout.py). With `infra_only` the apply has no model, so it creates just the
bucket and role that training needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.api.lambda_package import build_lambda_zip, sha256_b64
from ops.deploy.lambda_rollout import start_rollout
from ops.deploy.local_model import local_model
from ops.deploy.rollout import rollout_variables  # blue/green, drift alarms, MODEL_VERSION
from ops.deploy.serving_image import check_digest_uri, repository_exists, resolve_serving_image
from ops.deploy.serving_model import (
    BUILT_IN_SERVERLESS_MEMORY_MB,
    ServingModel,
    build_dir,
    lambda_environment,
)
from ops.deploy.terraform import Terraform
from ops.errors import DogbreedError
from ops.hashing import sha256_file
from ops.records import DeploymentRecord, read_deployment
from ops.settings import Settings
from ops.settings_sections import DEPLOY_TERRAFORM_NAMES
from ops.train.record import last_local_artifact, read_training

EMULATED_SERVICES = (
    "apigateway",
    "applicationautoscaling",
    "cloudwatch",
    "cloudwatchlogs",
    "codedeploy",
    "ecr",
    "iam",
    "lambda",
    "s3",
    "sagemaker",
    "sns",
    "sts",
)


def terraform_dir(settings: Settings) -> Path:
    path = settings.resolve(settings.deploy.terraform_dir)
    if not (path / "main.tf").is_file():
        raise DogbreedError(f"{path} is not the dogbreed Terraform configuration (no main.tf)")
    return path


def model_from_training(model_data_url: str | None, image_uri: str | None) -> tuple[str, str]:
    """The SageMaker-format artifact + image to serve: given ones, else the last SageMaker training."""

    record = read_training()
    if not model_data_url:
        if record is None or record.backend != "sagemaker":
            raise DogbreedError(
                "no model to deploy: no training is recorded",
                hint="run `dogbreed train` (local or --backend sagemaker), or pass --artifact"
                " DIR|model.tar.gz, or --model-data-url s3://.../model.tar.gz --image URI",
            )
        model_data_url = record.artifact or ""
    if not model_data_url.startswith("s3://"):
        raise DogbreedError(f"model artifact {model_data_url!r} is not an s3:// URL")
    image_uri = image_uri or (record.image if record else None) or ""
    if not image_uri:
        raise DogbreedError(
            "no inference image known for this model", hint="pass --image <ECR image URI>"
        )
    return model_data_url, image_uri


def resolve_model(
    settings: Settings,
    model_data_url: str | None = None,
    image_uri: str | None = None,
    artifact: Path | str | None = None,
) -> ServingModel:
    """The model to deploy: --artifact, --model-data-url, else the last training of either backend."""

    if artifact is None and not model_data_url:
        record = read_training()
        if record is not None and record.backend == "local":
            artifact = last_local_artifact()
    if artifact is not None:
        if model_data_url:
            raise DogbreedError("pass --artifact or --model-data-url, not both", exit_code=2)
        from ops.aws.session import resolve_bucket

        if image_uri:  # before any AWS call
            check_digest_uri(image_uri)

        return local_model(settings, artifact, resolve_bucket(settings), image_uri)
    url, image = model_from_training(model_data_url, image_uri)
    return ServingModel(url, image)


def upload_package(settings: Settings, model: ServingModel, echo: Callable[[str], Any]) -> None:
    """Put the container package at its content-addressed key, unless the same bytes are there."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client

    bucket, _, key = model.model_data_url.removeprefix("s3://").partition("/")
    s3 = make_client(settings, "s3")
    digest = sha256_file(model.package)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get("sha256") == digest:
            echo(f"Model package already at {model.model_data_url}")
            return
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise explain_client_error(exc, f"reading {model.model_data_url}") from exc
    size_mb = model.package.stat().st_size / 1e6
    echo(f"Uploading the model package ({size_mb:.1f} MB) to {model.model_data_url}")
    try:
        s3.upload_file(str(model.package), bucket, key, ExtraArgs={"Metadata": {"sha256": digest}})
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"uploading {model.model_data_url}") from exc


def bucket_exists(settings: Settings, bucket: str) -> bool:
    """Whether the project bucket exists yet (the first deploy of a local model creates it)."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client

    try:
        make_client(settings, "s3").head_bucket(Bucket=bucket)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise explain_client_error(exc, f"reading bucket {bucket}") from exc


def classes_file(settings: Settings) -> Path:
    """classes.json of the data the model was trained on, for the Lambda.

    The training record's copy wins; the current data.prepared_dir serves only a record without
    one, and only when its class count is the model's num_classes, so a re-prepared dataset is
    never paired with a model trained on another one.
    """

    record = read_training()
    if record is not None and record.classes and Path(record.classes).is_file():
        path = Path(record.classes)
    else:
        path = settings.resolve(settings.data.prepared_dir) / "classes.json"
    if not path.is_file():
        raise DogbreedError(
            f"{path} not found: the Lambda ships the class names of the trained model",
            hint="run `dogbreed data prepare` (same settings as for training)",
        )
    trained = str(
        ((record.extra if record else {}).get("hyperparameters") or {}).get("num_classes") or ""
    )
    found = len(json.loads(path.read_text()))
    if trained.isdigit() and int(trained) != found:
        raise DogbreedError(
            f"{path} lists {found} classes but the model was trained on {trained}",
            hint="prepare the data the model was trained on (same data.* settings), or retrain",
        )
    return path


def deploy_variables(settings: Settings) -> dict[str, Any]:
    """The [deploy] settings as root Terraform variables: same names unless
    DEPLOY_TERRAFORM_NAMES renames them or keeps them out (one source for both)."""
    out: dict[str, Any] = {}
    for f in fields(settings.deploy):
        name = DEPLOY_TERRAFORM_NAMES.get(f.name, f.name)
        if name is not None:
            value = getattr(settings.deploy, f.name)
            out[name] = list(value) if isinstance(value, list | tuple) else value
    return out


def terraform_variables(
    settings: Settings,
    model_data_url: str = "",
    image_uri: str = "",
    zip_path: Path | None = None,
    environment: dict[str, str] | None = None,
    model_memory_mb: int = BUILT_IN_SERVERLESS_MEMORY_MB,
    dog_min_top_probability: float = 0.0,
) -> dict[str, Any]:
    """The root configuration's variables from the settings (and aws.endpoint_url for emulators)."""
    dep = settings.deploy
    variables: dict[str, Any] = {
        "project": settings.project.name,
        "region": settings.aws.region,
        "bucket_name": settings.aws.bucket or None,
        "tags": dict(settings.aws.tags),
        "model_data_url": model_data_url,
        "image_uri": image_uri,
        "model_environment": dict(environment or {}),
        "lambda_environment": lambda_environment(settings, dog_min_top_probability),
        "lambda_zip_path": str(zip_path) if zip_path else "",
        "data_prefix": settings.aws.data_prefix,
        "output_prefix": settings.aws.output_prefix,
        "checkpoint_prefix": settings.aws.checkpoint_prefix,
        **deploy_variables(settings),
        # "auto" means a serverless endpoint here; lambda mode comes with its own variables
        "endpoint_mode": "serverless" if dep.endpoint_mode == "auto" else dep.endpoint_mode,
        "serverless_memory_mb": dep.serverless_memory_mb or model_memory_mb,
    }
    if settings.aws.endpoint_url:  # an emulator such as moto server
        variables.update(
            endpoints={service: settings.aws.endpoint_url for service in EMULATED_SERVICES},
            skip_credentials_validation=True,
            skip_requesting_account_id=True,
            skip_metadata_api_check=True,
            s3_use_path_style=True,
            s3_lifecycle_rules=False,
            # moto evaluates the TLS-only bucket policy and is reached over http: it would
            # refuse deploy's model upload (a real bucket keeps the policy)
            s3_tls_only=False,
            force_destroy=True,
        )
    return variables


def terraform_env(settings: Settings) -> dict[str, str]:
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "AWS_REGION": settings.aws.region}
    if settings.aws.profile:
        env["AWS_PROFILE"] = settings.aws.profile
    return env


def deploy_stack(
    settings: Settings,
    model_data_url: str | None = None,
    image_uri: str | None = None,
    infra_only: bool = False,
    echo: Callable[[str], Any] = print,
    artifact: Path | str | None = None,
    planned: tuple[ServingModel, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """terraform init + apply; returns the "infrastructure" and "deployment" records (the
    command writes them to the state file). `echo` gets the progress lines. `planned`: a model
    and its variables worked out already (lambda mode), applied as they are."""

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    model = None
    planned_variables = None
    if planned is not None:  # lambda mode (ops/deploy/lambda_mode.py): model and variables given
        model, planned_variables = planned
    elif not infra_only:
        model = resolve_model(settings, model_data_url, image_uri, artifact)
    echo(f"terraform init ({tf.working_dir})")
    tf.init()
    if model is not None and model.package is not None:
        model = _upload_package_first(settings, tf, model, echo)
    if planned_variables is not None:
        variables = planned_variables
    else:
        variables = (
            _model_variables(settings, model, echo) if model else terraform_variables(settings)
        )
    model_data_url = (model.model_data_url or "the model inside the Lambda") if model else None
    echo(
        "terraform apply"
        + (" (bucket + role + ECR repository only)" if infra_only else f" with {model_data_url}")
    )
    tf.apply(variables, echo)
    outputs = tf.output()
    infrastructure, record = _deploy_records(outputs, str(tf.working_dir), model, variables)
    if outputs.get("lambda_rollout"):  # lambda mode: CodeDeploy moves the alias to the new version
        last = (read_deployment() or DeploymentRecord()).rollout
        attempted = frozenset(
            str(last[k]) for k in ("current_version", "target_version") if k in last
        )
        record["rollout"] = start_rollout(
            settings, outputs["lambda_rollout"], record["lambda_name"], attempted
        )
    return infrastructure, record


def _model_variables(
    settings: Settings, model: ServingModel, echo: Callable[[str], Any]
) -> dict[str, Any]:
    """The root configuration's variables for serving `model`, with a freshly built Lambda zip."""

    classes = model.classes or classes_file(settings)
    zip_path = build_lambda_zip(build_dir() / "lambda.zip", classes)
    echo(f"Lambda package: {zip_path} (sha256 {sha256_b64(zip_path)})")
    return terraform_variables(
        settings,
        model.model_data_url,
        model.image_uri,
        zip_path,
        model.environment,
        model.serverless_memory_mb,
        model.dog_min_top_probability,
    ) | rollout_variables(settings, model)


def _upload_package_first(settings: Settings, tf, model: ServingModel, echo) -> ServingModel:
    """Upload a local artifact's model data and find its serving image, applying the bucket,
    role and ECR repository first when the bucket does not exist yet; the model with its image."""

    bucket = model.model_data_url.removeprefix("s3://").split("/", 1)[0]
    if not bucket_exists(settings, bucket) or not repository_exists(settings):
        echo(f"terraform apply (bucket, role, ECR repository first: {bucket} holds the model)")
        tf.apply(terraform_variables(settings), echo)
    upload_package(settings, model, echo)
    context = build_dir() / "image"
    return replace(model, image_uri=resolve_serving_image(settings, context, echo, model.image_uri))


def _deploy_records(
    outputs: dict[str, Any],
    working_dir: str,
    model: ServingModel | None,
    variables: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "infrastructure" and "deployment" records of an apply, from its Terraform outputs."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    infrastructure = {
        "bucket_name": outputs.get("bucket_name"),
        "sagemaker_role_arn": outputs.get("sagemaker_role_arn"),
        "terraform_dir": working_dir,
        "applied_at": now,
    }
    deployment = {
        "status": "deployed" if outputs.get("api_url") else "infrastructure-only",
        "api_url": outputs.get("api_url"),
        "classify_url": outputs.get("classify_url"),
        "api_key": outputs.get("api_key"),
        "endpoint_name": outputs.get("endpoint_name"),
        "lambda_name": outputs.get("lambda_name"),
        "model_name": outputs.get("model_name"),
        "alarm_names": outputs.get("alarm_names") or {},
        "dashboard_url": outputs.get("dashboard_url"),
        "model_data_url": (model.model_data_url if model else None) or None,
        "image_uri": (model.image_uri if model else None) or None,
        "model_package": str(model.package) if model and model.package else None,
        "variables": variables,
        "deployed_at": now,
    }
    return infrastructure, deployment


def destroy_stack(settings: Settings, echo: Callable[[str], Any] = print) -> str:
    """terraform destroy with the variables of the last deploy (or the settings' ones); returns
    when it finished (ISO time), for the command's state records."""

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    previous = read_deployment()
    variables = (previous and previous.variables) or terraform_variables(settings)
    zip_path = variables.get("lambda_zip_path")
    if zip_path and not os.path.exists(zip_path):  # filebase64sha256 needs the file
        build_lambda_zip(Path(zip_path))
    tf.init()
    echo(f"terraform destroy ({tf.working_dir})")
    tf.destroy(variables, echo)
    return datetime.now(UTC).isoformat(timespec="seconds")
