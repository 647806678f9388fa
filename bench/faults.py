"""Benchmark: every request answered while the model server is killed, and memory under hostile images.

Two figures, each against a real `dogbreed serve` process:

1. Fault run: `--connections` keep-alive clients POST one JSON image each to the local gateway's
   POST /classify for `--seconds`; half-way the model server is SIGKILLed and restarted on the
   same port. Prints requests sent and answered, 2xx/4xx/5xx and unanswered (goal: 0).
2. Memory: the server's peak RSS (VmHWM) after a warm-up of good images, then after a burst of
   the hostile images of tests/bad_inputs.py (each sent `--burst` times, 16 at once) straight to
   the runtime API. Goal: < 100 MB of growth. For reference it also bursts the largest images
   the budget accepts (a 25 Mpx PNG, a 24 Mpx JPEG), which are decoded for real.

    .venv/bin/python bench/faults.py                        # tiny test model, 32 x 30 s
    .venv/bin/python bench/faults.py --artifact artifacts/<run>/ --connections 32 --seconds 30
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ops.api.gateway import start_gateway  # noqa: E402
from tests.bad_inputs import good_image, hostile_images  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fault_load import (  # noqa: E402
    kill_and_restart_under_load,
    peak_rss_mb,
    rss_mb,
    start_model_server,
    stop,
)

ENDPOINT = "bench-faults"


def fault_run(artifact: Path, work: Path, connections: int, seconds: float) -> dict:
    port = free_port()
    gw = start_gateway(
        "127.0.0.1", 0, f"http://127.0.0.1:{port}", ENDPOINT, artifact / "classes.json"
    )
    try:
        counts, proc = kill_and_restart_under_load(
            lambda: start_model_server(artifact, port, ENDPOINT, work / "state.json"),
            gw.classify_url,
            good_image(),
            connections,
            seconds,
        )
        stop(proc)
    finally:
        gw.shutdown()
    return {**counts.summary(), "client_errors": counts.unanswered[:3]}


def _burst(url: str, images: list[tuple[bytes, str]], workers: int = 16) -> dict[int, int]:
    def send(item: tuple[bytes, str]) -> int:
        data, content_type = item
        resp = requests.post(url, data=data, headers={"Content-Type": content_type}, timeout=120)
        return resp.status_code

    statuses: dict[int, int] = {}
    with ThreadPoolExecutor(workers) as pool:
        for status in pool.map(send, images):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def _largest_accepted() -> list[tuple[bytes, str]]:
    from PIL import Image

    out = []
    png = io.BytesIO()
    Image.new("RGB", (5000, 5000), (90, 60, 30)).save(png, format="PNG")
    out.append((png.getvalue(), "image/png"))
    jpeg = io.BytesIO()
    Image.new("RGB", (6000, 4000), (90, 60, 30)).save(jpeg, format="JPEG", quality=80)
    out.append((jpeg.getvalue(), "image/jpeg"))
    return out


def memory_run(artifact: Path, work: Path, burst: int) -> dict:
    port = free_port()
    proc = start_model_server(artifact, port, ENDPOINT, work / "state-mem.json")
    url = f"http://127.0.0.1:{port}/endpoints/{ENDPOINT}/invocations"
    try:
        _burst(url, [(good_image(), "image/jpeg")] * 200)  # warm-up: pools, arenas, threads
        before = peak_rss_mb(proc.pid)
        kinds = {".png": "image/png", ".jpg": "image/jpeg"}
        hostile = [(data, kinds[name[-4:]]) for name, data in hostile_images().items()] * burst
        t0 = time.perf_counter()
        statuses = _burst(url, hostile)
        hostile_s = time.perf_counter() - t0
        after = peak_rss_mb(proc.pid)
        big = _largest_accepted() * 8
        big_statuses = _burst(url, big)
        after_big = peak_rss_mb(proc.pid)
        return {
            "hostile_requests": len(hostile),
            "hostile_statuses": statuses,
            "hostile_seconds": round(hostile_s, 2),
            "peak_rss_before_mb": round(before, 1),
            "peak_rss_after_hostile_mb": round(after, 1),
            "growth_mb": round(after - before, 1),
            "largest_accepted_requests": len(big),
            "largest_accepted_statuses": big_statuses,
            "peak_rss_after_largest_accepted_mb": round(after_big, 1),
            "rss_now_mb": round(rss_mb(proc.pid), 1),
        }
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, help="artifact folder (default: a tiny model)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=20, help="times each hostile image is sent")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        work = Path(tmp)
        artifact = args.artifact
        if artifact is None:
            from tests.local_artifacts import make_tiny_artifact

            artifact = make_tiny_artifact(work / "tiny")
        print(f"artifact: {artifact}")
        print(f"fault run: {args.connections} connections x {args.seconds:g} s, SIGKILL half-way")
        fault = fault_run(artifact, work, args.connections, args.seconds)
        for key in ("sent", "answered", "2xx", "4xx", "5xx", "unanswered", "statuses"):
            print(f"  {key:<11} {fault[key]}")
        if fault["client_errors"]:
            print(f"  first client errors: {fault['client_errors']}")
        mem = memory_run(artifact, work, args.burst)
        print(f"memory: {mem['hostile_requests']} hostile images, 16 at once")
        for key, value in mem.items():
            print(f"  {key:<36} {value}")
        ok = fault["unanswered"] == 0 and mem["growth_mb"] < 100
        print(f"goal (0 unanswered, < 100 MB growth): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
