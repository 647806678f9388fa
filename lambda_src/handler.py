"""POST /classify: API Gateway (REST, Lambda proxy) -> this handler -> SageMaker endpoint, in batches.

Only boto3 and the standard library, so it runs on the stock Python Lambda runtime. Accepts
  (a) JSON {"images": ["<base64>", ...], "top_k": 5}, and
  (b) one raw image body (Content-Type image/jpeg, image/png or application/x-image, which API
      Gateway delivers base64-encoded with isBase64Encoded=true thanks to binary media types).
Each image is one `invoke_endpoint` call (application/x-image), run concurrently on a bounded
thread pool with throttling retried with backoff. The answer keeps input order and reports an
image the endpoint rejected in place: {"predictions": [[{"breed", "wnid", "probability"}...] |
{"error": "..."}, ...], "answers": [{"dog", "dog_score", "breed", "uncertain", "label", ...} |
{"error": "..."}, ...]} (answers: answer.py, docs/real-photos.md: "no dog recognised", "A or B").
Every request problem is a 4xx JSON error; endpoint failures are 502/503.

Configuration (environment; the local gateway sets the same variables):
  ENDPOINT_NAME        SageMaker endpoint to invoke (required)
  CLASSES_S3_URI       s3://bucket/key of classes.json (optional; else CLASSES_PATH)
  CLASSES_PATH         classes.json path (default: classes.json beside this file, shipped in the zip)
  MAX_IMAGES           images per request (default 16)
  MAX_IMAGE_BYTES      bytes per decoded image (default 4 MiB)
  MAX_PAYLOAD_BYTES    request body as received (default 6 MB, Lambda's synchronous limit)
  MAX_POOL_CONNECTIONS keep-alive connections to the endpoint per process (default MAX_CONCURRENCY)
  MAX_CONCURRENCY      parallel invoke_endpoint calls per request (default 5; Terraform derives it
                       from the endpoint's max concurrency, so one request never throttles itself)
  TOP_K_DEFAULT        default top_k (default 5); top_k must be 1..TOP_K_MAX (capped at the classes)
  TOP_K_MAX            (default 20)
  INVOKE_RETRIES       retries of a throttled/unavailable call (default 8), each one only if it
                       can still finish before the deadline below
  RETRY_BASE_SECONDS   backoff cap of the first retry (default 0.1, doubled each retry; full jitter)
  INVOKE_TIMEOUT_SECONDS  read timeout of one invoke_endpoint call (default 20)
  ANSWER_WITHIN_MS     API Gateway's integration timeout (default 29000): the answer goes out
                       before it and before the Lambda's own remaining time, minus
  ANSWER_MARGIN_MS     (default 1500); images still unanswered then are listed in "unclassified"
  LOG_LEVEL            default INFO
  CORS_ALLOWED_ORIGINS comma-separated origins (or *) whose pages may call the API; default none,
                       CORS off. Answers to an allowed Origin carry Access-Control-Allow-Origin
                       (the OPTIONS preflight is API Gateway's, terraform/modules/api_gateway)
GET / answers the try-it page (index.html beside this file, shipped in the zip).
  DOG_MIN_TOP_PROBABILITY  fallback dog threshold on the top probability, for endpoints that answer
                       no dog score (the built-in algorithm); default 0 (see docs/real-photos.md)
  UNCERTAIN_MARGIN     top-1 minus top-2 probability below which an answer is "A or B" (0.2)
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (read by boto3 itself) points the runtime client elsewhere,
e.g. at the local model server.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

try:
    from lambda_src import answer, metrics
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import answer
    import metrics

JSON_TYPES = ("application/json",)
IMAGE_TYPES = ("image/jpeg", "image/png", "application/x-image", "application/octet-stream")
RETRYABLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ModelNotReadyException",
}
UNAVAILABLE_CODES = RETRYABLE_CODES | {"InternalDependencyException"}

logger = logging.getLogger("dogbreed.classify")
_cache_lock = threading.Lock()
_clients: dict[tuple, Any] = {}
_classes_cache: dict[tuple, list[dict[str, str]]] = {}


class RequestError(Exception):
    """A problem with the request itself: answered with `status` and a JSON {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class EndpointError(Exception):
    """invoke_endpoint failed for one image: `status` 502 or 503, the endpoint's message (or the
    model's 4xx for an image it rejected: the request's status alone, a per-image error in a batch)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- configuration -------------------------------------------------------------------------


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def settings() -> dict[str, Any]:
    """The handler's limits, read per invocation (cheap) so a changed environment takes effect."""
    return {
        "endpoint_name": os.environ.get("ENDPOINT_NAME", ""),
        "max_images": _int_env("MAX_IMAGES", 16),
        "max_image_bytes": _int_env("MAX_IMAGE_BYTES", 4 * 1024 * 1024),
        "max_payload_bytes": _int_env("MAX_PAYLOAD_BYTES", 6 * 1000 * 1000),
        "max_concurrency": max(1, _int_env("MAX_CONCURRENCY", 5)),
        # Keep-alive connections to the endpoint, shared by the requests of one process: one
        # Lambda instance serves one request at a time (MAX_CONCURRENCY is enough); the local
        # gateway serves many at once and sets more, else urllib3 drops and reopens connections.
        "max_pool": max(1, _int_env("MAX_CONCURRENCY", 5), _int_env("MAX_POOL_CONNECTIONS", 0)),
        "top_k_default": _int_env("TOP_K_DEFAULT", 5),
        "top_k_max": _int_env("TOP_K_MAX", 20),
        "retries": max(0, _int_env("INVOKE_RETRIES", 8)),
        "retry_base": _float_env("RETRY_BASE_SECONDS", 0.1),
        "timeout": _float_env("INVOKE_TIMEOUT_SECONDS", 20.0),
        "answer_within_ms": _int_env("ANSWER_WITHIN_MS", 29000),
        "answer_margin_ms": _int_env("ANSWER_MARGIN_MS", 1500),
        "deadline": float("inf"),  # monotonic time by which to answer (set per invocation)
    }


def answer_deadline(limits: dict[str, Any], context: Any, started: float) -> float:
    """The monotonic time to answer by: before API Gateway's integration timeout and before the
    Lambda's own timeout (`context.get_remaining_time_in_millis()`), less a margin for the reply."""
    budget_ms = float(limits["answer_within_ms"])
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget_ms = min(budget_ms, float(remaining()))
    return started + max(0.0, budget_ms - limits["answer_margin_ms"]) / 1000


def runtime_client(max_pool: int, timeout: float) -> Any:
    """One sagemaker-runtime client per (endpoint URL, region, pool): created once, reused warm.

    botocore's own retries are off: throttling is retried here, per image, with backoff.
    """
    key = (
        os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"),
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        max_pool,
        timeout,
    )
    with _cache_lock:
        if key not in _clients:
            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=max_pool,
                connect_timeout=5,
                read_timeout=timeout,
            )
            _clients[key] = boto3.session.Session().client("sagemaker-runtime", config=config)
        return _clients[key]


