"""The cached backbone.onnx is checked on every read: truncated, changed or unrecorded, it is rebuilt
with a warning and ONNX Runtime still runs the features (no silent fall back to PyTorch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch

from ops.model import features as F
from ops.model.backbone_onnx import ONNX_NAME, RECORD_NAME
from ops.model.network import feature_extractor
from tests.local_artifacts import TINY_BACKBONE, TINY_INPUT
from tests.test_local_features import Counting


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return Counting(feature_extractor(timm.create_model(TINY_BACKBONE, pretrained=False)))


BATCH = np.random.default_rng(0).standard_normal((3, 3, TINY_INPUT, TINY_INPUT)).astype(np.float32)


def runs_in_onnxruntime(extractor, work_dir) -> np.ndarray:
    """Features of BATCH through make_runner, asserting PyTorch did not compute them."""
    run = F.make_runner(extractor, TINY_INPUT, "onnxruntime", work_dir, threads=1)
    extractor.seen = 0
    out = run(BATCH)
    assert extractor.seen == 0, "fell back to PyTorch"
    return out


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def drop_record(path):
    path.with_name(RECORD_NAME).unlink()


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (truncate, "truncated or changed"),
        (flip_a_byte, "sha256 does not match"),
        (drop_record, "no checksum record"),
    ],
)
def test_a_damaged_cached_backbone_is_rebuilt_with_a_warning(extractor, tmp_path, damage, why):
    first = runs_in_onnxruntime(extractor, tmp_path)
    onnx = tmp_path / ONNX_NAME
    record = json.loads((tmp_path / RECORD_NAME).read_text())
    assert record["bytes"] == onnx.stat().st_size
    damage(onnx)
    with pytest.warns(UserWarning, match=f"cached {onnx} is damaged .*{why}.*: rebuilding it"):
        again = runs_in_onnxruntime(extractor, tmp_path)
    np.testing.assert_allclose(again, first, atol=1e-5)
    assert json.loads((tmp_path / RECORD_NAME).read_text())["bytes"] == onnx.stat().st_size


def test_a_good_cached_backbone_is_used_as_it_is(extractor, tmp_path, recwarn):
    runs_in_onnxruntime(extractor, tmp_path)
    stamp = (tmp_path / ONNX_NAME).stat().st_mtime_ns
    runs_in_onnxruntime(extractor, tmp_path)
    assert (tmp_path / ONNX_NAME).stat().st_mtime_ns == stamp
    assert not [w for w in recwarn if "damaged" in str(w.message)]
