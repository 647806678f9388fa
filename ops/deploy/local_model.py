"""A locally trained artifact as a SageMaker model: its ONNX files as model data for the serving
image (Dockerfile), with the container environment for the endpoint mode."""

from __future__ import annotations

from pathlib import Path

from ops.api.photo_size import REALTIME_INVOKE_BYTES, SERVERLESS_INVOKE_BYTES
from ops.deploy.container_image import (
    CONTAINER_ENVIRONMENT,
    SERVERLESS_MEMORY_MB,
    write_model_data,
)
from ops.deploy.serving_image import check_digest_uri
from ops.deploy.serving_model import ServingModel, build_dir
from ops.hashing import sha256_file
from ops.settings import Settings


def local_model(
    settings: Settings, artifact: Path | str, bucket: str, image_uri: str | None = None
) -> ServingModel:
    """A local artifact as model data in `bucket` for the serving image; the image is checked
    here when given (URI@sha256:...), else resolved after `terraform init` (deploy_stack)."""
    from ops.artifact.reader import artifact_limits, dog_settings, resolve_artifact_dir

    root = resolve_artifact_dir(artifact, artifact_limits(settings))
    package = write_model_data(root, build_dir() / "sagemaker-model" / "model.tar.gz")
    key = f"{settings.deploy.model_prefix.strip('/')}/{sha256_file(package)[:12]}/model.tar.gz"
    return ServingModel(
        model_data_url=f"s3://{bucket}/{key}",
        image_uri=check_digest_uri(image_uri) if image_uri else "",
        environment={**CONTAINER_ENVIRONMENT, **request_limit(settings)},
        package=package,
        classes=root / "classes.json",
        serverless_memory_mb=SERVERLESS_MEMORY_MB,
        dog_min_top_probability=dog_settings(root, outputs=[])["top_probability_threshold"],
    )


def request_limit(settings: Settings) -> dict[str, str]:
    """The serving image's per-request limit: SageMaker's InvokeEndpoint limit for the mode."""

    serverless = settings.deploy.endpoint_mode in ("serverless", "auto")  # auto: serverless here
    limit = SERVERLESS_INVOKE_BYTES if serverless else REALTIME_INVOKE_BYTES
    return {"DOGBREED_SERVE__MAX_IMAGE_BYTES": str(limit)}
