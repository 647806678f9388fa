"""AWS's PyTorch inference image for a locally trained model, from a vendored registry table.

The same kind of lookup as the built-in algorithm's (ops/aws/builtin_images.py, no SageMaker SDK):
pytorch-inference-registries.json is the SageMaker Python SDK's own table for the pinned
framework version (deploy.pytorch_version / pytorch_py_version), one ECR account per region.
Serverless endpoints are CPU-only, so they get the CPU image; instance endpoints on GPU types
(ml.g*, ml.p*) the GPU one.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ops.aws.builtin_images import region_account, registry_uri
from ops.errors import DogbreedError
from ops.settings import Settings

PYTORCH_TABLE = Path(__file__).with_name("pytorch-inference-registries.json")


@cache
def _pytorch_table() -> dict:
    return json.loads(PYTORCH_TABLE.read_text())


def pytorch_inference_image(settings: Settings) -> str:
    """<account>.dkr.ecr.<region>.<domain>/pytorch-inference:<version>-<cpu|gpu>-<py> for the
    configured region, endpoint mode and framework pin."""

    table = _pytorch_table()
    dep, region = settings.deploy, settings.aws.region
    if (dep.pytorch_version, dep.pytorch_py_version) != (table["version"], table["py_version"]):
        raise DogbreedError(
            f"deploy.pytorch_version {dep.pytorch_version} / {dep.pytorch_py_version}: the image "
            f"table here holds {table['version']} / {table['py_version']}",
            exit_code=2,
            hint="set those, or pass --image <PyTorch inference image URI>",
        )
    account = region_account(table, region, "the PyTorch inference image")
    gpu = dep.endpoint_mode == "instance" and dep.endpoint_instance_type.startswith(
        ("ml.g", "ml.p")
    )
    return registry_uri(
        account, region, table["repository"], table["tags"]["gpu" if gpu else "cpu"]
    )
