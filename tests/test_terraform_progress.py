"""Deploy progress: Terraform's -json events become one line per resource while apply and destroy
run (real Terraform on a configuration of terraform_data resources, one of them slow), its errors
one DogbreedError, Ctrl-C a clean message."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ops.deploy import terraform_progress
from ops.deploy.terraform import Terraform
from ops.errors import DogbreedError
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="the terraform binary is not on PATH"
)

CONFIG = """
resource "terraform_data" "first" {
  input = "one"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  input      = var.command

  provisioner "local-exec" {
    command = var.command
  }
}

variable "command" {
  type    = string
  default = "sleep 12"
}

output "greeting" {
  value = "hello"
}
"""


def _terraform_running() -> bool:
    """Whether a terraform process runs below this test process right now."""
    children = psutil.Process().children(recursive=True)
    return any(child.name() == "terraform" for child in children if child.is_running())


@pytest.fixture
def workdir(tmp_path, tf_env):
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(CONFIG)
    return work


def test_apply_lines_arrive_while_terraform_runs(workdir, monkeypatch):
    monkeypatch.setattr(terraform_progress, "PROGRESS_EVERY_S", 0)  # every "still" line
    tf = Terraform(workdir)
    tf.init()
    seen: list[tuple[str, bool]] = []
    tf.apply(echo=lambda line: seen.append((line, _terraform_running())))
    lines = [line for line, _ in seen]
    assert "  creating terraform_data.first" in lines
    assert ("  created terraform_data.first (0s)", True) in seen  # before apply ended
    assert "  still creating terraform_data.slow (10s)" in lines
    (done,) = [line for line in lines if line.startswith("  created terraform_data.slow")]
    assert done.endswith("s)") and lines.index(done) > lines.index("  creating terraform_data.slow")
    assert lines[-1] == "  Apply complete! Resources: 2 added, 0 changed, 0 destroyed."
    assert tf.output() == {"greeting": "hello"}

    seen.clear()
    tf.destroy(echo=lambda line: seen.append((line, _terraform_running())))
    assert ("  destroying terraform_data.slow", True) in seen
    assert seen[-1][0] == "  Destroy complete! Resources: 2 destroyed."


def test_a_failing_resource_is_one_error_with_terraforms_reason(workdir):
    tf = Terraform(workdir)
    tf.init()
    seen: list[str] = []
    with pytest.raises(DogbreedError) as info:
        tf.apply({"command": "exit 3"}, echo=seen.append)
    assert "terraform apply failed" in info.value.message
    assert "local-exec provisioner error" in info.value.message
    assert "  failed terraform_data.slow (0s)" in seen


def test_ctrl_c_stops_terraform_with_a_clean_message(workdir):
    """SIGINT (Ctrl-C) while a resource is being created: Terraform is told to stop, and the
    command ends with one line saying what happened and what to run, no traceback."""
    Terraform(workdir).init()
    script = (
        "import sys\n"
        "from ops.deploy.terraform import Terraform\n"
        "from ops.errors import DogbreedError\n"
        "try:\n"
        f"    Terraform({str(workdir)!r}).apply({{'command': 'sleep 60'}}, "
        "echo=lambda l: print(l, flush=True))\n"
        "except DogbreedError as exc:\n"
        "    print('Error:', exc, flush=True); sys.exit(1)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.strip() == "creating terraform_data.slow":
            time.sleep(1)
            proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 1
    (error,) = [line for line in lines if line.startswith("Error:")]
    assert "terraform apply interrupted after" in error and "dogbreed destroy" in error
    assert not any("Traceback" in line for line in lines)
