"""`dogbreed classify` (the API client) and `api` (the local gateway alone)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from ops.api.gateway import start_gateway
from ops.api.photo_size import photos_to_send, request_batches
from ops.context import pass_app
from ops.endpoint.breed_table import show_results
from ops.errors import DogbreedError
from ops.options import (
    FiniteRange,
    HttpUrl,
    api_key_option,
    host_option,
    json_option,
    port_option,
)
from ops.records import read_serve
from ops.state import get_record, update_state

BATCH = 16  # images per POST: the handler's default MAX_IMAGES


@click.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--url",
    type=HttpUrl(),
    help="API root or .../classify URL (default: the running `serve --api`, else the deployment).",
)
@api_key_option("x-api-key for a deployed API (default: evaluate.api_key or the deployment's).")
@click.option(
    "--top-k", type=click.IntRange(1, 20), default=5, show_default=True, help="Breeds per image."
)
@click.option(
    "--timeout",
    type=FiniteRange(0, 3600, min_open=True),
    default=30,
    show_default=True,
    help="Seconds per request.",
)
@click.option(
    "--original",
    is_flag=True,
    help="Send photos as they are (default: longest side over 1024 px resized, as the page does).",
)
@json_option()
@pass_app
def classify(app, images, url, api_key, top_k, timeout, original, as_json):
    """Send local images to POST /classify and print the top-k breeds of each.

    Images go in batches of up to 16 per request (JSON, base64), split to stay within Lambda's
    6 MB request; photos over 1024 px are resized first unless --original, and one still over
    the 4 MB image limit is refused before anything is sent. An image the API could not
    classify is reported on its own and makes the exit code 1; the others are still printed.
    """
    from ops.api.client import ClassifyClient, default_api

    photos = photos_to_send(list(images), original=original)

    if not url:
        url, stored_key = default_api(app.settings)
        api_key = api_key or stored_key
    results = []
    with ClassifyClient(
        url, api_key=api_key, timeout=timeout, retries=app.settings.evaluate.retries
    ) as client:
        for start, end in request_batches(photos, BATCH):
            chunk = images[start:end]
            answers, verdicts = _classify_chunk(client, photos[start:end], top_k)
            for path, answer, verdict in zip(chunk, answers, verdicts, strict=True):
                if isinstance(answer, dict):
                    results.append({"image": str(path), "error": answer.get("error", str(answer))})
                else:
                    results.append({"image": str(path), "predictions": answer})
                    if verdict:
                        results[-1]["answer"] = verdict

    show_results(results, as_json)


# Statuses that, for a request of one image, are about that image (the API rejected it), not
# about the request: the image is reported in place and the other batches still print.
IMAGE_STATUSES = (400, 413, 415)


def _classify_chunk(client, images: list[bytes], top_k: int) -> tuple[list, list]:
    """client.classify_answers (rankings, verdicts), with a lone image's 4xx (a broken image)
    as its per-image error."""
    from ops.api.client import ApiError

    try:
        return client.classify_answers(images, top_k=top_k)
    except ApiError as exc:
        if len(images) != 1 or exc.status not in IMAGE_STATUSES:
            raise
        return [{"error": exc.message}], [None]


@click.command()
@click.option(
    "--runtime-url",
    required=True,
    type=HttpUrl(),
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
            request_deadline_s=settings.serve.request_deadline_s,
            max_connections_per_client=settings.serve.max_connections_per_client,
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
        update_state(  # only while the record is still this gateway's (see ops/state.py)
            "serve",
            {**record, "api_url": None},
            only_if=lambda now: (now or {}).get("api_url") == gateway.url,
        )


def default_classes(settings) -> Path:
    """classes.json of the served artifact (state "serve"), else of the prepared data."""

    serve = read_serve()
    candidates = []
    if serve and serve.artifact:
        candidates.append(Path(serve.artifact) / "classes.json")
    candidates.append(settings.resolve(settings.data.prepared_dir) / "classes.json")
    for path in candidates:
        if path.is_file():
            return path
    raise DogbreedError("no classes.json found", hint="pass --classes PATH")


COMMANDS = [classify, api]
