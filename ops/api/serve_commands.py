"""`dogbreed serve`: the local model server and, with --api, the local POST /classify beside it.

In ops/api because it joins the model server (ops/endpoint) and, with --api, the gateway running
the Lambda handler (ops/api).
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from ops.api.local_stack import start_local_stack
from ops.context import pass_app
from ops.options import artifact_option, host_option, port_option, section_flags
from ops.state import update_state
from ops.train.record import last_local_artifact


@click.command()
@artifact_option()
@host_option(
    "Interface to listen on (default: serve.host, loopback); with --api the local API's, "
    "and the model server stays on 127.0.0.1."
)
@port_option("Model server port (default: serve.port; 0 = any free).")
@click.option(
    "--endpoint-name", help="Endpoint name boto3 callers use (default: serve.endpoint_name)."
)
@click.option(
    "--api/--no-api",
    default=False,
    show_default=True,
    help="Also serve the local API Gateway (POST /classify through the Lambda handler).",
)
@port_option("Local API port (default: serve.api_port; 0 = any free).", name="--api-port")
@click.option(
    "--threads",
    type=click.IntRange(0, 1024),
    help="ONNX Runtime threads (default: local.threads; 0 = all cores).",
)
@click.option(
    "--runtime",
    type=click.Choice(["onnx", "lambda"]),
    help="onnx = model.onnx in ONNX Runtime behind the handler's endpoint client; lambda = with "
    "--api, the handler runs the model itself, as in deploy.endpoint_mode = lambda "
    "(default: serve.runtime).",
)
@pass_app
def serve(app, artifact, host, port, endpoint_name, api, api_port, threads, runtime):
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
    serve_flags = section_flags(
        "serve",
        host=host,
        port=port,
        endpoint_name=endpoint_name,
        api_port=api_port,
        runtime=runtime,
    )
    settings = app.override(**serve_flags, local__threads=threads)

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():  # (not under a test runner thread)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    if settings.serve.max_batch_size <= 0:
        click.echo("Timing the model at batch sizes 1-32 (serve.max_batch_size = 0, auto)...")
    stack = start_local_stack(settings, artifact or last_local_artifact(), api=api)
    update_state("serve", stack.record)
    try:
        _print_banner(stack)
        for part in (stack.server, stack.gateway):
            warning = part.exposure_warning if part is not None else None
            if warning:
                click.echo(warning, err=True)
        while not stop.wait(0.5):
            pass
        click.echo("Stopping...")
    finally:
        started = stack.record  # a second `serve` may have recorded itself since: leave it be
        update_state("serve", stack.stop(), only_if=lambda now: _same_instance(now, started))
    click.echo("Stopped.")


def _same_instance(current: dict | None, ours: dict) -> bool:
    """Whether the state's "serve" record is still this instance's (same process and URL)."""
    if not current:
        return True
    return all(current.get(k) == ours.get(k) for k in ("pid", "runtime_url"))


def _print_banner(stack) -> None:
    record, runtime = stack.record, stack.runtime
    click.echo(
        f"Serving {runtime.source} ({runtime.num_classes} classes, "
        f"{runtime.input_size}px) as endpoint {record['endpoint_name']!r}"
    )
    batching = f"  batches of up to {record['max_batch_size']} images"
    if stack.server.batch_timing:
        batching += (
            " (chosen from images/s by batch size: "
            + ", ".join(f"{bs}: {ips:.0f}/s" for bs, ips in stack.server.batch_timing.items())
            + ")"
        )
    click.echo(batching)
    click.echo(f"  model server (SageMaker runtime API): {record['runtime_url']}")
    click.echo(
        f"  invoke: POST {record['runtime_url']}/endpoints/{record['endpoint_name']}/invocations"
    )
    if record["api_url"]:
        click.echo(f"  local API: POST {record['api_url'].rstrip('/')}/classify")
        click.echo(f"  try it in a browser: {record['api_url'].rstrip('/')}/")
    click.echo("For boto3 / the AWS CLI:")
    click.echo(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={record['runtime_url']}")
    for line in _signing_hints():
        click.echo(f"  {line}")
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()  # visible at once even when stdout is a pipe (logs, `tee`)


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


COMMANDS = [serve]
