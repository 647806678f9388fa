"""Local training end to end on generated data with a small real timm model (random init)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ops.cli import cli
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import get_record
from ops.train.local.run import TrainingInterrupted, make_recipe, train_local
from tests.local_artifacts import local_train_overrides

REPO = Path(__file__).resolve().parents[1]


def _settings(prepared_dir, tmp_path, **extra) -> Settings:
    return Settings().with_overrides(local_train_overrides(prepared_dir, tmp_path, **extra))


@pytest.mark.slow
def test_head_mode_trains_and_exports(prepared_dir, tmp_path, write_settings):
    # through the `train` command: the library returns the record, the command records it
    overrides = local_train_overrides(prepared_dir, tmp_path, **{"local.flip_views": True})
    flags = [f"--set={k}={v}" for k, v in overrides.items()]
    config = write_settings("")
    result = CliRunner().invoke(cli, ["--config", str(config), *flags, "train", "--no-resume"])
    assert result.exit_code == 0, result.output
    record = get_record("training")
    assert result.stdout.strip().splitlines()[-1] == record["model_tar"]
    out = Path(record["artifact_dir"])
    for name in ("model.onnx", "model.pt", "classes.json", "preprocessing.json", "metrics.json"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]
    assert metrics["validation_top1"] is not None and metrics["stopped"] == "completed"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["mode"] == "head" and meta["num_classes"] == 3
    assert get_record("training")["model_tar"] == record["model_tar"]
    assert get_record("training")["backend"] == "local"
    assert (tmp_path / "artifacts" / "latest").resolve() == out.resolve()
    # the cache holds plain + flipped training views and validation features
    assert len(list((tmp_path / "cache" / "features").iterdir())) == 2


@pytest.mark.slow
def test_head_mode_learns_the_generated_classes(prepared_dir, tmp_path):
    """The head takes optimizer steps: loss falls and validation top-1 ends well above chance (1/3)."""
    settings = _settings(
        prepared_dir,
        tmp_path,
        **{
            "local.calibrate": False,
            "hyperparameters.epochs": 15,
            "local.max_epochs": 15,
            "hyperparameters.early_stopping": False,
        },
    )
    record = train_local(settings, resume=False)
    metrics = json.loads((Path(record["artifact_dir"]) / "metrics.json").read_text())
    history = metrics["history"]
    start, end = history[0], history[-1]
    assert end["epoch"] == 15
    assert end["val_loss"] < 0.7 * start["val_loss"], history
    assert history[-1]["train_loss"] < history[1]["train_loss"], history
    assert end["val_top1"] >= 0.75, history  # 3 generated classes: chance is 0.33
    assert end["val_top1"] > start["val_top1"], history


@pytest.mark.slow
def test_resume_after_interruption(prepared_dir, tmp_path):
    settings = _settings(prepared_dir, tmp_path, **{"hyperparameters.epochs": 4})
    seen: list[int] = []

    def stop_after_two(event):
        seen.append(event["epoch"])
        if event["epoch"] == 2:
            raise TrainingInterrupted("simulated Ctrl-C")

    with pytest.raises(TrainingInterrupted):
        train_local(settings, resume=True, callback=stop_after_two)
    assert seen == [1, 2]
    assert not (tmp_path / "artifacts" / "latest").exists()
    record = train_local(settings, resume=True, callback=lambda e: seen.append(e["epoch"]))
    assert seen == [1, 2, 3, 4]  # continued at epoch 3, did not start over
    history = json.loads((Path(record["artifact_dir"]) / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4]
    # --no-resume starts over
    seen.clear()
    train_local(settings, resume=False, callback=lambda e: seen.append(e["epoch"]))
    assert seen == [1, 2, 3, 4]


@pytest.mark.slow
def test_resume_after_killed_process(prepared_dir, tmp_path):
    """A real kill -9 after the first checkpoint, then a resumed run finishes from there."""
    env_script = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
from tests.test_local_train import _settings
from ops.train.local.run import train_local
from pathlib import Path
s = _settings(Path({str(prepared_dir)!r}), Path({str(tmp_path)!r}), **{{"hyperparameters.epochs": 3}})
def kill(e):
    if e["epoch"] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
train_local(s, resume=True, callback=kill)
"""
    proc = subprocess.run([sys.executable, "-c", env_script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    seen: list[int] = []
    settings = _settings(prepared_dir, tmp_path, **{"hyperparameters.epochs": 3})
    train_local(settings, resume=True, callback=lambda e: seen.append(e["epoch"]))
    assert seen == [2, 3]


@pytest.mark.slow
def test_early_stopping(prepared_dir, tmp_path):
    settings = _settings(
        prepared_dir,
        tmp_path,
        **{
            "hyperparameters.epochs": 6,
            "hyperparameters.early_stopping_min_epochs": 1,
            "hyperparameters.early_stopping_patience": 1,
            "hyperparameters.early_stopping_tolerance": 1.0,  # no epoch can gain that much
        },
    )
    record = train_local(settings, resume=False)
    assert record["metrics"]["stopped"].startswith("early stopping at epoch 2")


@pytest.mark.slow
def test_partial_mode_trains_only_the_last_blocks(prepared_dir, tmp_path):
    settings = _settings(
        prepared_dir,
        tmp_path,
        **{"local.mode": "partial", "hyperparameters.epochs": 1, "local.partial_blocks": 1},
    )
    record = train_local(settings, resume=False)
    state = torch.load(Path(record["artifact_dir"]) / "model.pt", weights_only=True)
    from ops.data.manifest import PreparedData
    from ops.model.network import build_model

    classes = PreparedData(prepared_dir).classes()
    torch.manual_seed(settings.data.seed)
    init = build_model("tf_efficientnet_lite0", classes, weights="none", image_size=64).model
    init_state = init.state_dict()
    assert torch.equal(state["conv_stem.weight"], init_state["conv_stem.weight"])  # frozen
    assert not torch.equal(state["conv_head.weight"], init_state["conv_head.weight"])  # trained
    assert record["metrics"]["validation_top1"] is not None


@pytest.mark.slow
def test_train_command_mode_and_resume_flags(prepared_dir, tmp_path, write_settings):
    """`train --mode partial` trains that mode; `--no-resume` ignores a checkpoint that the
    default (`--resume`) continues from."""
    extra = {"hyperparameters.epochs": 2, "local.partial_blocks": 1}
    settings = _settings(prepared_dir, tmp_path, **extra, **{"local.mode": "partial"})

    def interrupt_after_epoch_1():
        def stop(event):
            raise TrainingInterrupted("simulated Ctrl-C")  # epoch 1's checkpoint is written

        with pytest.raises(TrainingInterrupted):
            train_local(settings, resume=True, callback=stop)

    flags = [
        f"--set={k}={v}" for k, v in local_train_overrides(prepared_dir, tmp_path, **extra).items()
    ]
    config = write_settings("")

    def train(*args):
        result = CliRunner().invoke(
            cli, ["--config", str(config), *flags, "train", "--mode", "partial", *args]
        )
        assert result.exit_code == 0, result.output
        return result

    interrupt_after_epoch_1()
    resumed = train()
    assert "resuming from checkpoint at epoch 1" in resumed.output
    assert "epoch 1/2" not in resumed.output and "epoch 2/2" in resumed.output
    meta = json.loads((Path(get_record("training")["artifact_dir"]) / "metadata.json").read_text())
    assert meta["mode"] == "partial"

    fresh = train("--no-resume")  # the finished run's checkpoint is there, and ignored
    assert "resuming from checkpoint" not in fresh.output
    assert "epoch 1/2" in fresh.output and "epoch 2/2" in fresh.output


@pytest.mark.slow
def test_train_command_builds_an_ensemble_of_two_backbones(prepared_dir, tmp_path, write_settings):
    """`--backbone a+b`: both backbones' features feed one head; the exported model serves."""
    from ops.endpoint.onnx_runtime import load_runtime
    from tests.local_artifacts import jpeg_bytes

    flags = [f"--set={k}={v}" for k, v in local_train_overrides(prepared_dir, tmp_path).items()]
    pair = "tf_efficientnet_lite0+tf_efficientnet_lite1"
    result = CliRunner().invoke(
        cli,
        ["--config", str(write_settings("")), *flags, "train", "--backbone", pair, "--no-resume"],
    )
    assert result.exit_code == 0, result.output
    out = Path(get_record("training")["artifact_dir"])
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["backbone"] == pair and meta["num_classes"] == 3
    assert "train features [tf_efficientnet_lite1]" in result.output  # one pass per backbone
    runtime = load_runtime(out, threads=1)
    probs = runtime.predict_arrays(runtime.preprocess(jpeg_bytes(0, seed=1, size=64))[None])[0]
    assert probs.shape == (3,) and float(probs.sum()) == pytest.approx(1.0, abs=1e-4)


def test_recipes_map_the_sagemaker_names(prepared_dir, tmp_path):
    fast = make_recipe(_settings(prepared_dir, tmp_path, **{"hyperparameters.epochs": 120}))
    assert (fast.epochs, fast.optimizer, fast.scheduler) == (10, "adamw", "cosine")
    sm = make_recipe(
        _settings(
            prepared_dir,
            tmp_path,
            **{
                "local.recipe": "sagemaker",
                "hyperparameters.optimizer": "nag",
                "hyperparameters.lr_scheduler_step": "10,20",
                "hyperparameters.epochs": 120,
            },
        )
    )
    assert (sm.epochs, sm.optimizer, sm.milestones, sm.learning_rate) == (
        120,
        "nag",
        [10, 20],
        1e-4,
    )
    with pytest.raises(DogbreedError, match="optimizer"):
        make_recipe(_settings(prepared_dir, tmp_path, **{"local.optimizer": "lion"}))


def test_missing_prepared_data_is_a_user_error(tmp_path):
    with pytest.raises(DogbreedError, match="not a prepared data folder"):
        train_local(_settings(tmp_path / "nothing", tmp_path))


@pytest.mark.slow
def test_head_training_ships_the_calibrated_head(prepared_dir, tmp_path, monkeypatch):
    # 24 training images: half held out gives 12 >= MIN_HOLDOUT; 12 images cannot hold the 20
    # mistakes a real run needs, so this run asks for at least one
    monkeypatch.setattr("ops.train.local.head.MIN_ERRORS", 1)  # head imports it by name
    settings = _settings(prepared_dir, tmp_path, **{"local.calibration_fraction": 0.5})
    record = train_local(settings, resume=False)
    out = Path(record["artifact_dir"])
    calibration = json.loads((out / "metrics.json").read_text())["calibration"]
    t = calibration["temperature"]
    assert calibration["holdout_images"] == 12 and calibration["holdout_errors"] >= 1
    assert t != 1.0
    assert json.loads((out / "metadata.json").read_text())["calibration_temperature"] == t
    # the exported weights are the checkpointed (uncalibrated) head divided by T
    shipped = torch.load(out / "model.pt", map_location="cpu")
    (ckpt,) = (tmp_path / "artifacts" / ".checkpoints").glob("*/checkpoint.pt")
    trained = torch.load(ckpt, map_location="cpu", weights_only=False)["state"]["head"]
    for key in ("weight", "bias"):
        assert torch.allclose(shipped[f"classifier.{key}"], trained[key] / t, atol=1e-6)
    after = calibration["validation_after"]
    assert set(after) == {"nll", "ece", "mean_confidence"}


@pytest.mark.slow
def test_too_few_held_out_images_skip_calibration_with_a_reason(prepared_dir, tmp_path):
    settings = _settings(prepared_dir, tmp_path)  # default fraction 0.1 of 24 images = 2
    record = train_local(settings, resume=False)
    calibration = record["metrics"]["calibration"]
    assert calibration["temperature"] == 1.0 and "2 held-out images" in calibration["skipped"]


@pytest.mark.slow
def test_too_few_held_out_mistakes_skip_calibration(prepared_dir, tmp_path):
    settings = _settings(prepared_dir, tmp_path, **{"local.calibration_fraction": 0.5})
    record = train_local(settings, resume=False)
    calibration = record["metrics"]["calibration"]
    assert calibration["temperature"] == 1.0
    assert "held-out images misclassified (need 20" in calibration["skipped"]
