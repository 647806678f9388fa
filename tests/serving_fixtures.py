"""Fixtures of the serving stack on loopback for the hardening tests: a tiny real model served by
the model server, the local gateway in front of it, and the handler's environment pointed at it.

Loaded as a plugin by tests/conftest.py; a test module's own fixture of the same name wins.
"""

from __future__ import annotations

import pytest

from ops.api.gateway import handler_environment, start_gateway
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from tests.local_artifacts import shared_tiny_artifact

ENDPOINT = "dogbreed-hardening"
RUNTIME_PATH = f"/endpoints/{ENDPOINT}/invocations"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return shared_tiny_artifact(tmp_path_factory)


@pytest.fixture(scope="module")
def runtime(artifact):
    return load_runtime(artifact, threads=1)


@pytest.fixture(scope="module")
def model_server(runtime):
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT, max_batch_size=4) as srv:
        yield srv


def gateway_for(model_server, runtime):
    """A local gateway in front of `model_server` (the caller shuts it down)."""
    return start_gateway(
        "127.0.0.1", 0, model_server.url, ENDPOINT, runtime.artifact_dir / "classes.json"
    )


@pytest.fixture
def gateway(model_server, runtime):
    gw = gateway_for(model_server, runtime)
    yield gw
    gw.shutdown()


@pytest.fixture
def handler_env(model_server, runtime, monkeypatch):
    """The environment the gateway gives the handler, pointed at the real model server."""
    env = handler_environment(model_server.url, ENDPOINT, runtime.artifact_dir / "classes.json")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RETRY_BASE_SECONDS", "0.01")


@pytest.fixture(scope="session")
def boto3_only_python(tmp_path_factory):
    """A fresh virtualenv with only boto3 (pip, from the local package cache): the Lambda runtime's
    packages, so an import the zip does not ship fails here as it would in AWS."""
    import subprocess
    import sys

    venv = tmp_path_factory.mktemp("lambda-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "boto3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        pytest.fail(f"pip install boto3 into a clean venv failed: {pip.stderr[-2000:]}")
    return python
