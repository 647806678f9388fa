"""Benchmark: what the answer metrics (lambda_src/metrics.py) cost one POST /classify request.

The EMF line is built and written in the Lambda after the answer is ready and before it is
returned, so its time adds to every request's latency. This times `publish` for requests of 1 and
16 images (the handler's MAX_IMAGES default) with realistic answers, writing to /dev/null, and
prints the median and p99 per request and the line's size (CloudWatch Logs bills ingestion per GB).

    .venv/bin/python bench/answer_metrics.py            # 2,000 requests per size
    .venv/bin/python bench/answer_metrics.py --requests 500
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lambda_src import metrics  # noqa: E402


def results_for(images: int) -> list:
    """(ranked top-5, verdict) per image, as the handler's classify() returns them."""
    ranked = [
        {"breed": f"breed-{i}", "wnid": f"n{i:08d}", "probability": 0.9 - i / 10} for i in range(5)
    ]
    verdict = {"dog": True, "dog_score": 0.9, "uncertain": False, "breed": "breed-0", "label": "x"}
    return [(ranked, verdict) for _ in range(images)]


def time_requests(images: int, requests: int) -> tuple[list[float], int]:
    """Microseconds per publish() call, and the size of one line in bytes."""
    results = results_for(images)
    limits = {"endpoint_name": "bench", metrics.HOPS_KEY: {"EndpointLatency": [12.5] * images}}
    sample = io.StringIO()
    with contextlib.redirect_stdout(sample):
        metrics.publish(results, limits, time.monotonic(), "req-1")
    timings = []
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for _ in range(requests):
            started = time.perf_counter()
            metrics.publish(results, limits, time.monotonic(), "req-1")
            timings.append((time.perf_counter() - started) * 1e6)
    return timings, len(sample.getvalue().encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    os.environ["ANSWER_METRICS"] = "emf"
    print(f"answer metrics (EMF) per request, {args.requests} requests per size")
    for images in (1, 16):
        timings, size = time_requests(images, args.requests)
        ordered = sorted(timings)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(
            f"  {images:>2} image(s): median {statistics.median(timings):.0f} us, "
            f"p99 {p99:.0f} us, line {size} bytes"
        )


if __name__ == "__main__":
    main()
