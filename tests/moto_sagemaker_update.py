"""SageMaker UpdateEndpoint for the in-process moto server, which lacks it (moto 5.2.6), and a
record of the DeploymentConfig every CreateEndpoint / UpdateEndpoint request carried.

A second `dogbreed deploy` with another model changes the endpoint configuration, and the AWS
provider then calls UpdateEndpoint with the endpoint's deployment_config: moto answers
NotImplemented. This switches the endpoint to the new configuration at once (moto shifts no
traffic, bakes nothing and rolls nothing back: what SageMaker does with the configuration stays
unverified) and keeps each request's DeploymentConfig, so tests see what terraform really sent.
"""

from __future__ import annotations

import pytest
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

REQUESTS: list[dict] = []
_CREATE = SageMakerResponse.create_endpoint


def _create_endpoint(self) -> ActionResult:
    REQUESTS.append(
        {
            "action": "CreateEndpoint",
            "EndpointConfigName": self._get_param("EndpointConfigName"),
            "DeploymentConfig": self._get_param("DeploymentConfig"),
        }
    )
    return _CREATE(self)


def _update_endpoint(self) -> ActionResult:
    backend = self.sagemaker_backend
    name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    endpoint = backend.endpoints[name]
    config = backend.describe_endpoint_config(config_name)
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(
        config["ProductionVariants"]
    )
    REQUESTS.append(
        {
            "action": "UpdateEndpoint",
            "EndpointConfigName": config_name,
            "DeploymentConfig": self._get_param("DeploymentConfig"),
        }
    )
    return ActionResult({"EndpointArn": endpoint.arn})


@pytest.fixture
def endpoint_updates(monkeypatch):
    """moto server with UpdateEndpoint; yields the list of endpoint requests it received."""
    REQUESTS.clear()
    monkeypatch.setattr(SageMakerResponse, "create_endpoint", _create_endpoint)
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    yield REQUESTS
