"""Photo policies (ops/model/photo_policy.py): views inside the photo, the merge rules, and the
setting switching `predict`/the runtime between them on a real tiny model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ops.endpoint.onnx_runtime import load_runtime
from ops.errors import DogbreedError
from ops.model import photo_policy as pp
from tests.dog_artifacts import make_dog_artifact


def test_views_cover_the_photo_and_stay_inside_it():
    for policy in pp.POLICIES:
        boxes = pp.view_boxes(640, 480, policy)
        assert boxes[0] == (0, 0, 640, 480)
        for left, top, right, bottom in boxes:
            assert 0 <= left < right <= 640 and 0 <= top < bottom <= 480
        assert len(boxes) == (6 if policy.startswith("crops") else 1)
    crops = pp.view_boxes(640, 480, "crops-max-dog")[1:]
    assert {(b[2] - b[0], b[3] - b[1]) for b in crops} == {(384, 288)}
    img = Image.new("RGB", (640, 480))
    assert pp.views(img, "squash", 64)[0].size == (64, 64)
    assert [v.size for v in pp.views(img, "crops-mean", 64)][1] == (384, 288)
    with pytest.raises(ValueError, match="unknown photo policy"):
        pp.view_boxes(10, 10, "zoom")


def test_combine_keeps_the_strongest_dog_or_averages():
    probs = np.array([[0.6, 0.4], [0.1, 0.9], [0.5, 0.5]], dtype=np.float32)
    dog = np.array([0.2, 0.9, 0.5], dtype=np.float32)
    merged, score, view = pp.combine(probs, dog, "crops-max-dog")
    assert (
        view == 1 and score == pytest.approx(0.9) and merged.tolist() == pytest.approx([0.1, 0.9])
    )
    merged, score, view = pp.combine(probs, dog, "crops-mean")
    assert (
        view == -1 and merged.tolist() == pytest.approx([0.4, 0.6]) and score == pytest.approx(0.9)
    )
    merged, _, _ = pp.combine(probs, dog, "crops-dog-mean")
    assert merged.tolist() == pytest.approx(
        [(0.12 + 0.09 + 0.25) / 1.6, (0.08 + 0.81 + 0.25) / 1.6]
    )
    merged, score, view = pp.combine(probs, None, "crops-max-dog")  # no dog signal: top prob
    assert view == 1 and score is None
    assert pp.combine(probs, dog, "resize")[2] == 0


def test_box_scores():
    assert pp.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert pp.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert pp.box_coverage((0, 0, 100, 100), (10, 10, 20, 20)) == 1.0
    assert pp.box_coverage((0, 0, 15, 100), (10, 10, 20, 20)) == 0.5


def test_runtime_runs_the_policy_it_is_given(tmp_path):
    artifact = make_dog_artifact(tmp_path / "dog")
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    plain = load_runtime(artifact, threads=1)
    crops = load_runtime(artifact, threads=1, photo_policy="crops-max-dog")
    assert plain.preprocess_views(data).shape == (1, 3, 64, 64)
    assert crops.preprocess_views(data).shape == (6, 3, 64, 64)
    rows = crops.predict_rows(crops.preprocess_views(data))
    out = crops.classify_bytes(data)
    best = int(np.argmax([d for _, d in rows]))
    assert out.view == best and out.dog_score == pytest.approx(rows[best][1], abs=1e-6)
    np.testing.assert_allclose(plain.classify_bytes(data).probabilities, rows[0][0], atol=1e-6)
    with pytest.raises(DogbreedError, match="serve.photo_policy"):
        load_runtime(artifact, threads=1, photo_policy="zoom")
