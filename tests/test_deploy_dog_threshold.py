"""The deployed Lambda refuses non-dogs for endpoints without a dog score: the threshold travels."""

from __future__ import annotations

import json

from ops.artifact.reader import dog_settings
from ops.deploy.serving_stack import lambda_environment, terraform_variables
from ops.settings import Settings


def test_a_local_models_fallback_threshold_reaches_the_lambda_environment(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"dog": {"threshold": 0.41, "top_probability_threshold": 0.3176}})
    )
    threshold = dog_settings(tmp_path, outputs=[])["top_probability_threshold"]
    assert threshold == 0.3176
    variables = terraform_variables(Settings(), dog_min_top_probability=threshold)
    assert variables["lambda_environment"] == {"DOG_MIN_TOP_PROBABILITY": "0.3176"}


def test_no_threshold_refuses_nothing_and_the_setting_overrides_the_model():
    assert lambda_environment(Settings()) == {}
    settings = Settings().with_overrides({"deploy.dog_min_top_probability": "0.5"})
    assert lambda_environment(settings, 0.3176) == {"DOG_MIN_TOP_PROBABILITY": "0.5"}
