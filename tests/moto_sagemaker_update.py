"""Two gaps of moto's SageMaker endpoints (moto 5.2.6), filled for every test (a conftest plugin),
and a record of the DeploymentConfig each CreateEndpoint / UpdateEndpoint request carried.

- UpdateEndpoint is missing: a second `dogbreed deploy` with another model changes the endpoint
  configuration and the AWS provider calls it (moto answers NotImplemented). Here it switches the
  endpoint to the new configuration at once: moto shifts no traffic, bakes nothing and rolls
  nothing back, so what SageMaker does with the configuration stays unverified.
- DescribeEndpoint returns no LastDeploymentConfig. The provider reads deployment_config back
  from it, and its auto_rollback_configuration is ForceNew: without it every apply on moto would
  replace the endpoint. Here it is the last DeploymentConfig the endpoint was given, as on AWS.
"""

from __future__ import annotations

import pytest
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

REQUESTS: list[dict] = []
_LAST: dict[str, dict] = {}  # endpoint name -> the DeploymentConfig it was last given
_CREATE = SageMakerResponse.create_endpoint
_DESCRIBE = SageMakerResponse.describe_endpoint


def _remember(self, action: str) -> None:
    config = self._get_param("DeploymentConfig")
    REQUESTS.append(
        {
            "action": action,
            "EndpointConfigName": self._get_param("EndpointConfigName"),
            "DeploymentConfig": config,
        }
    )
    if config:
        _LAST[self._get_param("EndpointName")] = config
    else:
        _LAST.pop(self._get_param("EndpointName"), None)


def _create_endpoint(self) -> ActionResult:
    answer = _CREATE(self)
    _remember(self, "CreateEndpoint")
    return answer


def _describe_endpoint(self) -> ActionResult:
    answer = _DESCRIBE(self)
    last = _LAST.get(self._get_param("EndpointName"))
    if last:
        answer.result["LastDeploymentConfig"] = last
    return answer


def _update_endpoint(self) -> ActionResult:
    backend = self.sagemaker_backend
    name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    endpoint = backend.endpoints[name]
    config = backend.describe_endpoint_config(config_name)
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(
        config["ProductionVariants"]
    )
    _remember(self, "UpdateEndpoint")
    return ActionResult({"EndpointArn": endpoint.arn})


@pytest.fixture(autouse=True)
def endpoint_updates(monkeypatch):
    """moto server with UpdateEndpoint and LastDeploymentConfig; yields the endpoint requests
    it received in this test."""
    REQUESTS.clear()
    _LAST.clear()
    monkeypatch.setattr(SageMakerResponse, "create_endpoint", _create_endpoint)
    monkeypatch.setattr(SageMakerResponse, "describe_endpoint", _describe_endpoint)
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    yield REQUESTS
