"""The `dogbreed` group: help text, global options, one-line errors with exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ops.cli import cli, parse_set_options
from ops.errors import DogbreedError
from tests.conftest import REPO_ROOT


def test_help_lists_stages_and_data_commands():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    assert "data fetch -> data prepare" in res.output
    assert "data" in res.output and "--set SECTION.KEY=VALUE" in res.output
    res = CliRunner().invoke(cli, ["data", "--help"])
    assert res.exit_code == 0
    for command in ("fetch", "prepare", "info", "upload"):
        assert command in res.output
    res = CliRunner().invoke(cli, ["data", "prepare", "--help"])
    assert "--drop-near-duplicates" in res.output and "--crop [none|boxes]" in res.output


def test_set_option_parsing():
    assert parse_set_options(("hyperparameters.epochs=3", "aws.bucket = b ")) == {
        "hyperparameters.epochs": "3",
        "aws.bucket": "b",
    }
    try:
        parse_set_options(("epochs",))
    except DogbreedError as exc:
        assert exc.exit_code == 2
    else:
        raise AssertionError("expected a DogbreedError")


def test_bad_set_and_unknown_key_are_one_line_usage_errors(tmp_path, prepared_dir):
    runner = CliRunner()
    res = runner.invoke(cli, ["--set", "epochs=3", "data", "info", "--data", str(prepared_dir)])
    assert res.exit_code == 2 and res.output.startswith("Error: --set expects section.key=value")
    res = runner.invoke(cli, ["--set", "data.nope=1", "data", "info", "--data", str(prepared_dir)])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and "unknown setting data.nope" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_missing_config_file_is_an_error():
    res = CliRunner().invoke(cli, ["--config", "/nonexistent/dogbreed.toml", "data", "info"])
    assert res.exit_code == 2 and "settings file /nonexistent/dogbreed.toml not found" in res.output


def test_console_script_help_is_fast_and_module_entry_point_works():
    exe = REPO_ROOT / ".venv" / "bin" / "dogbreed"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ops"]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Usage: dogbreed" in proc.stdout
    # Fast start-up is asserted by what it imports (below), not by a wall-clock time.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ops.cli; print(sorted(m for m in ('torch', 'timm', "
            "'onnxruntime', 'sagemaker', 'matplotlib') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0 and "dogbreed" in proc.stdout


def test_config_prints_effective_settings_with_their_origin(write_settings, monkeypatch):
    config = write_settings(
        '[hyperparameters]\nepochs = 7\n[evaluate]\napi_key = "s3cret"\n[serve]\napi_key = "kk22zz"\n'
    )
    monkeypatch.setenv("DOGBREED_DATA__SEED", "5")
    res = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "--set",
            "local.mode=partial",
            "--backend",
            "sagemaker",
            "config",
        ],
    )
    assert res.exit_code == 0, res.output
    pairs = [re.split(r"\s{2,}", line, maxsplit=1) for line in res.output.splitlines()]
    lines = {setting: origin for origin, setting in pairs}
    assert lines["hyperparameters.epochs=7"] == f"file:{config}"
    assert lines["data.seed=5"] == "env:DOGBREED_DATA__SEED"
    assert lines['local.mode="partial"'] == "command line"
    assert lines['project.backend="sagemaker"'] == "command line"
    assert lines["serve.port=8080"] == "default"
    assert 'evaluate.api_key="***"' in lines and "s3cret" not in res.output
    assert 'serve.api_key="***"' in lines and "kk22zz" not in res.output
    from ops.settings import section_fields

    assert len(res.output.splitlines()) == len(section_fields())  # every setting, once

    res = CliRunner().invoke(cli, ["--config", str(config), "config", "--changed", "--json"])
    rows = {r["key"]: r for r in json.loads(res.output)}
    assert set(rows) == {"hyperparameters.epochs", "evaluate.api_key", "serve.api_key", "data.seed"}
    assert rows["data.seed"] == {
        "key": "data.seed",
        "value": 5,
        "origin": "env:DOGBREED_DATA__SEED",
    }


@pytest.mark.parametrize(
    ("backend", "flag", "message"),
    [
        ("sagemaker", "--mode=partial", "--mode applies to the local backend"),
        ("sagemaker", "--no-resume", "--resume/--no-resume applies to the local backend"),
        ("sagemaker", "--backbone=resnet18", "--backbone applies to the local backend"),
        ("local", "--no-wait", "--wait/--no-wait applies to the sagemaker backend"),
    ],
)
def test_train_options_of_the_other_backend_are_errors(prepared_dir, backend, flag, message):
    res = CliRunner().invoke(
        cli, ["--backend", backend, "train", "--data", str(prepared_dir), flag]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and "pass --backend" in res.output
