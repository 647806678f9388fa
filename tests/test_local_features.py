"""The frozen-feature cache: computed once, keyed by content, same numbers from both engines."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import timm
import torch

from ops.model import features as F
from ops.model.network import feature_extractor
from ops.model.preprocess import Preprocessing

PREP = Preprocessing(input_size=64)


class Counting(torch.nn.Module):
    """Wraps an extractor and counts the images it was asked for."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, 0

    def forward(self, x):
        self.seen += x.shape[0]
        return self.inner(x)


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return feature_extractor(timm.create_model("tf_efficientnet_lite0", pretrained=False))


def _paths(prepared_dir):
    return sorted((prepared_dir / "train").rglob("*.jpg"))[:10]


def test_computed_once_then_read_from_disk(extractor, prepared_dir, tmp_path):
    paths = _paths(prepared_dir)
    counting = Counting(extractor)
    cache = tmp_path / "cache" / F.cache_key("lite0", "none", PREP)
    first = F.extract_features(paths, counting, PREP, cache, engine="torch", batch_size=4)
    assert first.shape == (10, 1280) and counting.seen == 10
    again = F.extract_features(paths, counting, PREP, cache, engine="torch")
    assert counting.seen == 10  # nothing recomputed, even in a new store
    np.testing.assert_array_equal(first, again)
    # the key is the content: a renamed copy hits the cache
    copy = tmp_path / "renamed.jpg"
    shutil.copyfile(paths[0], copy)
    np.testing.assert_array_equal(
        F.extract_features([copy], counting, PREP, cache, engine="torch")[0], first[0]
    )
    assert counting.seen == 10
    # a torn shard from an interrupted run is dropped, not fatal
    (cache / "shard-00099.npz").write_bytes(b"torn")
    assert len(F.FeatureStore(cache).table) == 10


def test_flipped_view_differs_and_keys_differ(extractor, prepared_dir, tmp_path):
    paths = _paths(prepared_dir)[:3]
    plain = F.extract_features(paths, extractor, PREP, tmp_path / "p", engine="torch")
    flip = F.extract_features(paths, extractor, PREP, tmp_path / "f", engine="torch", flip=True)
    assert not np.allclose(plain, flip)
    keys = {
        F.cache_key("lite0", "none", PREP),
        F.cache_key("lite0", "none", PREP, "flip"),
        F.cache_key("lite0", "pypi:x", PREP),
        F.cache_key("lite0", "none", Preprocessing(input_size=96)),
        F.cache_key("lite1", "none", PREP),
    }
    assert len(keys) == 5


@pytest.mark.slow
def test_onnxruntime_engine_matches_torch(extractor, prepared_dir, tmp_path):
    paths = _paths(prepared_dir)[:6]
    ref = F.extract_features(paths, extractor, PREP, tmp_path / "t", engine="torch")
    got = F.extract_features(paths, extractor, PREP, tmp_path / "o", engine="onnxruntime")
    assert (tmp_path / "o" / "backbone.onnx").is_file()
    np.testing.assert_allclose(got, ref, atol=1e-4)
