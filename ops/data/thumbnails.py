"""Small JPEG data URIs of dataset images, for the self-contained HTML pages (audit, evaluation report)."""

from __future__ import annotations

import base64
import io
from pathlib import Path


def thumbnail(path: Path, size: int = 96) -> str | None:
    """A JPEG data URI of the image, or None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((size, size))
            return jpeg_data_uri(img)
    except (OSError, ValueError):
        return None


def jpeg_data_uri(img) -> str:
    """A PIL image as an inline JPEG (data URI), for pages that must be one file."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
