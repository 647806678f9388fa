"""Is it a breed the model knows? The open-set scores and rule (ops/model/open_set.py) on
generated features, and the `breed_known` verdict end to end: exported graph, runtime, endpoint
body, answer (lambda_src/answer.py) and `predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lambda_src.answer import UNKNOWN_BREED, read_endpoint_body, verdict
from ops.cli import cli
from ops.endpoint.onnx_runtime import load_runtime
from ops.model import open_set as osr
from ops.settings import Settings
from ops.train.local.calibrate import holdout_split
from ops.train.local.head import head_trainer
from ops.train.local.recipe import make_recipe
from tests.dog_artifacts import make_dog_artifact
from tests.evaluate_helpers import evaluate_through_the_stack
from tests.local_artifacts import jpeg_bytes

DIM = 16


def generated_features(label: int, n: int, rng) -> np.ndarray:
    """Class `label`'s features: a Gaussian around its own axis (as a pretrained backbone gives
    a breed it never trained the head on a direction of its own)."""
    mean = np.zeros(DIM)
    mean[label] = 8.0
    return (mean + 0.5 * rng.standard_normal((n, DIM))).astype(np.float32)


def test_a_class_left_out_of_training_is_flagged():
    """Head on classes 0-2 (the default recipe), threshold by the shipping rule on a held-out
    fold of their training images; class 3, never trained on, is flagged, known ones kept."""
    rng = np.random.default_rng(0)
    x = np.concatenate([generated_features(c, 100, rng) for c in range(3)])
    y = np.repeat(np.arange(3), 100)
    kept, held = holdout_split(len(x), 0.1, seed=0)
    recipe = make_recipe(Settings().with_overrides({"local.learning_rate": 0.01}))

    def trained(rows):
        head = torch.nn.Linear(DIM, 3)
        with torch.no_grad():  # starts from rows that know the classes, as ImageNet rows do
            head.weight.copy_(torch.eye(3, DIM) / 4)
            head.bias.zero_()
        _, _, _, step = head_trainer(
            head, torch.from_numpy(x[rows]), torch.from_numpy(y[rows]), recipe, 0
        )
        for epoch in range(1, recipe.epochs + 1):
            step(epoch)
        return head.eval()

    def energy(head, features):
        with torch.no_grad():
            logits = head(torch.from_numpy(features)).numpy()
        return osr.logit_scores(logits)[osr.SHIPPED_SCORE]

    record = osr.threshold_record(energy(trained(kept), x[held]))
    assert record["chosen_on"] == "30 held-out training images of known breeds"
    head = trained(list(range(len(x))))
    known = energy(head, np.concatenate([generated_features(c, 50, rng) for c in range(3)]))
    unknown = energy(head, generated_features(3, 50, rng))
    assert (known >= record["threshold"]).mean() >= 0.9
    assert (unknown < record["threshold"]).mean() >= 0.9
    assert osr.auroc(known, unknown) > 0.97
    # the feature-space scores see it too
    bank = x
    known_x = np.concatenate([generated_features(c, 50, rng) for c in range(3)])
    unknown_x = generated_features(3, 50, rng)
    assert osr.auroc(osr.knn_score(bank, known_x), osr.knn_score(bank, unknown_x)) > 0.97
    fitted = osr.mahalanobis_fit(x, y)
    maha = osr.mahalanobis_score(fitted, known_x), osr.mahalanobis_score(fitted, unknown_x)
    assert osr.auroc(*maha) > 0.97


def test_auroc_and_the_flagged_share():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    known, unknown = rng.integers(0, 6, 80).astype(float), rng.integers(0, 4, 40).astype(float)
    labels = np.r_[np.ones(80), np.zeros(40)]
    assert osr.auroc(known, unknown) == pytest.approx(roc_auc_score(labels, np.r_[known, unknown]))
    threshold, flagged = osr.flagged_at_keep(np.arange(100.0), np.array([1.0, 4.0, 50.0]), 0.95)
    assert threshold == 5.0 and flagged == pytest.approx(2 / 3)


def with_open_set(artifact: Path, threshold: float) -> Path:
    """Store an open-set threshold in the artifact's metadata, as training does."""
    meta = json.loads((artifact / "metadata.json").read_text())
    meta["open_set"] = osr.threshold_record([threshold], keep=1.0)
    (artifact / "metadata.json").write_text(json.dumps(meta))
    return artifact


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("open-set")
    strict = with_open_set(make_dog_artifact(root / "strict"), 1e6)  # nothing is known
    lenient = with_open_set(make_dog_artifact(root / "lenient"), -1e6)  # everything is known
    return strict, lenient


