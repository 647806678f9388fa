"""SageMaker hyperparameter tuning: ranges, the request read back from moto, trials, the best model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.errors import DogbreedError
from ops.settings_sections import TuningSettings
from ops.state import load_state, update_state
from ops.train.sagemaker.builtin_job import train_sagemaker
from ops.train.sagemaker.tuning import parameter_ranges, tune_sagemaker
from tests.aws_helpers import (
    BUCKET,
    client,
    sagemaker_settings,
    settings_toml,
    text_console,
)
from tests.fake_sagemaker import FakeSageMaker


def test_default_ranges_become_sagemaker_parameter_ranges():
    ranges = parameter_ranges(TuningSettings().ranges)
    assert ranges["ContinuousParameterRanges"] == [
        {
            "Name": "learning_rate",
            "MinValue": "1e-05",
            "MaxValue": "0.01",
            "ScalingType": "Logarithmic",
        },
        {"Name": "momentum", "MinValue": "0.0", "MaxValue": "0.99", "ScalingType": "Linear"},
        {
            "Name": "weight_decay",
            "MinValue": "1e-06",
            "MaxValue": "0.01",
            "ScalingType": "Logarithmic",
        },
    ]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "64", "ScalingType": "Linear"}
    ]
    assert ranges["CategoricalParameterRanges"] == [
        {"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop", "nag"]}
    ]


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"learning_rat": {"type": "continuous", "min": 0.1, "max": 1}}, "not a hyperparameter"),
        ({"learning_rate": {"type": "float", "min": 0.1, "max": 1}}, "type must be"),
        ({"learning_rate": {"type": "continuous", "min": 1, "max": 0.1}}, "min must be below max"),
        (
            {"momentum": {"type": "continuous", "min": 0, "max": 1, "scaling": "Logarithmic"}},
            "min > 0",
        ),
        ({"epochs": {"type": "integer", "min": 1.5, "max": 3}}, "whole"),
        ({"optimizer": {"type": "categorical", "values": []}}, "needs 'values'"),
        ({"momentum": {"type": "continuous", "min": 0, "max": 1, "scaling": "Log"}}, "scaling"),
        ({}, "nothing to tune"),
    ],
)
def test_bad_ranges_are_clear_errors(ranges, message):
    with pytest.raises(DogbreedError, match=message):
        parameter_ranges(ranges)


def test_cli_tune_end_to_end_against_moto(moto_url, uploaded, role_arn, write_settings):
    # moto answers ListTrainingJobsForHyperParameterTuningJob with a 500 (not implemented), which
    # botocore retries for ~18 s; the fake serves only that call (no trials) and forwards the rest.
    with FakeSageMaker(upstream=moto_url) as fake:
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        result = CliRunner().invoke(
            cli, ["--config", str(config), "tune", "--max-jobs", "6", "--max-parallel-jobs", "3"]
        )
    assert result.exit_code == 0, result.output
    assert fake.actions() == [
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob",
        "DescribeTrainingJob",
    ]

    tuning = load_state()["tuning"]
    job = client(moto_url, "sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning["tuning_job_name"]
    )
    assert len(tuning["tuning_job_name"]) <= 32
    config_ = job["HyperParameterTuningJobConfig"]
    assert config_["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:accuracy",
    }
    assert config_["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}
    assert config_["TrainingJobEarlyStoppingType"] == "Auto"
    assert config_["Strategy"] == "Bayesian"
    assert {r["Name"] for r in config_["ParameterRanges"]["ContinuousParameterRanges"]} == {
        "learning_rate",
        "momentum",
        "weight_decay",
    }
    definition = job["TrainingJobDefinition"]
    static = definition["StaticHyperParameters"]
    assert static["num_classes"] == "3" and static["num_training_samples"] == "24"
    assert not {"learning_rate", "optimizer", "mini_batch_size"} & set(
        static
    )  # tuned ones left out
    assert all(isinstance(v, str) for v in static.values())
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"]["MaxWaitTimeInSeconds"] == 72000
    # spot trials keep checkpoints (issue 11, defect 5), under one prefix per tuning job
    assert definition["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/checkpoints/{tuning['tuning_job_name']}/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert definition["RoleArn"] == role_arn
    assert definition["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/training-output/"
    assert sorted(c["ChannelName"] for c in definition["InputDataConfig"]) == sorted(
        ["train", "validation", "train_lst", "validation_lst"]
    )

    # moto invents the best trial; its artifact follows SageMaker's <output>/<trial>/output layout
    training = load_state()["training"]
    best = job["BestTrainingJob"]["TrainingJobName"]
    assert training["job_name"] == best == tuning["best_training_job"]
    assert training["model_data_url"] == f"s3://{BUCKET}/training-output/{best}/output/model.tar.gz"
    assert training["tuning_job_name"] == tuning["tuning_job_name"]
    assert training["image_uri"].endswith("/image-classification:1")

    moto_config = write_settings(settings_toml(moto_url, uploaded, role_arn))
    listing = CliRunner().invoke(cli, ["--config", str(moto_config), "jobs"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.output.splitlines() if tuning["tuning_job_name"] in line)
    assert "tuning" in row and "Completed" in row and best in row


def trial(name: str, status: str, value: float | None, lr: str) -> dict:
    summary = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "CreationTime": 1_700_000_000,
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"learning_rate": lr},
    }
    if value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:accuracy",
            "Value": value,
        }
    return summary


def test_tuning_in_progress_to_completed_records_the_best_trial(moto_url, uploaded, role_arn):
    settings = sagemaker_settings(moto_url, uploaded, role_arn, **{"aws.poll_seconds": 0})
    # The best trial is a real (moto) training job, so its description and artifact are read back.
    best_name = train_sagemaker(settings, wait=False, console=text_console()[0])["job_name"]
    trials_done = [
        trial("t-001", "Completed", 0.71, "0.001"),
        trial(best_name, "Completed", 0.83, "0.0003"),
    ]
    best = {**trial(best_name, "Completed", 0.83, "0.0003")}
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.tuning_steps = [
            {
                "HyperParameterTuningJobStatus": "InProgress",
                "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 2},
            },
            {
                "HyperParameterTuningJobStatus": "InProgress",
                "TrainingJobStatusCounters": {"Completed": 1, "InProgress": 1},
            },
            {
                "HyperParameterTuningJobStatus": "Completed",
                "TrainingJobStatusCounters": {"Completed": 2, "InProgress": 0},
                "BestTrainingJob": best,
            },
        ]
        fake.trials = trials_done + [trial("t-003", "InProgress", None, "0.01")]
        console, out = text_console()
        tuned, best_model = tune_sagemaker(
            settings.with_overrides({"aws.endpoint_url": fake.url}), console=console
        )

    assert fake.actions().count("DescribeHyperParameterTuningJob") == 3
    assert fake.actions().count("ListTrainingJobsForHyperParameterTuningJob") == 3
    text = out.getvalue()
    table = text[text.rindex("Tuning job") :]
    assert table.index(best_name) < table.index("t-001")  # best first
    assert "0.8300" in table and "t-003" not in table  # only finished trials are listed
    assert tuned["best_objective"] == 0.83
    assert [t["job_name"] for t in tuned["trials"]] == ["t-001", best_name, "t-003"]
    assert best_model["job_name"] == best_name  # what `tune` records for deploy
    assert best_model["model_data_url"] == (
        f"s3://{BUCKET}/training-output/{best_name}/output/model.tar.gz"
    )
    assert tuned["model_data_url"] == best_model["model_data_url"]
    assert "training" not in load_state()  # the library returns records; the command writes


def test_failed_tuning_job_is_an_error_and_keeps_the_previous_model(
    moto_url, uploaded, role_arn, write_settings
):
    with FakeSageMaker(upstream=moto_url) as fake:
        fake.tuning_steps = [
            {
                "HyperParameterTuningJobStatus": "Failed",
                "FailureReason": "No training job succeeded: ClientError: Data download failed",
            }
        ]
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        previous = {"backend": "local", "model_tar": "/models/previous/model.tar.gz"}
        update_state("training", previous)
        result = CliRunner().invoke(cli, ["--config", str(config), "tune"])
    assert result.exit_code == 1
    assert "No training job succeeded: ClientError: Data download failed" in result.output
    assert load_state()["training"] == previous  # the model deploy would use is unchanged
    assert "tuning" not in load_state()


def test_tune_no_wait_returns_at_once(moto_url, uploaded, role_arn, write_settings):
    with FakeSageMaker(upstream=moto_url) as fake:
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        result = CliRunner().invoke(cli, ["--config", str(config), "tune", "--no-wait"])
    assert result.exit_code == 0, result.output
    assert fake.actions() == ["CreateHyperParameterTuningJob"]
    assert load_state() == {}
