"""Decode one image with Pillow and write what SageMaker can read: the worker of `data prepare`.

Runs in worker processes, so it takes and returns small picklable records. A good RGB JPEG is
copied byte for byte; anything else SageMaker would choke on is repaired (CMYK/grayscale/palette
-> RGB, PNG content in a .jpg -> JPEG, EXIF orientation applied) or, when it cannot be decoded
(corrupt, truncated), reported and left out.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

JPEG_QUALITY = 95
ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class ImageTask:
    src: str  # absolute path of the source image
    dst: str  # absolute path to write
    boxes: tuple[tuple[int, int, int, int], ...] = ()  # crop to these (their union); () = no crop
    xml_size: tuple[int, int] | None = None  # the full photo's size from the XML


@dataclass
class ImageResult:
    src: str
    dst: str
    ok: bool
    error: str = ""
    repairs: list[str] = field(default_factory=list)
    sha256: str = ""
    phash: int = 0
    width: int = 0
    height: int = 0
    cropped: bool = False
    already_cropped: bool = False  # size differed from the XML <size>: left as it is


def process_image(task: ImageTask) -> ImageResult:
    """Check/repair/crop one image and write it to task.dst; never raises for a bad image."""
    import imagehash

    with open(task.src, "rb") as fh:
        data = fh.read()
    result = ImageResult(task.src, task.dst, ok=False, sha256=hashlib.sha256(data).hexdigest())
    decoded = _decode(data)
    if isinstance(decoded, str):
        result.error = decoded
        return result
    img, fmt = decoded

    repairs = []
    if fmt != "JPEG":
        repairs.append(f"{fmt} content -> JPEG")
    orientation = img.getexif().get(ORIENTATION_TAG, 1)
    if img.mode != "RGB":
        repairs.append(f"{img.mode} -> RGB")
        img = _to_rgb(img)
    if task.boxes:  # boxes refer to the stored pixels, so crop before applying the orientation
        img = _crop_to_boxes(img, task, result)
    if orientation not in (1, None):
        img = _orient(img, orientation)
        repairs.append(f"EXIF orientation {orientation} applied")

    if repairs or result.cropped:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=JPEG_QUALITY)
        out = buf.getvalue()
    else:
        out = data
    with open(task.dst, "wb") as fh:
        fh.write(out)
    result.ok = True
    result.repairs = repairs
    result.width, result.height = img.size
    result.phash = int(str(imagehash.phash(img)), 16)
    return result


def _decode(data: bytes):
    """(the decoded Pillow image, its format), or the reason it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format
            img.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
    ) as exc:
        if isinstance(exc, UnidentifiedImageError):  # its message names an object address
            return "not an image format Pillow can identify"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"cannot decode: {first}"
    return img, fmt


def _to_rgb(img):
    """RGB pixels; transparent areas become white instead of black."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "P") and (img.mode != "P" or "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, (255, 255, 255))
        img.paste(rgba, mask=rgba.getchannel("A"))
        return img
    return img.convert("RGB")


def _crop_to_boxes(img, task: ImageTask, result: ImageResult):
    """The union of the task's boxes (clipped to the image), marking `result` cropped; an image
    whose size differs from the XML's is already cropped and left as it is."""
    size = img.size
    if task.xml_size is not None and tuple(task.xml_size) != size:
        result.already_cropped = True
        return img
    x0 = max(0, min(b[0] for b in task.boxes))
    y0 = max(0, min(b[1] for b in task.boxes))
    x1 = min(size[0], max(b[2] for b in task.boxes))
    y1 = min(size[1], max(b[3] for b in task.boxes))
    if x1 > x0 and y1 > y0 and (x0, y0, x1, y1) != (0, 0, *size):
        result.cropped = True
        return img.crop((x0, y0, x1, y1))
    return img


def _orient(img, orientation: int):
    """Apply an EXIF orientation (as ImageOps.exif_transpose does), whatever EXIF the image kept."""
    from PIL import Image

    ops = {
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_270],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_90],
    }
    for op in ops.get(orientation, []):
        img = img.transpose(op)
    return img
