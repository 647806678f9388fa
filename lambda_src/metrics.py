"""What POST /classify answered, as CloudWatch metrics: one embedded-metric-format (EMF) log line
per request, written to stdout, which the Lambda runtime sends to the function's log group.

Standard library only, not AWS Lambda Powertools: EMF is one documented JSON shape, so one
json.dumps replaces a layer whose ARN differs per region and architecture and must be pinned
and kept current; the zip stays the standard library + boto3, like the rest of lambda_src.
CloudWatch Logs extracts the metrics itself: no PutMetricData call, no latency added to the
answer, no IAM permission (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html).

Per request, namespace METRICS_NAMESPACE (default DogBreed/Answers), dimension FunctionName:
  Images              images in the request (Count)
  Failed              images with no answer: rejected, endpoint failure or deadline (Count)
  Dog, NoDog, Uncertain, BreedNotRecognised
                      answers per verdict (Count), from the verdict fields in VERDICT_COUNTS: a
                      count appears once the answers carry its field, so "breed not recognised"
                      (issue 27's `breed_known`) needs no change here
  Top1Probability     the top breed's probability of each image answered as a dog (values)
  EndpointLatency     each invoke_endpoint call, retries included (Milliseconds, values)
  HandlerLatency      the request, as the handler saw it (Milliseconds)
Properties beside them (not dimensions, so no extra metrics are billed; Logs Insights reads them):
request_id, the endpoint, MODEL_VERSION (the registry version `dogbreed deploy` serves) and
the breeds answered. Written only inside Lambda (AWS_LAMBDA_FUNCTION_NAME is set) or when
ANSWER_METRICS=emf; ANSWER_METRICS=off turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

DEFAULT_NAMESPACE = "DogBreed/Answers"
DIMENSION = "FunctionName"
MAX_VALUES = 100  # EMF: a metric holds at most 100 values
# (metric, verdict field, value counted): the answer object's fields (answer.verdict).
VERDICT_COUNTS = (
    ("Dog", "dog", True),
    ("NoDog", "dog", False),
    ("Uncertain", "uncertain", True),
    ("BreedNotRecognised", "breed_known", False),
)
HOPS_KEY = "hop_ms"  # where hop() keeps its timings in the handler's per-request limits


@contextlib.contextmanager
def hop(limits: dict[str, Any], name: str) -> Iterator[None]:
    """Time one call to the next hop into limits[HOPS_KEY][name] (milliseconds), even when it
    raises. list.append is atomic, so the handler's worker threads may share the list."""
    started = time.monotonic()
    try:
        yield
    finally:
        elapsed = round((time.monotonic() - started) * 1000, 1)
        limits.setdefault(HOPS_KEY, {}).setdefault(name, []).append(elapsed)


def enabled() -> bool:
    """Inside Lambda unless ANSWER_METRICS=off; elsewhere (the local gateway) only when =emf."""
    mode = os.environ.get("ANSWER_METRICS", "").strip().lower()
    if mode in ("off", "0", "false", "no"):
        return False
    return mode == "emf" or bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def answer_figures(answers: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Counts per verdict and the dog answers' top-1 probabilities, from the answer objects
    (None for an image that has none)."""
    given = [a for a in answers if isinstance(a, dict)]
    figures: dict[str, Any] = {"Images": len(answers), "Failed": len(answers) - len(given)}
    for metric, field, value in VERDICT_COUNTS:
        if any(field in a for a in given):
            figures[metric] = sum(1 for a in given if a.get(field) is value)
    top1 = [float(a["top_probability"]) for a in given if a.get("dog") and "top_probability" in a]
    if top1:
        figures["Top1Probability"] = top1[:MAX_VALUES]
    return figures


def emf_record(
    figures: dict[str, Any], hops: dict[str, list[float]], properties: dict[str, Any]
) -> dict[str, Any]:
    """The EMF object: the _aws metadata naming each metric and unit, then the values."""
    values = {**figures, **{name: ms[:MAX_VALUES] for name, ms in hops.items() if ms}}
    units = {name: "Milliseconds" if name.endswith("Latency") else "Count" for name in values}
    units["Top1Probability"] = "None"
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": os.environ.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": n, "Unit": units[n]} for n in values],
                }
            ],
        },
        DIMENSION: function,
        **properties,
        **values,
    }


def publish(results: list, limits: dict[str, Any], started: float, request_id: str) -> None:
    """Write the request's EMF line. `results` are the handler's (predictions, verdict) pairs
    or errors; never raises (a metric must not cost an answer)."""
    if not enabled():
        return
    with contextlib.suppress(Exception):
        answers = []
        for result in results:
            if isinstance(result, tuple):
                ranked, verdict = result
                top = float(ranked[0]["probability"]) if ranked else 0.0
                answers.append({**verdict, "top_probability": top})
            else:
                answers.append(None)
        hops = dict(limits.get(HOPS_KEY) or {})
        hops["HandlerLatency"] = [round((time.monotonic() - started) * 1000, 1)]
        properties = {
            "request_id": request_id,
            "endpoint": limits.get("endpoint_name", ""),
            "model_version": os.environ.get("MODEL_VERSION", ""),
            "breeds": sorted({str(a["breed"]) for a in answers if a and a.get("breed")}),
        }
        line = json.dumps(emf_record(answer_figures(answers), hops, properties))
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
