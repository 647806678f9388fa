"""The serving image's fit for a SageMaker endpoint: size, cold start, steady latency, memory.

    python bench/container_fit.py [ARTIFACT] [--runs 5] [--requests 20] [--arena]
    python bench/container_fit.py --export-lite2 /tmp/lite2      # no trained model at hand

ARTIFACT defaults to artifacts/latest; --export-lite2 DIR first exports EfficientNet-Lite2
(offline ImageNet weights, the 120-way head from ImageNet rows: a trained model's graph and size,
not its accuracy). The image's entrypoint (the Dockerfile's ENTRYPOINT + `serve`) runs as a
process on the staged build context, with /opt/ml holding the model data `deploy` uploads, under
each environment: the one `deploy` gives the endpoint (batch size 4) and the defaults (batch size
timed at start). Printed per environment:
  - cold start: process start -> first answer to POST /invocations, median of --runs;
  - steady latency: --requests sequential 500x375 JPEGs (the dataset's typical size);
  - memory: RSS at rest after start, at rest after the requests, and the peak (VmHWM);
and the image size estimate: the base image (not measurable without Docker) + the installed
serving packages + the context. --arena runs the same with ONNX Runtime's CPU arena on (what the
server did before), for the before/after figures.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# python:3.11-slim-bookworm, uncompressed (Docker Hub lists ~45 MB compressed); not measured here
BASE_IMAGE_MB = 125
SERVING_PACKAGES = ("numpy", "numpy.libs", "onnxruntime", "PIL", "pillow.libs")
ENVIRONMENTS = {
    "deploy (batch 4)": {"DOGBREED_SERVE__MAX_BATCH_SIZE": "4", "DOGBREED_LOCAL__THREADS": "0"},
    "defaults (batch timed)": {
        "DOGBREED_SERVE__MAX_BATCH_SIZE": "0",
        "DOGBREED_LOCAL__THREADS": "0",
    },
}
# --arena: the entrypoint with ONNX Runtime's CPU arena back on (the server before this change)
ARENA_WRAPPER = (
    "import runpy, ops.endpoint.onnx_runtime as r; o = r.session_options\n"
    "def s(*a, **k):\n    x = o(*a, **k); x.enable_cpu_mem_arena = True; return x\n"
    "r.session_options = s; runpy.run_module('ops.endpoint.container_entrypoint', run_name='__main__')"
)


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def image_estimate(context: Path) -> dict[str, float]:
    """MB: the installed serving packages (this venv's copies), the context, and the total."""
    import numpy

    site = Path(numpy.__file__).parents[1]
    packages = sum(_mb(site / name) for name in SERVING_PACKAGES if (site / name).exists())
    return {
        "packages": packages,
        "context": _mb(context),
        "total": BASE_IMAGE_MB + packages + _mb(context),
    }


def export_lite2(dest: Path) -> Path:
    """EfficientNet-Lite2 with its head from ImageNet rows, exported as `dogbreed train` does."""
    from ops.artifact.export import export_artifact
    from ops.data.manifest import load_classes
    from ops.model.network import build_model

    images = Path("/work/shared/stanford-dogs/Images")
    if not images.is_dir():
        images = REPO.parent / "shared" / "stanford-dogs" / "Images"
    folders = sorted(p.name for p in images.iterdir() if p.is_dir())
    classes = [
        {"index": i, "wnid": f.split("-", 1)[0], "name": f.split("-", 1)[1]}
        for i, f in enumerate(folders)
    ]
    dest.mkdir(parents=True, exist_ok=True)
    classes_json = dest.parent / f"{dest.name}-classes.json"
    classes_json.write_text(json.dumps(classes))
    built = build_model("tf_efficientnet_lite2", load_classes(classes_json), image_size=260)
    meta = {"backbone": built.backbone, "bench": "untrained: head from ImageNet rows"}
    export_artifact(built.model, classes_json, built.preprocessing, dest, meta, {})
    return dest


def jpeg(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (375, 500, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def invoke(url: str, body: bytes) -> None:
    req = urllib.request.Request(
        url + "/invocations", data=body, headers={"Content-Type": "image/jpeg"}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_start(context, opt_ml, env, arena: bool, log: Path, body: bytes):
    """Start the entrypoint; (its Entrypoint, seconds from start to the first answer)."""
    from tests.container_helpers import start_entrypoint

    t0 = time.perf_counter()
    ep = start_entrypoint(context, opt_ml, log, env=env)
    if arena:  # same process, same environment, the arena wrapper as the program
        ep.proc.kill()
        ep.proc.wait()
        ep.proc = subprocess.Popen(
            [sys.executable, "-c", ARENA_WRAPPER, "serve"],
            cwd=context,
            env=ep.env,
            stdout=open(log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        t0 = time.perf_counter()
    while True:
        if ep.proc.poll() is not None:
            raise SystemExit(f"entrypoint exited: {ep.output()}")
        try:
            invoke(ep.url, body)
            return ep, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)


def measure(context, opt_ml, env, args, tmp: Path) -> dict:
    """Cold starts (median), then on the last start: memory at rest, steady latency, memory."""
    bodies = [jpeg(i) for i in range(args.requests)]
    colds, result = [], {}
    for run in range(args.runs):
        ep, cold = one_start(context, opt_ml, env, args.arena, tmp / f"run{run}.log", bodies[0])
        colds.append(cold)
        if run < args.runs - 1:
            ep.stop()
            continue
        time.sleep(2)
        result["rest_after_start_mb"] = status_mb(ep.proc.pid, "VmRSS")
        latencies = []
        for body in bodies:
            t0 = time.perf_counter()
            invoke(ep.url, body)
            latencies.append(time.perf_counter() - t0)
        time.sleep(2)
        result["rest_after_requests_mb"] = status_mb(ep.proc.pid, "VmRSS")
        result["peak_mb"] = status_mb(ep.proc.pid, "VmHWM")
        result["latency_median_ms"] = 1000 * statistics.median(latencies)
        result["latency_p90_ms"] = 1000 * sorted(latencies)[int(0.9 * (len(latencies) - 1))]
        ep.stop()
    result["cold_start_median_s"] = statistics.median(colds)
    result["cold_starts_s"] = [round(c, 2) for c in colds]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", nargs="?", default=str(REPO / "artifacts" / "latest"))
    parser.add_argument("--export-lite2", type=Path, help="export Lite2 here and measure it")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--arena", action="store_true", help="ONNX Runtime's CPU arena on")
    parser.add_argument("--only", choices=sorted(ENVIRONMENTS), help="one environment")
    args = parser.parse_args()

    from ops.deploy.container_image import image_tag
    from tests.container_helpers import opt_ml_layout, staged_context

    artifact = export_lite2(args.export_lite2) if args.export_lite2 else Path(args.artifact)
    with tempfile.TemporaryDirectory(prefix="container-fit-") as tmp:
        tmp = Path(tmp)
        context = staged_context(tmp / "context")
        opt_ml = opt_ml_layout(tmp, artifact)
        size = image_estimate(context)
        data_mb = (tmp / "upload" / "model.tar.gz").stat().st_size / 1e6
        print(
            f"artifact {artifact}; image tag {image_tag()}; arena {'on' if args.arena else 'off'}"
        )
        print(
            f"image estimate {size['total']:.0f} MB = base ~{BASE_IMAGE_MB} MB (unmeasured) + "
            f"serving packages {size['packages']:.0f} MB + context {size['context']:.2f} MB; "
            f"model data {data_mb:.1f} MB"
        )
        for name, env in ENVIRONMENTS.items():
            if args.only and name != args.only:
                continue
            r = measure(context, opt_ml, env, args, tmp)
            print(
                f"{name}: cold start median {r['cold_start_median_s']:.2f} s "
                f"{r['cold_starts_s']}; steady latency median {r['latency_median_ms']:.0f} ms, "
                f"p90 {r['latency_p90_ms']:.0f} ms; RSS at rest {r['rest_after_start_mb']:.0f} MB "
                f"after start, {r['rest_after_requests_mb']:.0f} MB after {args.requests} "
                f"requests; peak {r['peak_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
