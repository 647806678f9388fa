"""Serverless fit of a local model's container package: size, cold load time, memory, latency.

    python bench/container_fit.py [ARTIFACT] [--runs 3] [--requests 20]

ARTIFACT defaults to artifacts/latest. The package `deploy` uploads is built and extracted, then
each run starts a fresh Python process the way the PyTorch container's worker starts: code/ on
PYTHONPATH, sagemaker-pytorch-inference's HandlerService initialised on the folder (imports,
toolkit, model_fn), then requests through handle() with 500x375 JPEGs (the dataset's typical
size). Printed: package sizes, cold load (process start -> model loaded), first and steady
request latency, the worker's peak RSS, TorchScript's forward pass against ONNX Runtime's, and the smallest serverless memory setting that holds
the worker plus an allowance for TorchServe's Java frontend and the OS (not measurable here).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)  # API_ProductionVariantServerlessConfig
FRONTEND_ALLOWANCE_MB = 1024  # TorchServe's JVM + OS + a second request's buffers (unmeasured)
MAX_SERVERLESS_IMAGE_GB = 10  # the serverless container image limit (the DLC is AWS's)

WORKER = textwrap.dedent(
    """
    import io, json, resource, sys, time
    t0 = float(sys.argv[3])

    def peak_mb():
        # VmHWM is this process image's own peak; ru_maxrss also keeps the forking parent's
        # (the bench process, torch and ONNX Runtime loaded), which it inherits across exec.
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sys.modules["timm"] = None  # the container has no timm
    sys.path.append(sys.argv[4])
    from container_toolkit import context
    from sagemaker_pytorch_serving_container.handler_service import HandlerService
    service = HandlerService()
    service.initialize(context(sys.argv[1]))
    loaded = time.time() - t0
    rss_loaded = peak_mb()
    bodies = json.load(open(sys.argv[2]))
    latencies = []
    for path in bodies:
        body = open(path, "rb").read()
        ctx = context(sys.argv[1], {"Content-Type": "image/jpeg"})
        start = time.perf_counter()
        (out,) = service.handle([{"body": body}], ctx)
        latencies.append(time.perf_counter() - start)
        assert ctx.get_response_status(0)[0] == 200, out
    print(json.dumps({
        "cold_load_s": loaded,
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": peak_mb(),
        "latencies_s": latencies,
    }))
    """
)


def make_images(folder: Path, n: int) -> list[str]:
    """n different 500x375 JPEGs (smooth random colour fields, quality 90)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        path = folder / f"img{i}.jpg"
        path.write_bytes(buf.getvalue())
        paths.append(str(path))
    return paths


def run_worker(model_dir: Path, images: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SAGEMAKER_PROGRAM"}
    env["PYTHONPATH"] = str(model_dir / "code")
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    script = model_dir.parent / "worker.py"
    script.write_text(WORKER)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, str(script), str(model_dir), str(images), str(t0), str(REPO / "tests")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def forward_times(root: Path, batch: int = 8, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per forward pass of one batch: the package's TorchScript vs the artifact's ONNX."""
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch

    size = json.loads((root / "preprocessing.json").read_text())["input_size"]
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(root / "model.ts")).eval()
    session = ort.InferenceSession(str(root / "model.onnx"), providers=["CPUExecutionProvider"])
    out: dict[str, list[float]] = {"torchscript": [], "onnxruntime": []}
    for _ in range(repeats + 1):  # the first of each is a warm-up
        start = time.perf_counter()
        with torch.inference_mode():
            module(torch.from_numpy(x))
        out["torchscript"].append(time.perf_counter() - start)
        start = time.perf_counter()
        session.run(None, {"input": x})
        out["onnxruntime"].append(time.perf_counter() - start)
    return {k: v[1:] for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", nargs="?", default=str(REPO / "artifacts" / "latest"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--forward-only", action="store_true", help="only TorchScript vs ONNX Runtime, batch 8"
    )
    args = parser.parse_args()

    from ops.artifact.container_package import extract_package, write_package
    from ops.artifact.reader import resolve_artifact_dir

    root = resolve_artifact_dir(args.artifact)
    times = forward_times(root)
    print(
        "forward pass, batch of 8: "
        + ", ".join(
            f"{name} median {statistics.median(v):.2f} s ({8 / statistics.median(v):.1f} img/s)"
            for name, v in times.items()
        )
    )
    if args.forward_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        package = write_package(root, tmp / "model.tar.gz")
        build_s = time.perf_counter() - started
        package_bytes = package.stat().st_size
        with tarfile.open(package) as tar:
            uncompressed = sum(m.size for m in tar.getmembers())
        model_dir = extract_package(package, tmp / "model")
        images = tmp / "images.json"
        images.write_text(json.dumps(make_images(tmp, args.requests)))
        runs = [run_worker(model_dir, images) for _ in range(args.runs)]

    mb = 1e6
    cold = [r["cold_load_s"] for r in runs]
    first = [r["latencies_s"][0] for r in runs]
    steady = [x for r in runs for x in r["latencies_s"][1:]]
    peak = max(r["rss_peak_mb"] for r in runs)
    need = peak + FRONTEND_ALLOWANCE_MB
    pick = next((m for m in SERVERLESS_MEMORY_MB if m >= need), None)
    print(f"artifact: {root}")
    print(
        f"package: {package_bytes / mb:.1f} MB model.tar.gz, {uncompressed / mb:.1f} MB "
        f"extracted (model.ts {(root / 'model.ts').stat().st_size / mb:.1f} MB); built in "
        f"{build_s:.1f} s"
    )
    print(
        f"cold load (process start -> HandlerService initialised, model_fn done), {args.runs} "
        f"runs: median {statistics.median(cold):.2f} s (min {min(cold):.2f}, max {max(cold):.2f})"
    )
    print(
        f"first request: median {statistics.median(first) * 1000:.0f} ms; steady: median "
        f"{statistics.median(steady) * 1000:.0f} ms, max {max(steady) * 1000:.0f} ms "
        f"({len(steady)} requests, one at a time)"
    )
    print(
        f"worker RSS: {max(r['rss_loaded_mb'] for r in runs):.0f} MB after model_fn, "
        f"{peak:.0f} MB peak after the requests"
    )
    print(
        f"serverless memory: worker peak {peak:.0f} MB + {FRONTEND_ALLOWANCE_MB} MB allowance "
        f"= {need:.0f} MB -> smallest setting that holds it: {pick} MB "
        f"(settings: 1024-6144 in steps of 1024)"
    )


if __name__ == "__main__":
    main()
