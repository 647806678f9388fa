"""A training run that ends clearly worse than it started keeps the previous model: `latest` and
the state record stay, the command says why (exit 1), and --promote-anyway overrides it.

The start must be good for "worse" to mean anything, so the weights file is made here: a random
tf_efficientnet_lite0 whose ImageNet rows for the three test breeds are fitted (least squares) to
its own features of the generated images. `train` reads it as local.weights, starts its head from
those rows (epoch 0: top-1 100 %), and a learning rate of 10 then wrecks the head.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.state import get_record
from ops.train.local.promotion import judge, unique_run_dir

BACKBONE = "tf_efficientnet_lite0"


def _fitted_weights(prepared: Path, out: Path) -> Path:
    """A weights file whose ImageNet rows of the prepared classes classify its features."""
    import numpy as np
    import timm
    import torch

    from ops.data.manifest import PreparedData
    from ops.model.features import _load_batch
    from ops.model.network import imagenet_rows, preprocessing_for

    torch.manual_seed(0)
    model = timm.create_model(BACKBONE, pretrained=False).eval()
    data = PreparedData(prepared)
    items = data.image_paths("train") + data.image_paths("validation")
    prep = preprocessing_for(BACKBONE, True, 64, 64)
    with torch.no_grad():
        x = torch.from_numpy(_load_batch([p for p, _ in items], prep, False))
        feats = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    labels = np.array([label for _, label in items])
    design = np.hstack([feats, np.ones((len(feats), 1))])
    target = np.eye(len(data.classes()))[labels] * 20.0 - 10.0
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    rows = imagenet_rows(data.classes())
    head = model.get_classifier()
    with torch.no_grad():
        for i, row in enumerate(rows):
            head.weight[row] = torch.from_numpy(solution[:-1, i]).float()
            head.bias[row] = float(solution[-1, i])
    torch.save({"state_dict": model.state_dict()}, out)
    return out


def _train(tmp_path, prepared, weights, *extra, lr="0.0001"):
    settings = {
        "data.prepared_dir": prepared,
        "local.backbone": BACKBONE,
        "local.weights": weights,
        "local.input_size": 64,
        "local.artifacts_dir": tmp_path / "artifacts",
        "local.cache_dir": tmp_path / "cache",
        "local.engine": "torch",
        "local.num_workers": 0,
        "local.calibrate": "false",
        "local.learning_rate": lr,
        "hyperparameters.epochs": 2,
        "hyperparameters.mini_batch_size": 8,
    }
    flags = [f"--set={k}={v}" for k, v in settings.items()]
    return CliRunner().invoke(cli, [*flags, "train", "--no-resume", *extra])


def _latest(tmp_path) -> str:
    return os.readlink(tmp_path / "artifacts" / "latest")


@pytest.mark.slow
def test_a_run_that_wrecks_the_model_keeps_the_previous_one(prepared_dir, tmp_path):
    weights = _fitted_weights(prepared_dir, tmp_path / "fitted.pth")
    good = _train(tmp_path, prepared_dir, weights)
    assert good.exit_code == 0, good.output
    record = get_record("training")
    assert record["metrics"]["before_training_top1"] == 1.0  # the fitted start
    assert record["promotion"]["promoted"] is True
    kept = _latest(tmp_path)
    assert Path(record["artifact_dir"]).name == kept

    wrecked = _train(tmp_path, prepared_dir, weights, lr="10")
    assert wrecked.exit_code == 1, wrecked.output
    line = wrecked.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: validation top-1 fell from 100.00% before training to ")
    assert "kept the previous model" in line and "--promote-anyway" in line
    assert "Traceback" not in wrecked.output
    assert _latest(tmp_path) == kept and get_record("training") == record
    runs = sorted(p.name for p in (tmp_path / "artifacts").iterdir() if p.name[0].isdigit())
    assert len(runs) == 2  # the refused run's artifact is kept, for a look

    anyway = _train(tmp_path, prepared_dir, weights, "--promote-anyway", lr="10")
    assert anyway.exit_code == 0, anyway.output
    promoted = get_record("training")
    assert promoted["promotion"]["promoted"] is True and "anyway" in promoted["promotion"]["reason"]
    assert _latest(tmp_path) == Path(promoted["artifact_dir"]).name != kept
    metrics = json.loads((Path(promoted["artifact_dir"]) / "metrics.json").read_text())
    assert metrics["validation_top1"] < 0.9


def test_clearly_worse_means_more_than_two_points_and_more_than_one_image():
    start = {"before_training_top1": 0.90}
    assert judge({**start, "validation_top1": 0.881}, 1000).promoted  # 1.9 points: noise
    assert not judge({**start, "validation_top1": 0.87}, 1000).promoted
    assert judge({**start, "validation_top1": 0.80}, 9).promoted  # one image of 9 is 11 points
    assert not judge({**start, "validation_top1": 0.50}, 9).promoted
    assert judge({**start, "validation_top1": 0.50}, 9, anyway=True).promoted
    assert judge({"before_training_top1": None, "validation_top1": 0.1}, 9).promoted


def test_run_ids_are_unique_within_one_second(tmp_path):
    made = [unique_run_dir(tmp_path, "20260101-000000-x-head") for _ in range(3)]
    assert [p.name for p in made] == [
        "20260101-000000-x-head",
        "20260101-000000-x-head-2",
        "20260101-000000-x-head-3",
    ]
    assert all(p.is_dir() for p in made)


@pytest.mark.parametrize("row", [[float("nan"), 0.0, 0.0], [float("inf"), -float("inf"), 0.0]])
def test_a_diverged_head_gives_no_temperature_instead_of_a_traceback(row):
    """A huge learning rate leaves logits that L-BFGS overflows on (it raised RuntimeError, and
    `train` printed a traceback); now the fit says so and calibration is skipped (head.py)."""
    import torch

    from ops.train.local.calibrate import fit_temperature

    logits = torch.tensor([row] + [[1.0, 0.0, 0.0]] * 39)
    with pytest.raises(ValueError, match="the temperature fit failed"):
        fit_temperature(logits, torch.arange(40) % 3)
