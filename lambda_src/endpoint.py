"""The endpoint client: each image one SageMaker invoke_endpoint call, fanned out on a bounded
thread pool, throttling retried with jittered backoff until the answer deadline.

One of the two scorers behind the handler (the other, the model inside the Lambda, is model.py),
chosen by CLASSIFY_BACKEND=endpoint (the default): `configuration_problem(limits)` and
`score(images, limits)` -> per image (class probabilities, dog fields) or an EndpointError.
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (read by boto3 itself) points it elsewhere, e.g. at the local
model server.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

try:
    from lambda_src import answer, config, metrics
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import answer
    import config
    import metrics


EndpointError = config.EndpointError
NotClassified = config.NotClassified

RETRYABLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ModelNotReadyException",
}
UNAVAILABLE_CODES = RETRYABLE_CODES | {"InternalDependencyException"}

_clients_lock = threading.Lock()
_clients: dict[tuple, Any] = {}


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
    with _clients_lock:
        if key not in _clients:
            client_config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=max_pool,
                connect_timeout=5,
                read_timeout=timeout,
            )
            _clients[key] = boto3.session.Session().client(
                "sagemaker-runtime", config=client_config
            )
        return _clients[key]


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


def configuration_problem(limits: dict[str, Any]) -> str | None:
    """Why this scorer cannot answer (no endpoint named), else None."""
    return None if limits["endpoint_name"] else "ENDPOINT_NAME is not configured"


def score(images: list[bytes], limits: dict[str, Any]) -> list:
    """Per image, in input order: (class probabilities, dog fields), an EndpointError for a failed
    call, or a NotClassified for one still running at limits["deadline"] (the answer does not
    wait for it)."""
    client = runtime_client(limits["max_pool"], limits["timeout"])

    def one(image: bytes) -> tuple[list[float], dict[str, Any]] | EndpointError:
        try:
            with metrics.hop(limits, "EndpointLatency"):  # per call, retries included (EMF)
                return invoke_one(client, image, limits)
        except EndpointError as exc:
            return exc

    pool = ThreadPoolExecutor(max_workers=min(limits["max_concurrency"], len(images)))
    futures = [pool.submit(one, image) for image in images]
    wait(futures, timeout=max(0.0, limits["deadline"] - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)
    return [
        f.result() if f.done() and not f.cancelled() else NotClassified(504, config.LATE)
        for f in futures
    ]
