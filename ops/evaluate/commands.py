"""`dogbreed evaluate`: the report of a model through the API (or an endpoint)."""

from __future__ import annotations

import contextlib

import click

from ops.context import pass_app
from ops.errors import DogbreedError
from ops.evaluate.batch_transform import run_batch_transform
from ops.evaluate.targets import choose_target
from ops.options import (
    api_key_option,
    artifact_option,
    data_option,
    out_option,
    quiet_option,
    section_flags,
)


@click.command()
@click.option(
    "--url", help="POST /classify URL or API root (default: evaluate.url, else the state file)."
)
@click.option("--endpoint", help="Call this SageMaker endpoint directly (invoke_endpoint), no API.")
@click.option(
    "--batch-transform",
    "batch_transform",
    is_flag=True,
    help="Run a SageMaker batch transform job over the uploaded channel instead of calling an API.",
)
@click.option(
    "--model",
    "model_name",
    help="With --batch-transform: the SageMaker model (default: the last `dogbreed deploy`'s).",
)
@click.option(
    "--local",
    "local_stack",
    is_flag=True,
    help="Start `dogbreed serve --api` for this run (last trained model, or --artifact), stop it after.",
)
@artifact_option("With --local: the model artifact to serve (default: the last `dogbreed train`).")
@data_option()
@click.option(
    "--split",
    type=click.Choice(["validation", "train"]),
    default="validation",
    show_default=True,
    help="Which manifest to send.",
)
@click.option(
    "--limit", type=int, help="At most N images, spread over all classes (evaluate.limit)."
)
@out_option("Report folder (default: <evaluate.reports_dir>/<split>-<run id>).")
@api_key_option("x-api-key for a deployed API (default: evaluate.api_key or state).")
@click.option(
    "--batch-size", type=click.IntRange(1, 64), help="Images per request (evaluate.batch_size)."
)
@click.option(
    "--concurrency", type=click.IntRange(1, 64), help="Requests in flight (evaluate.concurrency)."
)
@click.option(
    "--original",
    is_flag=True,
    default=None,
    help="Send photos as they are (default: longest side over 1024 px resized, as the page does).",
)
@quiet_option()
@pass_app
def evaluate(
    app,
    url,
    endpoint,
    batch_transform,
    model_name,
    local_stack,
    artifact,
    prepared_dir,
    split,
    limit,
    out_dir,
    api_key,
    batch_size,
    concurrency,
    original,
    quiet,
):
    """Send every image of the validation manifest through the API and write an HTML report.

    \b
    Which API (first that applies):
      --url URL        a POST /classify URL (local gateway or API Gateway)
      --endpoint NAME  a SageMaker endpoint called directly through invoke_endpoint
      --local          start the local stack (`serve --api`) for this run only
      --batch-transform  no API: a SageMaker batch transform job over the uploaded channel
                       (`data upload`), with the deployed model or --model; it waits with
                       progress, reads the outputs from S3 and writes the same report; a re-run
                       reuses the finished (or running) job instead of paying for another
      otherwise        evaluate.url, else the running `dogbreed serve --api` (backend local)
                       or the last `dogbreed deploy` (backend sagemaker), from the state file
    \b
    Writes report.html (self-contained), metrics.json and per_class.csv, and prints the report
    path. Answers are saved as they arrive: an interrupted run (Ctrl-C) continues where it
    stopped when re-run with the same options; failed images are tried again. Exit code 0 only
    when every image was answered.
    """
    from ops.evaluate.evaluation import resolve_prepared, run_evaluation

    _check_route_options(url, endpoint, local_stack, batch_transform, artifact, model_name)
    flags = {"url": url, "api_key": api_key, "limit": limit, "batch_size": batch_size}
    settings = _evaluate_settings(app, concurrency=concurrency, original_photos=original, **flags)
    prepared = resolve_prepared(settings, prepared_dir)
    run = dict(split=split, limit=settings.evaluate.limit, out_dir=out_dir, progress=not quiet)
    if batch_transform:
        result = run_batch_transform(
            settings, prepared, model_name=model_name, echo=click.echo, **run
        )
    else:
        with _local_stack(app, artifact) if local_stack else contextlib.nullcontext() as stack:
            target = choose_target(settings, prepared, endpoint=endpoint, stack=stack)
            click.echo(f"evaluating {prepared} ({split}) through {target.url}")
            result = run_evaluation(settings, target, prepared, **run)
    _print_result(result)


def _check_route_options(url, endpoint, local_stack, batch_transform, artifact, model_name) -> None:
    """One route at most, and the options that belong to a route only with it (usage errors)."""
    if sum(bool(x) for x in (url, endpoint, local_stack, batch_transform)) > 1:
        raise DogbreedError(
            "choose one of --url, --endpoint, --local and --batch-transform", exit_code=2
        )
    if artifact and not local_stack:
        raise DogbreedError("--artifact goes with --local", exit_code=2)
    if model_name and not batch_transform:
        raise DogbreedError("--model goes with --batch-transform", exit_code=2)


def _evaluate_settings(app, **flags):
    """The settings with the evaluate.* flags applied (--limit 0 or below is a usage error: 0
    means "all" only in the settings, where leaving the flag out says the same)."""
    if flags.get("limit") is not None and flags["limit"] < 1:
        raise DogbreedError("--limit must be positive", exit_code=2)
    # evaluate.limit from a settings file is bounded (>= 0) where settings load (settings_bounds)
    return app.override(**section_flags("evaluate", **flags))


def _local_stack(app, artifact):
    """`dogbreed serve --api` as a child process for this run (a context manager that stops it)."""
    from ops.api.serve_process import ServeProcess, child_global_args

    click.echo("starting the local stack (dogbreed serve --api)...")
    return ServeProcess(artifact=artifact, global_args=child_global_args(app))


def _print_result(result) -> None:
    """The summary, the report's paths, and a non-zero exit unless every image was answered."""
    click.echo(result.summary())
    click.echo(f"metrics: {result.files.metrics}")
    click.echo(f"report: {result.files.html}")
    if not result.complete:
        raise DogbreedError(f"{result.summary()}; re-run to retry (report: {result.files.html})")


COMMANDS = [evaluate]
