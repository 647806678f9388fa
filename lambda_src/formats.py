"""The image formats POST /classify and the model server accept: standard library only, so the
serving image imports it without boto3."""

from __future__ import annotations

IMAGE_FORMATS_TEXT = "JPEG or PNG"  # what image_kind accepts; the model server says the same


def image_kind(data: bytes) -> str | None:
    """ "jpeg" or "png" from the magic bytes, else None: the one definition of the formats
    served (the local model server refuses GIF, BMP, WebP with the same words)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None
