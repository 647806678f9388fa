"""The local backend's model: a timm backbone, pretrained weights, and a breed head.

`local.backbone` is a timm name; when it is a ResNet, `hyperparameters.num_layers` picks the depth
(resnet18/34/50/101/152, as the SageMaker algorithm does). Every Stanford Dogs class is an
ImageNet-1k class with the same WordNet id, so with an ImageNet head the new N-way head starts from
the matching rows of the ImageNet classifier: accurate before any training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops.errors import DogbreedError
from ops.model.dogness import attach_dog_head, dog_rows
from ops.model.preprocess import Preprocessing
from ops.model.weights import LITE_MEAN_STD, LITE_PACKAGES, WeightsInfo, load_pretrained

RESNET_DEPTHS = (18, 34, 50, 101, 152)


@dataclass
class BuiltModel:
    model: object  # torch.nn.Module, logits [N, C]
    backbone: str
    weights: WeightsInfo
    preprocessing: Preprocessing
    head_init: str  # "imagenet-rows" or "random"
    matched_classes: int  # classes whose head rows came from ImageNet
    members: list | None = None  # ensembles: (backbone, weights key, feature extractor) each


def backbone_name(backbone: str, num_layers: int) -> str:
    """The timm name: for the resnet family, num_layers picks the depth."""
    if re.fullmatch(r"resnet\d*", backbone):
        if num_layers not in RESNET_DEPTHS:
            raise DogbreedError(
                f"hyperparameters.num_layers={num_layers} is not a ResNet depth "
                f"({', '.join(map(str, RESNET_DEPTHS))})",
                exit_code=2,
            )
        return f"resnet{num_layers}"
    return backbone


def select_device(setting: str = "auto"):
    """ "auto" = CUDA when present, else CPU."""
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise DogbreedError("local.device is 'cuda' but no CUDA GPU is available", exit_code=2)
    if setting in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def preprocessing_for(backbone: str, pretrained: bool, image_size: int, input_size: int = 0):
    """The preprocessing the weights expect: native size/mean/std of pretrained weights.

    input_size > 0 overrides; without pretrained weights hyperparameters.image_shape decides.
    Stanford Dogs images are box crops already, so crop_pct is 1.0 (resize, no extra crop).
    """
    import timm

    if backbone in LITE_PACKAGES:
        native, mean, std = LITE_PACKAGES[backbone][1], LITE_MEAN_STD, LITE_MEAN_STD
    else:
        cfg = timm.create_model(backbone, pretrained=False).pretrained_cfg
        native, mean, std = cfg["input_size"][-1], tuple(cfg["mean"]), tuple(cfg["std"])
    size = input_size or (native if pretrained else image_size)
    return Preprocessing(input_size=int(size), crop_pct=1.0, mean=mean, std=std)


def imagenet_rows(classes: list) -> list[int | None]:
    """For each class (with .wnid), its ImageNet-1k row index, or None."""
    from timm.data import ImageNetInfo

    index = {wnid: i for i, wnid in enumerate(ImageNetInfo().label_names())}
    return [index.get(c.wnid) for c in classes]


def init_head_from_imagenet(model, rows: list[int | None]) -> int:
    """Replace the 1000-way classifier by len(rows) outputs, copying the matching rows."""
    import torch

    old = model.get_classifier()
    weight, bias = old.weight.detach().clone(), old.bias.detach().clone()
    model.reset_classifier(len(rows))
    new = model.get_classifier()
    matched = 0
    with torch.no_grad():
        for i, row in enumerate(rows):
            if row is not None:
                new.weight[i].copy_(weight[row])
                new.bias[i].copy_(bias[row])
                matched += 1
    return matched


def build_model(
    backbone: str,
    classes: list,
    weights: str = "auto",
    pretrained: bool = True,
    image_size: int = 224,
    num_layers: int = 50,
    input_size: int = 0,
) -> BuiltModel:
    """A timm model with len(classes) outputs, pretrained when asked, head from ImageNet rows.

    "a+b" builds an ensemble: each backbone's pooled features, concatenated, into one linear head.
    """
    import timm

    if "+" in backbone:
        return build_ensemble(
            backbone.split("+"), classes, weights, pretrained, image_size, num_layers, input_size
        )
    name = backbone_name(backbone, num_layers)
    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as exc:
        raise DogbreedError(f"unknown timm backbone {name!r}: {exc}", exit_code=2) from exc
    info = load_pretrained(model, name, weights if pretrained else "none")
    head_init, matched = "random", 0
    rows = imagenet_rows(classes) if info.imagenet_head else []
    imagenet = model.get_classifier() if info.imagenet_head else None
    if imagenet is not None and getattr(imagenet, "out_features", 0) == 1000:
        # the "is it a dog?" signal (ops/model/dogness.py), kept before the head is replaced
        attach_dog_head(model, imagenet.weight, imagenet.bias, dog_rows(imagenet_rows(classes)))
    if rows and any(r is not None for r in rows):
        matched = init_head_from_imagenet(model, rows)
        head_init = "imagenet-rows" if matched == len(rows) else "imagenet-rows+random"
    else:
        model.reset_classifier(len(classes))
    prep = preprocessing_for(name, info.source != "none", image_size, input_size)
    return BuiltModel(model.eval(), name, info, prep, head_init, matched)


def build_ensemble(names, classes, weights, pretrained, image_size, num_layers, input_size):
    """Several backbones on one input size; the head starts as the mean of their ImageNet heads."""
    import torch

    if weights not in ("auto", "none"):
        raise DogbreedError(
            "an ensemble backbone needs local.weights 'auto' or 'none'", exit_code=2
        )
    parts = [
        build_model(n.strip(), classes, weights, pretrained, image_size, num_layers, input_size)
        for n in names
    ]
    preps = {(p.preprocessing.mean, p.preprocessing.std) for p in parts}
    if len(preps) != 1:
        raise DogbreedError(
            "ensemble backbones must share mean/std preprocessing: " + ", ".join(names),
            exit_code=2,
        )
    size = input_size or max(p.preprocessing.input_size for p in parts)
    prep = Preprocessing(
        input_size=size,
        crop_pct=1.0,
        mean=parts[0].preprocessing.mean,
        std=parts[0].preprocessing.std,
    )
    heads = [p.model.get_classifier() for p in parts]
    head = torch.nn.Linear(sum(h.in_features for h in heads), len(classes))
    with torch.no_grad():
        head.weight.copy_(torch.cat([h.weight for h in heads], 1) / len(heads))
        head.bias.copy_(torch.stack([h.bias for h in heads]).mean(0))
    model = Ensemble([feature_extractor(p.model) for p in parts], head).eval()
    info = WeightsInfo(
        "+".join(p.weights.source for p in parts),
        "+".join(p.weights.key for p in parts),
        all(p.weights.imagenet_head for p in parts),
    )
    head_init = "+".join(sorted({p.head_init for p in parts}))
    built = BuiltModel(
        model,
        "+".join(p.backbone for p in parts),
        info,
        prep,
        head_init,
        min(p.matched_classes for p in parts),
    )
    built.members = [(p.backbone, p.weights.key, feature_extractor(p.model)) for p in parts]
    return built


def _ensemble_class():
    import torch

    class _Ensemble(torch.nn.Module):
        """Concatenated pooled features of several backbones -> one linear head."""

        def __init__(self, extractors, head):
            super().__init__()
            self.extractors = torch.nn.ModuleList(extractors)
            self.head = head

        def get_classifier(self):
            return self.head

        def forward(self, x):
            return self.head(torch.cat([e(x) for e in self.extractors], 1))

    return _Ensemble


def Ensemble(extractors, head):  # noqa: N802 - a class factory keeping torch out of import time
    return _ensemble_class()(extractors, head)


def members(built: BuiltModel) -> list[tuple[str, str, object]]:
    """(backbone, weights key, feature extractor) of each backbone of the model."""
    found = getattr(built, "members", None)
    if found:
        return found
    return [(built.backbone, built.weights.key, feature_extractor(built.model))]


def feature_extractor(model):
    """The backbone up to the pooled pre-logits vector (what the head sees)."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner.forward_head(self.inner.forward_features(x), pre_logits=True)

    return Features(model).eval()


def trainable_tail(model, blocks: int) -> list:
    """The modules `partial` mode unfreezes: the last `blocks` stages plus the head layers."""
    if hasattr(model, "blocks"):  # EfficientNet / MobileNet family
        tail = list(model.blocks)[-blocks:] if blocks > 0 else []
        extra = [getattr(model, n) for n in ("conv_head", "bn2") if hasattr(model, n)]
    elif hasattr(model, "layer4"):  # ResNet family
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        tail, extra = (layers[-blocks:] if blocks > 0 else []), []
    else:
        raise DogbreedError(
            f"partial mode does not know the blocks of {type(model).__name__}; use head or full",
            exit_code=2,
        )
    return [*tail, *extra, model.get_classifier()]
