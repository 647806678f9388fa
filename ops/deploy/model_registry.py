"""Deploying through the model registry (ops/aws/registry.py): what a training registers, the
approval gate, `deploy --model VERSION` and `deploy --previous`.

When models are registered: a SageMaker job (built-in or recipe) as soon as it completes (AWS is
in use, its model.tar.gz is in S3 already); a local training when it is first deployed, or
with `dogbreed models register`. A version must point at S3 bytes, so registering a local model
means uploading its container package: doing that after every local experiment would make
offline training need AWS and fill the bucket with models nobody serves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ops.aws import registry
from ops.deploy.local_model import local_model
from ops.deploy.rollout import drift_baselines, read_json_file
from ops.deploy.serving_image import resolve_serving_image
from ops.deploy.serving_stack import (
    BUILT_IN_SERVERLESS_MEMORY_MB,
    ServingModel,
    _deploy_records,
    _model_variables,
    build_dir,
    classes_file,
    deploy_stack,
    terraform_dir,
    terraform_env,
    upload_package,
)
from ops.deploy.terraform import Terraform
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.train.record import from_record, last_local_artifact, read_training


def _figures(metrics: dict[str, Any], top1: Any, **extra: Any) -> dict[str, str]:
    """The short metadata of a version: validation top-1, drift baselines, serving values."""
    baselines = drift_baselines(metrics)
    figures = {
        "validation_top1": top1,
        "drift_no_dog": baselines["no_dog"],
        "drift_top1": baselines["top1"],
        **extra,
    }
    return {
        k: str(round(v, 6) if isinstance(v, float) else v)
        for k, v in figures.items()
        if v is not None
    }


def _settings_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def local_registration(settings: Settings, model: ServingModel) -> registry.Registration:
    """A local artifact served by AWS's PyTorch container (`model` from deploy.local_model)."""
    root = Path(model.classes).parent
    metadata = read_json_file(root / "metadata.json")
    metrics = read_json_file(root / "metrics.json")
    prepared = metadata.get("prepared_dir")
    digests = registry.data_digests(Path(prepared) if prepared else None)
    trained_with = {k: metadata.get(k) for k in ("hyperparameters", "local", "recipe", "mode")}
    return registry.Registration(
        model_data_url=model.model_data_url,
        image_uri=model.image_uri,
        source="local",
        classes=root / "classes.json",
        environment=dict(model.environment),
        metrics=metrics,
        details={"metadata": metadata, "data_sha256": digests, "artifact": str(root)},
        figures=_figures(
            metrics,
            metrics.get("validation_top1"),
            backbone=metadata.get("backbone"),
            dog_min_top_probability=model.dog_min_top_probability,
            serverless_memory_mb=model.serverless_memory_mb,
            settings_sha256=_settings_digest(trained_with),
            data_sha256=_settings_digest(digests) if digests else None,
        ),
    )


def job_registration(settings: Settings, record: dict[str, Any]) -> registry.Registration:
    """A completed SageMaker job's "training" record (built-in algorithm or recipe)."""

    training = from_record(record)
    if not training.artifact or not training.image:
        raise DogbreedError("the training record has no model.tar.gz or image")
    metrics = dict(training.metrics)
    hyperparameters = record.get("hyperparameters") or {}
    recipe = "sagemaker_program" in hyperparameters
    prepared = (record.get("settings") or {}).get("data", {}).get("prepared_dir")
    digests = registry.data_digests(settings.resolve(prepared) if prepared else None)
    top1 = metrics.get("validation_top1", metrics.get("validation:accuracy"))
    return registry.Registration(
        model_data_url=training.artifact,
        image_uri=training.image,
        source="sagemaker-recipe" if recipe else "sagemaker-builtin",
        classes=Path(training.classes) if training.classes else classes_file(settings),
        metrics=metrics,
        details={
            "job_name": record.get("job_name"),
            "settings": record.get("settings"),
            "hyperparameters": hyperparameters,
            "data_sha256": digests,
        },
        figures=_figures(
            metrics,
            top1,
            job_name=record.get("job_name"),
            serverless_memory_mb=BUILT_IN_SERVERLESS_MEMORY_MB,
            settings_sha256=_settings_digest(hyperparameters),
            data_sha256=_settings_digest(digests) if digests else None,
        ),
    )


