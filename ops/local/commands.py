"""`dogbreed serve` (local model server + optional local API) and `dogbreed predict` (in-process)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from ops.cli import pass_app
from ops.errors import DogbreedError

ARTIFACT_HELP = "Model artifact folder or model.tar.gz (default: the last `dogbreed train`, local)."


@click.command()
@click.option("--artifact", type=click.Path(path_type=Path), help=ARTIFACT_HELP)
@click.option("--host", help="Interface to listen on (default: serve.host, loopback).")
@click.option("--port", type=int, help="Model server port (default: serve.port; 0 = any free).")
@click.option(
    "--endpoint-name", help="Endpoint name boto3 callers use (default: serve.endpoint_name)."
)
@click.option(
    "--api/--no-api",
    default=False,
    show_default=True,
    help="Also serve the local API Gateway (POST /classify through the Lambda handler).",
)
@click.option(
    "--api-port", type=int, help="Local API port (default: serve.api_port; 0 = any free)."
)
@click.option(
    "--threads", type=int, help="ONNX Runtime threads (default: local.threads; 0 = all cores)."
)
@pass_app
def serve(app, artifact, host, port, endpoint_name, api, api_port, threads):
    """Serve a trained model locally through the SageMaker runtime API.

    \b
    Unchanged boto3 code works against it:
      export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:PORT
      boto3.client("sagemaker-runtime").invoke_endpoint(
          EndpointName="dogbreed-local", ContentType="application/x-image", Body=jpeg_bytes)
    It answers like SageMaker's built-in image-classification algorithm: a JSON list of class
    probabilities in class-index order. Concurrent requests are batched (serve.max_batch_size,
    serve.max_batch_delay_ms). Also: GET /ping, POST /invocations (container contract), GET /stats.
    Runs until Ctrl-C / SIGTERM; the URLs are recorded in the state file under "serve".
    """
    settings = app.override(
        serve__host=host,
        serve__port=port,
        serve__endpoint_name=endpoint_name,
        serve__api_port=api_port,
        local__threads=threads,
    )
    from ops.local.stack import start_local_stack

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():  # (not under a test runner thread)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    if settings.serve.max_batch_size <= 0:
        click.echo("Timing the model at batch sizes 1-32 (serve.max_batch_size = 0, auto)...")
    stack = start_local_stack(settings, artifact, api=api)
    try:
        _print_banner(stack)
        while not stop.wait(0.5):
            pass
        click.echo("Stopping...")
    finally:
        stack.stop()
    click.echo("Stopped.")


def _print_banner(stack) -> None:
    record, runtime = stack.record, stack.runtime
    click.echo(
        f"Serving {runtime.source} ({runtime.num_classes} classes, "
        f"{runtime.input_size}px) as endpoint {record['endpoint_name']!r}"
    )
    batching = f"  batches of up to {record['max_batch_size']} images"
    if stack.server.calibration:
        batching += (
            " (chosen from images/s by batch size: "
            + ", ".join(f"{bs}: {ips:.0f}/s" for bs, ips in stack.server.calibration.items())
            + ")"
        )
    click.echo(batching)
    click.echo(f"  model server (SageMaker runtime API): {record['runtime_url']}")
    click.echo(
        f"  invoke: POST {record['runtime_url']}/endpoints/{record['endpoint_name']}/invocations"
    )
    if record["api_url"]:
        click.echo(f"  local API: POST {record['api_url'].rstrip('/')}/classify")
    click.echo("For boto3 / the AWS CLI:")
    click.echo(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={record['runtime_url']}")
    for line in _signing_hints():
        click.echo(f"  {line}")
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()  # visible at once even when stdout is a pipe (logs, `tee`)


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--artifact", type=click.Path(path_type=Path), help=ARTIFACT_HELP)
@click.option(
    "--top-k",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="How many breeds to show per image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pass_app
def predict(app, images, artifact, top_k, as_json):
    """Classify local images with a trained model, in this process (no server needed).

    Prints the top-k breeds of each image. Unreadable images are reported one by one and make
    the exit code 1; the others are still classified.
    """
    from ops.local.runtime import load_runtime

    settings = app.settings
    runtime = load_runtime(
        artifact, threads=settings.local.threads, photo_policy=settings.serve.photo_policy
    )
    results = predict_files(runtime, list(images), top_k)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        from ops.serving.commands import print_tables

        print_tables(results)
    failed = [r for r in results if "error" in r]
    if failed:
        raise DogbreedError(f"{len(failed)} of {len(results)} images could not be classified")


def predict_files(runtime, paths: list[Path], top_k: int = 5) -> list[dict]:
    """[{"image", "predictions": [...], "answer": {...}} or {"image", "error"}] in input order.

    The photo policy's views of every image run in shared batches of 32; "answer" is the
    Lambda's verdict (lambda_src/answer.py): dog or "no dog recognised", uncertain or not."""
    import numpy as np

    from lambda_src.answer import verdict
    from ops.local.preprocess import BadImageError
    from ops.local.runtime import image_error_message

    results: list[dict] = []
    views, owners = [], []  # every view of every readable image, and its image's slot
    for path in paths:
        try:
            image_views = runtime.preprocess_views(Path(path).read_bytes())
        except OSError as exc:
            results.append({"image": str(path), "error": f"cannot read: {exc.strerror or exc}"})
            continue
        except BadImageError as exc:
            results.append({"image": str(path), "error": image_error_message(exc)})
            continue
        views.extend(image_views)
        owners.extend([len(results)] * len(image_views))
        results.append({"image": str(path)})
    rows = [
        row
        for i in range(0, len(views), 32)
        for row in runtime.predict_rows(np.stack(views[i : i + 32]))
    ]
    for slot in sorted(set(owners)):
        output = runtime.combine(
            [row for row, owner in zip(rows, owners, strict=True) if owner == slot]
        )
        ranked = [p.as_dict() for p in runtime.top_k(output.probabilities, max(top_k, 2))]
        results[slot]["predictions"] = ranked[:top_k]
        results[slot]["answer"] = verdict(ranked, output.endpoint_body(as_object=True))
    return results


def _signing_hints() -> list[str]:
    """boto3 signs every request: without credentials or a region it fails before sending."""
    import boto3

    session = boto3.Session()
    hints = []
    if session.get_credentials() is None:
        hints.append(
            "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local"
            "   # any value: this server does not check them"
        )
    if not session.region_name:
        hints.append("export AWS_DEFAULT_REGION=us-east-1")
    return hints


COMMANDS = [serve, predict]
