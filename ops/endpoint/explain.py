"""Where the model looked: the top breed's activation map (ops/model/graph.py) drawn over the
square the model saw, as a PNG per image for `dogbreed predict --explain`.

The map comes from the same backbone pass as the answer (an output of the graph), so explaining
costs no second run; it covers the centre square that preprocessing keeps (shorter side resized
to the input size, then the centre crop), so the overlay is drawn on that square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ops.model.heatmap import blend
from ops.model.preprocess import Preprocessing, resize_and_crop


def peak(cam, size: int) -> tuple[float, float]:
    """(x, y) in pixels of the map's strongest cell centre, on a size x size image."""
    grid = np.asarray(cam)
    row, col = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return ((col + 0.5) * size / grid.shape[1], (row + 0.5) * size / grid.shape[0])


def overlay(img: Image.Image, cam, prep: Preprocessing) -> Image.Image:
    """The model's square view of `img` with the map blended over it (ops/model/heatmap.py)."""
    return blend(resize_and_crop(img.convert("RGB"), prep), cam)


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
    ops/endpoint/commands.py), recording its path as result["explain"]; returns how many."""
    from ops.model.preprocess import BadImageError, decode_image

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
