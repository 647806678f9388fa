"""Image preprocessing shared by training, export, the model server and `predict`.

One function turns image bytes into the model's input so that what was measured in training is
exactly what the server computes. The settings travel with the artifact as preprocessing.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

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


class ImageTooLargeError(BadImageError):
    """The image's declared size is over the pixel budget or the aspect-ratio limit (a 4xx)."""


# Limits checked on the header, before any pixel is decoded (README "Limits").
MAX_IMAGE_PIXELS = 25_000_000  # 25 Mpx: a 24 Mpx camera photo passes; 12500x12500 does not
MAX_ASPECT_RATIO = 10.0  # the longer side over the shorter: 20000x1 would resize to 1 Gpx
DRAFT_ABOVE_PIXELS = 4_000_000  # JPEGs above this decode at a DCT-reduced scale (Image.draft)
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
# Our budget is far below Pillow's bomb threshold, so its warning only repeats our refusal.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def check_image_size(width: int, height: int) -> None:
    """ImageTooLargeError when width x height is over the pixel budget or the aspect limit."""
    if width <= 0 or height <= 0:
        raise BadImageError(f"image declares an empty size {width}x{height}", exit_code=2)
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(
            f"image of {width}x{height} px ({width * height / 1e6:.1f} Mpx) is over the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:g} Mpx",
            exit_code=2,
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageTooLargeError(
            f"image of {width}x{height} px has an aspect ratio over the limit of "
            f"{MAX_ASPECT_RATIO:g}:1",
            exit_code=2,
        )


class _PixelBudget:
    """Caps the pixels being decoded at once in this process: N threads decoding big PNGs would
    otherwise hold N x 3 bytes/pixel (a 25 Mpx PNG is 75 MB). Callers over the budget wait."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(max(0, pixels), self.limit)
        with self._cond:
            self._cond.wait_for(lambda: self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()


DECODE_BUDGET = _PixelBudget(MAX_IMAGE_PIXELS)  # ~100 MB (Pillow keeps RGB as 4 bytes/pixel)


def image_error_message(exc: Exception) -> str:
    """A BadImageError as users should read it (without Pillow's in-memory file repr)."""
    return re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc))


def _bad_image(exc: Exception) -> BadImageError:
    return BadImageError(f"not a decodable image: {exc}", exit_code=2)


def open_image(data: bytes, min_side: int | None = None) -> Image.Image:
    """Bytes -> a checked, not yet decoded image; BadImageError if refused or undecodable.

    The header is checked against the pixel budget and the aspect limit; PNGs are verified
    (chunk CRCs, the end of the stream); a JPEG over DRAFT_ABOVE_PIXELS is set to decode at the
    smallest DCT scale that keeps its shorter side >= `min_side` (when given): `.size` then
    tells the pixels its decoding will cost.
    """
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        check_image_size(*img.size)
        if img.format == "PNG":
            img.verify()  # verify() leaves the image unusable: open it again
            img = Image.open(io.BytesIO(data), formats=("PNG",))
        elif img.format == "JPEG" and min_side and img.width * img.height > DRAFT_ABOVE_PIXELS:
            img.draft("RGB", (min_side, min_side))
        return img
    except BadImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - hostile bytes make Pillow raise anything
        raise _bad_image(exc) from exc


def load_image(img: Image.Image) -> Image.Image:
    """An opened image -> decoded RGB with EXIF orientation applied, copying no more than needed."""
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return img if img.mode == "RGB" else img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - truncated data, broken EXIF, ...
        raise _bad_image(exc) from exc


def decode_image(data: bytes, min_side: int | None = None) -> Image.Image:
    """Bytes -> RGB PIL image with EXIF orientation applied; BadImageError if undecodable."""
    return load_image(open_image(data, min_side))


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
    """PIL RGB image of input_size -> float32 CHW array, normalised: (x / 255 - mean) / std.

    Pillow splits the planes (CHW at once, in C) and one multiply-add normalises them: 0.19 ms
    per 260 px image instead of 1.67 ms for float HWC -> normalise -> strided CHW copy, which had
    cost more than decoding and resizing together (equal to 1.2e-7, float rounding).
    """
    std = np.asarray(cfg.std, dtype=np.float32).reshape(3, 1, 1)
    mean = np.asarray(cfg.mean, dtype=np.float32).reshape(3, 1, 1)
    arr = np.stack([np.asarray(plane) for plane in img.split()]).astype(np.float32)
    arr *= (1.0 / (255.0 * std)).astype(np.float32)
    arr += (-mean / std).astype(np.float32)
    return arr


def preprocess_image(img: Image.Image, cfg: Preprocessing) -> np.ndarray:
    """PIL image -> the model's float32 CHW input (no copy of an image that is already RGB)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    return to_array(resize_and_crop(rgb, cfg), cfg)


def preprocess_bytes(data: bytes, cfg: Preprocessing) -> np.ndarray:
    """Image bytes -> the model's float32 CHW input (within the process's decode budget)."""
    img = open_image(data, int(round(cfg.input_size / cfg.crop_pct)))
    with DECODE_BUDGET.hold(img.width * img.height):
        return preprocess_image(load_image(img), cfg)