def load_classes() -> list[dict[str, str]]:
    """[{"wnid", "breed"}] in class-index order, from CLASSES_S3_URI or classes.json (cached)."""
    uri = os.environ.get("CLASSES_S3_URI", "")
    if uri:
        key: tuple = ("s3", uri)
    else:
        path = Path(os.environ.get("CLASSES_PATH") or Path(__file__).with_name("classes.json"))
        try:
            key = ("file", str(path), path.stat().st_mtime_ns)
        except OSError:
            raise RuntimeError(f"classes file {path} not found") from None
    with _cache_lock:
        if key in _classes_cache:
            return _classes_cache[key]
    if uri:
        bucket, _, obj = uri.removeprefix("s3://").partition("/")
        raw = boto3.client("s3").get_object(Bucket=bucket, Key=obj)["Body"].read()
    else:
        raw = Path(key[1]).read_bytes()
    classes = parse_classes(json.loads(raw))
    with _cache_lock:
        _classes_cache[key] = classes
    return classes


def parse_classes(data: Any) -> list[dict[str, str]]:
    """Accepts dogbreed's classes.json ([{"index","wnid","name"}]), {"classes": [...]}, or names."""
    if isinstance(data, dict):
        data = data.get("classes", [])
    out = []
    items = (
        sorted(data, key=lambda c: c.get("index", 0))
        if data and isinstance(data[0], dict)
        else data
    )
    for item in items:
        if isinstance(item, dict):
            out.append(
                {
                    "wnid": str(item.get("wnid", "")),
                    "breed": str(item.get("name") or item.get("breed")),
                }
            )
        else:
            out.append({"wnid": "", "breed": str(item)})
    if not out:
        raise RuntimeError("classes.json lists no classes")
    return out


