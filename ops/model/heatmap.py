"""Activation maps drawn over a photo (numpy + Pillow only): `predict --explain`
(ops/endpoint/explain.py) and the evaluation report's worst-classes gallery draw them the same way."""

from __future__ import annotations

import numpy as np
from PIL import Image

ALPHA = 0.5  # how much of the heat colour covers the photo at the map's peak


def scaled(cam) -> np.ndarray:
    """The map scaled to [0, 1]: its minimum 0, its peak 1 (all zeros for a flat map)."""
    cam = np.asarray(cam, dtype=np.float64)
    span = float(cam.max() - cam.min()) if cam.size else 0.0
    return (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)


def upsampled(cam, size: int) -> np.ndarray:
    """The [0, 1] map resized (bilinear) to size x size, each cell centred on its receptive area."""
    img = Image.fromarray((scaled(cam) * 255).astype(np.uint8), mode="L")
    return np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float64) / 255.0


def heat_colours(values: np.ndarray) -> np.ndarray:
    """[H, W] values in [0, 1] -> [H, W, 3] uint8, blue (cold) through yellow to red (hot): the
    jet ramp, stopped where it is pure red (7/8 of it)."""
    v = 0.875 * np.clip(values, 0.0, 1.0)
    red = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    green = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return (np.stack([red, green, blue], -1) * 255).astype(np.uint8)


def centre_square(img: Image.Image, size: int) -> Image.Image:
    """The centre square of an image, resized to size x size: what a model with crop_pct 1 sees."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    square = img.convert("RGB").crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.BICUBIC)


def blend(square: Image.Image, cam) -> Image.Image:
    """A square RGB image with the map blended over it (hot = weighed most)."""
    view = np.asarray(square.convert("RGB"), dtype=np.float64)
    heat = upsampled(cam, view.shape[0])
    alpha = (ALPHA * heat)[..., None]
    mixed = view * (1 - alpha) + heat_colours(heat).astype(np.float64) * alpha
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8), mode="RGB")
