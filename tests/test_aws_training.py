"""SageMaker training jobs against moto server over HTTP, and a scripted SageMaker where moto cannot."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ops.aws.session import make_client
from ops.cli import cli
from ops.data.manifest import CHANNELS
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import load_state, state_path, update_state
from ops.train.sagemaker.builtin_job import train_sagemaker
from ops.train.sagemaker.commands import record_training_job
from ops.train.sagemaker.job_record import finish_training
from ops.train.sagemaker.job_request import job_name, sagemaker_hyperparameters
from ops.train.sagemaker.watch import estimate_cost, watch_training_job
from tests.aws_helpers import (
    BUCKET,
    client,
    sagemaker_settings,
    settings_toml,
    text_console,
)
from tests.fake_sagemaker import FakeSageMaker


@pytest.fixture
def settings(moto_url, uploaded, role_arn):
    return sagemaker_settings(moto_url, uploaded, role_arn)


def test_training_job_is_created_with_the_expected_request(settings, moto_url, role_arn):
    result = train_sagemaker(settings, wait=False, console=text_console()[0])

    job = client(moto_url, "sagemaker").describe_training_job(TrainingJobName=result["job_name"])
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert sorted(channels) == sorted(CHANNELS)
    for name, channel in channels.items():
        source = channel["DataSource"]["S3DataSource"]
        assert source["S3Uri"] == f"s3://{BUCKET}/stanford-dogs/{name}/"
        assert source["S3DataType"] == "S3Prefix"
        assert channel["ContentType"] == "application/x-image"
    hp = job["HyperParameters"]
    assert all(isinstance(v, str) for v in hp.values())
    assert hp["num_classes"] == "3"  # from info.json (3 classes x 8 training images)
    assert hp["num_training_samples"] == "24"
    assert hp["early_stopping"] == "True"
    assert hp["learning_rate"] == "0.0001"
    assert hp["image_shape"] == "3,224,224"
    assert "lr_scheduler_step" not in hp  # empty settings are left to the algorithm's default
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 36000,
        "MaxWaitTimeInSeconds": 72000,
    }
    assert job["CheckpointConfig"]["S3Uri"] == (f"s3://{BUCKET}/checkpoints/{result['job_name']}/")
    assert job["RoleArn"] == role_arn
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/training-output/"
    assert job["ResourceConfig"] == {
        "InstanceType": "ml.p3.2xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
    }
    assert job["AlgorithmSpecification"]["TrainingImage"] == (
        "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    )
    assert load_state() == {}  # --no-wait records nothing yet


def test_on_demand_job_has_no_spot_settings(settings, moto_url):
    on_demand = settings.with_overrides(
        {"aws.use_spot": False, "aws.instance_type": "ml.g5.xlarge"}
    )
    result = train_sagemaker(on_demand, wait=False, console=text_console()[0])

    job = client(moto_url, "sagemaker").describe_training_job(TrainingJobName=result["job_name"])
    assert job["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in job["StoppingCondition"]
    assert "CheckpointConfig" not in job
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


def test_completed_job_is_recorded_for_deploy(settings):
    record = train_sagemaker(settings, wait=True, poll_seconds=0, console=text_console()[0])
    assert "training" not in load_state()  # the library returns the record; the command writes

    record_training_job(record)
    state = load_state()["training"]
    assert state == record
    assert state["backend"] == "sagemaker"
    assert state["model_data_url"] == (
        f"s3://{BUCKET}/training-output/{state['job_name']}/output/model.tar.gz"
    )
    assert state["settings"]["aws"]["bucket"] == BUCKET
    assert state["hyperparameters"]["num_classes"] == "3"
    datetime.fromisoformat(state["finished_at"])


def test_job_names_are_unique_readable_and_short():
    now = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
    names = {job_name("dogbreed", now) for _ in range(20)}
    assert len(names) > 15
    assert all(re.fullmatch(r"dogbreed-20261124-130509-[0-9a-f]{4}", n) for n in names)
    long = job_name("My Project_" + "x" * 80, now)
    assert len(long) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", long)
    assert len(job_name("dogbreed", now, max_len=32)) <= 32


def test_hyperparameters_need_class_counts():
    with pytest.raises(DogbreedError, match="num_classes"):
        sagemaker_hyperparameters(Settings(), None)
    explicit = Settings().with_overrides(
        {"hyperparameters.num_classes": 120, "hyperparameters.num_training_samples": 12000}
    )
    hp = sagemaker_hyperparameters(explicit, None)
    assert hp["num_classes"] == "120" and hp["use_pretrained_model"] == "1"


def test_cost_estimate_shows_spot_saving():
    settings = Settings()  # ml.p3.2xlarge at 3.825 USD/hour
    cost = estimate_cost(settings, seconds=3600, billable_seconds=1080)
    assert cost["on_demand_usd"] == pytest.approx(3.825)
    assert cost["billed_usd"] == pytest.approx(3.825 * 0.3)
    assert cost["saving"] == pytest.approx(0.7)
    unknown = settings.with_overrides({"aws.instance_type": "ml.x99.huge"})
    assert estimate_cost(unknown, 60)["on_demand_usd"] is None


TRANSITIONS = [
    {"Status": "Starting", "StartTime": 1_700_000_000, "StatusMessage": "Preparing the instances"},
    {"Status": "Downloading", "StartTime": 1_700_000_100, "StatusMessage": "Downloading input"},
    {"Status": "Training", "StartTime": 1_700_000_200, "StatusMessage": "Training in progress"},
]


def test_watch_follows_in_progress_to_completed(moto_url, settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [
            {
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Starting",
                "SecondaryStatusTransitions": TRANSITIONS[:1],
            },
            {
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Training",
                "SecondaryStatusTransitions": TRANSITIONS,
                "FinalMetricDataList": [
                    {"MetricName": "train:accuracy", "Value": 0.5, "Timestamp": 1_700_000_300}
                ],
            },
            {
                "TrainingJobStatus": "Completed",
                "SecondaryStatus": "Completed",
                "SecondaryStatusTransitions": TRANSITIONS,
                "BillableTimeInSeconds": 1200,
                "TrainingTimeInSeconds": 3600,
                "FinalMetricDataList": [
                    {"MetricName": "train:accuracy", "Value": 0.97, "Timestamp": 1_700_004_000},
                    {
                        "MetricName": "validation:accuracy",
                        "Value": 0.91,
                        "Timestamp": 1_700_004_000,
                    },
                ],
            },
        ]
        fake_settings = settings.with_overrides({"aws.endpoint_url": fake.url})
        console, out = text_console()
        record = train_sagemaker(fake_settings, wait=True, poll_seconds=0, console=console)

    text = out.getvalue()
    print(text)
    assert fake.actions().count("DescribeTrainingJob") == 3
    assert fake.actions().count("CreateTrainingJob") == 1
    for status in (
        "Starting: Preparing",
        "Downloading: Downloading input",
        "Training: Training in",
    ):
        assert text.count(status) == 1  # each transition printed once, as it appears
    assert "Status: InProgress" in text and "Status: Completed" in text
    assert "validation:accuracy" in text and "0.9100" in text
    assert "spot saving" in text
    assert record["metrics"] == {"train:accuracy": 0.97, "validation:accuracy": 0.91}
    record_training_job(record)
    assert load_state()["training"]["billable_seconds"] == 1200


def test_watch_shows_cloudwatch_accuracy_while_training(moto_url, settings):
    cw = client(moto_url, "cloudwatch")
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [
            {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"},
            {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"},
        ]
        sm = make_client(settings.with_overrides({"aws.endpoint_url": fake.url}), "sagemaker")
        name = "dogbreed-cloudwatch-test"
        cw.put_metric_data(
            Namespace="/aws/sagemaker/TrainingJobs",
            MetricData=[
                {
                    "MetricName": "validation:accuracy",
                    "Dimensions": [{"Name": "Host", "Value": f"{name}/algo-1"}],
                    "Value": 0.625,
                    "Timestamp": datetime.now(UTC),
                }
            ],
        )
        console, out = text_console()
        desc = watch_training_job(sm, name, settings, poll_seconds=0, console=console)
    assert desc["TrainingJobStatus"] == "Completed"
    assert re.search(r"validation:accuracy\s*│?\s*0\.6250", out.getvalue())


def test_failed_job_prints_failure_reason_and_exits_1(moto_url, uploaded, role_arn, write_settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [
            {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"},
            {
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "FailureReason": "AlgorithmError: num_classes does not match the .lst labels",
            },
        ]
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        result = CliRunner().invoke(
            cli, ["--config", str(config), "--set", "aws.max_run_seconds=60", "train"]
        )
    assert result.exit_code == 1, result.output
    assert "AlgorithmError: num_classes does not match the .lst labels" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert "training" not in load_state()


def test_ctrl_c_asks_and_stops_the_job(moto_url, settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [{"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}]
        sm = make_client(settings.with_overrides({"aws.endpoint_url": fake.url}), "sagemaker")
        interrupts = iter([KeyboardInterrupt])
        asked = []

        def sleep(_seconds):
            exc = next(interrupts, None)
            if exc:
                raise exc

        def confirm(question, default):
            asked.append(question)
            return True

        console, out = text_console()
        desc = watch_training_job(
            sm,
            "dogbreed-ctrl-c",
            settings,
            poll_seconds=0,
            console=console,
            sleep=sleep,
            confirm=confirm,
            cloudwatch=None,
        )
    assert asked == ["Stop training job dogbreed-ctrl-c?"]
    assert fake.bodies("StopTrainingJob") == [{"TrainingJobName": "dogbreed-ctrl-c"}]
    assert desc["TrainingJobStatus"] == "Stopped"
    with pytest.raises(DogbreedError, match="stopped"):
        finish_training(desc, settings, echo=lambda *_: None)


def test_ctrl_c_declined_detaches_and_keeps_the_job(moto_url, settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.training_steps = [{"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}]
        sm = make_client(settings.with_overrides({"aws.endpoint_url": fake.url}), "sagemaker")

        def sleep(_seconds):
            raise KeyboardInterrupt

        console, out = text_console()
        desc = watch_training_job(
            sm,
            "dogbreed-keep",
            settings,
            console=console,
            sleep=sleep,
            confirm=lambda *a, **k: False,
            cloudwatch=None,
        )
        lines = []
        finish_training(desc, settings, echo=lines.append)
    assert "StopTrainingJob" not in fake.actions()
    assert "keeps running" in out.getvalue()
    assert "dogbreed jobs --watch dogbreed-keep" in lines[0]


def test_cli_train_sagemaker_end_to_end_against_moto(moto_url, uploaded, role_arn, write_settings):
    config = write_settings(settings_toml(moto_url, uploaded, role_arn))
    result = CliRunner().invoke(cli, ["--config", str(config), "--backend", "sagemaker", "train"])
    assert result.exit_code == 0, result.output
    record = load_state()["training"]
    assert record["job_name"] in result.output
    assert record["model_data_url"] in result.output.replace("\n", "")

    listing = CliRunner().invoke(cli, ["--config", str(config), "jobs"])
    assert listing.exit_code == 0, listing.output
    assert record["job_name"] in listing.output and "Completed" in listing.output


def test_empty_channels_stop_before_submitting(moto_url, prepared_dir, role_arn):
    client(moto_url, "s3").create_bucket(Bucket=BUCKET)
    client(moto_url, "s3").put_object(Bucket=BUCKET, Key="stanford-dogs/train/a.jpg", Body=b"x")
    settings = sagemaker_settings(moto_url, prepared_dir, role_arn)
    with pytest.raises(DogbreedError, match="validation, train_lst, validation_lst empty"):
        train_sagemaker(settings, wait=False, console=text_console()[0])
    assert client(moto_url, "sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_missing_bucket_is_a_clear_error(moto_url, prepared_dir, role_arn):
    settings = sagemaker_settings(moto_url, prepared_dir, role_arn)
    with pytest.raises(DogbreedError, match="NoSuchBucket.*terraform apply"):
        train_sagemaker(settings, wait=False, console=text_console()[0])


def test_role_comes_from_settings_then_state_then_error(moto_url, uploaded, role_arn):
    no_role = sagemaker_settings(moto_url, uploaded, "")
    with pytest.raises(DogbreedError, match="no SageMaker execution role"):
        train_sagemaker(no_role, wait=False, console=text_console()[0])

    update_state("infrastructure", {"sagemaker_role_arn": role_arn})
    result = train_sagemaker(no_role, wait=False, console=text_console()[0])
    assert result["request"]["RoleArn"] == role_arn

    missing = sagemaker_settings(
        moto_url, uploaded, "arn:aws:iam::123456789012:role/does-not-exist"
    )
    with pytest.raises(DogbreedError, match="role/does-not-exist does not exist"):
        train_sagemaker(missing, wait=False, console=text_console()[0])


def test_quota_error_is_one_line(moto_url, uploaded, role_arn, write_settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.errors["CreateTrainingJob"] = (
            400,
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.p3.2xlarge for spot training job usage' "
            "is 0 Instances, with current utilization of 0 Instances",
        )
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        result = CliRunner().invoke(cli, ["--config", str(config), "train"])
    assert result.exit_code == 1
    assert "ResourceLimitExceeded" in result.output and "quota increase" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_no_credentials_is_a_clear_error(monkeypatch, tmp_path, prepared_dir):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = sagemaker_settings("", prepared_dir, "arn:aws:iam::123456789012:role/r")
    with pytest.raises(DogbreedError, match="no AWS credentials"):
        train_sagemaker(settings, wait=False, console=text_console()[0])


def test_unknown_region_is_a_clear_error(moto_url, uploaded, role_arn):
    real_aws = sagemaker_settings("", uploaded, role_arn, **{"aws.region": "mars-west-1"})
    with pytest.raises(DogbreedError, match="unknown or unsupported AWS region 'mars-west-1'"):
        train_sagemaker(real_aws, wait=False, console=text_console()[0])
    emulated = sagemaker_settings(moto_url, uploaded, role_arn, **{"aws.region": "mars-west-1"})
    with pytest.raises(DogbreedError, match="not available in region 'mars-west-1'"):
        train_sagemaker(emulated, wait=False, console=text_console()[0])


def test_jobs_watch_attaches_and_records(moto_url, settings, write_settings, uploaded, role_arn):
    name = train_sagemaker(settings, wait=False, console=text_console()[0])["job_name"]
    config = write_settings(settings_toml(moto_url, uploaded, role_arn))
    result = CliRunner().invoke(cli, ["--config", str(config), "jobs", "--watch", name])
    assert result.exit_code == 0, result.output
    assert load_state()["training"]["job_name"] == name
    on_disk = json.loads(state_path().read_text())  # the state file itself is plain JSON
    assert on_disk["training"]["job_name"] == name


def test_channels_written_by_data_upload_are_what_the_job_reads(
    moto_url, prepared_dir, role_arn, write_settings
):
    upload = pytest.importorskip(
        "ops.data.upload", reason="ops/data/upload.py (issue: data) absent"
    )
    settings = sagemaker_settings(moto_url, prepared_dir, role_arn)
    result = upload.upload_prepared(settings, create_bucket=True, progress=False)
    config = write_settings(settings_toml(moto_url, prepared_dir, role_arn))

    train = CliRunner().invoke(cli, ["--config", str(config), "--backend", "sagemaker", "train"])

    assert train.exit_code == 0, train.output
    job = client(moto_url, "sagemaker").describe_training_job(
        TrainingJobName=load_state()["training"]["job_name"]
    )
    read = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]
    }
    assert read == result.channel_uris()
