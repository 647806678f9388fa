"""A tiny real artifact WITH the dog signal: a random-init timm model, a random 1000-way
"ImageNet" classifier as its dog head (ops/model/dogness.py), exported by export_artifact."""

from __future__ import annotations

import json
from pathlib import Path

from ops.model.dogness import attach_dog_head, dog_rows, thresholds_record
from ops.model.preprocess import Preprocessing
from tests.factories import BREEDS
from tests.local_artifacts import TINY_INPUT, tiny_model


def make_dog_artifact(
    out_dir: Path, num_classes: int = 3, threshold: float = 0.0, top_threshold: float = 0.0
) -> Path:
    """An artifact folder whose ONNX graph answers probabilities + dog_score; metadata.json's
    "dog" thresholds are the given ones (0 accepts everything, > 1 refuses everything)."""
    import torch

    model = tiny_model(num_classes, seed=1)
    torch.manual_seed(2)
    imagenet = torch.nn.Linear(model.num_features, 1000)
    attach_dog_head(model, imagenet.weight, imagenet.bias, dog_rows([151, 273]))
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:num_classes])]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes_json = out_dir.parent / f"{out_dir.name}-classes.json"
    classes_json.write_text(json.dumps(classes))
    dog = thresholds_record("imagenet", [threshold], [top_threshold], keep=1.0)
    from ops.artifact.export import export_artifact

    export_artifact(
        model,
        classes_json,
        Preprocessing(input_size=TINY_INPUT),
        out_dir,
        {"backbone": "test_efficientnet", "dog": dog},
        {"validation_top1": None},
    )
    return out_dir
