"""The built-in image-classification algorithm's ECR image per region, without the SageMaker SDK.

The table (image-classification-registries.json) is the SDK's own (sagemaker-core 2.27.0, the
maintained v3 line), a 2 KB file instead of a 448 MB install with a 2 s import (docs/aws-rules.md,
"SDK decision"). `python -m ops.aws.builtin_images` compares it with an installed sagemaker-core.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ops.errors import DogbreedError

ALGORITHM = "image-classification"
TABLE = Path(__file__).with_name("image-classification-registries.json")


@cache
def _table() -> dict:
    return json.loads(TABLE.read_text())


def image_uri(region: str) -> str:
    """<account>.dkr.ecr.<region>.<domain>/image-classification:1 for `region`."""
    table = _table()
    account = region_account(table, region, f"the {ALGORITHM} algorithm")
    return registry_uri(account, region, table["repository"], table["tag"])


def region_account(table: dict, region: str, what: str) -> str:
    """The ECR account of `region` in a registry table; a usage error naming `what` if absent."""
    account = table["registries"].get(region)
    if account is None:
        raise DogbreedError(
            f"{what} is not available in region {region!r}",
            exit_code=2,
            hint="set aws.region to a SageMaker region, e.g. us-east-1",
        )
    return account


def registry_uri(account: str, region: str, repository: str, tag: str) -> str:
    """An ECR image URI (the China regions' domain is amazonaws.com.cn)."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{repository}:{tag}"


PYTORCH_TABLE = Path(__file__).with_name("pytorch-training-registries.json")
# the SDK's processor rule: P and G instances are GPUs, the rest (m, c, r, t ...) CPUs
GPU_FAMILIES = ("p", "g")


def pytorch_training_image(region: str, version: str, py_version: str, instance_type: str) -> str:
    """The PyTorch training Deep Learning Container of the recipe job (ops/train/sagemaker/recipe_job.py).

    From pytorch-training-registries.json, the SDK's own table for that version (sagemaker
    image_uri_config/pytorch.json): <account>.dkr.ecr.<region>.<domain>/pytorch-training:
    <version>-<gpu|cpu>-<py>.
    """
    table = json.loads(PYTORCH_TABLE.read_text())
    if version != table["version"] or py_version not in table["py_versions"]:
        raise DogbreedError(
            f"no PyTorch {version} ({py_version}) training image in the table (it has"
            f" {table['version']} with {', '.join(table['py_versions'])})",
            exit_code=2,
            hint=f"set aws.pytorch_version = {table['version']!r} and aws.python_version",
        )
    account = region_account(table, region, "the PyTorch training image")
    family = instance_type.removeprefix("ml.").split(".")[0]
    processor = "gpu" if family.startswith(GPU_FAMILIES) else "cpu"
    return registry_uri(account, region, table["repository"], f"{version}-{processor}-{py_version}")


def main() -> int:
    """Compare the table with sagemaker-core's, when that is installed; 1 on a difference."""
    try:
        from sagemaker.core import image_uris
    except ImportError:
        print("sagemaker-core is not installed: pip install sagemaker-core")
        return 2
    differences = [
        region
        for region in _table()["registries"]
        if image_uris.retrieve(ALGORITHM, region) != image_uri(region)
    ]
    print("differs in: " + ", ".join(differences) if differences else "the table matches")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
