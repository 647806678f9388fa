"""Where the model looked: the graph's activation map (ops/model/graph.py), the overlay PNGs of
`predict --explain` (ops/endpoint/explain.py) and the answer's checked map (lambda_src/answer.py).
Tiny real models; the localisation test trains a head on generated images of a coloured disc."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageDraw

from lambda_src.answer import activation_map
from ops.cli import cli
from ops.endpoint.explain import overlay, peak
from ops.endpoint.onnx_runtime import load_runtime
from tests.factories import BREEDS, PALETTE, make_prepared
from tests.local_artifacts import jpeg_bytes, local_train_overrides, png_bytes, shared_tiny_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return shared_tiny_artifact(tmp_path_factory)


def test_the_map_is_the_top_breeds_weights_over_the_last_feature_map(artifact):
    """Its mean plus the top breed's bias is the top breed's logit, which the other outputs give
    too: known_score (logsumexp of the logits) plus the log of the top probability."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    probs, known, cam = session.run(["probabilities", "known_score", "cam"], {"input": x})
    bias = torch.load(artifact / "model.pt", weights_only=True)["classifier.bias"].numpy()
    top = probs.argmax(1)
    assert cam.shape == (3, 2, 2)  # 64 px through a stride-32 backbone
    top_logit = known + np.log(probs.max(1))
    np.testing.assert_allclose(cam.mean((1, 2)) + bias[top], top_logit, atol=1e-4)


def test_predict_explain_writes_an_overlay_png_per_image(artifact, tmp_path, monkeypatch):
    images = [tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "sub" / "a.jpg"]
    images[2].parent.mkdir()
    images[0].write_bytes(jpeg_bytes(0, seed=5, size=120))
    images[1].write_bytes(png_bytes(2, seed=6, size=90))
    images[2].write_bytes(jpeg_bytes(1, seed=7, size=70))
    out = tmp_path / "explained"
    args = ["predict", *map(str, images), "--artifact", str(artifact), "--explain"]
    result = CliRunner().invoke(cli, [*args, "--explain-dir", str(out), "--json"])
    assert result.exit_code == 0, result.output
    written = [Path(r["explain"]) for r in json.loads(result.stdout)]
    assert [p.name for p in written] == ["a.explain.png", "b.explain.png", "a-2.explain.png"]
    for path in written:
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size == (64, 64)  # the square the model saw
    monkeypatch.chdir(tmp_path)  # the default --explain-dir is ./explain
    table = CliRunner().invoke(cli, [*args[:3], "--artifact", str(artifact), "--explain"])
    assert table.exit_code == 0 and "where it looked: explain/a.explain.png" in table.output
    assert (tmp_path / "explain" / "a.explain.png").is_file()


def test_the_overlay_is_hottest_where_the_map_peaks():
    photo = Image.new("RGB", (100, 80), (128, 128, 128))
    cam = np.array([[0.0, 0.0], [0.0, 4.0]])
    from ops.model.preprocess import Preprocessing

    drawn = np.asarray(overlay(photo, cam, Preprocessing(input_size=64)), dtype=float)
    assert drawn.shape == (64, 64, 3)
    red, green, blue = drawn[60, 60]
    assert red > 170 and blue < 80 and green < 80  # red over the peak
    assert np.allclose(drawn[2, 2], 128, atol=2)  # the photo untouched where the map is 0


def test_the_answer_keeps_only_a_well_formed_map():
    assert activation_map([[0, 0.5], [1.5, -1]]) == [[0.0, 0.5], [1.0, 0.0]]
    for bad in (None, [], [[]], [[0.1], [0.1, 0.2]], [[float("nan")]], [["a"]], [[True]], "x"):
        assert activation_map(bad) is None, bad
    assert activation_map([[0.0] * 33]) is None  # larger than any last feature map


def disc_image(class_index: int, seed: int, size: int) -> tuple[Image.Image, tuple[int, int]]:
    """Grey noise with one disc of the class's colour at a seeded place; (image, disc centre)."""
    rng = random.Random(seed * 31 + class_index)
    noise = np.random.default_rng(seed).integers(90, 140, (size, size, 3)).astype(np.uint8)
    img, r = Image.fromarray(noise), size // 6
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=PALETTE[class_index])
    return img, (cx, cy)


@pytest.mark.slow
def test_the_activation_map_peaks_where_the_object_is(tmp_path):
    """A head trained (`train`, head mode, tiny random-init backbone) on discs placed anywhere:
    for new images, the map's peak falls on the disc, within 1.5 feature-map cells of its
    centre."""
    from ops.settings import Settings
    from ops.train.local.run import train_local

    size = 192
    root = make_prepared(tmp_path / "prepared", n_classes=3, train_per_class=34, val_per_class=4)
    for path in sorted(root.rglob("*.jpg")):
        index = next(
            i for i, (wnid, _) in enumerate(BREEDS[:3]) if path.parent.name.startswith(wnid)
        )
        disc_image(index, int(path.stem.rsplit("_", 1)[1]), size)[0].save(path, quality=90)
    settings = Settings().with_overrides(
        local_train_overrides(
            root,
            tmp_path,
            **{
                "local.backbone": "test_efficientnet",
                "hyperparameters.image_shape": f"3,{size},{size}",
                "hyperparameters.epochs": 15,
                "local.max_epochs": 15,
                "hyperparameters.mini_batch_size": 16,
                "hyperparameters.early_stopping": False,
            },
        )
    )
    artifact = Path(train_local(settings, resume=False)["artifact_dir"])
    runtime = load_runtime(artifact, threads=1)
    # training also chose the open-set threshold, on the calibration's held-out fold
    record = json.loads((artifact / "metadata.json").read_text())["open_set"]
    assert record["chosen_on"] == "10 held-out training images of known breeds"
    assert runtime.known == {"output": "known_score", "threshold": record["threshold"]}
    distances, cell = [], 0.0
    for index in range(3):
        for seed in range(700, 705):
            img, (cx, cy) = disc_image(index, seed, size)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            out = runtime.classify_bytes(buf.getvalue())
            px, py = peak(out.cam, size)
            cell = size / out.cam.shape[0]
            distances.append(float(np.hypot(px - cx, py - cy)))
    assert cell == 32.0  # 192 px through a stride-32 backbone: a 6 x 6 map
    assert max(distances) <= 1.5 * cell, distances
    # a peak placed at random would be ~2.5 cells away on average
    assert np.mean(distances) <= 1.0 * cell, distances