def register_finished_job(settings: Settings, record: dict[str, Any], echo: Callable) -> None:
    """Register a completed job's model when deploy.register_models is on."""
    if not settings.deploy.register_models or record.get("backend") != "sagemaker":
        return
    try:
        found, new = registry.register(settings, job_registration(settings, record))
    except DogbreedError as exc:  # the training stands; it can be registered later
        echo(f"Not registered: {exc.message} (later: dogbreed models register)")
        return
    echo(
        f"Model version {found.version} {'registered' if new else 'already registered'}"
        f" in {registry.group_name(settings)} ({found.status})"
    )


def serving_model(settings: Settings, found: registry.ModelVersion) -> ServingModel:
    """A registered version as deploy serves it, its classes.json + metrics.json fetched."""
    folder = build_dir() / "registry" / f"v{found.version}"
    classes = registry.fetch_files(settings, found, folder)
    try:
        listed = json.loads(classes.read_text())
    except ValueError:
        listed = None
    if not isinstance(listed, list | dict) or not listed:
        raise DogbreedError(f"model version {found.version}: its classes.json lists no classes")
    meta = found.metadata
    return ServingModel(
        model_data_url=found.model_data_url,
        image_uri=found.image_uri,
        environment=found.environment,
        classes=classes,
        serverless_memory_mb=int(meta.get("serverless_memory_mb") or BUILT_IN_SERVERLESS_MEMORY_MB),
        dog_min_top_probability=float(meta.get("dog_min_top_probability") or 0.0),
    )


def choose_version(
    settings: Settings, version: int | None, previous: bool
) -> registry.ModelVersion:
    """`--model VERSION`, or with `--previous` the version deployed before the one serving now."""
    if version is not None:
        return registry.get_version(settings, version)
    deployed = registry.deployed_order(registry.list_versions(settings))
    if len(deployed) < 2:
        raise DogbreedError(
            "no earlier deployed model version to roll back to"
            + (f" (only version {deployed[0].version} was deployed)" if deployed else ""),
            hint="`dogbreed models` lists the versions; `dogbreed deploy --model VERSION` deploys one",
        )
    return deployed[1]


def check_approved(settings: Settings, found: registry.ModelVersion) -> None:
    """The production gate: a Rejected version never deploys; with deploy.allow_unapproved off,
    only Approved ones do."""
    if found.status == registry.REJECTED:
        raise DogbreedError(
            f"model version {found.version} was rejected",
            hint="`dogbreed models` lists the others; approve it again to deploy it",
        )
    if settings.deploy.allow_unapproved or found.status == registry.APPROVED:
        return
    raise DogbreedError(
        f"model version {found.version} is {found.status}, and deploy.allow_unapproved is off",
        hint=f"approve it first: dogbreed models approve {found.version}",
    )


def apply_model(settings: Settings, model: ServingModel, echo: Callable) -> tuple[dict, dict]:
    """terraform init + apply serving `model`, whose package is in S3 already (a registered
    version); the "infrastructure" and "deployment" records, as deploy_stack returns them."""

    tf = Terraform(terraform_dir(settings), env=terraform_env(settings))
    variables = _model_variables(settings, model, echo)
    echo(f"terraform init ({tf.working_dir})")
    tf.init()
    echo(f"terraform apply with {model.model_data_url}")
    tf.apply(variables)
    return _deploy_records(tf.output(), str(tf.working_dir), model, variables)