# --- request parsing -----------------------------------------------------------------------


def _header(event: dict[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and value:
            return str(value)
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return str(values[0])
    return ""


def image_kind(data: bytes) -> str | None:
    """ "jpeg" or "png" from the magic bytes, else None (what the endpoint's algorithm accepts)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def _check_image(data: bytes, where: str, limits: dict[str, Any]) -> bytes:
    if not data:
        raise RequestError(400, f"{where} is empty")
    if len(data) > limits["max_image_bytes"]:
        raise RequestError(
            413, f"{where} is {len(data)} bytes, over the limit of {limits['max_image_bytes']}"
        )
    if image_kind(data) is None:
        raise RequestError(400, f"{where} is not a JPEG or PNG image")
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
    content_type = _header(event, "content-type").split(";")[0].strip().lower()
    query = event.get("queryStringParameters") or {}
    if not content_type:
        content_type = sniff_content_type(body, is_b64)
    if content_type in JSON_TYPES:
        text = body
        if is_b64:
            try:
                text = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
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


# --- endpoint calls ------------------------------------------------------------------------


def _rejected_image(error_response: dict[str, Any], code: str) -> EndpointError | None:
    """The endpoint's ModelError for a 4xx of the model (a broken image): an EndpointError with
    that 4xx status (the request's fault, never retried), else None."""
    if code != "ModelError":
        return None
    original = error_response.get("OriginalStatusCode")
    if not isinstance(original, int) or not 400 <= original < 500:
        return None
    message = error_response.get("OriginalMessage") or error_response.get("Error", {}).get(
        "Message", ""
    )
    return EndpointError(original, f"the model rejected the image: {message}")


def invoke_one(
    client: Any, image: bytes, limits: dict[str, Any]
) -> tuple[list[float], dict[str, Any]]:
    """One invoke_endpoint call, retrying throttling/unavailability with jittered backoff;
    (class probabilities, the endpoint's dog-score fields or {}).

    A retry happens only when its wait still ends before the answer deadline; otherwise the image
    is reported as not classified instead of making API Gateway time out the whole request.
    """
    attempt = 0
    while True:
        try:
            resp = client.invoke_endpoint(
                EndpointName=limits["endpoint_name"],
                ContentType="application/x-image",
                Accept="application/json",
                CustomAttributes=answer.CUSTOM_ATTRIBUTE,  # ask for the dog score (answer.py)
                Body=image,
            )
            raw = resp["Body"].read()
            break
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = err.get("Message") or str(exc)
            rejected = _rejected_image(exc.response, code)
            if rejected is not None:
                raise rejected from None
            retryable = code in RETRYABLE_CODES or status in (429, 503)
            if retryable and _backoff(attempt, limits):
                attempt += 1
                continue
            unavailable = code in UNAVAILABLE_CODES or status in (429, 503)
            raise EndpointError(
                503 if unavailable else 502, f"{code or status}: {message}"
            ) from None
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ConnectionClosedError,  # the endpoint died mid-request
        ) as exc:
            if _backoff(attempt, limits):
                attempt += 1
                continue
            raise EndpointError(503, f"endpoint unreachable: {exc}") from None
        except botocore.exceptions.ReadTimeoutError as exc:
            raise EndpointError(503, f"endpoint timed out: {exc}") from None
        except botocore.exceptions.HTTPClientError as exc:  # any other transport failure
            raise EndpointError(503, f"endpoint connection failed: {exc}") from None
    return read_scores(raw)


def _backoff(attempt: int, limits: dict[str, Any]) -> bool:
    """Sleep before retry `attempt` (full jitter, capped at retry_base * 2**attempt) when retries
    are left and the wait plus one more call still fit before the deadline; else False."""
    if attempt >= limits["retries"]:
        return False
    delay = random.uniform(0, limits["retry_base"] * 2**attempt)
    expected_call = limits["retry_base"]  # room for the retried call itself
    if time.monotonic() + delay + expected_call >= limits["deadline"]:
        return False
    time.sleep(delay)
    return True


def read_scores(raw: bytes) -> tuple[list[float], dict[str, Any]]:
    """(class probabilities, dog fields) from the endpoint's answer: a JSON list,
    {"predictions"|"prediction"|"probabilities": [...]} (with the dog fields when the model has
    them), or JSON Lines (the built-in algorithm's application/jsonlines answer is one
    {"prediction": [...]} object per line)."""
    try:
        try:
            parsed = json.loads(raw)
        except ValueError:
            first = next(line for line in raw.splitlines() if line.strip())
            parsed = json.loads(first)
        if isinstance(parsed, dict) and "prediction" in parsed and "predictions" not in parsed:
            parsed = {**parsed, "predictions": parsed["prediction"]}  # the JSON Lines key
        return answer.read_endpoint_body(parsed)
    except (ValueError, TypeError, IndexError, StopIteration):
        raise EndpointError(502, f"endpoint answered an unreadable body: {raw[:120]!r}") from None


def top_predictions(scores: list[float], classes: list[dict[str, str]], k: int) -> list[dict]:
    if len(scores) != len(classes):
        raise EndpointError(
            502,
            f"endpoint returned {len(scores)} scores but classes.json has {len(classes)} classes",
        )
    order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:k]
    return [
        {
            "breed": classes[i]["breed"],
            "wnid": classes[i]["wnid"],
            "probability": round(scores[i], 6),
        }
        for i in order
    ]


class NotClassified(EndpointError):
    """An image still unanswered at the deadline: reported by index instead of a bare 504."""


def classify(
    images: list[bytes], top_k: int, classes: list[dict[str, str]], limits: dict[str, Any]
) -> list:
    """(top-k, verdict) per image in input order; an image whose call failed holds an
    EndpointError, one still running at limits["deadline"] a NotClassified (the answer does not
    wait for it). The verdict (answer.py) says dog or not and flags close top-two breeds."""
    client = runtime_client(limits["max_pool"], limits["timeout"])

    def one(image: bytes) -> tuple[list[dict], dict] | EndpointError:
        try:
            with metrics.hop(limits, "EndpointLatency"):
                scores, dog = invoke_one(client, image, limits)
            ranked = top_predictions(scores, classes, max(top_k, 2))
            return ranked[:top_k], answer.verdict(ranked, dog)
        except EndpointError as exc:
            return exc

    pool = ThreadPoolExecutor(max_workers=min(limits["max_concurrency"], len(images)))
    futures = [pool.submit(one, image) for image in images]
    wait(futures, timeout=max(0.0, limits["deadline"] - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)
    late = (
        "not classified: no answer before the deadline (API Gateway's integration timeout or"
        " the function's own, whichever is first); send it again"
    )
    return [
        f.result() if f.done() and not f.cancelled() else NotClassified(504, late) for f in futures
    ]


# --- the Lambda entry point ----------------------------------------------------------------


def response(status: int, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Request-Id": request_id},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def log(level: int, message: str, **fields: Any) -> None:
    """One JSON object per line, so CloudWatch Logs Insights can filter on any field."""
    if logger.isEnabledFor(level):
        logger.log(
            level, json.dumps({"level": logging.getLevelName(level), "message": message, **fields})
        )


def _request_id(event: Any, context: Any) -> str:
    """Lambda's request id, else API Gateway's, else a new one; never raises on odd events."""
    found = getattr(context, "aws_request_id", None)
    if not found and isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        found = event["requestContext"].get("requestId")
    return str(found) if found else str(uuid.uuid4())


# --- the page and CORS ----------------------------------------------------------------------

PAGE_PATH = Path(__file__).with_name("index.html")
CORS_ALLOW_HEADERS = "content-type,x-api-key"
CORS_ALLOW_METHODS = "POST,OPTIONS"
CORS_MAX_AGE_S = 600


def allowed_origins() -> list[str]:
    """CORS_ALLOWED_ORIGINS as a list (empty: CORS off)."""
    raw = os.environ.get("CORS_ALLOWED_ORIGINS", "")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def cors_headers(origin: str, allowed: list[str] | None = None) -> dict[str, str]:
    """Access-Control-Allow-Origin (+ Vary) for an allowed Origin, else nothing.

    Browsers send Origin on cross-origin requests; an origin not listed gets no header, so the
    browser withholds the answer from that page. "*" allows any origin (no credentials are used:
    the API key is a header the page sets itself).
    """
    allowed = allowed_origins() if allowed is None else allowed
    origin = (origin or "").strip()
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*"}
    if origin.rstrip("/") in allowed:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def preflight_headers(origin: str, allowed: list[str] | None = None) -> dict[str, str]:
    """The answer to an OPTIONS preflight for POST /classify from an allowed origin, else {}."""
    allow = cors_headers(origin, allowed)
    if not allow:
        return {}
    return {
        **allow,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
    }


def is_page_request(event: Any) -> bool:
    """GET on the API's root (resource "/"), where API Gateway sends the page request."""
    if not isinstance(event, dict) or request_method(event) != "GET":
        return False
    resource = event.get("resource") or event.get("rawPath") or event.get("path")
    return isinstance(resource, str) and resource.rstrip("/") == ""  # no route: not the page


def page_security_headers(html: str) -> dict[str, str]:
    """Headers for the page: no framing, no sniffing, and a CSP allowing only its own inline
    script (by hash) and style, blob: thumbnails and fetch to any HTTPS API or loopback."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    )
    csp = (
        "default-src 'none'; "
        f"script-src {hashes or chr(39) + 'none' + chr(39)}; style-src 'unsafe-inline'; "
        "img-src blob: data:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def page_response(request_id: str) -> dict[str, Any]:
    """GET /: the try-it page, or a JSON 404 when this deployment ships none."""
    try:
        html = PAGE_PATH.read_text(encoding="utf-8")
    except OSError:
        return response(
            404, {"error": "no page in this deployment", "request_id": request_id}, request_id
        )
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            "X-Request-Id": request_id,
            **page_security_headers(html),
        },
        "body": html,
        "isBase64Encoded": False,
    }


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """API Gateway Lambda proxy handler: POST /classify, and GET / (the page); CORS headers for
    allowed origins on every answer."""
    if is_page_request(event):
        result = page_response(_request_id(event, context))
    else:
        result = classify_request(event, context)
    with contextlib.suppress(Exception):  # an odd event gets no CORS header, never a raise
        result["headers"].update(cors_headers(_header(event, "origin")))
    return result


def classify_request(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """POST /classify: images -> top-k breeds, every problem a JSON 4xx/5xx, never a raise."""
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    started = time.monotonic()
    request_id = _request_id(event, context)
    limits = settings()
    limits["deadline"] = answer_deadline(limits, context, started)
    n_images = 0
    try:
        if not isinstance(event, dict):
            raise RequestError(400, "not an API Gateway proxy event")
        if not limits["endpoint_name"]:
            raise EndpointError(503, "ENDPOINT_NAME is not configured")
        try:
            classes = load_classes()
        except Exception as exc:  # noqa: BLE001 (a deployment problem, reported as such)
            raise EndpointError(503, f"cannot load class names: {exc}") from None
        images, top_k = parse_request(event, limits, len(classes))
        n_images = len(images)
        results = classify(images, top_k, classes, limits)
        failures = [r for r in results if isinstance(r, EndpointError)]
        if failures and len(failures) == len(results):
            worst = max(failures, key=lambda e: (e.status >= 500, e.status == 503))
            if worst.status < 500 and len(results) == 1:
                raise RequestError(worst.status, worst.message)  # the one image was rejected
            if worst.status >= 500:
                raise EndpointError(worst.status, worst.message)
        predictions = [
            {"error": r.message} if isinstance(r, EndpointError) else r[0] for r in results
        ]
        answers = [{"error": r.message} if isinstance(r, EndpointError) else r[1] for r in results]
        unclassified = [i for i, r in enumerate(results) if isinstance(r, EndpointError)]
        status, body = (
            200,
            {
                "predictions": predictions,
                "answers": answers,
                "unclassified": unclassified,
                "request_id": request_id,
            },
        )
        log(
            logging.INFO,
            "classified",
            request_id=request_id,
            status=200,
            images=n_images,
            failed=len(failures),
            top_k=top_k,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        metrics.publish(results, limits, started, request_id)  # lambda_src/metrics.py (EMF)
        return response(status, body, request_id)
    except RequestError as exc:
        log(
            logging.WARNING, "rejected", request_id=request_id, status=exc.status, error=exc.message
        )
        return response(exc.status, {"error": exc.message, "request_id": request_id}, request_id)
    except EndpointError as exc:
        log(
            logging.ERROR,
            "endpoint failed",
            request_id=request_id,
            status=exc.status,
            images=n_images,
            error=exc.message,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return response(exc.status, {"error": exc.message, "request_id": request_id}, request_id)
    except Exception as exc:  # noqa: BLE001 - never raise: Lambda would answer a bare 502
        log(
            logging.ERROR,
            "internal error",
            request_id=request_id,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
        return response(500, {"error": "internal error", "request_id": request_id}, request_id)
