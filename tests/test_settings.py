"""Settings precedence (defaults < dogbreed.toml < DOGBREED_* environment < flags), validation,
and the state file's atomic per-stage updates."""

from __future__ import annotations

import json
import os

import pytest

from ops.errors import DogbreedError
from ops.settings import Settings, find_settings_file, load_settings
from ops.state import get_record, load_state, update_state
from tests.conftest import REPO_ROOT


def test_defaults_are_the_original_hyperparameter_table():
    hp = Settings().hyperparameters
    assert (hp.num_layers, hp.image_shape, hp.mini_batch_size, hp.epochs) == (
        50,
        "3,224,224",
        32,
        120,
    )
    assert (hp.optimizer, hp.learning_rate, hp.momentum, hp.weight_decay) == (
        "sgd",
        0.0001,
        0.9,
        0.0001,
    )
    assert (hp.early_stopping, hp.early_stopping_min_epochs, hp.early_stopping_patience) == (
        True,
        5,
        5,
    )
    assert hp.augmentation_type == "crop_color_transform" and hp.precision_dtype == "float32"


def test_repo_settings_file_loads_cleanly():
    s = load_settings(REPO_ROOT / "dogbreed.toml", environ={})
    assert s.project.backend in ("local", "sagemaker")
    assert s.source_file == str((REPO_ROOT / "dogbreed.toml").resolve())


def test_precedence_file_then_environment_then_flags(write_settings):
    path = write_settings("[hyperparameters]\nepochs = 7\nmini_batch_size = 16\n[data]\nseed = 3\n")
    s = load_settings(path, environ={})
    assert (s.hyperparameters.epochs, s.hyperparameters.mini_batch_size, s.data.seed) == (7, 16, 3)
    env = {"DOGBREED_HYPERPARAMETERS__EPOCHS": "9", "DOGBREED_BACKEND": "sagemaker"}
    s = load_settings(path, environ=env)
    assert (s.hyperparameters.epochs, s.hyperparameters.mini_batch_size) == (9, 16)
    assert s.backend == "sagemaker"
    flagged = s.with_overrides({"hyperparameters.epochs": "11", "data.seed": None})
    assert flagged.hyperparameters.epochs == 11
    assert flagged.data.seed == 3  # None = flag not given
    assert s.hyperparameters.epochs == 9  # the original is not modified


def test_values_are_coerced_to_the_declared_types(write_settings):
    path = write_settings("")
    env = {
        "DOGBREED_HYPERPARAMETERS__EARLY_STOPPING": "false",
        "DOGBREED_DATA__VAL_FRACTION": "0.25",
        "DOGBREED_DATA__CLASSES": '["n02085620", "Pekinese"]',
    }
    s = load_settings(path, environ=env)
    assert s.hyperparameters.early_stopping is False
    assert s.data.val_fraction == 0.25
    assert s.data.classes == ["n02085620", "Pekinese"]
    with pytest.raises(DogbreedError, match="cannot read 'many' as int"):
        load_settings(path, environ={"DOGBREED_HYPERPARAMETERS__EPOCHS": "many"})


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[hyperparameters]\nepoch = 3\n", {}, "unknown setting hyperparameters.epoch"),
        ("[hyperparams]\nepochs = 3\n", {}, r"unknown settings section \[hyperparams\]"),
        (
            "",
            {"DOGBREED_DATA__SPLITT": "official"},
            "DOGBREED_DATA__SPLITT: unknown setting data.splitt",
        ),
        ('[data]\nsplit = "random"\n', {}, "data.split must be"),
        ('[project]\nbackend = "gcp"\n', {}, "project.backend must be one of"),
        ("not = [valid toml", {}, "invalid TOML"),
    ],
)
def test_bad_settings_are_usage_errors(write_settings, text, environ, message):
    path = write_settings(text)
    with pytest.raises(DogbreedError, match=message) as info:
        load_settings(path, environ=environ)
    assert info.value.exit_code == 2


def test_unknown_override_key_is_rejected():
    with pytest.raises(DogbreedError, match="unknown setting aws.buckett"):
        Settings().with_overrides({"aws.buckett": "x"})


