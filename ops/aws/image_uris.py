"""The built-in image-classification algorithm's ECR image per region, without the SageMaker SDK.

The table (image-classification-registries.json) is the SDK's own (sagemaker-core 2.27.0, the
maintained v3 line), a 2 KB file instead of a 448 MB install with a 2 s import (docs/aws-rules.md,
"SDK decision"). `python -m ops.aws.image_uris` compares it with an installed sagemaker-core.
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
    account = table["registries"].get(region)
    if account is None:
        raise DogbreedError(
            f"the {ALGORITHM} algorithm is not available in region {region!r}",
            exit_code=2,
            hint="set aws.region to a SageMaker region, e.g. us-east-1",
        )
    return registry_uri(account, region, table["repository"], table["tag"])


def registry_uri(account: str, region: str, repository: str, tag: str) -> str:
    """An ECR image URI (the China regions' domain is amazonaws.com.cn)."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{repository}:{tag}"


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
