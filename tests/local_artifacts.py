"""Tiny real model artifacts for serving tests: a random-init timm model exported to ONNX.

Built with ops.artifact.export.export_artifact, the same code `dogbreed train` uses, so the serving
tests read exactly the artifact contract that training writes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from ops.model.preprocess import Preprocessing
from tests.factories import BREEDS, class_image

TINY_BACKBONE = "test_efficientnet"  # ~100k parameters: exports and runs in well under a second
TINY_INPUT = 64


def local_train_overrides(prepared_dir: Path, tmp_path: Path, **extra) -> dict:
    """Settings for a small, deterministic local training: no downloads, no worker processes,
    a few epochs on tiny images; `extra` overrides any of them (dotted keys)."""
    base = {
        "data.prepared_dir": str(prepared_dir),
        "local.backbone": "tf_efficientnet_lite0",
        "local.weights": "none",
        "local.artifacts_dir": str(tmp_path / "artifacts"),
        "local.cache_dir": str(tmp_path / "cache"),
        "local.engine": "torch",
        "local.num_workers": 0,
        "local.learning_rate": 0.01,
        "hyperparameters.image_shape": "3,64,64",
        "hyperparameters.epochs": 2,
        "hyperparameters.mini_batch_size": 8,
    }
    return {**base, **extra}


def tiny_model(num_classes: int, seed: int = 0):
    import timm
    import torch

    torch.manual_seed(seed)
    return timm.create_model(TINY_BACKBONE, pretrained=False, num_classes=num_classes).eval()


def make_tiny_artifact(out_dir: Path, num_classes: int = 3, input_size: int = TINY_INPUT) -> Path:
    """An artifact folder (model.onnx, ..., model.tar.gz) for a tiny model; returns the folder."""
    model = tiny_model(num_classes)
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:num_classes])]
    pre = Preprocessing(input_size=input_size, crop_pct=1.0)
    metadata = {"backbone": TINY_BACKBONE, "num_classes": num_classes, "test": True}
    metrics = {"validation_accuracy": None}
    from ops.artifact.export import export_artifact

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes_json = out_dir.parent / f"{out_dir.name}-classes.json"
    classes_json.write_text(json.dumps(classes, indent=2))
    tarball = export_artifact(model, classes_json, pre, out_dir, metadata, metrics)
    assert Path(tarball).parent == out_dir
    return out_dir


_SHARED: dict[str, Path] = {}


def shared_tiny_artifact(tmp_path_factory) -> Path:
    """One tiny artifact per test session (export costs seconds on a busy machine); read-only."""
    key = str(tmp_path_factory.getbasetemp())
    if key not in _SHARED:
        _SHARED[key] = make_tiny_artifact(tmp_path_factory.mktemp("tiny-artifact") / "model")
    return _SHARED[key]


def jpeg_bytes(class_index: int = 0, seed: int = 0, size: int = 80) -> bytes:
    """A generated JPEG (the factories' class images), encoded in memory."""
    buf = io.BytesIO()
    class_image(class_index, seed, size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_bytes(class_index: int = 1, seed: int = 3, size: int = 50) -> bytes:
    buf = io.BytesIO()
    class_image(class_index, seed, size).save(buf, format="PNG")
    return buf.getvalue()


def tiny_jpeg(color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (30, 20), color).save(buf, format="JPEG")
    return buf.getvalue()