def test_settings_file_is_found_in_parents_or_from_environment(tmp_path, monkeypatch):
    (tmp_path / "dogbreed.toml").write_text('[project]\nname = "found"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_settings_file(nested) == tmp_path / "dogbreed.toml"
    monkeypatch.setenv("DOGBREED_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(DogbreedError, match="DOGBREED_CONFIG names"):
        find_settings_file(nested)


def test_resolve_is_relative_to_the_settings_file(write_settings, tmp_path):
    s = load_settings(write_settings('[data]\nraw_dir = "data/raw"\n'), environ={})
    assert s.resolve(s.data.raw_dir) == tmp_path / "data" / "raw"
    assert s.resolve("/abs/path") == tmp_path.anchor / type(tmp_path)("abs/path")


def test_state_updates_keep_other_stages_and_are_atomic(tmp_path):
    path = tmp_path / "state" / "state.json"
    update_state("training", {"job": "a"}, path)
    update_state("deployment", {"url": "http://x"}, path)
    update_state("training", {"job": "b"}, path)
    assert load_state(path) == {"deployment": {"url": "http://x"}, "training": {"job": "b"}}
    assert get_record("training", path) == {"job": "b"} and get_record("nothing", path) is None
    assert json.loads(path.read_text())["training"]["job"] == "b"
    assert os.listdir(path.parent) == ["state.json"]  # no temp files left behind


def test_state_file_location_follows_environment(tmp_path):
    from ops.state import state_path

    assert state_path() == tmp_path / ".dogbreed" / "state.json"  # set by conftest
    update_state("upload", {"bucket": "b"})
    assert get_record("upload") == {"bucket": "b"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"project.backend": "aws"}, "project.backend must be one of local, sagemaker, not 'aws'"),
        ({"local.mode": "bogus"}, "local.mode must be one of head, partial, full"),
        ({"data.split": "random"}, "data.split must be one of official, stratified"),
        ({"deploy.endpoint_mode": "gpu"}, "deploy.endpoint_mode must be one of serverless"),
        ({"data.val_fraction": "1.5"}, r"data.val_fraction must be in \(0, 1\), not 1.5"),
    ],
)
def test_overrides_are_validated_like_the_file(override, message):
    with pytest.raises(DogbreedError, match=message) as info:
        Settings().with_overrides(override)
    assert info.value.exit_code == 2


def test_every_literal_field_is_checked_on_load_and_override(write_settings):
    """The mechanism is generic: each Literal-typed field rejects a value outside its choices."""
    import typing

    from ops.settings import choices, section_fields

    literal = [
        (
            section,
            f.name,
            choices(typing.get_type_hints(type(getattr(Settings(), section)))[f.name]),
        )
        for section, f in section_fields()
    ]
    literal = [item for item in literal if item[2]]
    assert len(literal) >= 8
    for section, key, allowed in literal:
        with pytest.raises(DogbreedError, match=f"{section}.{key} must be one of"):
            Settings().with_overrides({f"{section}.{key}": "not-a-choice"})
        path = write_settings(f'[{section}]\n{key} = "not-a-choice"\n')
        with pytest.raises(DogbreedError, match=f"{section}.{key} must be one of"):
            load_settings(path, environ={})
        env = {f"DOGBREED_{section.upper()}__{key.upper()}": "not-a-choice"}
        with pytest.raises(DogbreedError, match=f"env:DOGBREED_{section.upper()}__"):
            load_settings(write_settings(""), environ=env)
        assert Settings().with_overrides({f"{section}.{key}": allowed[-1]})


def test_cli_set_of_a_bad_choice_is_a_usage_error(tmp_path, prepared_dir):
    from click.testing import CliRunner

    from ops.cli import cli

    for flag in ("project.backend=aws", "local.mode=bogus"):
        res = CliRunner().invoke(cli, ["--set", flag, "train", "--data", str(prepared_dir)])
        assert res.exit_code == 2, res.output
        assert "must be one of" in res.output and "Traceback" not in res.output


def test_origins_name_the_file_the_environment_and_the_command_line(write_settings):
    path = write_settings("[hyperparameters]\nepochs = 7\n[data]\nseed = 3\n")
    s = load_settings(path, environ={"DOGBREED_DATA__SEED": "4"}).with_overrides(
        {"local.mode": "partial"}
    )
    assert s.origins == {
        "hyperparameters.epochs": f"file:{path}",
        "data.seed": "env:DOGBREED_DATA__SEED",
        "local.mode": "command line",
    }
