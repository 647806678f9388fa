"""`dogbreed deploy` / `destroy`: the root Terraform configuration, driven with the last trained model.

deploy = build the Lambda zip (deterministic) -> terraform init -> apply with the model ->
record the outputs in the state file ("deployment": API URL, endpoint, Lambda; "infrastructure":
bucket, SageMaker role). The model is a SageMaker training job's artifact + the built-in
algorithm's image, or a locally trained artifact packaged for AWS's PyTorch inference container
(ops/local/container_package.py), uploaded to the project bucket first (created by an apply
without a model when it does not exist yet). With `infra_only` the apply has no model, so it
creates just the bucket and role that training needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.settings import Settings

BUILT_IN_SERVERLESS_MEMORY_MB = 3072  # the built-in algorithm's MXNet ResNet (not measured here)
EMULATED_SERVICES = (
    "apigateway",
    "applicationautoscaling",
    "cloudwatch",
    "cloudwatchlogs",
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


@dataclass(frozen=True)
class ServingModel:
    """What the endpoint runs: model data + image + container environment, and for a local
    artifact the package to upload and the class names it was trained on."""

    model_data_url: str
    image_uri: str
    environment: dict[str, str] = field(default_factory=dict)
    package: Path | None = None  # the container model.tar.gz, uploaded to model_data_url
    classes: Path | None = None  # the artifact's classes.json, for the Lambda
    serverless_memory_mb: int = (
        BUILT_IN_SERVERLESS_MEMORY_MB  # when deploy.serverless_memory_mb = 0
    )
    # The Lambda's "no dog" cut on the top probability (lambda_src/answer.py): the container
    # answers no dog score, so a local artifact brings the fallback threshold it was trained with.
    dog_min_top_probability: float = 0.0


def model_from_training(model_data_url: str | None, image_uri: str | None) -> tuple[str, str]:
    """The SageMaker-format artifact + image to serve: given ones, else the last SageMaker training."""
    from ops.training_record import read_training

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


def local_model(
    settings: Settings, artifact: Path | str, bucket: str, image_uri: str | None = None
) -> ServingModel:
    """A local artifact (folder or model.tar.gz) as a PyTorch-container model in `bucket`."""
    from ops.aws.images import pytorch_inference_image
    from ops.local.artifact import dog_settings, resolve_artifact_dir
    from ops.local.container_package import (
        CONTAINER_ENVIRONMENT,
        SERVERLESS_MEMORY_MB,
        package_digest,
        write_package,
    )

    root = resolve_artifact_dir(artifact)
    package = write_package(root, build_dir() / "sagemaker-model" / "model.tar.gz")
    key = f"{settings.deploy.model_prefix.strip('/')}/{package_digest(package)}/model.tar.gz"
    environment = {
        **CONTAINER_ENVIRONMENT,
        "SAGEMAKER_REGION": settings.aws.region,
        # One model server worker: the memory measured (docs/deploy-local-model.md) is one model.
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    }
    return ServingModel(
        model_data_url=f"s3://{bucket}/{key}",
        image_uri=image_uri or pytorch_inference_image(settings),
        environment=environment,
        package=package,
        classes=root / "classes.json",
        serverless_memory_mb=SERVERLESS_MEMORY_MB,
        dog_min_top_probability=dog_settings(root, outputs=[])["top_probability_threshold"],
    )


def resolve_model(
    settings: Settings,
    model_data_url: str | None = None,
    image_uri: str | None = None,
    artifact: Path | str | None = None,
) -> ServingModel:
    """The model to deploy: --artifact, --model-data-url, else the last training of either backend."""
    from ops.training_record import last_local_artifact, read_training

    if artifact is None and not model_data_url:
        record = read_training()
        if record is not None and record.backend == "local":
            artifact = last_local_artifact()
    if artifact is not None:
        if model_data_url:
            raise DogbreedError("pass --artifact or --model-data-url, not both", exit_code=2)
        from ops.aws.session import resolve_bucket

        return local_model(settings, artifact, resolve_bucket(settings), image_uri)
    url, image = model_from_training(model_data_url, image_uri)
    return ServingModel(url, image)


def upload_package(settings: Settings, model: ServingModel, echo: Callable[[str], Any]) -> None:
    """Put the container package at its content-addressed key, unless the same bytes are there."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client
    from ops.local.export import sha256_file

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
    from ops.training_record import read_training

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


