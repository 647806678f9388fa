"""The model inside the Lambda (deploy.endpoint_mode = "lambda") against `dogbreed serve`.

    python bench/lambda_mode.py [--artifact DIR] [--runs 5] [--requests 10] [--threads 1]

Prints, for the packaged handler run as the Lambda runs it (the built function zip and layer
extracted into an empty folder, a fresh `python -I` with only them, the standard library and
boto3 on sys.path, MODEL_THREADS = --threads): package sizes (the Lambda's layer for Python 3.12
manylinux x86_64, fetched by pip, and this machine's), cold start (process start -> first answer,
median of --runs fresh processes), warm latency of 1 and 16 images per request, peak RSS (VmHWM),
both sides pinned to one core (taskset; a Lambda at 1769 MB has one vCPU);
then the same for `dogbreed serve --api` (a fresh `python -m ops serve --api` process, answered
through its gateway over HTTP), and the time to fetch the model from S3 (moto on loopback) that a
model-from-S3 design would add to each cold start. Images: 16 Stanford Dogs box crops
(../shared/stanford-dogs, a subsample). Without --artifact, an untrained Lite2 artifact is
exported first (head from the ImageNet rows; no training; same size and speed as a trained one).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ops.api.gateway import proxy_event  # noqa: E402
from ops.api.lambda_layer import (  # noqa: E402
    UNZIPPED_LIMIT_BYTES,
    build_layer,
    extract_for_lambda,
    function_extra,
    unzipped_bytes,
)
from ops.api.lambda_package import build_lambda_zip  # noqa: E402

DOGS = REPO.parent / "shared" / "stanford-dogs" / "Images"
# Both sides on one core, as a Lambda at 1769 MB has one vCPU (taskset, where it exists).
PIN = ["taskset", "-c", "1"] if shutil.which("taskset") else []
CHILD = """
import json, sys, time
t0 = float(sys.argv[3])
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import handler
events = json.load(open(sys.argv[4]))
first = handler.handler(events[0], None)
cold = time.time() - t0
cold_cpu = time.process_time()
assert first["statusCode"] == 200, first
warm, cpu = {}, {}
for name in ("one", "sixteen"):
    times, cpus = [], []
    for _ in range(int(sys.argv[5])):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = handler.handler(events[1 if name == "one" else 2], None)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        assert out["statusCode"] == 200, out
    warm[name] = sorted(times)[len(times) // 2]
    cpu[name] = sorted(cpus)[len(cpus) // 2]
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"cold": cold, "cold_cpu": cold_cpu, "warm": warm, "cpu": cpu, "peak_mb": peak / 1024}))
"""


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def dog_images(n: int = 16) -> list[bytes]:
    """n box crops, one per breed folder (the first n folders)."""
    folders = sorted(p for p in DOGS.iterdir() if p.is_dir())[:n]
    return [sorted(f.glob("*.jpg"))[0].read_bytes() for f in folders]


def events(images: list[bytes]) -> list[dict]:
    """[one image, one image, 16 images] as API Gateway proxy events."""

    def batch(imgs):
        body = json.dumps({"images": [base64.b64encode(i).decode() for i in imgs], "top_k": 5})
        return proxy_event("POST", "/classify", {"Content-Type": "application/json"}, body.encode())

    return [batch(images[:1]), batch(images[1:2]), batch(images)]


def lite2_artifact(out: Path) -> Path:
    """An untrained Lite2 artifact (offline weights, head from the ImageNet rows, dog head)."""
    from ops.artifact.export import export_artifact
    from ops.data.manifest import BreedClass
    from ops.model.network import build_model

    folders = sorted(p.name for p in DOGS.iterdir() if p.is_dir())
    classes = [BreedClass(i, f.split("-", 1)[0], f.split("-", 1)[1]) for i, f in enumerate(folders)]
    built = build_model("tf_efficientnet_lite2", classes, weights="auto")
    out.mkdir(parents=True, exist_ok=True)
    classes_json = out.parent / "lite2-classes.json"
    classes_json.write_text(
        json.dumps([{"index": c.index, "wnid": c.wnid, "name": c.name} for c in classes])
    )
    meta = {"backbone": built.backbone, "head_init": built.head_init, "trained": False}
    export_artifact(built.model, classes_json, built.preprocessing, out, meta, {})
    return out


def package_sizes(artifact: Path, work: Path) -> tuple[Path, Path]:
    """Print the zip and layer sizes; returns (function zip, this machine's layer)."""
    function = build_lambda_zip(
        work / "function.zip", artifact / "classes.json", extra=function_extra(artifact)
    )
    local = build_layer(work / "layer-local.zip", python_version=None)
    lam = build_layer(work / "layer-py3.12.zip")
    print(
        f"function zip (handler + runtime code + model): {mib(function.stat().st_size)} zipped,"
        f" {mib(unzipped_bytes(function))} unzipped"
    )
    for name, layer in (("Lambda (py3.12 manylinux x86_64)", lam), ("this machine", local)):
        total = unzipped_bytes(function, layer)
        print(
            f"layer for {name}: {mib(layer.stat().st_size)} zipped, {mib(unzipped_bytes(layer))}"
            f" unzipped; function + layer {mib(total)} of {mib(UNZIPPED_LIMIT_BYTES)}"
        )
    return function, local


def lambda_runs(function: Path, layer: Path, evs: list[dict], args, work: Path) -> list[dict]:
    """--runs fresh interpreters running the packaged handler (CLASSIFY_BACKEND=model)."""
    task, layer_python = extract_for_lambda(function, layer, work / "lambda")
    (work / "events.json").write_text(json.dumps(evs))
    (work / "child.py").write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(CLASSIFY_BACKEND="model", MODEL_THREADS=str(args.threads), LOG_LEVEL="WARNING")
    out = []
    for _ in range(args.runs):
        t0 = time.time()
        proc = subprocess.run(
            [
                *PIN,
                args.clean_python,
                "-I",
                str(work / "child.py"),
                str(task),
                str(layer_python),
                repr(t0),
                str(work / "events.json"),
                str(args.requests),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=600,
        )
        if proc.returncode != 0:
            sys.exit(f"packaged handler failed: {proc.stderr[-2000:]}")
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_runs(artifact: Path, evs: list[dict], args, work: Path) -> list[dict]:
    """--runs fresh `dogbreed serve --api` processes, timed to their first answer over HTTP."""
    bodies = [e["body"].encode() for e in evs]
    out = []
    for _ in range(args.runs):
        port, api = free_port(), free_port()
        cmd = [
            *PIN,
            sys.executable,
            "-m",
            "ops",
            "--set",
            f"serve.port={port}",
            "--set",
            f"serve.api_port={api}",
            "--set",
            "serve.api_key=",
            "--set",
            f"serve.max_batch_size={args.serve_batch}",
            "serve",
            "--api",
            "--artifact",
            str(artifact),
            "--threads",
            str(args.threads),
        ]
        env = {**os.environ, "DOGBREED_STATE_FILE": str(work / "state.json")}
        t0 = time.time()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        url = f"http://127.0.0.1:{api}/classify"
        headers = {"Content-Type": "application/json"}
        try:
            while True:
                if proc.poll() is not None:
                    sys.exit(f"serve exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    if requests.post(url, data=bodies[0], headers=headers, timeout=60).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
            cold = time.time() - t0
            cold_cpu = cpu_seconds(proc.pid)
            warm, cpu = {}, {}
            for name, body in (("one", bodies[1]), ("sixteen", bodies[2])):
                times, cpus = [], []
                for _ in range(args.requests):
                    start, start_cpu = time.perf_counter(), cpu_seconds(proc.pid)
                    requests.post(url, data=body, headers=headers, timeout=60).raise_for_status()
                    times.append(time.perf_counter() - start)
                    cpus.append(cpu_seconds(proc.pid) - start_cpu)
                warm[name] = sorted(times)[len(times) // 2]
                cpu[name] = sorted(cpus)[len(cpus) // 2]
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = [int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:")][0]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        out.append(
            {"cold": cold, "cold_cpu": cold_cpu, "warm": warm, "cpu": cpu, "peak_mb": peak / 1024}
        )
    return out


# List prices, us-east-1, USD (aws.amazon.com/api-gateway/pricing, /lambda/pricing,
# /sagemaker/pricing): REST API requests, Lambda requests and x86 GB-seconds, SageMaker
# serverless inference per GB-second, ml.m5.large per hour (deploy.endpoint_instance_prices).
API_PER_REQUEST = 3.50 / 1e6
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_GB_S = 0.0000166667
SERVERLESS_GB_S = 0.00002
M5_LARGE_HOUR = 0.115
# The same model's compute per image on both (measured here: the warm CPU time of the packaged
# handler); a serverless endpoint at 2048 MB (ops/artifact/container_package.SERVERLESS_MEMORY_MB)
# bills it per GB-second, and the classify Lambda (256 MB) waits for it, fanning 16 images out
# 5 at a time (MAX_CONCURRENCY), plus ~20 ms of its own. Lambda mode bills 1769 MB for the
# whole request. Data processing ($0.016/GB) and cold starts are left out on every side.
SERVERLESS_GB, FANOUT, HANDLER_S = 2.0, 5, 0.020


def cost_table(one_s: float, sixteen_s: float, lambda_gb: float = 1.769) -> None:
    """USD per 1,000 images of each mode at 1 and 16 images per request; one_s / sixteen_s: the
    model's time for a request of 1 / 16 images."""
    print("cost per 1,000 images (USD, list prices; instance: at 1,000 / 100,000 images a day):")
    for per_request, request_s in ((1, one_s), (16, sixteen_s)):
        requests_ = 1000 / per_request
        fixed = requests_ * (API_PER_REQUEST + LAMBDA_PER_REQUEST)
        in_lambda = fixed + requests_ * request_s * lambda_gb * LAMBDA_GB_S
        image_s = request_s / per_request
        wait_s = -(-per_request // FANOUT) * image_s + HANDLER_S
        waiting = requests_ * wait_s * 0.25 * LAMBDA_GB_S
        serverless = fixed + waiting + 1000 * image_s * SERVERLESS_GB * SERVERLESS_GB_S
        per_day = [fixed + waiting + M5_LARGE_HOUR * 24 * 1000 / n for n in (1000, 100000)]
        print(
            f"  {per_request:>2} image(s)/request: lambda ${in_lambda:.4f}, serverless"
            f" ${serverless:.4f}, instance ${per_day[0]:.2f} / ${per_day[1]:.4f}"
        )


def report(name: str, runs: list[dict]) -> None:
    colds = sorted(r["cold"] for r in runs)
    one = statistics.median(r["warm"]["one"] for r in runs)
    sixteen = statistics.median(r["warm"]["sixteen"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    if "cpu" in runs[0]:  # CPU seconds: what one idle vCPU would take, whatever the load here
        print(
            f"{name}, CPU time: cold start median"
            f" {statistics.median(r['cold_cpu'] for r in runs):.2f} s; warm 1 image"
            f" {statistics.median(r['cpu']['one'] for r in runs) * 1000:.0f} ms, 16 images"
            f" {statistics.median(r['cpu']['sixteen'] for r in runs) * 1000:.0f} ms"
        )
    print(
        f"{name}: cold start median {statistics.median(colds):.2f} s"
        f" (min {colds[0]:.2f}, max {colds[-1]:.2f}, {len(runs)} fresh processes);"
        f" warm 1 image {one * 1000:.0f} ms, 16 images {sixteen * 1000:.0f} ms"
        f" ({sixteen / 16 * 1000:.0f} ms/image); peak RSS {peak:.0f} MB"
    )


def s3_fetch(artifact: Path, runs: int) -> None:
    """What a model-from-S3 cold start adds: GetObject of model.onnx (moto server, loopback)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(port=port, verbose=False)
    server.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        s3.create_bucket(Bucket="models")
        data = (artifact / "model.onnx").read_bytes()
        s3.put_object(Bucket="models", Key="model.onnx", Body=data)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            with tempfile.NamedTemporaryFile(dir="/tmp") as f:
                f.write(s3.get_object(Bucket="models", Key="model.onnx")["Body"].read())
            times.append(time.perf_counter() - start)
        print(
            f"model from S3: GetObject of model.onnx ({mib(len(data))}) to /tmp, median"
            f" {statistics.median(times) * 1000:.0f} ms on loopback moto ({runs} runs)"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="1: Lambda at 1769 MB = 1 vCPU")
    parser.add_argument(
        "--serve-batch",
        type=int,
        default=8,
        help="serve.max_batch_size (0 = serve's default auto, timed at start: adds to its cold start)",
    )
    parser.add_argument(
        "--clean-python",
        help="an interpreter with only boto3 installed (python -m venv + pip)",
    )
    parser.add_argument("--work", type=Path, default=Path("build/bench-lambda-mode"))
    parser.add_argument(
        "--cost-only",
        nargs=2,
        type=float,
        metavar=("ONE_S", "SIXTEEN_S"),
        help="print only the cost table, for these model times of a 1- and a 16-image request",
    )
    args = parser.parse_args()
    if args.cost_only:
        cost_table(*args.cost_only)
        return
    if not args.clean_python:
        parser.error("--clean-python is required (python -m venv DIR && DIR/bin/pip install boto3)")
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    artifact = args.artifact or args.work / "lite2"
    if not (artifact / "model.onnx").is_file():
        print(f"exporting an untrained Lite2 artifact to {artifact} ...")
        lite2_artifact(artifact)
    print(f"artifact: {artifact} (model.onnx {mib((artifact / 'model.onnx').stat().st_size)})")
    function, layer = package_sizes(artifact, args.work)
    evs = events(dog_images())
    runs = lambda_runs(function, layer, evs, args, args.work)
    report("lambda mode (packaged handler)", runs)
    report("dogbreed serve --api", serve_runs(artifact, evs, args, args.work))
    s3_fetch(artifact, args.runs)
    cpu = [statistics.median(r["cpu"][k] for r in runs) for k in ("one", "sixteen")]
    cost_table(*cpu)  # CPU seconds: what an idle vCPU takes, whatever the load here


if __name__ == "__main__":
    main()
