"""`dogbreed predict` and the serving runtime, on a tiny real exported model and generated images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.endpoint.onnx_runtime import load_runtime
from ops.errors import DogbreedError
from ops.model.preprocess import BadImageError
from ops.state import update_state
from tests.local_artifacts import jpeg_bytes, png_bytes, shared_tiny_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return shared_tiny_artifact(tmp_path_factory)


@pytest.fixture(scope="module")
def runtime(artifact):
    return load_runtime(artifact, threads=1)


@pytest.fixture
def images(tmp_path) -> list[Path]:
    paths = [tmp_path / "a.jpg", tmp_path / "b.png"]
    paths[0].write_bytes(jpeg_bytes(0, seed=5))
    paths[1].write_bytes(png_bytes(2, seed=6))
    return paths


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_runtime_probabilities_are_a_distribution_over_the_classes(runtime):
    probs = runtime.predict_images([jpeg_bytes(i, seed=i) for i in range(3)])
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    top = runtime.top_k(probs[0], k=5)
    assert len(top) == 3  # k is capped at the number of classes
    assert [p.probability for p in top] == sorted(probs[0].tolist(), reverse=True)
    assert top[0].name == runtime.classes[top[0].index]["name"]


def test_runtime_loads_the_tarball_the_same_as_the_folder(artifact, runtime):
    from_tar = load_runtime(artifact / "model.tar.gz", threads=1)
    image = jpeg_bytes(1, seed=7)
    np.testing.assert_allclose(
        from_tar.predict_images([image]), runtime.predict_images([image]), atol=1e-6
    )
    assert from_tar.classes == runtime.classes


def test_runtime_rejects_undecodable_bytes(runtime):
    with pytest.raises(BadImageError):
        runtime.predict_images([b"not an image"])


def test_not_an_artifact_is_a_user_error(tmp_path):
    with pytest.raises(DogbreedError, match="no model.onnx"):
        load_runtime(tmp_path)
    with pytest.raises(DogbreedError, match="not found"):
        load_runtime(tmp_path / "missing")


def test_predict_json_gives_top_k_per_image(artifact, runtime, images):
    result = run(
        "predict", *map(str, images), "--artifact", str(artifact), "--json", "--top-k", "2"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [r["image"] for r in out] == [str(p) for p in images]
    expected = runtime.predict_images([p.read_bytes() for p in images])
    for row, probs in zip(out, expected, strict=True):
        assert len(row["predictions"]) == 2
        best = row["predictions"][0]
        assert best["index"] == int(np.argmax(probs))
        assert best["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
        assert best["breed"] == runtime.classes[best["index"]]["name"]


def test_predict_table_uses_the_recorded_artifact(artifact, images):
    update_state("training", {"backend": "local", "artifact_dir": str(artifact)})
    result = run("predict", str(images[0]))
    assert result.exit_code == 0, result.output
    assert "breed" in result.output and "probability" in result.output
    assert any(name in result.output for name in ("Chihuahua", "Japanese_spaniel", "Maltese_dog"))


def test_unreadable_images_are_reported_each_and_exit_1(artifact, images, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    missing = tmp_path / "missing.jpg"
    result = run("predict", str(bad), str(images[0]), str(missing), "--artifact", str(artifact))
    assert result.exit_code == 1
    assert "bad.jpg: not a decodable image" in result.output
    assert "missing.jpg: cannot read" in result.output
    assert "2 of 3 images could not be classified" in result.output
    assert (
        "Chihuahua" in result.output
        or "Maltese_dog" in result.output
        or "Japanese" in result.output
    )
    assert "Traceback" not in result.output


def test_predict_without_any_artifact_says_how_to_get_one(images):
    result = run("predict", str(images[0]))
    assert result.exit_code == 1
    assert "no local model artifact recorded" in result.output
    assert "dogbreed train" in result.output
