"""Request parsing for POST /classify: a proxy event -> checked images and top_k, or a 4xx.

Two request shapes (JSON {"images": [...], "top_k": k} or one raw image), every limit a
RequestError, and a JSON guard that bounds nesting, containers and numbers before json.loads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

try:
    from lambda_src import config
    from lambda_src.formats import IMAGE_FORMATS_TEXT, image_kind
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import config
    from formats import IMAGE_FORMATS_TEXT, image_kind


RequestError = config.RequestError

JSON_TYPES = ("application/json",)
IMAGE_TYPES = ("image/jpeg", "image/png", "application/x-image", "application/octet-stream")


def header(event: dict[str, Any], name: str) -> str:
    headers, multi = event.get("headers"), event.get("multiValueHeaders")
    for key, value in (headers if isinstance(headers, dict) else {}).items():
        if str(key).lower() == name and value:
            return str(value)
    for key, values in (multi if isinstance(multi, dict) else {}).items():
        if str(key).lower() == name and values and isinstance(values, list):
            return str(values[0])
    return ""


# CORS-safelisted types (Fetch standard): any site may POST them unasked, so they are refused.
CORS_SAFELISTED_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
BROWSER_HEADERS = ("origin", "sec-fetch-mode", "sec-fetch-site")  # browsers send, SDKs do not


def _checked_shape(event: dict[str, Any]) -> None:
    """400 for an event whose headers or query string is not an object (API Gateway's are)."""
    for key in ("headers", "multiValueHeaders", "queryStringParameters"):
        if not isinstance(event.get(key) or {}, dict):
            raise RequestError(400, f"the event's {key} must be an object, as API Gateway sends it")


def _refused_content_type(event: dict[str, Any], content_type: str) -> str | None:
    """Why a Content-Type is refused before the body is read: a CORS-safelisted type, or none
    from a browser (a no-cors fetch of a Blob sends none); else None."""
    if content_type in CORS_SAFELISTED_TYPES:
        return (
            f"unsupported Content-Type {content_type!r}: a page on any site may send it without"
            " asking, so it is refused; use application/json or image/jpeg, image/png"
        )
    if not content_type and any(header(event, h) for h in BROWSER_HEADERS):
        return "missing Content-Type: a browser must send application/json or an image type"
    return None


def _check_image(data: bytes, where: str, limits: dict[str, Any]) -> bytes:
    if not data:
        raise RequestError(400, f"{where} is empty")
    if len(data) > limits["max_image_bytes"]:
        raise RequestError(
            413, f"{where} is {len(data)} bytes, over the limit of {limits['max_image_bytes']}"
        )
    if image_kind(data) is None:
        raise RequestError(400, f"{where} is not a {IMAGE_FORMATS_TEXT} image")
    return data


def _top_k(value: Any, limits: dict[str, Any], n_classes: int) -> int:
    """top_k must be 1..TOP_K_MAX; a value above the number of classes returns every class."""
    high = max(1, limits["top_k_max"])
    if value is None or value == "":
        return max(1, min(limits["top_k_default"], high, n_classes))
    if isinstance(value, bool):
        raise RequestError(400, "top_k must be an integer")
    try:
        k = int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise RequestError(400, f"top_k must be an integer, not {value!r}") from None
    if not 1 <= k <= high:
        raise RequestError(400, f"top_k must be between 1 and {high}, not {k}")
    return min(k, n_classes)


def request_method(event: dict[str, Any]) -> str:
    """The HTTP method of a REST (payload 1.0) or HTTP API / function URL (payload 2.0) event.

    1.0 has `httpMethod`; 2.0 has only `requestContext.http.method`. An event with neither (a
    direct invocation) counts as POST.
    """
    context = event.get("requestContext") or {}
    http = context.get("http") if isinstance(context, dict) else None
    method = (
        event.get("httpMethod")
        or (http.get("method") if isinstance(http, dict) else None)
        or (context.get("httpMethod") if isinstance(context, dict) else None)
        or "POST"
    )
    return str(method).upper()


def sniff_content_type(body: str, is_b64: bool) -> str:
    """The type of a body sent without Content-Type: SAM's generated events base64-encode a JSON
    body and send no Content-Type, so a base64 body is an image only when its bytes are one."""
    if not is_b64:
        return "application/json"
    try:
        head = base64.b64decode(body[:64] + "=" * (-len(body[:64]) % 4))
    except (binascii.Error, ValueError):
        return "application/octet-stream"
    return "application/octet-stream" if image_kind(head) else "application/json"


MAX_JSON_DEPTH = 32  # {"images": [...]} needs 2; json.loads recurses ~1,000 deep, then raises
MAX_JSON_CONTAINERS = 1000  # arrays and objects in one body; {"images": [...]} has 2
MAX_JSON_DIGITS = 100  # a number's characters; int() refuses more than 4,300 digits
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
_OPEN_RUN = re.compile(r"[\[{]{" + str(MAX_JSON_DEPTH + 1) + "}")


class _BadJSONNumber(ValueError):
    """A JSON number json.loads would overflow on or refuse (Infinity, 1e400, 5,000 digits)."""


def _skeleton(text: str) -> str:
    """The brackets of a JSON text, outside its strings (all in C: cheap on 6 MB)."""
    return _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))


