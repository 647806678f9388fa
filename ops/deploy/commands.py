"""`dogbreed deploy` / `destroy`: the serving stack on AWS through Terraform, with its idle cost."""

from __future__ import annotations

import click

from ops.context import pass_app
from ops.deploy.cost import describe_idle_cost, idle_cost
from ops.deploy.lambda_mode import auto_variables
from ops.deploy.lambda_rollout import describe_deployment, roll_back
from ops.deploy.model_registry import deploy as deploy_model
from ops.deploy.rollout import describe_rollout
from ops.deploy.serving_stack import destroy_stack
from ops.errors import DogbreedError
from ops.options import artifact_option
from ops.state import get_record, update_state


@click.command()
@click.option(
    "--model-data-url", help="s3://.../model.tar.gz (default: the last SageMaker training job)."
)
@artifact_option(
    "A locally trained model folder or model.tar.gz (default: the last training, either backend)."
)
@click.option(
    "--image",
    "image_uri",
    help="Inference image: for a local model the serving image by digest, URI@sha256:... "
    "(default: this code's image in ECR, else built and pushed with Docker); for a SageMaker "
    "job its image.",
)
@click.option(
    "--infra-only",
    is_flag=True,
    help="Create only the bucket and SageMaker role (what training needs), no endpoint/API.",
)
@click.option(
    "--model",
    "model_version",
    type=click.IntRange(1),
    help="Deploy this registered model version (`dogbreed models`; deploy.allow_unapproved).",
)
@click.option(
    "--previous", is_flag=True, help="Roll back: deploy the version deployed before this one."
)
@pass_app
def deploy(app, model_data_url, artifact, image_uri, infra_only, model_version, previous):
    """terraform apply of terraform/: bucket, role, SageMaker endpoint, Lambda and API Gateway.

    \b
    The model is the last training's (state "training") unless given:
      SageMaker job   its model.tar.gz + the built-in algorithm's image
      local model     deploy.endpoint_mode "auto" (default) or "lambda": inside the classify
                      Lambda (ONNX Runtime in a layer, the model in the zip; no endpoint);
                      "serverless"/"instance": the serving image (Dockerfile: the `dogbreed
                      serve` model server) by digest + the artifact's ONNX files in
                      s3://<bucket>/<deploy.model_prefix>/
    It builds the Lambda zip (deterministic) with the model's class names and records the outputs
    (api_url, endpoint_name, lambda_name, bucket_name, sagemaker_role_arn) in
    .dogbreed/state.json for `classify` and `evaluate`. Re-running with the same model changes
    nothing. The model is registered (`dogbreed models`); --model VERSION deploys a registered
    one and --previous the one deployed before, shifting traffic blue/green (docs/operations.md).
    Lambda mode: CodeDeploy shifts the `live` alias to the new version (--previous: back).
    """
    recorded = get_record("deployment") or {}
    if previous and model_version is None and recorded.get("rollout"):  # lambda mode
        given = model_data_url or artifact or image_uri or infra_only
        return _roll_back_lambda(app, recorded, bool(given))
    planned = None
    registered = model_version is not None or previous
    if not (infra_only or registered) and app.settings.deploy.endpoint_mode in ("lambda", "auto"):
        planned = auto_variables(app.settings, artifact, click.echo, model_data_url, image_uri)
    infrastructure, record = deploy_model(
        app.settings,
        click.echo,
        version=model_version,
        previous=previous,
        model_data_url=model_data_url,
        image_uri=image_uri,
        infra_only=infra_only,
        artifact=artifact,
        planned=planned,
    )
    update_state("infrastructure", infrastructure)
    path = update_state("deployment", record)
    click.echo(
        f"Bucket: {infrastructure['bucket_name']}  "
        f"SageMaker role: {infrastructure['sagemaker_role_arn']}"
    )
    if record["api_url"]:
        click.echo(
            f"POST {record['classify_url']}  (endpoint {record['endpoint_name']}, "
            f"Lambda {record['lambda_name']})"
        )
        click.echo("Try it: dogbreed classify some-dog.jpg")
        for line in describe_rollout(record["variables"]):  # per mode + drift (operations.md)
            click.echo(line)
        if record.get("rollout"):  # lambda mode: the CodeDeploy deployment to the new version
            for line in describe_deployment(record["rollout"], app.settings.aws.region):
                click.echo(line)
        alarms, dashboards = len(record["alarm_names"]), int(bool(record["dashboard_url"]))
        memory = record["variables"].get("serverless_memory_mb", 0)
        mode = {"deploy.endpoint_mode": record["variables"]["endpoint_mode"]}  # "auto" resolved
        cost = idle_cost(app.settings.with_overrides(mode), alarms, dashboards, memory)
        click.echo(describe_idle_cost(cost))
    click.echo(f"Recorded in {path}")


def _roll_back_lambda(app, recorded: dict, model_given: bool) -> None:
    """`deploy --previous` in lambda mode: the versions are the Lambda's own (no registry), and a
    CodeDeploy deployment moves the alias back to the one before the serving one."""
    if model_given:
        raise DogbreedError(
            "--previous moves the Lambda's alias back to the version before: drop"
            " --artifact, --model-data-url, --image and --infra-only",
            exit_code=2,
        )
    rollout = roll_back(app.settings, recorded["rollout"], recorded["lambda_name"])
    path = update_state("deployment", {**recorded, "rollout": rollout})
    for line in describe_deployment(rollout, app.settings.aws.region):
        click.echo(line)
    click.echo(f"Recorded in {path}")


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def destroy(app, yes):
    """terraform destroy of everything `deploy` created (endpoint, Lambda, API, role, bucket)."""
    if not yes:
        click.confirm("Destroy the deployed serving stack and its infrastructure?", abort=True)
    now = destroy_stack(app.settings, echo=click.echo)
    update_state("deployment", {"status": "destroyed", "destroyed_at": now})
    update_state("infrastructure", {"status": "destroyed", "destroyed_at": now})
    click.echo("Destroyed.")


COMMANDS = [deploy, destroy]
