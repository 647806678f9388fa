"""The recipe job's CreateTrainingJob request: on moto server, against botocore's model, AWS's rules."""

from __future__ import annotations

import io
import tarfile

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters
from click.testing import CliRunner

from ops.cli import cli
from ops.data.manifest import CHANNELS
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import load_state
from ops.train.sagemaker.entry_point import METRIC_DEFINITIONS
from ops.train.sagemaker.jobs import ACCURACY
from ops.train.sagemaker.recipe_job import ENTRY_POINT, recipe_job_request
from tests.aws_helpers import BUCKET, client, settings_toml
from tests.fake_sagemaker import FakeSageMaker

DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312"


def _request(**overrides) -> dict:
    settings = Settings().with_overrides({"local.mode": "partial", **overrides})
    return recipe_job_request(
        settings,
        name="dogbreed-20261201-101010-abcd",
        image=DLC,
        role_arn="arn:aws:iam::123456789012:role/dogbreed-sagemaker",
        bucket=BUCKET,
        source=f"s3://{BUCKET}/training-output/dogbreed-20261201-101010-abcd/source/sourcedir.tar.gz",
    )


def _create_training_job_shape():
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateTrainingJob").input_shape


def test_cli_submits_the_recipe_job_with_its_source_on_moto(
    moto_url, uploaded, role_arn, write_settings
):
    config = write_settings(settings_toml(moto_url, uploaded, role_arn))
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "train",
            "--algorithm",
            "recipe",
            "--mode",
            "partial",
            "--no-wait",
        ],
    )
    assert result.exit_code == 0, result.output
    sm = client(moto_url, "sagemaker")
    [summary] = sm.list_training_jobs()["TrainingJobSummaries"]
    job = sm.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    name = job["TrainingJobName"]
    assert name in result.output
    assert job["AlgorithmSpecification"]["TrainingImage"] == DLC
    assert sorted(c["ChannelName"] for c in job["InputDataConfig"]) == sorted(CHANNELS)
    hp = job["HyperParameters"]
    assert hp["sagemaker_program"] == ENTRY_POINT
    assert hp["local.mode"] == "partial" and hp["hyperparameters.epochs"] == "120"
    assert "sagemaker_torch_distributed_enabled" not in hp  # one instance
    assert job["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/checkpoints/{name}/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert (
        job["StoppingCondition"]["MaxWaitTimeInSeconds"]
        >= job["StoppingCondition"]["MaxRuntimeInSeconds"]
    )
    # the source the toolkit will download: the entry point, requirements and ops/, encrypted
    key = hp["sagemaker_submit_directory"].removeprefix(f"s3://{BUCKET}/")
    assert key == f"training-output/{name}/source/sourcedir.tar.gz"
    obj = client(moto_url, "s3").get_object(Bucket=BUCKET, Key=key)
    assert obj["ServerSideEncryption"] == "AES256"
    with tarfile.open(fileobj=io.BytesIO(obj["Body"].read())) as tar:
        names = set(tar.getnames())
    assert {ENTRY_POINT, "requirements.txt", "ops/train/sagemaker/entry_env.py"} <= names
    assert load_state() == {}  # --no-wait records nothing yet


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"aws.use_spot": False, "aws.instance_type": "ml.g5.xlarge"},
        {"aws.instance_count": 4, "aws.instance_type": "ml.p4d.24xlarge", "local.mode": "full"},
    ],
    ids=["spot", "on-demand", "distributed"],
)
def test_request_is_valid_against_botocores_service_model(overrides):
    request = _request(**overrides)
    validate_parameters(request, _create_training_job_shape())  # raises on any invalid field
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    distributed = overrides.get("aws.instance_count", 1) > 1
    assert (request["HyperParameters"].get("sagemaker_torch_distributed_enabled") == "true") == (
        distributed
    )
    assert ("CheckpointConfig" in request) == overrides.get("aws.use_spot", True)
    assert len(request["HyperParameters"]) <= 100
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())


