"""Gaps of moto's CodeDeploy (moto 5.2.6), filled for every test (a conftest plugin), so
`terraform apply` / `destroy` of lambda mode's deployment group runs on moto server. Each is a
difference the AWS provider would read back as a change, and moto has no UpdateDeploymentGroup:
the provider then retries it for many minutes, so a second apply would hang instead of failing.

- GetDeploymentGroup answers an empty alarmConfiguration (a TODO in moto), and an empty
  loadBalancerInfo the provider reads as a block. Here: the alarms CreateDeploymentGroup was
  given, and no empty fields.
- ListTagsForResource: the provider, run with skip_requesting_account_id against the emulator,
  builds the group's ARN with an empty account; moto keeps the tags under its account. Here the
  empty account is moto's.
- DeleteDeploymentGroup and DeleteApplication are missing: `terraform destroy` needs them.

moto stores deployments and nothing more: it shifts no alias traffic, watches no alarm and rolls
nothing back, so what CodeDeploy does with a deployment stays unverified here.
"""

from __future__ import annotations

import pytest
from moto.codedeploy.responses import CodeDeployResponse
from moto.core.responses import ActionResult

_GET_GROUP = CodeDeployResponse.get_deployment_group


def _get_deployment_group(self) -> ActionResult:
    answer = _GET_GROUP(self)
    group = self.codedeploy_backend.get_deployment_group(
        self._get_param("applicationName"), self._get_param("deploymentGroupName")
    )
    info = answer.result["deploymentGroupInfo"]
    for key, value in list(info.items()):
        if value in (None, {}, []):
            del info[key]
    if group.alarm_configuration:
        info["alarmConfiguration"] = group.alarm_configuration
    return answer


def _list_tags_for_resource(self) -> ActionResult:
    parts = self._get_param("ResourceArn").split(":")
    if len(parts) > 4 and not parts[4]:
        parts[4] = self.current_account
    return ActionResult({"Tags": self.codedeploy_backend.list_tags_for_resource(":".join(parts))})


def _delete_deployment_group(self) -> ActionResult:
    backend = self.codedeploy_backend
    app, name = self._get_param("applicationName"), self._get_param("deploymentGroupName")
    backend.get_deployment_group(app, name)  # DeploymentGroupDoesNotExistException as on AWS
    del backend.deployment_groups[app][name]
    return ActionResult({"hooksNotCleanedUp": []})


def _delete_application(self) -> ActionResult:
    backend = self.codedeploy_backend
    name = self._get_param("applicationName")
    backend.applications.pop(name, None)  # AWS answers success for a missing one too
    backend.deployment_groups.pop(name, None)
    return ActionResult({})


@pytest.fixture(autouse=True)
def codedeploy_gaps(monkeypatch):
    """moto server with the group read back as created, its tags found, and the two deletes."""
    monkeypatch.setattr(CodeDeployResponse, "get_deployment_group", _get_deployment_group)
    monkeypatch.setattr(CodeDeployResponse, "list_tags_for_resource", _list_tags_for_resource)
    for name, action in [
        ("delete_deployment_group", _delete_deployment_group),
        ("delete_application", _delete_application),
    ]:
        monkeypatch.setattr(CodeDeployResponse, name, action, raising=False)
