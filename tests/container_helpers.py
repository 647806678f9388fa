"""Run the serving image's entrypoint as SageMaker does, without Docker: the Dockerfile's exact
ENTRYPOINT + `serve`, in a process whose PYTHONPATH is the staged build context (only the files
the image holds) and whose /opt/ml is a temporary folder (SAGEMAKER_BASE_DIR, the toolkit's name).

The one substitution: the ENTRYPOINT's `python` is this test run's interpreter (the image's is
/usr/local/bin/python with docker/requirements-serve.txt installed; here the project's venv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ops.deploy.container_image import REPO_ROOT, stage_context, write_model_data
from tests.conftest import free_port

ANSWER_OBJECT = {"X-Amzn-SageMaker-Custom-Attributes": "dogbreed-answer=object"}


def entrypoint_command(dockerfile: Path = REPO_ROOT / "Dockerfile") -> list[str]:
    """The ENTRYPOINT of the Dockerfile (exec form), as a list."""
    lines = [ln for ln in dockerfile.read_text().splitlines() if ln.startswith("ENTRYPOINT ")]
    assert len(lines) == 1, "the Dockerfile has exactly one ENTRYPOINT"
    command = json.loads(lines[0].removeprefix("ENTRYPOINT "))
    assert isinstance(command, list) and command, "ENTRYPOINT uses the exec form (a JSON list)"
    return command


def local_command(command: list[str]) -> list[str]:
    """The image's command with its `python` mapped to this interpreter."""
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


def opt_ml_layout(root: Path, artifact: Path) -> Path:
    """A /opt/ml as SageMaker leaves it: the model data (deploy's model.tar.gz) extracted into
    model/. Returns the /opt/ml folder."""
    tarball = write_model_data(artifact, root / "upload" / "model.tar.gz")
    model = root / "opt-ml" / "model"
    model.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(model, filter="data")
    return root / "opt-ml"


@dataclass
class Entrypoint:
    """A started entrypoint process and where it listens."""

    proc: subprocess.Popen
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=timeout)


def start_entrypoint(
    context: Path, opt_ml: Path, log: Path, env: dict[str, str] | None = None, args=("serve",)
) -> Entrypoint:
    """Start ENTRYPOINT + args from the staged context with /opt/ml relocated (not waited for)."""
    port = free_port()
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(context),
        "PYTHONUNBUFFERED": "1",
        "SAGEMAKER_BASE_DIR": str(opt_ml),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "DOGBREED_SERVE__MAX_BATCH_SIZE": "4",  # no batch-size timing: start in a second
        "DOGBREED_LOCAL__THREADS": "1",
        **(env or {}),
    }
    out = open(log, "wb")  # noqa: SIM115 (the process writes it until it ends)
    proc = subprocess.Popen(
        [*local_command(entrypoint_command()), *args],
        cwd=context,
        env=environ,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    return Entrypoint(proc, port, log, environ)


def wait_healthy(ep: Entrypoint, timeout: float = 60) -> None:
    """Poll GET /ping as SageMaker does until 200; fails with the process output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ep.proc.poll() is not None:
            raise AssertionError(f"entrypoint exited {ep.proc.returncode}: {ep.output()}")
        try:
            with urllib.request.urlopen(ep.url + "/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no healthy /ping within {timeout}s: {ep.output()}")


def post(url: str, body: bytes, content_type: str | None, headers: dict | None = None):
    """POST -> (status, headers, parsed JSON body)."""
    req = urllib.request.Request(url, data=body, method="POST", headers=dict(headers or {}))
    if content_type is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


def staged_context(dest: Path) -> Path:
    """The build context as `docker build` would receive it (only .dockerignore's files)."""
    if dest.exists():
        shutil.rmtree(dest)
    return stage_context(dest)
