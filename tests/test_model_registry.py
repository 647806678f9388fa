"""The model registry on moto server, without Terraform: a finished SageMaker job registers its
model once, with its files and figures; `dogbreed models` lists, approves and rejects; deploy
refuses what the gate refuses before anything is applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.aws import registry
from ops.cli import cli
from ops.deploy.model_registry import register_finished_job
from ops.settings import Settings
from ops.state import update_state
from tests.aws_helpers import BUCKET, client
from tests.factories import BREEDS

MODEL = "s3://dogbreed-test-data/training-output/job-7/output/model.tar.gz"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"


@pytest.fixture
def job_record(tmp_path) -> dict:
    """The "training" record a completed built-in job leaves (ops/train/sagemaker/job_record.py's shape)."""
    classes = tmp_path / "job-7-classes.json"
    classes.write_text(
        json.dumps([{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])])
    )
    return {
        "backend": "sagemaker",
        "artifact": MODEL,
        "image": IMAGE,
        "classes": str(classes),
        "metrics": {"validation:accuracy": 0.81, "train:accuracy": 0.95},
        "job_name": "job-7",
        "model_data_url": MODEL,
        "image_uri": IMAGE,
        "hyperparameters": {"num_classes": "3", "epochs": "2"},
        "settings": {"data": {"prepared_dir": str(tmp_path / "missing")}},
    }


@pytest.fixture
def settings(moto_url) -> Settings:
    client(moto_url, "s3").create_bucket(Bucket=BUCKET)
    return Settings().with_overrides({"aws.endpoint_url": moto_url, "aws.bucket": BUCKET})


def test_a_finished_job_is_registered_once_with_its_files_and_figures(
    settings, job_record, moto_url
):
    said = []
    register_finished_job(settings, job_record, said.append)
    register_finished_job(settings, job_record, said.append)
    assert said == [
        "Model version 1 registered in dogbreed-classifier (PendingManualApproval)",
        "Model version 1 already registered in dogbreed-classifier (PendingManualApproval)",
    ]
    (found,) = registry.list_versions(settings)
    assert (found.version, found.status, found.top1) == (1, "PendingManualApproval", 0.81)
    assert (found.model_data_url, found.image_uri) == (MODEL, IMAGE)
    meta = found.metadata
    assert meta["source"] == "sagemaker-builtin" and meta["job_name"] == "job-7"
    assert meta["serverless_memory_mb"] == "3072" and len(meta["settings_sha256"]) == 64
    s3 = client(moto_url, "s3")
    bucket, _, key = meta["classes_url"].removeprefix("s3://").partition("/")
    shipped = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert shipped == Path(job_record["classes"]).read_bytes()
    described = client(moto_url, "sagemaker").describe_model_package(ModelPackageName=found.arn)
    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == meta["metrics_url"]
    bucket, _, key = meta["registration_url"].removeprefix("s3://").partition("/")
    full = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert full["hyperparameters"] == {"num_classes": "3", "epochs": "2"}
    assert full["metrics"]["validation:accuracy"] == 0.81


def test_a_registration_that_cannot_be_made_leaves_the_training_alone(job_record, moto_url):
    settings = Settings().with_overrides({"aws.endpoint_url": moto_url, "aws.bucket": "no-such"})
    said = []
    register_finished_job(settings, job_record, said.append)
    (line,) = said
    assert line.startswith("Not registered:") and "dogbreed models register" in line
    off = settings.with_overrides({"deploy.register_models": "false"})
    register_finished_job(off, job_record, said.append)
    assert len(said) == 1


def test_models_lists_approves_rejects_and_deploy_refuses_what_it_must(
    settings, job_record, moto_url, write_settings
):
    config = write_settings(f'[aws]\nendpoint_url = "{moto_url}"\nbucket = "{BUCKET}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "models"])
    assert result.exit_code == 0 and "No model versions in dogbreed-classifier" in result.output
    register_finished_job(settings, job_record, print)
    update_state("training", job_record)

    def dogbreed(*args):
        return CliRunner().invoke(cli, ["--config", str(config), *args])

    result = dogbreed("models")
    assert result.exit_code == 0, result.output
    assert "PendingManualApproval" in result.output and "81.00%" in result.output
    result = dogbreed("models", "approve", "1", "--note", "looks good")
    assert result.exit_code == 0 and "Model version 1: Approved" in result.output
    (row,) = json.loads(dogbreed("models", "--json").output)
    assert (row["status"], row["validation_top1"], row["serving"]) == ("Approved", 0.81, False)
    assert row["source"] == "sagemaker-builtin"  # approving kept the metadata (moto replaces it)

    assert "Model version 1: Rejected" in dogbreed("models", "reject", "1").output
    result = dogbreed("deploy", "--model", "1")
    assert result.exit_code == 1 and "model version 1 was rejected" in result.output
    result = dogbreed("deploy", "--model", "5")
    assert result.exit_code == 1 and "not in dogbreed-classifier (versions: 1)" in result.output
    result = dogbreed("deploy", "--previous")
    assert result.exit_code == 1 and "no earlier deployed model version" in result.output
    result = dogbreed("deploy", "--model", "1", "--infra-only")
    assert result.exit_code == 2 and "drop --artifact" in result.output
    assert "Traceback" not in result.output
    assert client(moto_url, "sagemaker").list_endpoints()["Endpoints"] == []
