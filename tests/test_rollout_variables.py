"""What `dogbreed deploy` passes Terraform for a model's rollout and drift alarms: the figures of
its own metrics.json, read but not trusted, and the version the Lambda reports."""

from __future__ import annotations

import json

import pytest

from ops.deploy.rollout import describe_rollout, drift_baselines, rollout_variables
from ops.deploy.serving_stack import ServingModel
from ops.settings import Settings

TRAINED = {  # the shape local training writes (ops/local/training, ops/model/dogness.py)
    "validation_top1": 0.93,
    "calibration": {
        "validation_before": {"mean_confidence": 0.88},
        "validation_after": {"mean_confidence": 0.81},
    },
    "dog": {"validation_false_refusal": {"top_probability": 0.04, "imagenet": 0.01}},
}


def model_in(folder, metrics=None, threshold=0.3) -> ServingModel:
    folder.mkdir(exist_ok=True)
    (folder / "classes.json").write_text("[]")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return ServingModel(
        "s3://b/m.tar.gz", "img", classes=folder / "classes.json", dog_min_top_probability=threshold
    )


def test_baselines_are_the_calibrated_confidence_and_the_top_probability_refusals():
    assert drift_baselines(TRAINED) == {"no_dog": 0.04, "top1": 0.81}
    uncalibrated = {**TRAINED, "calibration": {"temperature": 1.0, "skipped": "off"}}
    assert drift_baselines(uncalibrated)["top1"] is None
    assert drift_baselines({"mean_confidence": 0.7}) == {"no_dog": None, "top1": 0.7}  # a report


@pytest.mark.parametrize(
    "bad",
    [
        {"dog": {"validation_false_refusal": {"top_probability": 1.7}}},
        {"dog": {"validation_false_refusal": {"top_probability": "0.1"}}},
        {"dog": {"validation_false_refusal": {"top_probability": float("nan")}}},
        {"dog": "nope", "calibration": ["x"]},
        {"calibration": {"validation_after": {"mean_confidence": True}}},
    ],
)
def test_figures_out_of_range_or_of_the_wrong_type_are_no_baseline(bad):
    assert drift_baselines(bad) == {"no_dog": None, "top1": None}


def test_variables_carry_the_settings_waits_and_the_models_figures(tmp_path):
    variables = rollout_variables(Settings(), model_in(tmp_path / "a", TRAINED))
    assert variables["drift_no_dog_expected"] == 0.04 and variables["drift_top1_expected"] == 0.81
    assert (variables["rollout_policy"], variables["rollout_bake_seconds"]) == ("auto", 600)
    assert variables["lambda_environment"] == {"DOG_MIN_TOP_PROBABILITY": "0.3"}
    assert describe_rollout(variables) == [
        "Rollout: blue/green on the SageMaker endpoint, all_at_once (bake 600 s); rolled back"
        " when an endpoint, API or Lambda alarm fires"
    ]


def test_another_dog_threshold_drops_the_no_dog_alarm_and_a_version_is_reported(tmp_path):
    settings = Settings().with_overrides({"deploy.dog_min_top_probability": "0.5"})
    model = model_in(tmp_path / "v3", TRAINED)
    (tmp_path / "v3" / "registry.json").write_text(json.dumps({"version": 3}))
    variables = rollout_variables(settings, model)
    assert variables["drift_no_dog_expected"] is None and variables["drift_top1_expected"] == 0.81
    assert variables["lambda_environment"] == {
        "DOG_MIN_TOP_PROBABILITY": "0.5",
        "MODEL_VERSION": "3",
    }
    assert "No no-dog rate drift alarm" in describe_rollout(variables)[1]


def test_a_model_without_metrics_gets_no_drift_alarm(tmp_path):
    built_in = ServingModel("s3://b/m.tar.gz", "img")  # the built-in algorithm: no files
    assert rollout_variables(Settings(), built_in)["drift_top1_expected"] is None
    broken = model_in(tmp_path / "broken")
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    variables = rollout_variables(Settings(), broken)
    assert (variables["drift_no_dog_expected"], variables["drift_top1_expected"]) == (None, None)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "canary: 10 % of requests for 5 min, then all"),
        (
            {"rollout_policy": "linear", "rollout_wait_seconds": 61},
            "linear: 20 % more of the requests every 2 min",
        ),
        ({"rollout_policy": "all_at_once"}, "all_at_once: every request moves at once"),
    ],
)
def test_lambda_mode_describes_the_codedeploy_shift_not_a_blue_green_fleet(settings, expected):
    variables = {
        **rollout_variables(Settings(), ServingModel("", "")),
        "endpoint_mode": "lambda",
        "monitoring_enabled": True,
        **settings,
    }
    (line, *_) = describe_rollout(variables)
    assert line == (
        f"Rollout: CodeDeploy moves the Lambda's live alias to the new version, {expected};"
        " rolled back when an API or Lambda alarm fires during it (no bake after it)"
    )
    assert "blue/green" not in line and "bake 600" not in line
    quiet = describe_rollout({**variables, "monitoring_enabled": False})[0]
    assert quiet.endswith("rolled back only if the deployment fails (monitoring is off: no alarms)")


def test_the_appspec_names_the_alias_and_both_versions():
    from ops.deploy.lambda_rollout import appspec

    spec = json.loads(appspec("dogbreed-classify", "live", "3", "4"))
    assert spec["version"] == 0.0
    assert spec["Resources"] == [
        {
            "dogbreed-classify": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": "dogbreed-classify",
                    "Alias": "live",
                    "CurrentVersion": "3",
                    "TargetVersion": "4",
                },
            }
        }
    ]
