"""`dogbreed classify` (the API client), `deploy` / `destroy` (Terraform), `api` (the local gateway alone)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from ops.context import pass_app
from ops.errors import DogbreedError
from ops.options import (
    api_key_option,
    artifact_option,
    host_option,
    json_option,
    port_option,
)

BATCH = 16  # images per POST: the handler's default MAX_IMAGES


@click.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--url",
    help="API root or .../classify URL (default: the running `serve --api`, else the deployment).",
)
@api_key_option("x-api-key for a deployed API (default: evaluate.api_key or the deployment's).")
@click.option(
    "--top-k", type=click.IntRange(1, 20), default=5, show_default=True, help="Breeds per image."
)
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds per request.")
@json_option()
@pass_app
def classify(app, images, url, api_key, top_k, timeout, as_json):
    """Send local images to POST /classify and print the top-k breeds of each.

    Images go in batches of 16 per request (JSON, base64). An image the API could not classify
    is reported on its own and makes the exit code 1; the others are still printed.
    """
    from ops.serving.client import ClassifyClient, default_api

    if not url:
        url, stored_key = default_api(app.settings)
        api_key = api_key or stored_key
    results = []
    with ClassifyClient(
        url, api_key=api_key, timeout=timeout, retries=app.settings.evaluate.retries
    ) as client:
        for start in range(0, len(images), BATCH):
            chunk = images[start : start + BATCH]
            answers, verdicts = _classify_chunk(client, [p.read_bytes() for p in chunk], top_k)
            for path, answer, verdict in zip(chunk, answers, verdicts, strict=True):
                if isinstance(answer, dict):
                    results.append({"image": str(path), "error": answer.get("error", str(answer))})
                else:
                    results.append({"image": str(path), "predictions": answer})
                    if verdict:
                        results[-1]["answer"] = verdict
    from ops.breed_table import show_results

    show_results(results, as_json)


# Statuses that, for a request of one image, are about that image (the API rejected it), not
# about the request: the image is reported in place and the other batches still print.
IMAGE_STATUSES = (400, 413, 415)


def _classify_chunk(client, images: list[bytes], top_k: int) -> tuple[list, list]:
    """client.classify_answers (rankings, verdicts), with a lone image's 4xx (a broken image)
    as its per-image error."""
    from ops.serving.client import ApiError

    try:
        return client.classify_answers(images, top_k=top_k)
    except ApiError as exc:
        if len(images) != 1 or exc.status not in IMAGE_STATUSES:
            raise
        return [{"error": exc.message}], [None]


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
    help="Inference image URI (default: the training job's, or AWS's PyTorch inference image).",
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
      local model     packaged for AWS's PyTorch inference container (TorchScript +
                      code/inference.py), uploaded to s3://<bucket>/<deploy.model_prefix>/
    It builds the Lambda zip (deterministic) with the model's class names and records the outputs
    (api_url, endpoint_name, lambda_name, bucket_name, sagemaker_role_arn) in
    .dogbreed/state.json for `classify` and `evaluate`. Re-running with the same model changes
    nothing. The model is registered (`dogbreed models`); --model VERSION deploys a registered
    one and --previous the one deployed before, shifting traffic blue/green (docs/operations.md).
    """
    from ops.serving.model_registry import deploy as deploy_model
    from ops.state import update_state

    infrastructure, record = deploy_model(
        app.settings,
        click.echo,
        version=model_version,
        previous=previous,
        model_data_url=model_data_url,
        image_uri=image_uri,
        infra_only=infra_only,
        artifact=artifact,
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
        from ops.serving.rollout import describe_rollout  # blue/green + drift (operations.md)

        for line in describe_rollout(record["variables"]):
            click.echo(line)
        from ops.serving.cost import describe_idle_cost, idle_cost

        alarms, dashboards = len(record["alarm_names"]), int(bool(record["dashboard_url"]))
        memory = record["variables"].get("serverless_memory_mb", 0)
        cost = idle_cost(app.settings, alarms, dashboards, serverless_memory_mb=memory)
        click.echo(describe_idle_cost(cost))
    click.echo(f"Recorded in {path}")


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def destroy(app, yes):
    """terraform destroy of everything `deploy` created (endpoint, Lambda, API, role, bucket)."""
    from ops.serving.deploy import destroy_stack

    if not yes:
        click.confirm("Destroy the deployed serving stack and its infrastructure?", abort=True)
    from ops.state import update_state

    now = destroy_stack(app.settings, echo=click.echo)
    update_state("deployment", {"status": "destroyed", "destroyed_at": now})
    update_state("infrastructure", {"status": "destroyed", "destroyed_at": now})
    click.echo("Destroyed.")


@click.command()
@click.option(
    "--runtime-url",
    required=True,
    help="The model server (SageMaker runtime API), e.g. http://127.0.0.1:8080.",
)
@click.option("--endpoint-name", help="Endpoint name to invoke (default: serve.endpoint_name).")
@click.option(
    "--classes",
    "classes_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="classes.json (default: the served artifact's, else data.prepared_dir's).",
)
@host_option("Interface (default: serve.host, loopback).")
@port_option("Port (default: serve.api_port; 0 = any free).")
@api_key_option("Require this x-api-key header, as a deployed API does (default: serve.api_key).")
@pass_app
def api(app, runtime_url, endpoint_name, classes_path, host, port, api_key):
    """Serve POST /classify locally through the unchanged Lambda handler.

    The request becomes the same API Gateway proxy event AWS sends, the handler calls
    invoke_endpoint on --runtime-url, and its answer goes back as HTTP. Runs until Ctrl-C.
    """
    from ops.serving.gateway import start_gateway
    from ops.state import get_record, update_state

    settings = app.override(
        serve__host=host, serve__api_port=port, serve__endpoint_name=endpoint_name
    )
    classes_path = classes_path or default_classes(settings)
    try:
        gateway = start_gateway(
            host=settings.serve.host,
            port=settings.serve.api_port,
            runtime_url=runtime_url,
            endpoint_name=settings.serve.endpoint_name,
            classes_path=classes_path,
            api_key=api_key or settings.serve.api_key or None,
            cors_origins=settings.serve.cors_origins,
        )
    except OSError as exc:
        raise DogbreedError(
            f"cannot listen on {settings.serve.host}:{settings.serve.api_port}: {exc.strerror}",
            hint="choose another --port (0 = any free port)",
        ) from exc
    record = {**(get_record("serve") or {}), "api_url": gateway.url, "runtime_url": runtime_url}
    record.setdefault("status", "running")
    update_state("serve", record)
    click.echo(
        f"Local API: POST {gateway.url}/classify -> {runtime_url} ({settings.serve.endpoint_name})"
    )
    click.echo(f"Try it in a browser: {gateway.url}/")
    if gateway.exposure_warning:
        click.echo(gateway.exposure_warning, err=True)
    click.echo("Press Ctrl-C to stop.")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        gateway.shutdown()
        update_state("serve", {**record, "api_url": None})


def default_classes(settings) -> Path:
    """classes.json of the served artifact (state "serve"), else of the prepared data."""
    from ops.state import get_record

    serve = get_record("serve") or {}
    candidates = []
    if serve.get("artifact"):
        candidates.append(Path(serve["artifact"]) / "classes.json")
    candidates.append(settings.resolve(settings.data.prepared_dir) / "classes.json")
    for path in candidates:
        if path.is_file():
            return path
    raise DogbreedError("no classes.json found", hint="pass --classes PATH")


COMMANDS = [classify, deploy, destroy, api]