def test_a_score_under_the_threshold_is_a_dog_whose_breed_is_not_recognised(artifacts):
    strict, lenient = artifacts
    out = load_runtime(strict, threads=1).classify_bytes(jpeg_bytes(0))
    assert out.known_threshold == 1e6 and out.known_score < 1e6
    body = json.loads(json.dumps(out.endpoint_body(as_object=True)))  # over the wire
    scores, fields = read_endpoint_body(body)
    ranked = sorted(
        ({"breed": f"b{i}", "probability": p} for i, p in enumerate(scores)),
        key=lambda r: -r["probability"],
    )
    answer = verdict(ranked, fields)
    assert answer["dog"] and not answer["breed_known"]
    assert answer["breed"] is None and answer["label"] == UNKNOWN_BREED
    assert answer["closest"] == ranked[0]["breed"] and not answer["uncertain"]
    out = load_runtime(lenient, threads=1).classify_bytes(jpeg_bytes(0))
    answer = verdict(ranked, read_endpoint_body(out.endpoint_body(as_object=True))[1])
    assert answer["breed_known"] and answer["breed"] == ranked[0]["breed"]


def test_predict_shows_the_breed_not_recognised(artifacts, tmp_path):
    image = tmp_path / "mystery.jpg"
    image.write_bytes(jpeg_bytes(1))
    result = CliRunner().invoke(cli, ["predict", str(image), "--artifact", str(artifacts[0])])
    assert result.exit_code == 0, result.output
    assert f"{UNKNOWN_BREED} (closest: " in result.output
    assert "known-breed score" in result.output


def test_endpoints_without_an_open_set_score_name_every_dog_s_breed():
    ranked = [{"breed": "a", "probability": 0.9}, {"breed": "b", "probability": 0.1}]
    answer = verdict(ranked, {"dog_score": 0.9, "dog_threshold": 0.5})
    assert answer["breed_known"] and answer["breed"] == "a" and "known_score" not in answer
    refused = verdict(
        ranked, {"dog_score": 0.1, "dog_threshold": 0.5, "known_score": 9.0, "known_threshold": 1.0}
    )
    assert not refused["dog"] and refused["label"] == "no dog recognised"
    assert "closest" not in refused


@pytest.mark.slow
@pytest.mark.parametrize("which", [0, 1], ids=["strict", "lenient"])
def test_the_evaluation_report_counts_the_breeds_not_recognised(
    which, artifacts, prepared_dir, tmp_path
):
    """Through the real stack (model server, gateway, Lambda handler): the report's open-set
    line counts the dogs answered "breed not recognised" (all 9 with the strict threshold), and
    its worst-classes gallery draws the activation map of each mistake."""
    artifact = artifacts[which]
    result = evaluate_through_the_stack(artifact, prepared_dir, tmp_path / "report", "open-set")
    answers = result.metrics["counts"]["answers"]
    expected = 9 if which == 0 else 0
    assert answers["open_set"] and answers["refused"] == 0
    assert answers["not_recognised"] == expected
    html = (tmp_path / "report" / "report.html").read_text()
    assert f'<strong id="not-recognised">{expected}</strong> of the 9 dogs' in html
    # the worst-classes gallery shows where the model looked for each mistake shown
    mistakes = html.count("sure</figcaption>")
    assert mistakes > 0 and html.count('class="thumb map"') == mistakes