def _deeper_than(skeleton: str, limit: int) -> bool:
    """Each pass deletes the innermost empty pairs: depth d is gone after d passes."""
    for _ in range(limit):
        shorter = _EMPTY_PAIR.sub("", skeleton)
        if shorter == skeleton:
            return False
        skeleton = shorter
    return bool(_EMPTY_PAIR.search(skeleton))


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit`, checked without parsing."""
    return _deeper_than(_skeleton(text), limit)


def json_shape_problem(text: str) -> str | None:
    """Why the JSON text's nesting is refused (too deep, too many containers), else None.

    Counting brackets first (str.count, no parsing) keeps the exact check small: a request has
    a handful (base64 holds none), a hostile body millions.
    """
    too_deep = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    opened = text.count("[") + text.count("{")
    if opened > MAX_JSON_CONTAINERS and _OPEN_RUN.search(text):
        return too_deep
    if opened > 100 * MAX_JSON_CONTAINERS:  # too many to look at more closely
        return f"JSON with more than {MAX_JSON_CONTAINERS} arrays and objects"
    skeleton = _skeleton(text)
    if _deeper_than(skeleton, MAX_JSON_DEPTH):
        return too_deep
    if len(skeleton) > 2 * MAX_JSON_CONTAINERS:
        return f"JSON with more than {MAX_JSON_CONTAINERS} arrays and objects"
    return None


def _json_int(text: str) -> int:
    if len(text) > MAX_JSON_DIGITS:
        raise _BadJSONNumber(f"a number of {len(text)} digits (limit {MAX_JSON_DIGITS})")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_JSON_DIGITS:
        raise _BadJSONNumber(f"a number of {len(text)} characters (limit {MAX_JSON_DIGITS})")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BadJSONNumber(f"{text} overflows a double")
    return value


def _json_constant(name: str) -> Any:
    raise _BadJSONNumber(f"{name} is not valid JSON (only finite numbers are)")


def parse_json_body(text: str) -> Any:
    """json.loads with the depth bounded first and non-finite or huge numbers refused (400s)."""
    problem = json_shape_problem(text)
    if problem:
        raise RequestError(400, problem)
    try:
        return json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except _BadJSONNumber as exc:
        raise RequestError(400, f"unsupported JSON number: {exc}") from None
    except RecursionError:  # unreachable after json_too_deep, kept so no input can raise
        raise RequestError(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None


def parse_request(  # noqa: C901 - one branch per documented request shape and limit, in order
    event: dict[str, Any], limits: dict[str, Any], n_classes: int
) -> tuple[list[bytes], int]:
    """The images (decoded, checked) and top_k of a proxy event, or RequestError."""
    method = request_method(event)
    if method != "POST":
        raise RequestError(405, f"method {method} not allowed: use POST")
    _checked_shape(event)
    body = event.get("body")
    if body is None or body == "":
        raise RequestError(400, 'empty request body: send JSON {"images": [...]} or one image')
    if not isinstance(body, str):
        raise RequestError(400, "the event's body must be a string, as API Gateway sends it")
    if len(body) > limits["max_payload_bytes"]:
        raise RequestError(
            413,
            f"request body is {len(body)} bytes, over the limit of {limits['max_payload_bytes']}"
            " (split the batch)",
        )
    is_b64 = bool(event.get("isBase64Encoded"))
    content_type = header(event, "content-type").split(";")[0].strip().lower()
    query = event.get("queryStringParameters") or {}
    refused = _refused_content_type(event, content_type)
    if refused:
        raise RequestError(415, refused)
    if not content_type:
        content_type = sniff_content_type(body, is_b64)
    if content_type in JSON_TYPES:
        text = body
        if is_b64:
            try:
                text = base64.b64decode(body, validate=True).decode("utf-8")
            except ValueError:  # binascii.Error, UnicodeDecodeError, or non-ASCII "base64"
                raise RequestError(400, "body is not valid base64-encoded UTF-8 JSON") from None
        payload = parse_json_body(text)
        if not isinstance(payload, dict):
            raise RequestError(400, 'JSON body must be an object: {"images": [...], "top_k": 5}')
        images = payload.get("images")
        if images is None:
            raise RequestError(400, 'missing "images": a list of base64-encoded images')
        if not isinstance(images, list):
            raise RequestError(400, '"images" must be a list of base64-encoded images')
        if not images:
            raise RequestError(400, '"images" is empty')
        if len(images) > limits["max_images"]:
            raise RequestError(
                413, f"{len(images)} images, over the limit of {limits['max_images']} per request"
            )
        top_k = _top_k(payload.get("top_k", query.get("top_k")), limits, n_classes)
        decoded = []
        for i, item in enumerate(images):
            if not isinstance(item, str):
                raise RequestError(400, f"images[{i}] must be a base64 string")
            try:
                data = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(400, f"images[{i}] is not valid base64") from None
            decoded.append(_check_image(data, f"images[{i}]", limits))
        return decoded, top_k
    if content_type in IMAGE_TYPES:
        if not is_b64:
            raise RequestError(
                400,
                "raw image bodies must arrive base64-encoded (isBase64Encoded): enable binary"
                " media types on the API, or send JSON",
            )
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "body is not valid base64") from None
        top_k = _top_k(query.get("top_k"), limits, n_classes)
        return [_check_image(data, "the image", limits)], top_k
    raise RequestError(
        415,
        f"unsupported Content-Type {content_type!r}: use application/json or"
        " image/jpeg, image/png, application/x-image",
    )
