"""The local serving stack in one call: model server (+ local API gateway) and its "serve" record.

`dogbreed serve` runs it until a signal and writes `stack.record` to the state file (the record
`stop()` returns, too); tests and benchmarks run it in-process:

    with start_local_stack(settings, api=True) as stack:
        ... POST stack.api_url + "/classify" ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.api.gateway import start_gateway
from ops.errors import DogbreedError


def _now() -> str:
    """Now, as the state file's records write it (UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class LocalStack:
    """A running model server (+ gateway) and its "serve" record (what the state file holds)."""

    runtime: Any  # ops.endpoint.onnx_runtime.ModelRuntime
    server: Any  # ops.endpoint.server.ModelServer
    gateway: Any = None  # ops.api.gateway.Gateway or None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime_url(self) -> str:
        """Base URL for AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
        return self.server.url

    @property
    def api_url(self) -> str | None:
        return self.gateway.url if self.gateway is not None else None

    @property
    def endpoint_name(self) -> str:
        return self.server.endpoint_name

    def stop(self) -> dict[str, Any]:
        """Stop the gateway, then the model server; returns the record marked stopped (empty
        when the stack never finished starting)."""
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway = None
        self.server.shutdown()
        if self.record and self.record["status"] != "stopped":
            self.record = {**self.record, "status": "stopped", "pid": None, "stopped_at": _now()}
        return self.record

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_stack(
    settings,
    artifact: Path | str | None = None,
    api: bool = False,
) -> LocalStack:
    """Load the artifact, serve it (settings.serve), optionally start the gateway; the stack,
    with its "serve" record (the caller writes it to the state file)."""
    from ops.artifact.reader import artifact_limits
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer, serve_settings_kwargs

    # No spinning: idle ONNX Runtime threads would take the cycles that decoding needs.
    runtime = load_runtime(
        artifact,
        threads=settings.local.threads,
        spin=False,
        photo_policy=settings.serve.photo_policy,
        limits=artifact_limits(settings),
    )
    s = settings.serve
    server_kwargs = serve_settings_kwargs(settings)
    if api:  # the gateway is the exposed part (serve.host); the model server stays on loopback
        server_kwargs["host"] = "127.0.0.1"
    try:
        server = ModelServer(runtime, **server_kwargs).start()
    except OSError as exc:
        raise DogbreedError(
            f"cannot listen on {server_kwargs['host']}:{s.port}: {exc.strerror}",
            hint="choose another --port (0 = any free port)",
        ) from exc
    stack = LocalStack(runtime, server)
    try:
        if api:
            stack.gateway = _start_gateway(settings, stack)
    except BaseException:
        stack.stop()
        raise
    stack.record = _running_record(settings, stack)
    return stack


def _running_record(settings, stack: LocalStack) -> dict[str, Any]:
    """The "serve" record of a stack that has started: its URLs, model, batching and process."""
    from ops.artifact.export import artifact_digest

    runtime = stack.runtime
    return {
        "status": "running",
        "runtime_url": stack.runtime_url,
        "api_url": stack.api_url,
        "endpoint_name": stack.endpoint_name,
        "max_batch_size": stack.server.batcher.max_batch_size,
        "artifact": str(runtime.source),
        "model_identity": getattr(runtime, "identity", None) or artifact_digest(runtime.source),
        "runtime": settings.serve.runtime,
        "pid": os.getpid(),
        "started_at": _now(),
    }


def _start_gateway(settings, stack: LocalStack):
    """The local API gateway (ops.api.gateway) in front of this model server."""
    s = settings.serve
    try:
        return start_gateway(
            host=s.host,
            port=s.api_port,
            runtime_url=stack.runtime_url,
            endpoint_name=stack.endpoint_name,
            classes_path=stack.runtime.artifact_dir / "classes.json",
            api_key=s.api_key or None,
            cors_origins=s.cors_origins,
            request_deadline_s=s.request_deadline_s,
            max_connections_per_client=s.max_connections_per_client,
            **_lambda_model_environment(settings, stack),
        )
    except OSError as exc:
        raise DogbreedError(
            f"cannot listen on {s.host}:{s.api_port}: {exc.strerror}",
            hint="choose another --api-port (0 = any free port)",
        ) from exc


def _lambda_model_environment(settings, stack: LocalStack) -> dict[str, str]:
    """serve.runtime = "lambda": the handler answers with the model inside it (lambda_src/model.py
    on this artifact, as the deployed function does) instead of calling the model server."""
    if settings.serve.runtime != "lambda":
        return {}
    return {
        "classify_backend": "model",
        "model_dir": str(stack.runtime.artifact_dir),
        "model_threads": str(settings.local.threads),
        "photo_policy": settings.serve.photo_policy,
    }
