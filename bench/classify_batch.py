"""Benchmark: 16 images in one POST /classify vs 16 single-image POSTs, through the local gateway.

Runs the real stack in one process: the local model server (ONNX Runtime) + the local gateway
(the production Lambda handler) + the classify client. Prints the batch/singles time ratio
(goal >= 3x) and p50/p95 request latency at concurrency 1 and 8.

    .venv/bin/python bench/classify_batch.py                      # last trained artifact
    .venv/bin/python bench/classify_batch.py --artifact artifacts/run-1
    .venv/bin/python bench/classify_batch.py --tiny               # a tiny random model (no training needed)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH = 16


def images(n: int, size: int) -> list[bytes]:
    from tests.factories import class_image

    out = []
    for i in range(n):
        buf = io.BytesIO()
        class_image(i % 8, i, size).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def latencies(send, payloads: list, concurrency: int) -> list[float]:
    def timed(p):
        t0 = time.perf_counter()
        send(p)
        return (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(timed, payloads))


def measure(url: str, data: list[bytes], concurrency: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) of 64 one-image and 16 sixteen-image requests, `concurrency` at a time."""
    from ops.api.client import ClassifyClient

    clients = [ClassifyClient(url, timeout=120) for _ in range(concurrency)]
    single = latencies(
        lambda i: clients[i % concurrency].classify([data[i % BATCH]]), list(range(64)), concurrency
    )
    batch = latencies(
        lambda i: clients[i % concurrency].classify(data), list(range(16)), concurrency
    )
    return single, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--artifact", type=Path, help="model artifact (default: last local training)"
    )
    parser.add_argument("--tiny", action="store_true", help="use a tiny random model")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=320, help="generated JPEG side in pixels")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0 = all)")
    args = parser.parse_args()

    from ops.api.client import ClassifyClient
    from ops.api.gateway import start_gateway
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer

    artifact = args.artifact
    if args.tiny:
        from tests.local_artifacts import make_tiny_artifact

        artifact = make_tiny_artifact(Path(tempfile.mkdtemp()) / "model", num_classes=8)
    runtime = load_runtime(artifact, threads=args.threads)
    data = images(BATCH, args.size)
    with ModelServer(runtime, port=0, endpoint_name="bench") as server:
        gateway = start_gateway(
            "127.0.0.1", 0, server.url, "bench", runtime.artifact_dir / "classes.json"
        )
        client = ClassifyClient(gateway.url, timeout=120)
        client.classify(data[:2])  # warm up
        batch_s, singles_s = [], []
        for _ in range(args.rounds):  # interleaved, same run
            t0 = time.perf_counter()
            client.classify(data)
            batch_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for image in data:
                client.classify([image])
            singles_s.append(time.perf_counter() - t0)
        b, s = statistics.median(batch_s), statistics.median(singles_s)
        print(
            f"model: {runtime.artifact_dir} ({runtime.num_classes} classes, {runtime.input_size}px)"
        )
        print(f"16 images, 1 POST : {b * 1000:8.1f} ms (median of {args.rounds})")
        print(f"16 images, 16 POST: {s * 1000:8.1f} ms (median of {args.rounds})")
        print(f"ratio singles/batch: {s / b:.2f}x (goal >= 3x)")
        print("latency per request (ms):  mode        conc   p50     p95")
        for concurrency in (1, 8):
            single, batch = measure(gateway.url, data, concurrency)
            for name, values in (("1 image  ", single), ("16 images", batch)):
                p50, p95 = percentile(values, 50), percentile(values, 95)
                print(f"{'':27}{name}  {concurrency:>4}  {p50:6.1f}  {p95:6.1f}")
        gateway.shutdown()


if __name__ == "__main__":
    main()
