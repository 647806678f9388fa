"""AWS's sagemaker-training toolkit driven on a temporary /opt/ml laid out as a training job sees it.

The toolkit is in the dev extra (it installs beside the project's packages). `run_job` starts it the
way the PyTorch container's training module does: it reads the environment, extracts
sagemaker_submit_directory into <root>/code, runs `pip install -r requirements.txt` (everything
is already installed here, so nothing is downloaded) and runs sagemaker_program, through torchrun
when sagemaker_torch_distributed_enabled is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.data.manifest import CHANNELS

HOST = "localhost"

# What sagemaker_pytorch_container.training.main does (aws/sagemaker-pytorch-training-toolkit).
RUNNER = """
import sys
from sagemaker_training import entry_point, environment, logging_config, runner

env = environment.Environment()
logging_config.configure_logger(env.log_level)
kind = runner.ProcessRunnerType
if env.additional_framework_parameters.get("sagemaker_torch_distributed_enabled", False):
    kind = runner.TorchDistributedRunnerType
entry_point.run(
    uri=env.module_dir,
    user_entry_point=env.user_entry_point,
    args=env.to_cmd_args(),
    env_vars=env.to_env_vars(),
    capture_error=True,
    runner_type=kind,
)
"""


def toolkit_python() -> str:
    """This interpreter, once the toolkit imports in it (a stated skip when it does not)."""
    pytest.importorskip("sagemaker_training", reason="sagemaker-training is in the dev extra")
    return sys.executable


def lay_out_job(
    root: Path,
    prepared: Path,
    hyperparameters: dict[str, str],
    instance_type: str = "ml.m5.xlarge",
    link: bool = False,
) -> Path:
    """A SAGEMAKER_BASE_DIR with config files and the four channels, as SageMaker writes them.

    `link` makes each channel a symlink instead of a copy (benchmarks on a manifest subset)."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {
                c: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
                for c in CHANNELS
            }
        )
    )
    (config / "resourceconfig.json").write_text(
        json.dumps(
            {
                # SageMaker names hosts algo-1..n and the toolkit waits until they resolve:
                # here the one host is this machine
                "current_host": HOST,
                "hosts": [HOST],
                "current_instance_type": instance_type,
                "current_group_name": "homogeneousCluster",
                "instance_groups": [
                    {
                        "instance_group_name": "homogeneousCluster",
                        "instance_type": instance_type,
                        "hosts": [HOST],
                    }
                ],
                "network_interface_name": "lo",
            }
        )
    )
    for channel in CHANNELS:
        dest = root / "input" / "data" / channel
        if link and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to((prepared / channel).resolve(), target_is_directory=True)
        elif not dest.exists():
            shutil.copytree(prepared / channel, dest)
    for folder in ("model", "output/data", "checkpoints"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def job_env(root: Path) -> dict[str, str]:
    """This process's environment with the SageMaker root moved to `root`, torchrun on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "DOGBREED_"))}
    env["SAGEMAKER_BASE_DIR"] = str(root)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    return env


def start_job(root: Path) -> subprocess.Popen:
    """Start the toolkit on `root` (its own process group, so a test can kill it mid-run)."""
    return subprocess.Popen(
        [toolkit_python(), "-c", RUNNER],
        env=job_env(root),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_job(root: Path, timeout: float = 600) -> tuple[int, str]:
    """Run the toolkit on `root` to the end; (exit status, combined output)."""
    proc = start_job(root)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out
