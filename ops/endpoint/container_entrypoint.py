"""The serving image's entrypoint: SageMaker's container contract around the `dogbreed serve` server.

SageMaker starts a bring-your-own inference image as `docker run IMAGE serve` and then
(docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html):
  - the model data (model.tar.gz) is extracted into /opt/ml/model, read-only;
  - the container answers GET /ping (200 once it can serve) and POST /invocations on port 8080
    (SAGEMAKER_BIND_TO_PORT when set) within 4 minutes of start (8 for serverless);
  - it stops the container with SIGTERM, then SIGKILL after 30 s.

Here `serve` loads the artifact with ops/endpoint/onnx_runtime.py and serves it with ops/endpoint/server.py:
the same code, ONNX graph and answer object as `dogbreed serve`. The environment it reads (the
names are sagemaker-inference-toolkit's, src/sagemaker_inference/parameters.py):
    SAGEMAKER_BASE_DIR                  the /opt/ml root (tests relocate it; default /opt/ml)
    SAGEMAKER_BIND_TO_PORT              port (default 8080)
    SAGEMAKER_MODEL_SERVER_TIMEOUT      seconds one invocation may wait for its batch (default 60)
    SAGEMAKER_MODEL_SERVER_WORKERS      must be 1 if set: one process, its threads batch requests
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT   must be application/json if set (the only answer type)
    SAGEMAKER_CONTAINER_LOG_LEVEL       a logging level, number or name (default INFO)
    DOGBREED_SERVE__* / DOGBREED_LOCAL__THREADS   the [serve] settings, as for `dogbreed serve`
SAGEMAKER_SAFE_PORT_RANGE needs nothing: the server opens no other port. A missing or damaged
model folder ends the process at once with one line naming the problem (CloudWatch shows it and
the endpoint fails to create), instead of a container that never answers /ping.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ops.errors import DogbreedError
from ops.settings import load_settings

PROG = "dogbreed-container"
DEFAULT_BASE_DIR = "/opt/ml"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_S = 60  # the toolkit's DEFAULT_MODEL_SERVER_TIMEOUT
HOST = "0.0.0.0"  # noqa: S104 (inside a container, reached only through SageMaker's proxy)

log = logging.getLogger(PROG)


@dataclass(frozen=True)
class ContainerConfig:
    """What the SAGEMAKER_* environment asks of the server."""

    model_dir: Path
    port: int
    timeout_s: float
    log_level: int


def _int_env(environ: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer variable within [low, high]; DogbreedError naming it otherwise."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise DogbreedError(f"{name}={raw!r}: expected an integer from {low} to {high}")
    return value


def _log_level(raw: str) -> int:
    """SAGEMAKER_CONTAINER_LOG_LEVEL: the toolkit passes numbers ("20"); names work too."""
    raw = raw.strip()
    if not raw:
        return logging.INFO
    level = int(raw) if raw.isdigit() else logging.getLevelName(raw.upper())
    if not isinstance(level, int):
        raise DogbreedError(f"SAGEMAKER_CONTAINER_LOG_LEVEL={raw!r} is not a logging level")
    return level


def container_config(environ: dict[str, str]) -> ContainerConfig:
    """The contract's variables read and checked (a bad value is a one-line start-up error)."""
    workers = environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "").strip()
    if workers not in ("", "1"):
        raise DogbreedError(
            f"SAGEMAKER_MODEL_SERVER_WORKERS={workers!r}: this server runs one process (its "
            "threads batch concurrent requests); set 1 or leave it unset"
        )
    accept = environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "").strip().lower()
    if accept not in ("", "application/json"):
        raise DogbreedError(
            f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={accept!r}: answers are application/json only"
        )
    base = Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR)
    return ContainerConfig(
        model_dir=base / "model",
        port=_int_env(environ, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, 1, 65535),
        timeout_s=float(
            _int_env(environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", DEFAULT_TIMEOUT_S, 1, 3600)
        ),
        log_level=_log_level(environ.get("SAGEMAKER_CONTAINER_LOG_LEVEL", "")),
    )


def model_source(model_dir: Path) -> Path:
    """The artifact in the model folder: the folder itself (SageMaker extracted model.tar.gz
    there) or a model.tar.gz inside it (uncompressed model data)."""
    if not model_dir.is_dir():
        raise DogbreedError(
            f"model folder {model_dir} not found: SageMaker extracts the model data there "
            "(ModelDataUrl); locally, mount an artifact folder at that path"
        )
    tarball = model_dir / "model.tar.gz"
    if not (model_dir / "model.onnx").exists() and tarball.is_file():
        return tarball
    return model_dir


def start_server(config: ContainerConfig, environ: dict[str, str]):
    """The runtime loaded from the model folder and the model server listening (not yet serving)."""
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer, serve_settings_kwargs

    settings = load_settings(environ=environ)
    s = settings.serve
    runtime = load_runtime(
        model_source(config.model_dir),
        threads=settings.local.threads,
        spin=False,
        photo_policy=s.photo_policy,
    )
    try:
        kwargs = {**serve_settings_kwargs(settings), "host": HOST, "port": config.port}
        return ModelServer(runtime, **kwargs, request_timeout_s=config.timeout_s)
    except OSError as exc:
        raise DogbreedError(f"cannot listen on port {config.port}: {exc.strerror}") from exc


def serve(environ: dict[str, str]) -> int:
    """Load, listen, answer until SIGTERM/SIGINT, then drain requests in flight; exit status."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = container_config(environ)
    logging.basicConfig(level=config.log_level, format=f"{PROG} %(levelname)s %(message)s")
    server = start_server(config, environ).start()
    runtime = server.runtime
    log.info(
        "serving %s (%d classes, %dpx, batches of up to %d) on %s:%d",
        runtime.source,
        runtime.num_classes,
        runtime.input_size,
        server.batcher.max_batch_size,
        HOST,
        server.port,
    )
    while not stop.wait(0.5):
        pass
    log.info("SIGTERM: draining requests in flight, then stopping")
    server.shutdown()
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`serve` (what SageMaker passes) runs the server; anything else is a usage error."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["serve"]:
        print(
            f"{PROG}: usage: {PROG} serve   (SageMaker runs the image with 'serve')",
            file=sys.stderr,
        )
        return 2
    try:
        return serve(dict(os.environ))
    except DogbreedError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