def test_the_validator_does_check_the_request():
    request = _request()
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "train:loss"}]
    with pytest.raises(ParamValidationError, match="Regex"):
        validate_parameters(request, _create_training_job_shape())


def test_metric_definitions_feed_dogbreed_jobs(moto_url, uploaded, role_arn, write_settings):
    # the recipe's accuracy metric has the built-in's name, so `dogbreed jobs` shows it alike
    assert ACCURACY in [m["Name"] for m in METRIC_DEFINITIONS]
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [
            {
                "TrainingJobStatus": "Completed",
                "SecondaryStatus": "Completed",
                "FinalMetricDataList": [
                    {"MetricName": ACCURACY, "Value": 0.9312, "Timestamp": 1_700_000_000},
                    {"MetricName": "train:loss", "Value": 0.21, "Timestamp": 1_700_000_000},
                ],
            }
        ]
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        trained = CliRunner().invoke(
            cli, ["--config", str(config), "train", "--algorithm", "recipe"]
        )
        listing = CliRunner().invoke(cli, ["--config", str(config), "jobs"])
    assert trained.exit_code == 0, trained.output
    record = load_state()["training"]
    assert record["metrics"][ACCURACY] == pytest.approx(0.9312)
    # the training container does not serve the ONNX artifact: no inference image is recorded
    assert record["image"] is None and record["training_image"] == DLC
    assert record["artifact"].endswith(f"/{record['job_name']}/output/model.tar.gz")
    assert listing.exit_code == 0, listing.output
    assert "0.9312" in listing.output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"aws.instance_count": 2, "aws.instance_type": "ml.g5.xlarge", "local.mode": "head"},
            "head",
        ),
        ({"aws.instance_count": 2, "aws.instance_type": "ml.m5.xlarge"}, "torch_distributed"),
        ({"aws.max_wait_seconds": 60, "aws.max_run_seconds": 600}, "max_wait_seconds"),
    ],
    ids=["distributed-head", "distributed-cpu", "spot-wait"],
)
def test_rules_aws_enforces_stop_before_anything_is_uploaded(
    moto_url, uploaded, role_arn, write_settings, overrides, message
):
    config = write_settings(settings_toml(moto_url, uploaded, role_arn))
    flags = [f"--set={k}={v}" for k, v in {"local.mode": "partial", **overrides}.items()]
    result = CliRunner().invoke(
        cli, ["--config", str(config), *flags, "train", "--algorithm", "recipe"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    listed = client(moto_url, "s3").list_objects_v2(Bucket=BUCKET, Prefix="training-output/")
    assert listed["KeyCount"] == 0
    assert client(moto_url, "sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_too_many_hyperparameters_is_refused_like_aws_would():
    from ops.train.sagemaker.recipe_job import check_recipe_rules

    with pytest.raises(DogbreedError, match="AWS takes 100"):
        check_recipe_rules(Settings(), {f"k{i}": "v" for i in range(101)})
    with pytest.raises(DogbreedError, match="2500"):
        check_recipe_rules(Settings(), {"k": "v" * 2501})


def test_builtin_stays_the_default_and_is_sagemaker_only(write_settings):
    assert Settings().aws.algorithm == "builtin"
    result = CliRunner().invoke(
        cli, ["--config", str(write_settings("")), "train", "--algorithm", "builtin"]
    )
    assert result.exit_code == 2
    assert "--algorithm applies to the sagemaker backend" in result.output


def test_the_training_container_follows_the_instance_and_the_pinned_version():
    from ops.aws.builtin_images import pytorch_training_image

    cpu = pytorch_training_image("eu-west-1", "2.8.0", "py312", "ml.m5.xlarge")
    assert cpu == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.8.0-cpu-py312"
    assert pytorch_training_image("us-east-1", "2.8.0", "py312", "ml.g5.xlarge") == DLC
    with pytest.raises(DogbreedError, match="no PyTorch 1.0"):
        pytorch_training_image("us-east-1", "1.0", "py312", "ml.g5.xlarge")
    with pytest.raises(DogbreedError, match="region"):
        pytorch_training_image("mars-west-1", "2.8.0", "py312", "ml.g5.xlarge")
