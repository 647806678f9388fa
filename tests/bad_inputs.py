"""The bad-input corpus: hostile images, malformed JSON bodies and broken HTTP requests, generated.

Every case must get a 4xx JSON answer (or, in a batch, a per-image error), never a 5xx and never
a closed connection. tests/test_bad_inputs.py sends the corpus to the Lambda handler, the local
gateway and the model server; bench/faults.py reuses the hostile images for its memory burst.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import struct
import zlib
from dataclasses import dataclass
from functools import cache

from PIL import Image

from tests.local_artifacts import jpeg_bytes, png_bytes


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _png_bad_crc() -> bytes:
    """A valid PNG whose IDAT CRC is wrong (the pixels decode; only verify() sees it)."""
    data = bytearray(png_bytes())
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    crc_at = idat + 4 + length
    data[crc_at : crc_at + 4] = bytes(b ^ 0xFF for b in data[crc_at : crc_at + 4])
    return bytes(data)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and carries one tiny IDAT (a lying header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@cache
def hostile_images() -> dict[str, bytes]:
    """name -> image bytes that a server must refuse with a 4xx (none of them is a fine image)."""
    jpeg = jpeg_bytes(0, seed=1, size=96)
    return {
        "wide-20000x1.png": _png(Image.new("1", (20000, 1))),  # 82 bytes, 1 Gpx after resize
        "huge-12500x12500.png": _png(Image.new("1", (12500, 12500))),  # 156 Mpx
        "tall-1x6000.png": _png(Image.new("RGB", (1, 6000))),
        "lying-header-60000x60000.png": _png_header(60000, 60000),
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "jpeg-magic-then-garbage.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "png-magic-then-garbage.png": b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64,
        "png-bad-crc.png": _png_bad_crc(),
        "png-truncated.png": png_bytes()[:-30],
        "gzip-not-image.jpg": b"\xff\xd8\xff" + zlib.compress(b"x" * 100_000),
    }


def good_image() -> bytes:
    return jpeg_bytes(1, seed=2, size=80)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class BodyCase:
    """One request body for POST /classify: `text` sent as `content_type`."""

    name: str
    text: str
    content_type: str = "application/json"
    per_image_error: bool = False  # a batch: answered 200 with an {"error"} in place


def json_body_cases() -> list[BodyCase]:
    """Malformed or hostile JSON bodies (what API Gateway delivers to the handler unchanged)."""
    good = _b64(good_image())
    cases = [
        BodyCase("top_k-Infinity", '{"images": ["@IMG@"], "top_k": Infinity}'),
        BodyCase("top_k-minus-Infinity", '{"images": ["@IMG@"], "top_k": -Infinity}'),
        BodyCase("top_k-NaN", '{"images": ["@IMG@"], "top_k": NaN}'),
        BodyCase("top_k-1e400", '{"images": ["@IMG@"], "top_k": 1e400}'),
        BodyCase("top_k-5000-digits", '{"images": ["@IMG@"], "top_k": ' + "9" * 5000 + "}"),
        BodyCase("top_k-huge-float", '{"images": ["@IMG@"], "top_k": 1e300}'),
        BodyCase("top_k-string", '{"images": ["@IMG@"], "top_k": "five"}'),
        BodyCase("top_k-fraction", '{"images": ["@IMG@"], "top_k": 2.5}'),
        BodyCase("top_k-zero", '{"images": ["@IMG@"], "top_k": 0}'),
        BodyCase("top_k-list", '{"images": ["@IMG@"], "top_k": [1]}'),
        BodyCase("deep-nesting-100000", "[" * 100_000 + "]" * 100_000),
        BodyCase("deep-nesting-in-images", '{"images": ' + "[" * 5000 + "]" * 5000 + "}"),
        BodyCase("deep-objects", '{"a":' * 3000 + "1" + "}" * 3000),
        BodyCase("many-containers", '{"images": [' + "[]," * 5000 + "[]]}"),
        BodyCase("unbalanced", "{" * 50),
        BodyCase("not-json", "images=please"),
        BodyCase("json-array", "[1, 2, 3]"),
        BodyCase("json-string", '"images"'),
        BodyCase("json-null", "null"),
        BodyCase("no-images", '{"top_k": 3}'),
        BodyCase("images-null", '{"images": null}'),
        BodyCase("images-string", '{"images": "@IMG@"}'),
        BodyCase("images-empty", '{"images": []}'),
        BodyCase("images-of-numbers", '{"images": [1, 2]}'),
        BodyCase("images-of-objects", '{"images": [{"b64": "@IMG@"}]}'),
        BodyCase("images-bad-base64", '{"images": ["not base64!!"]}'),
        BodyCase("images-empty-string", '{"images": [""]}'),
        BodyCase("images-not-an-image", json.dumps({"images": [_b64(b"hello world")]})),
        BodyCase("too-many-images", json.dumps({"images": [good] * 40})),
        BodyCase("duplicate-keys", '{"images": [], "images": 5}'),
        BodyCase("lone-surrogate", '{"images": ["\\ud800"]}'),
        BodyCase("unsupported-type", "hello", content_type="text/plain"),
        BodyCase("xml", "<images/>", content_type="application/xml"),
    ]
    cases = [
        BodyCase(c.name, c.text.replace("@IMG@", good), c.content_type, c.per_image_error)
        for c in cases
    ]
    for name, data in hostile_images().items():
        cases.append(BodyCase(f"single-{name}", json.dumps({"images": [_b64(data)]})))
        cases.append(
            BodyCase(
                f"batch-{name}",
                json.dumps({"images": [good, _b64(data)]}),
                per_image_error=True,
            )
        )
    return cases


def raw_image_cases() -> list[tuple[str, bytes, str]]:
    """(name, body, content type) raw image posts: each hostile image alone."""
    kinds = {".png": "image/png", ".jpg": "image/jpeg"}
    return [(name, data, kinds[name[-4:]]) for name, data in hostile_images().items()]


def http_request_cases(path: str, host: str = "127.0.0.1") -> list[tuple[str, bytes]]:
    """(name, raw HTTP/1.1 request bytes) that break the protocol or the server's limits."""
    img = good_image()

    def req(head: str, body: bytes = b"") -> bytes:
        return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body

    base = f"POST {path} HTTP/1.1\nHost: {host}\n"
    return [
        ("content-length-abc", req(base + "Content-Type: image/jpeg\nContent-Length: abc\n")),
        ("content-length-negative", req(base + "Content-Type: image/jpeg\nContent-Length: -5\n")),
        ("content-length-empty", req(base + "Content-Type: image/jpeg\nContent-Length: \n")),
        (
            "chunked",
            req(base + "Content-Type: image/jpeg\nTransfer-Encoding: chunked\n", b"0\r\n\r\n"),
        ),
        ("no-body", req(base + "Content-Type: image/jpeg\nContent-Length: 0\n")),
        ("put", req(f"PUT {path} HTTP/1.1\nHost: {host}\nContent-Length: 0\n")),
        ("delete", req(f"DELETE {path} HTTP/1.1\nHost: {host}\n")),
        ("patch", req(f"PATCH {path} HTTP/1.1\nHost: {host}\nContent-Length: 0\n")),
        ("options", req(f"OPTIONS {path} HTTP/1.1\nHost: {host}\n")),
        ("unknown-method", req(f"BREW {path} HTTP/1.1\nHost: {host}\n")),
        ("oversize-header", req(base + "X-Big: " + "a" * 20_000 + "\nContent-Length: 0\n")),
        ("header-line-over-64k", req(base + "X-Big: " + "a" * 70_000 + "\n")),
        ("too-many-headers", req(base + "".join(f"X-H{i}: v\n" for i in range(150)))),
        ("request-line-over-64k", req(f"POST {path}?{'q' * 70_000} HTTP/1.1\nHost: {host}\n")),
        ("bad-request-line", req("HELLO\n")),
        ("http-2.0-line", req(f"POST {path} HTTP/2.0\nHost: {host}\n")),
        ("bad-version", req(f"POST {path} HTTP/x.y\nHost: {host}\n")),
        (
            "wrong-content-type",
            req(base + f"Content-Type: text/plain\nContent-Length: {len(img)}\n", img),
        ),
    ]


def send_raw(port: int, data: bytes, timeout: float = 10.0) -> tuple[int | None, dict, bytes]:
    """Send raw bytes to 127.0.0.1:port; (status, headers, body) of the answer (None: no answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may close early: read its answer
            sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    raw = b"".join(chunks)
    if not raw.startswith(b"HTTP/"):
        return None, {}, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False
