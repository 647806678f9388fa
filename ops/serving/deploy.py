"""`dogbreed deploy` / `destroy`: the root Terraform configuration, driven with the last trained model.

deploy = build the Lambda zip (deterministic) -> terraform init -> apply with the SageMaker
training job's artifact and image -> record the outputs in the state file ("deployment": API URL,
endpoint, Lambda; "infrastructure": bucket, SageMaker role). With `infra_only` the apply has no
model, so it creates just the bucket and role that training needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.settings import Settings

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


def model_from_training(model_data_url: str | None, image_uri: str | None) -> tuple[str, str]:
    """The artifact + image to serve: given ones, else the state's last SageMaker training."""
    from ops.training_record import read_training

    record = read_training()
    if not model_data_url:
        if record is None or record.backend != "sagemaker":
            where = record.extra.get("model_tar") or record.artifact if record else None
            raise DogbreedError(
                "deploy needs a SageMaker-format model: the last training "
                + (f"was local ({where})" if record else "is not recorded"),
                hint="train with `dogbreed --backend sagemaker train`, pass --model-data-url"
                " s3://.../model.tar.gz --image URI, or serve a local model with `dogbreed serve --api`",
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


def classes_file(settings: Settings) -> Path:
    path = settings.resolve(settings.data.prepared_dir) / "classes.json"
    if not path.is_file():
        raise DogbreedError(
            f"{path} not found: the Lambda ships the class names of the trained model",
            hint="run `dogbreed data prepare` (same settings as for training)",
        )
    return path


def build_dir() -> Path:
    from ops.state import state_path

    return state_path().parent / "build"


def terraform_variables(
    settings: Settings, model_data_url: str = "", image_uri: str = "", zip_path: Path | None = None
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
        "lambda_zip_path": str(zip_path) if zip_path else "",
        "endpoint_mode": dep.endpoint_mode,
        "endpoint_instance_type": dep.endpoint_instance_type,
        "serverless_memory_mb": dep.serverless_memory_mb,
        "serverless_max_concurrency": dep.serverless_max_concurrency,
        "api_key_required": dep.api_key_required,
        "throttle_rate_limit": dep.throttle_rate_limit,
        "throttle_burst_limit": dep.throttle_burst_limit,
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
) -> dict[str, Any]:
    """terraform init + apply; returns the "deployment" record written to the state file."""
    from ops.aws.terraform import Terraform
    from ops.serving.lambda_package import build_lambda_zip, sha256_b64
    from ops.state import update_state

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    if infra_only:
        variables = terraform_variables(settings)
    else:
        model_data_url, image_uri = model_from_training(model_data_url, image_uri)
        zip_path = build_lambda_zip(build_dir() / "lambda.zip", classes_file(settings))
        echo(f"Lambda package: {zip_path} (sha256 {sha256_b64(zip_path)})")
        variables = terraform_variables(settings, model_data_url, image_uri, zip_path)
    echo(f"terraform init ({tf.working_dir})")
    tf.init()
    echo("terraform apply" + (" (bucket + role only)" if infra_only else f" with {model_data_url}"))
    tf.apply(variables)
    outputs = tf.output()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    infrastructure = {
        "bucket_name": outputs.get("bucket_name"),
        "sagemaker_role_arn": outputs.get("sagemaker_role_arn"),
        "terraform_dir": str(tf.working_dir),
        "applied_at": now,
    }
    update_state("infrastructure", infrastructure)
    record = {
        "status": "deployed" if outputs.get("api_url") else "infrastructure-only",
        "api_url": outputs.get("api_url"),
        "classify_url": outputs.get("classify_url"),
        "api_key": outputs.get("api_key"),
        "endpoint_name": outputs.get("endpoint_name"),
        "lambda_name": outputs.get("lambda_name"),
        "model_name": outputs.get("model_name"),
        "alarm_names": outputs.get("alarm_names") or {},
        "dashboard_url": outputs.get("dashboard_url"),
        "model_data_url": model_data_url or None,
        "image_uri": image_uri or None,
        "variables": variables,
        "deployed_at": now,
    }
    path = update_state("deployment", record)
    echo(
        f"Bucket: {infrastructure['bucket_name']}  SageMaker role: {infrastructure['sagemaker_role_arn']}"
    )
    if record["api_url"]:
        echo(
            f"POST {record['classify_url']}  (endpoint {record['endpoint_name']}, Lambda {record['lambda_name']})"
        )
        echo("Try it: dogbreed classify some-dog.jpg")
        from ops.serving.cost import describe_idle_cost, idle_cost

        alarms, dashboards = len(record["alarm_names"]), int(bool(record["dashboard_url"]))
        echo(describe_idle_cost(idle_cost(settings, alarms=alarms, dashboards=dashboards)))
    echo(f"Recorded in {path}")
    return record


def destroy_stack(settings: Settings, echo: Callable[[str], Any] = print) -> None:
    """terraform destroy with the variables of the last deploy (or the settings' ones)."""
    from ops.aws.terraform import Terraform
    from ops.serving.lambda_package import build_lambda_zip
    from ops.state import get_record, update_state

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    previous = get_record("deployment") or {}
    variables = previous.get("variables") or terraform_variables(settings)
    zip_path = variables.get("lambda_zip_path")
    if zip_path and not os.path.exists(zip_path):  # filebase64sha256 needs the file
        build_lambda_zip(Path(zip_path))
    tf.init()
    echo(f"terraform destroy ({tf.working_dir})")
    tf.destroy(variables)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    update_state("deployment", {"status": "destroyed", "destroyed_at": now})
    update_state("infrastructure", {"status": "destroyed", "destroyed_at": now})
    echo("Destroyed.")