def deployed_registration(
    settings: Settings, record: dict[str, Any], artifact: Path | str | None
) -> registry.Registration:
    """The registration of what a plain `deploy` just served: the local artifact it packaged,
    the SageMaker job it took, or a model given by --model-data-url."""

    variables = record.get("variables") or {}
    if record.get("model_package"):  # a local artifact, packaged for the PyTorch container
        from ops.artifact.reader import dog_settings, resolve_artifact_dir

        root = resolve_artifact_dir(artifact or last_local_artifact())
        model = ServingModel(
            model_data_url=record["model_data_url"],
            image_uri=record["image_uri"],
            environment=dict(variables.get("model_environment") or {}),
            classes=root / "classes.json",
            serverless_memory_mb=int(variables.get("serverless_memory_mb") or 0),
            dog_min_top_probability=dog_settings(root, outputs=[])["top_probability_threshold"],
        )
        return local_registration(settings, model)
    training = read_training()
    if training is not None and training.artifact == record.get("model_data_url"):
        return job_registration(settings, training.extra)
    return registry.Registration(
        model_data_url=record["model_data_url"],
        image_uri=record["image_uri"],
        source="given",
        classes=classes_file(settings),
        figures={"serverless_memory_mb": str(variables.get("serverless_memory_mb") or "")},
    )


def _deploy_version(settings: Settings, found: registry.ModelVersion, echo) -> tuple[dict, dict]:
    check_approved(settings, found)
    top1 = f"validation top-1 {found.top1:.2%}" if found.top1 is not None else "no top-1"
    echo(f"Model version {found.version}: {found.status}, {top1}, {found.model_data_url}")
    infrastructure, record = apply_model(settings, serving_model(settings, found), echo)
    found = registry.mark_deployed(settings, found)
    return infrastructure, {
        **record,
        "model_version": found.version,
        "model_package_arn": found.arn,
    }


def deploy(
    settings: Settings,
    echo: Callable,
    *,
    version: int | None = None,
    previous: bool = False,
    model_data_url: str | None = None,
    image_uri: str | None = None,
    infra_only: bool = False,
    artifact: Path | str | None = None,
    planned: tuple[ServingModel, dict] | None = None,
) -> tuple[dict, dict]:
    """The deploy command's work: a registered version (--model, --previous), else the last
    training as before, registered once it serves (deploy.register_models). `planned`: lambda
    mode's model and variables (ops/deploy/lambda_mode.py); a model inside the Lambda has no
    model data in S3 to register."""

    if version is not None or previous:
        if version is not None and previous:
            raise DogbreedError("pass --model VERSION or --previous, not both", exit_code=2)
        if model_data_url or artifact or image_uri or infra_only:
            raise DogbreedError(
                "--model/--previous deploy a registered version: drop --artifact,"
                " --model-data-url, --image and --infra-only",
                exit_code=2,
            )
        return _deploy_version(settings, choose_version(settings, version, previous), echo)
    if not infra_only and not settings.deploy.allow_unapproved:
        raise DogbreedError(
            "deploy.allow_unapproved is off: only registered, approved model versions deploy",
            hint="dogbreed models register; dogbreed models approve VERSION;"
            " dogbreed deploy --model VERSION",
        )
    infrastructure, record = deploy_stack(
        settings, model_data_url, image_uri, infra_only, echo, artifact, planned=planned
    )
    if record.get("api_url") and record.get("model_data_url") and settings.deploy.register_models:
        try:
            registration = deployed_registration(settings, record, artifact)
            found, new = registry.register(settings, registration)
            found = registry.mark_deployed(settings, found)
        except DogbreedError as exc:  # the model serves; the registry can catch up later
            echo(f"Not registered: {exc.message} (later: dogbreed models register)")
            return infrastructure, record
        echo(
            f"Model version {found.version} {'registered' if new else 'already registered'}"
            f" in {registry.group_name(settings)} ({found.status})"
        )
        record = {**record, "model_version": found.version, "model_package_arn": found.arn}
    return infrastructure, record


def local_upload_registration(
    settings: Settings, artifact: Path | str | None, echo: Callable
) -> registry.Registration:
    """`models register` of a local artifact: its container package uploaded, as deploy does."""
    from ops.aws.session import resolve_bucket

    model = local_model(settings, artifact or last_local_artifact(), resolve_bucket(settings))
    upload_package(settings, model, echo)
    context = build_dir() / "image"  # the serving image by digest, found as deploy finds it
    model = replace(model, image_uri=resolve_serving_image(settings, context, echo, ""))
    return local_registration(settings, model)
