"""The classify Lambda's configuration and limits (environment), its errors, and the class list.

Read per invocation (cheap) so a changed environment takes effect. Standard library + boto3 only
(classes may come from S3).

Configuration (environment; the local gateway sets the same variables):
  ENDPOINT_NAME        SageMaker endpoint to invoke (required)
  CLASSES_S3_URI       s3://bucket/key of classes.json (optional; else CLASSES_PATH)
  CLASSES_PATH         classes.json path (default: classes.json beside handler.py, shipped in the zip)
  MAX_IMAGES           images per request (default 16)
  MAX_IMAGE_BYTES      bytes per decoded image (default 4 MB, SageMaker serverless's request limit)
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
GET / answers the try-it page (index.html beside handler.py, shipped in the zip).
  DOG_MIN_TOP_PROBABILITY  fallback dog threshold on the top probability, for endpoints that answer
                       no dog score (the built-in algorithm); default 0 (see docs/real-photos.md)
  UNCERTAIN_MARGIN     top-1 minus top-2 probability below which an answer is "A or B" (0.2)
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (read by boto3 itself) points the runtime client elsewhere,
e.g. at the local model server.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import boto3

_cache_lock = threading.Lock()
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


class NotClassified(EndpointError):
    """An image still unanswered at the deadline: reported by index instead of a bare 504."""


LATE = (
    "not classified: no answer before the deadline (API Gateway's integration timeout or"
    " the function's own, whichever is first); send it again"
)


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
        "max_image_bytes": _int_env("MAX_IMAGE_BYTES", 4 * 1000 * 1000),  # serverless: 4 MB
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
