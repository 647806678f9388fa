"""Photos made to fit AWS's payload limits before `classify` and `evaluate` send them.

As the page does (lambda_src/index.html): a photo whose longest side is over MAX_SIDE px is
resized to it and sent as a JPEG (quality 90); any other photo goes as it is. What is still too
large is refused before anything is sent, naming the file. The limits, each with its source in
docs/aws-rules.md:
    SageMaker serverless InvokeEndpoint   4 MB request and response
    SageMaker real-time InvokeEndpoint    6 MB request and response
    Lambda synchronous invocation         6 MB request and response
    API Gateway REST                     10 MB request
One photo goes to the endpoint as its raw bytes, and to the Lambda base64-encoded (4/3) inside a
JSON body of up to `max_images` photos, so a request is split where its photos would pass 6 MB.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

from ops.errors import DogbreedError

MAX_SIDE = 1024  # the page's MAX_SIDE
JPEG_QUALITY = 90  # the page's canvas.toBlob quality
MB = 1000 * 1000  # AWS's quotas pages write MB; the decimal reading is the stricter one
SERVERLESS_INVOKE_BYTES = 4 * MB
REALTIME_INVOKE_BYTES = 6 * MB
LAMBDA_SYNC_BYTES = 6 * MB
API_GATEWAY_BYTES = 10 * MB
JSON_OVERHEAD = 64  # '{"images": [...], "top_k": 5}' and a comma + quotes per image


def shrink(data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """The photo resized so its longest side is `max_side` (JPEG), or unchanged when it already
    fits or cannot be decoded here (the API then answers for it, as for the page)."""
    from PIL import Image

    from ops.model.preprocess import BadImageError, load_image, open_image

    try:
        img = open_image(data, min_side=max_side)
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
        if max(width, height) <= max_side:
            return data
        rgb = load_image(img)
    except BadImageError:
        return data
    rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def encoded_size(data: bytes) -> int:
    """Bytes of one photo base64-encoded in the request's JSON."""
    return len(base64.b64encode(data)) + 4


def photos_to_send(
    paths: list[Path], original: bool = False, max_image_bytes: int = SERVERLESS_INVOKE_BYTES
) -> list[bytes]:
    """Each file's bytes, shrunk unless `original`; DogbreedError naming the first file that
    is still over the endpoint's limit or would not fit one request to the Lambda alone."""
    photos = []
    for path in paths:
        data = path.read_bytes()
        if not original:
            data = shrink(data)
        if len(data) > max_image_bytes or encoded_size(data) + JSON_OVERHEAD > LAMBDA_SYNC_BYTES:
            how = " as it is (--original)" if original else ""
            raise DogbreedError(
                f"{path} is {len(data):,} bytes{how}: over the {max_image_bytes:,}-byte limit of "
                "one image (a SageMaker serverless request is at most 4 MB); nothing was sent",
                hint="drop --original to send it resized" if original else "send a smaller photo",
                exit_code=2,
            )
        photos.append(data)
    return photos


def request_batches(
    photos: list[bytes], max_images: int, max_bytes: int = LAMBDA_SYNC_BYTES
) -> Iterator[tuple[int, int]]:
    """(start, end) slices of `photos`: at most `max_images` each, and base64-encoded together
    within `max_bytes` (Lambda's synchronous request limit)."""
    start, size = 0, JSON_OVERHEAD
    for i, data in enumerate(photos):
        n = encoded_size(data)
        if i > start and (i - start >= max_images or size + n > max_bytes):
            yield start, i
            start, size = i, JSON_OVERHEAD
        size += n
    if start < len(photos):
        yield start, len(photos)
