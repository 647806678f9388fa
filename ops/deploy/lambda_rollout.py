"""The model-in-Lambda rollout: a CodeDeploy deployment that moves the `live` alias from the
version serving to the one `terraform apply` just published (SAM's AutoPublishAlias +
DeploymentPreference, driven by deploy instead of CloudFormation).

Terraform creates the alias on the first version and never moves it (modules/lambda_classify
rollout.tf); each later apply that changes the function publishes a version, and
`start_rollout` asks CodeDeploy to shift the alias to it with the deployment group's
configuration (canary, linear or all at once, from deploy.rollout_*). CodeDeploy stops and moves
the alias back when a rollback alarm fires during the shift. `roll_back` is `deploy --previous`
in lambda mode: the same kind of deployment, to the version published before the serving one.

Why no model registry version here: a SageMaker model package names a container image and its
model data; in lambda mode the model ships inside the function zip and no image exists. The
Lambda's published versions are the immutable history instead, and the alias says which serves.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ops.errors import DogbreedError
from ops.settings import Settings


def appspec(function: str, alias: str, current: str, target: str) -> str:
    """The AppSpec of a Lambda deployment: move `alias` of `function` from `current` to `target`.
    https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html
    """
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    function: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function,
                            "Alias": alias,
                            "CurrentVersion": current,
                            "TargetVersion": target,
                        },
                    }
                }
            ],
        },
        indent=1,
    )


def _clients(settings: Settings) -> tuple[Any, Any]:
    from ops.aws.session import make_client

    return make_client(settings, "lambda"), make_client(settings, "codedeploy")


def _alias_version(lam: Any, function: str, alias: str) -> str:
    """The version the alias sends its main traffic to (CodeDeploy's CurrentVersion)."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error

    try:
        return str(lam.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"reading alias {alias} of {function}") from exc


def create_deployment(
    settings: Settings, rollout: dict[str, Any], function: str, current: str, target: str
) -> dict[str, Any]:
    """Start the CodeDeploy deployment current -> target; the record of it (ids, versions)."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error

    _, deploy = _clients(settings)
    content = appspec(function, rollout["alias"], current, target)
    try:
        answer = deploy.create_deployment(
            applicationName=rollout["application"],
            deploymentGroupName=rollout["deployment_group"],
            description=f"dogbreed: {function}:{rollout['alias']} version {current} -> {target}",
            revision={
                "revisionType": "AppSpecContent",
                "appSpecContent": {
                    "content": content,
                    "sha256": hashlib.sha256(content.encode()).hexdigest(),
                },
            },
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DeploymentLimitExceededException":
            raise DogbreedError(
                f"a CodeDeploy deployment of {function}:{rollout['alias']} is still running",
                hint="wait for it (aws deploy list-deployments --application-name"
                f" {rollout['application']} --deployment-group-name"
                f" {rollout['deployment_group']} --include-only-statuses InProgress),"
                " then run deploy again",
            ) from exc
        raise explain_client_error(exc, "starting the CodeDeploy deployment") from exc
    return {
        **rollout,
        "function": function,
        "current_version": current,
        "target_version": target,
        "deployment_id": answer["deploymentId"],
    }


def start_rollout(
    settings: Settings,
    rollout: dict[str, Any],
    function: str,
    attempted: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """After an apply in lambda mode (`rollout`: the root output lambda_rollout): a deployment to
    the published version when the alias is on another one, else the record that it is not.

    `attempted`: the versions the last recorded deployment moved between. A published version
    among them that the alias is not on was rolled back (by an alarm, or `deploy --previous`), so
    a deploy with the same model does not shift traffic to it again."""
    lam, _ = _clients(settings)
    current = _alias_version(lam, function, rollout["alias"])
    target = str(rollout["version"])
    record = {**rollout, "function": function, "current_version": current, "deployment_id": None}
    if current == target:  # the first apply created the alias on it, or nothing changed
        return record
    if target in attempted:
        return {**record, "target_version": target, "held_back": True}
    return create_deployment(settings, rollout, function, current, target)


def previous_version(lam: Any, function: str, current: str) -> str:
    """The published version before `current` (the one deployed before it)."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error

    numbers: list[int] = []
    try:
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=function):
            numbers += [int(v["Version"]) for v in page["Versions"] if v["Version"].isdigit()]
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"listing the versions of {function}") from exc
    earlier = [n for n in numbers if n < int(current)]
    if not earlier:
        raise DogbreedError(
            f"no version of {function} before version {current} to roll back to",
            hint="deploy the model you want with `dogbreed deploy --artifact DIR`",
        )
    return str(max(earlier))


def roll_back(settings: Settings, rollout: dict[str, Any], function: str) -> dict[str, Any]:
    """`deploy --previous` in lambda mode: shift the alias back to the version before the serving
    one, through CodeDeploy (the same steps and alarms as a rollout)."""
    lam, _ = _clients(settings)
    current = _alias_version(lam, function, rollout["alias"])
    target = previous_version(lam, function, current)
    return create_deployment(settings, rollout, function, current, target)


def describe_deployment(rollout: dict[str, Any], region: str) -> list[str]:
    """What deploy prints about the alias: which version serves, or the deployment started."""
    alias = f"{rollout['function']}:{rollout['alias']}"
    deployment = rollout.get("deployment_id")
    if rollout.get("held_back"):
        return [
            f"Alias {alias} serves version {rollout['current_version']}; version"
            f" {rollout['target_version']} was rolled back before and is not shifted to again",
            "To retry it: aws deploy create-deployment (docs/operations.md), or deploy a changed"
            " model",
        ]
    if not deployment:
        return [f"Alias {alias} serves version {rollout['current_version']}"]
    return [
        f"CodeDeploy deployment {deployment}: {alias} version {rollout['current_version']} ->"
        f" {rollout['target_version']} ({rollout['deployment_config_name']})",
        f"Watch it: aws deploy get-deployment --deployment-id {deployment} --region {region}"
        f" (console: https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/"
        f"{deployment}?region={region})",
        f"Stop it and move the alias back: aws deploy stop-deployment --deployment-id"
        f" {deployment} --auto-rollback-enabled --region {region}",
    ]