def build_dir() -> Path:
    from ops.state import state_path

    return state_path().parent / "build"


def lambda_environment(settings: Settings, model_threshold: float = 0.0) -> dict[str, str]:
    """The Lambda's extra environment: the top-probability "no dog" cut, from
    deploy.dog_min_top_probability when set, else the model's own (0 = refuse nothing)."""
    threshold = settings.deploy.dog_min_top_probability or model_threshold
    return {"DOG_MIN_TOP_PROBABILITY": repr(float(threshold))} if threshold > 0 else {}


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
        "endpoint_mode": dep.endpoint_mode,
        "endpoint_instance_type": dep.endpoint_instance_type,
        "serverless_memory_mb": dep.serverless_memory_mb or model_memory_mb,
        "serverless_max_concurrency": dep.serverless_max_concurrency,
        "api_key_required": dep.api_key_required,
        "throttle_rate_limit": dep.throttle_rate_limit,
        "throttle_burst_limit": dep.throttle_burst_limit,
        "cors_allowed_origins": list(dep.cors_allowed_origins),
        "data_prefix": settings.aws.data_prefix,
        "output_prefix": settings.aws.output_prefix,
        "checkpoint_prefix": settings.aws.checkpoint_prefix,
        "monitoring_enabled": dep.monitoring,
        "alarm_email": dep.alarm_email,
        "autoscaling_enabled": dep.autoscaling,
        "autoscaling_min_capacity": dep.autoscaling_min_capacity,
        "autoscaling_max_capacity": dep.autoscaling_max_capacity,
        "serverless_provisioned_concurrency": dep.serverless_provisioned_concurrency,
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
) -> tuple[dict[str, Any], dict[str, Any]]:
    """terraform init + apply; returns the "infrastructure" and "deployment" records (the
    command writes them to the state file). `echo` gets the progress lines."""
    from ops.aws.terraform import Terraform

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    model = None
    if infra_only:
        variables = terraform_variables(settings)
    else:
        model = resolve_model(settings, model_data_url, image_uri, artifact)
        variables = _model_variables(settings, model, echo)
    echo(f"terraform init ({tf.working_dir})")
    tf.init()
    if model is not None and model.package is not None:
        _upload_package_first(settings, tf, model, echo)
    model_data_url = model.model_data_url if model else None
    echo("terraform apply" + (" (bucket + role only)" if infra_only else f" with {model_data_url}"))
    tf.apply(variables)
    return _deploy_records(tf.output(), str(tf.working_dir), model, variables)


def _model_variables(
    settings: Settings, model: ServingModel, echo: Callable[[str], Any]
) -> dict[str, Any]:
    """The root configuration's variables for serving `model`, with a freshly built Lambda zip."""
    from ops.serving.lambda_package import build_lambda_zip, sha256_b64
    from ops.serving.rollout import rollout_variables  # blue/green, drift alarms, MODEL_VERSION

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


def _upload_package_first(settings: Settings, tf, model: ServingModel, echo) -> None:
    """Upload a local artifact's container package, applying the bucket + role first when the
    project bucket that must hold it does not exist yet."""
    bucket = model.model_data_url.removeprefix("s3://").split("/", 1)[0]
    if not bucket_exists(settings, bucket):
        echo(f"terraform apply (bucket + role first: {bucket} holds the model package)")
        tf.apply(terraform_variables(settings))
    upload_package(settings, model, echo)


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
    from ops.aws.terraform import Terraform
    from ops.serving.lambda_package import build_lambda_zip
    from ops.state import get_record

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    previous = get_record("deployment") or {}
    variables = previous.get("variables") or terraform_variables(settings)
    zip_path = variables.get("lambda_zip_path")
    if zip_path and not os.path.exists(zip_path):  # filebase64sha256 needs the file
        build_lambda_zip(Path(zip_path))
    tf.init()
    echo(f"terraform destroy ({tf.working_dir})")
    tf.destroy(variables)
    return datetime.now(UTC).isoformat(timespec="seconds")
