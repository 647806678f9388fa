"""Inference and training image URIs from the SageMaker SDK's table: one lookup for every model.

The built-in image-classification algorithm (SageMaker training) and AWS's PyTorch inference
Deep Learning Container (a locally trained model) are both found here, for the configured region.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ops.errors import DogbreedError
from ops.settings import Settings


def quiet_sdk() -> None:
    """Before importing the SageMaker SDK: no v2 deprecation banner, no config-search INFO lines."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    config_logger = logging.getLogger("sagemaker.config")
    if config_logger.level == logging.NOTSET:  # the SDK logs its config search at INFO
        config_logger.setLevel(logging.WARNING)


def retrieve(framework: str, region: str, **kwargs: Any) -> str:
    """sagemaker.image_uris.retrieve, quiet, with its ValueError as a one-line DogbreedError."""
    quiet_sdk()
    from sagemaker import image_uris

    try:
        return image_uris.retrieve(framework, region, **kwargs)
    except ValueError as exc:
        raise DogbreedError(
            f"the {framework} image"
            + (f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else "")
            + f" is not available in region {region!r}",
            exit_code=2,
            hint="set aws.region to a SageMaker region, e.g. us-east-1"
            + (", or deploy.pytorch_version to a listed version" if framework == "pytorch" else ""),
        ) from exc


def pytorch_inference_image(settings: Settings) -> str:
    """AWS's PyTorch inference DLC for deploy.pytorch_version: the CPU image for a serverless
    endpoint (serverless is CPU-only), else the one for deploy.endpoint_instance_type."""
    dep = settings.deploy
    kwargs: dict[str, Any] = {
        "version": dep.pytorch_version,
        "py_version": dep.pytorch_py_version,
        "image_scope": "inference",
    }
    if dep.endpoint_mode == "serverless":
        quiet_sdk()
        from sagemaker.serverless import ServerlessInferenceConfig

        kwargs["serverless_inference_config"] = ServerlessInferenceConfig()
    else:
        kwargs["instance_type"] = dep.endpoint_instance_type
    return retrieve("pytorch", settings.aws.region, **kwargs)
