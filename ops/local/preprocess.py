"""Image preprocessing shared by training, export, the model server and `predict`.

One function turns image bytes into the model's input so that what was measured in training is
exactly what the server computes. The settings travel with the artifact as preprocessing.json.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ops.errors import DogbreedError

_RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


@dataclass(frozen=True)
class Preprocessing:
    input_size: int = 224
    crop_pct: float = 1.0  # resize the shorter side to input_size / crop_pct, then centre-crop
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    extra: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Preprocessing:
        data = json.loads(Path(path).read_text())
        data["mean"] = tuple(data["mean"])
        data["std"] = tuple(data["std"])
        return cls(**data)

    def key(self) -> str:
        """A stable string identifying this preprocessing (part of feature-cache keys)."""
        return json.dumps(asdict(self), sort_keys=True)


class BadImageError(DogbreedError):
    """The bytes are not an image Pillow can decode (answered as a 4xx by servers)."""


def decode_image(data: bytes) -> Image.Image:
    """Bytes -> RGB PIL image with EXIF orientation applied; BadImageError if undecodable."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(f"not a decodable image: {exc}", exit_code=2) from exc
    img = ImageOps.exif_transpose(img)
    return img.convert("RGB")


def resize_and_crop(img: Image.Image, cfg: Preprocessing) -> Image.Image:
    """Shorter side to input_size / crop_pct, then the centre input_size x input_size square."""
    size = cfg.input_size
    scale_to = int(round(size / cfg.crop_pct))
    w, h = img.size
    if (w, h) != (size, size):
        if w <= h:
            nw, nh = scale_to, max(scale_to, int(round(h * scale_to / w)))
        else:
            nw, nh = max(scale_to, int(round(w * scale_to / h))), scale_to
        img = img.resize((nw, nh), _RESAMPLE[cfg.interpolation])
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return img


def to_array(img: Image.Image, cfg: Preprocessing) -> np.ndarray:
    """PIL RGB image of input_size -> float32 CHW array, normalised."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(cfg.mean, dtype=np.float32)) / np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def preprocess_image(img: Image.Image, cfg: Preprocessing) -> np.ndarray:
    return to_array(resize_and_crop(img.convert("RGB"), cfg), cfg)


def preprocess_bytes(data: bytes, cfg: Preprocessing) -> np.ndarray:
    """Image bytes -> the model's float32 CHW input."""
    return preprocess_image(decode_image(data), cfg)
