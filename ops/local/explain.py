"""Where the model looked: the top breed's activation map (ops/local/graph.py) drawn over the
square the model saw, as a PNG per image for `dogbreed predict --explain`.

The map comes from the same backbone pass as the answer (an output of the graph), so explaining
costs no second run; it covers the centre square that preprocessing keeps (shorter side resized
to the input size, then the centre crop), so the overlay is drawn on that square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ops.local.preprocess import Preprocessing, resize_and_crop

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


def peak(cam, size: int) -> tuple[float, float]:
    """(x, y) in pixels of the map's strongest cell centre, on a size x size image."""
    grid = np.asarray(cam)
    row, col = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return ((col + 0.5) * size / grid.shape[1], (row + 0.5) * size / grid.shape[0])


def heat_colours(values: np.ndarray) -> np.ndarray:
    """[H, W] values in [0, 1] -> [H, W, 3] uint8, blue (cold) through yellow to red (hot): the
    jet ramp, stopped where it is pure red (7/8 of it)."""
    v = 0.875 * np.clip(values, 0.0, 1.0)
    red = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    green = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return (np.stack([red, green, blue], -1) * 255).astype(np.uint8)


def overlay(img: Image.Image, cam, prep: Preprocessing) -> Image.Image:
    """The model's square view of `img` with the map blended over it (hot = weighed most)."""
    view = np.asarray(resize_and_crop(img.convert("RGB"), prep), dtype=np.float64)
    heat = upsampled(cam, view.shape[0])
    alpha = (ALPHA * heat)[..., None]
    blended = view * (1 - alpha) + heat_colours(heat).astype(np.float64) * alpha
    return Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8), mode="RGB")


def overlay_path(out_dir: Path, image: Path, used: set[str]) -> Path:
    """<out_dir>/<image stem>.explain.png, numbered when two images share a stem."""
    stem, n = Path(image).stem, 1
    name = f"{stem}.explain.png"
    while name in used:
        n += 1
        name = f"{stem}-{n}.explain.png"
    used.add(name)
    return Path(out_dir) / name


def write_overlay(img: Image.Image, cam, prep: Preprocessing, target: Path) -> Path:
    """Write the overlay PNG atomically (a temporary name, then renamed); returns its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    overlay(img, cam, prep).save(tmp, format="PNG")
    tmp.replace(target)
    return target


def explain_results(results: list[dict], prep: Preprocessing, out_dir: Path) -> int:
    """Write an overlay for each classified image whose answer holds a map (`predict` results,
    ops/local/commands.py), recording its path as result["explain"]; returns how many."""
    from ops.local.preprocess import BadImageError, decode_image

    used: set[str] = set()
    written = 0
    for result in results:
        cam = (result.get("answer") or {}).get("cam")
        if "error" in result or cam is None:
            continue
        try:
            img = decode_image(Path(result["image"]).read_bytes())
        except (OSError, BadImageError) as exc:  # changed since it was classified
            result["explain_error"] = f"cannot read it again: {exc}"
            continue
        target = overlay_path(out_dir, Path(result["image"]), used)
        result["explain"] = str(write_overlay(img, cam, prep, target))
        written += 1
    return written
