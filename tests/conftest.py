"""Shared fixtures: a real moto server on loopback, fake AWS credentials, generated datasets."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from tests.factories import make_prepared, make_stanford_layout

REPO_ROOT = Path(__file__).resolve().parents[1]
# Go's garbage collector for terraform and its 675 MB AWS provider: collecting at 400 % heap growth
# instead of 100 % cuts a plan's CPU by about a third for about 25 % more memory (docs/testing.md).
GOGC = os.environ.get("GOGC", "400")

# Fixtures shared by the SageMaker tests (role_arn, uploaded) and the hardening tests (the tiny
# model served on loopback; a test module's own fixture of the same name takes precedence), the
# Terraform rule tests' plans (test_aws_rules.py and test_terraform_cors.py share one), and
# moto_sagemaker_update: UpdateEndpoint and LastDeploymentConfig, which moto lacks (issue 28), and
# moto_codedeploy: the deployment group's alarms read back, and its deletes (lambda mode's rollout);
# scheduling: how `make test` queues the files on its xdist workers.
pytest_plugins = [
    "tests.aws_helpers",
    "tests.serving_fixtures",
    "tests.terraform_plans",
    "tests.moto_sagemaker_update",
    "tests.moto_codedeploy",
    "tests.scheduling",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Fake AWS credentials, no user settings leaking in, state file inside the test's tmp dir."""
    for name in list(os.environ):
        if name.startswith(("DOGBREED_", "AWS_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DOGBREED_STATE_FILE", str(tmp_path / ".dogbreed" / "state.json"))
    yield


@pytest.fixture(scope="session")
def moto_server():
    """A real AWS emulator over HTTP on 127.0.0.1 (shared by the session); yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_server):
    """The moto server URL, with its state reset so each test starts from an empty account."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return moto_server


@pytest.fixture
def stanford_dir(tmp_path):
    """A tiny dataset in the official Stanford Dogs layout (3 classes, .txt lists)."""
    return make_stanford_layout(tmp_path / "stanford-dogs")


@pytest.fixture(scope="session")
def prepared_dir_session(tmp_path_factory):
    """A prepared folder (3 classes, 8 train + 3 validation images each), built once."""
    return make_prepared(tmp_path_factory.mktemp("prepared") / "prepared")


@pytest.fixture
def prepared_dir(prepared_dir_session, tmp_path):
    """A private copy of the session's prepared folder, safe to modify."""
    dest = tmp_path / "prepared"
    shutil.copytree(prepared_dir_session, dest)
    return dest


@pytest.fixture
def tf_env(tmp_path, monkeypatch):
    """Terraform's environment as the Makefile sets it: the offline provider mirror when present,
    and .terraform kept in tmp_path so tests leave nothing in the repository."""
    if Path("/opt/tf-plugins").is_dir():
        monkeypatch.setenv(
            "TF_CLI_CONFIG_FILE", str(REPO_ROOT / "terraform" / "offline-mirror.tfrc")
        )
    else:
        monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)
    monkeypatch.setenv("TF_DATA_DIR", str(tmp_path / "tf-data"))
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("GOGC", GOGC)


@pytest.fixture
def write_settings(tmp_path):
    """Write a dogbreed.toml into tmp_path and return its path."""

    def _write(text: str) -> Path:
        path = tmp_path / "dogbreed.toml"
        path.write_text(text)
        return path

    return _write


@pytest.fixture
def tf_copy(tmp_path, tf_env) -> Path:
    """A copy of terraform/ (without .terraform or state), so the repository stays clean."""
    dest = tmp_path / "terraform"
    shutil.copytree(
        REPO_ROOT / "terraform",
        dest,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "examples"),
    )
    return dest
