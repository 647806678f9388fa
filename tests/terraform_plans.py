"""`terraform plan` for the rule tests, each distinct set of variables planned once per module.

Most of a plan's cost is the 675 MB AWS provider starting and loading its schema, so the
tests that plan the same variables share one plan, and independent violations share one
refused plan: Terraform reports every failed variable validation and every failed
precondition of a plan together, so each test still asserts its own rule's message.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import GOGC, REPO_ROOT

TERRAFORM = shutil.which("terraform")


def tf_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    if Path("/opt/tf-plugins").is_dir():
        env["TF_CLI_CONFIG_FILE"] = str(REPO_ROOT / "terraform" / "offline-mirror.tfrc")
    env.update(TF_DATA_DIR=str(data_dir), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", GOGC=GOGC)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


def _key(variables: dict) -> str:
    return json.dumps({k: v for k, v in variables.items() if v is not None}, sort_keys=True)


class Plan:
    """`terraform plan` of one configuration directory, initialised once; a plan's result is
    kept, so tests asking for the same variables share one terraform run."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.env = tf_env(workdir / ".tf-data")
        self._after: dict[str, dict[str, dict]] = {}
        self._refused: dict[str, str] = {}
        self._run("init", "-input=false", "-backend=false")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [TERRAFORM, *args, "-no-color"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def attempt(self, variables: dict) -> subprocess.CompletedProcess:
        (self.workdir / "case.tfvars.json").write_text(_key(variables))
        return self._run(
            "plan", "-input=false", "-refresh=false", "-var-file=case.tfvars.json", "-out=case.plan"
        )

    def after(self, variables: dict) -> dict[str, dict]:
        """{resource address: planned values} of a plan that must succeed (a private copy)."""
        key = _key(variables)
        if key not in self._after:
            proc = self.attempt(variables)
            assert proc.returncode == 0, proc.stderr[-3000:]
            shown = json.loads(self._run("show", "-json", "case.plan").stdout)
            self._after[key] = {
                c["address"]: c["change"]["after"] for c in shown["resource_changes"]
            }
        return copy.deepcopy(self._after[key])

    def refused(self, variables: dict) -> str:
        """The error text of a plan that must fail (whitespace collapsed)."""
        key = _key(variables)
        if key not in self._refused:
            proc = self.attempt(variables)
            assert proc.returncode != 0, "terraform accepted the violating setting"
            self._refused[key] = " ".join(proc.stderr.split())
        return self._refused[key]


class Refusals:
    """Violations planned together in `batches`, one refused plan per batch.

    A batch holds violations of independent variables. Variable validations all report
    together; a failed precondition stops what depends on its resource, and an invalid input
    stops the resources that read it, so a precondition shares a batch only with preconditions
    of resources that do not depend on each other.
    """

    def __init__(self, plan: Plan, variables: Callable[..., dict], batches: list[dict]):
        self.plan, self.variables, self.batches = plan, variables, batches

    def __call__(self, **case) -> str:
        """The error text of the plan whose batch holds `case` (each case is in exactly one)."""
        holding = [batch for batch in self.batches if case.items() <= batch.items()]
        assert len(holding) == 1, f"{case} must be in exactly one batch, found {len(holding)}"
        return self.plan.refused(self.variables(**holding[0]))


@pytest.fixture(scope="session")
def root_plan(tmp_path_factory) -> Plan:
    """The root configuration, initialised once per session (per xdist worker)."""
    dest = tmp_path_factory.mktemp("root") / "terraform"
    shutil.copytree(
        REPO_ROOT / "terraform",
        dest,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "examples"),
    )
    return Plan(dest)


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory) -> Path:
    """A minimal Lambda package for plans (its content does not matter to a plan)."""
    path = tmp_path_factory.mktemp("zip") / "lambda.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return path
