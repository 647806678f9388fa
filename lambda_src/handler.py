"""POST /classify: API Gateway (REST, Lambda proxy) -> this handler -> SageMaker endpoint, or the
model inside the function (deploy.endpoint_mode = "lambda").

Only boto3 and the standard library, so it runs on the stock Python Lambda runtime (the model
inside it brings numpy, Pillow and ONNX Runtime in a layer). Accepts
  (a) JSON {"images": ["<base64>", ...], "top_k": 5}, and
  (b) one raw image body (Content-Type image/jpeg, image/png or application/x-image, which API
      Gateway delivers base64-encoded with isBase64Encoded=true thanks to binary media types).
The answer keeps input order and reports an image the endpoint rejected in place:
{"predictions": [[{"breed", "wnid", "probability"}...] | {"error": "..."}, ...],
 "answers": [{"dog", "dog_score", "breed", "uncertain", "label", ...} | {"error": "..."}, ...]}
(answers: answer.py, docs/real-photos.md: "no dog recognised", "A or B"). Every request problem
is a 4xx JSON error; endpoint failures are 502/503. GET / answers the try-it page.

The modules: config.py (environment, limits, errors, classes), request.py (parsing and the JSON
guard), the scorer CLASSIFY_BACKEND names (endpoint.py: the SageMaker endpoint client, the
default; model.py: the model inside the Lambda), answer.py (the verdict), page.py (the page, CORS,
the JSON response); this file only wires them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import traceback
import uuid
from typing import Any

try:
    from lambda_src import answer, config, endpoint, metrics, model, page, request
    from lambda_src.request import parse_request
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import answer
    import config
    import endpoint
    import metrics
    import model
    import page
    import request
    from request import parse_request

RequestError = config.RequestError
EndpointError = config.EndpointError
logger = logging.getLogger("dogbreed.classify")
SCORERS = {"endpoint": endpoint, "model": model}


def scorer() -> Any:
    """The scorer module CLASSIFY_BACKEND names: "endpoint" (default) or "model"."""
    name = os.environ.get("CLASSIFY_BACKEND") or "endpoint"
    if name not in SCORERS:
        raise EndpointError(503, f"CLASSIFY_BACKEND must be one of {sorted(SCORERS)}, not {name!r}")
    return SCORERS[name]


if os.environ.get("CLASSIFY_BACKEND") == "model":  # load it in the Lambda's init phase
    with contextlib.suppress(Exception):  # a failure is answered per request (a 503)
        model.load_runtime()


def top_predictions(scores: list[float], classes: list[dict[str, str]], k: int) -> list[dict]:
    """The k most likely classes of one image, best first (a 502 when the counts disagree)."""
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


def classify(
    images: list[bytes],
    top_k: int,
    classes: list[dict[str, str]],
    limits: dict[str, Any],
    scores_of: Any = endpoint.score,
) -> list:
    """(top-k, verdict) per image in input order; an image the scorer could not answer holds
    its EndpointError (a NotClassified when the deadline came first). The verdict (answer.py)
    says dog or not and flags close top-two breeds."""
    results: list = []
    for scored in scores_of(images, limits):
        try:
            if isinstance(scored, EndpointError):
                raise scored
            scores, dog = scored
            ranked = top_predictions(scores, classes, max(top_k, 2))
            results.append((ranked[:top_k], answer.verdict(ranked, dog)))
        except EndpointError as exc:
            results.append(exc)
    return results


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


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """API Gateway Lambda proxy handler: POST /classify, and GET / (the page); CORS headers for
    allowed origins on every answer."""
    if page.is_page_request(event):
        result = page.page_response(_request_id(event, context))
    else:
        result = classify_request(event, context)
    with contextlib.suppress(Exception):  # an odd event gets no CORS header, never a raise
        result["headers"].update(page.cors_headers(request.header(event, "origin")))
    return result


def classify_request(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """POST /classify: images -> top-k breeds, every problem a JSON 4xx/5xx, never a raise."""
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    started = time.monotonic()
    request_id = _request_id(event, context)
    limits = config.settings()
    limits["deadline"] = config.answer_deadline(limits, context, started)
    n_images = 0
    try:
        if not isinstance(event, dict):
            raise RequestError(400, "not an API Gateway proxy event")
        backend = scorer()
        problem = backend.configuration_problem(limits)
        if problem:
            raise EndpointError(503, problem)
        try:
            classes = config.load_classes()
        except Exception as exc:  # noqa: BLE001 (a deployment problem, reported as such)
            raise EndpointError(503, f"cannot load class names: {exc}") from None
        images, top_k = parse_request(event, limits, len(classes))
        n_images = len(images)
        results = classify(images, top_k, classes, limits, backend.score)
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
        return page.response(status, body, request_id)
    except RequestError as exc:
        log(
            logging.WARNING, "rejected", request_id=request_id, status=exc.status, error=exc.message
        )
        return page.response(
            exc.status, {"error": exc.message, "request_id": request_id}, request_id
        )
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
        return page.response(
            exc.status, {"error": exc.message, "request_id": request_id}, request_id
        )
    except Exception as exc:  # noqa: BLE001 - never raise: Lambda would answer a bare 502
        log(
            logging.ERROR,
            "internal error",
            request_id=request_id,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
        return page.response(500, {"error": "internal error", "request_id": request_id}, request_id)
