"""The model artifact contract: ONNX with softmax inside, checked against PyTorch, deterministic tar."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch

from ops.artifact.export import ARTIFACT_FILES, export_artifact, write_tar
from ops.errors import DogbreedError
from ops.model.preprocess import Preprocessing

SIZE = 64


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=3).eval()


def test_artifact_contract(tiny_model, prepared_dir, tmp_path):
    prep = Preprocessing(input_size=SIZE)
    out = tmp_path / "art"
    tar = export_artifact(
        tiny_model,
        prepared_dir / "classes.json",
        prep,
        out,
        {"backbone": "tf_efficientnet_lite0", "mode": "head"},
        {"validation_top1": 0.5, "history": []},
    )
    assert tar == out / "model.tar.gz"
    for name in ARTIFACT_FILES:
        assert (out / name).is_file(), name
    with tarfile.open(tar) as t:
        assert sorted(t.getnames()) == sorted(ARTIFACT_FILES)
        assert all(m.mtime == 0 for m in t.getmembers())
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["num_classes"] == 3 and meta["backbone"] == "tf_efficientnet_lite0"
    assert meta["onnx_max_abs_diff"] <= 1e-4
    assert Preprocessing.load(out / "preprocessing.json") == prep
    assert (out / "classes.json").read_bytes() == (prepared_dir / "classes.json").read_bytes()

    # ONNX Runtime answers probabilities equal to PyTorch's softmax, any batch size
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["probabilities", "known_score", "cam"]
    for n in (1, 5):
        x = np.random.default_rng(n).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)
        got = session.run(["probabilities"], {"input": x})[0]
        with torch.no_grad():
            want = torch.softmax(tiny_model(torch.from_numpy(x)), 1).numpy()
        assert got.shape == (n, 3)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(got, want, atol=1e-4)

    # the state dict reloads into the same architecture
    fresh = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=3)
    fresh.load_state_dict(torch.load(out / "model.pt", weights_only=True))


def test_tarball_is_deterministic(tmp_path):
    for name in ARTIFACT_FILES:
        (tmp_path / name).write_text(name)
    first = write_tar(tmp_path).read_bytes()
    (tmp_path / "model.onnx").touch()  # new mtime, same content
    assert write_tar(tmp_path).read_bytes() == first


def test_class_count_mismatch_is_a_user_error(tiny_model, tmp_path):
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps([{"index": i, "wnid": "n0", "name": "x"} for i in range(5)]))
    with pytest.raises(DogbreedError, match="5 classes"):
        export_artifact(tiny_model, classes, Preprocessing(SIZE), tmp_path / "o", {}, {})
