"""Benchmark: `dogbreed data upload` (parallel transfer manager) vs a sequential put_object loop.

Generates N JPEGs (default 2,000) as a prepared folder, starts a moto server in its own process
on 127.0.0.1, uploads the same files both ways to two buckets in the same run, and prints the
times and the ratio. Also times a re-run of the project's uploader (everything skipped).

    .venv/bin/python bench/upload.py [--files 2000] [--concurrency 16] [--latency-ms 0]

--latency-ms adds a delay to every request inside the moto server process, to mimic a real
network round trip (loopback has none, which is the worst case for any parallel uploader).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
import requests  # noqa: E402
from PIL import Image  # noqa: E402

from ops.data.manifest import BreedClass, LstEntry, write_classes, write_lst  # noqa: E402
from ops.data.upload import local_files, upload_prepared  # noqa: E402
from ops.settings import Settings  # noqa: E402

SERVER = """
import logging, sys, time
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
delay = float(sys.argv[2]) / 1000
if delay:
    from werkzeug.serving import WSGIRequestHandler
    original = WSGIRequestHandler.run_wsgi
    def slow(self):
        time.sleep(delay)
        return original(self)
    WSGIRequestHandler.run_wsgi = slow
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to show which side is the bottleneck."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def make_files(root: Path, n: int, classes: int = 10) -> Path:
    """A prepared folder with n small JPEGs (noise + colour, 10-30 KB like Stanford Dogs crops)."""
    rng = random.Random(0)
    entries: dict[str, list[LstEntry]] = {"train": [], "validation": []}
    for i in range(n):
        split = "validation" if i % 5 == 0 else "train"
        c = i % classes
        folder = root / split / f"class{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.effect_noise((128, 128), 40 + rng.random() * 40).convert("RGB")
        img = Image.blend(img, Image.new("RGB", img.size, (rng.randrange(256), 80, 160)), 0.4)
        img.save(folder / f"img{i:05d}.jpg", quality=90)
        entries[split].append(LstEntry(len(entries[split]), c, f"class{c:02d}/img{i:05d}.jpg"))
    for split, lst in entries.items():
        write_lst(root / f"{split}_lst" / f"{split}.lst", lst)
    write_classes(
        root / "classes.json", [BreedClass(i, f"n{i:08d}", f"class{i}") for i in range(classes)]
    )
    (root / "info.json").write_text(f'{{"num_classes": {classes}}}\n')
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=Settings().aws.upload_concurrency)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(args.latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            root = make_files(Path(tmp) / "prepared", args.files)
            files = local_files(root, "bench")
            total = sum(p.stat().st_size for p, _ in files)
            print(
                f"{len(files)} files, {total / 1e6:.1f} MB, moto server {url}, "
                f"latency {args.latency_ms:g} ms, {os.cpu_count()} CPUs"
            )
            client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
            client.create_bucket(Bucket="sequential")
            client.create_bucket(Bucket="project")

            cpu = {}
            s0, c0 = cpu_seconds(server.pid), time.process_time()
            start = time.perf_counter()
            for path, key in files:
                client.put_object(Bucket="sequential", Key=key, Body=path.read_bytes())
            sequential = time.perf_counter() - start
            cpu["sequential"] = (time.process_time() - c0, cpu_seconds(server.pid) - s0)

            settings = Settings()
            settings.aws.endpoint_url = url
            settings.aws.upload_concurrency = args.concurrency
            s0, c0 = cpu_seconds(server.pid), time.process_time()
            start = time.perf_counter()
            result = upload_prepared(
                settings, root, bucket="project", prefix="bench", progress=False
            )
            parallel = time.perf_counter() - start
            cpu["parallel"] = (time.process_time() - c0, cpu_seconds(server.pid) - s0)
            assert result.uploaded == len(files), result

            start = time.perf_counter()
            again = upload_prepared(
                settings, root, bucket="project", prefix="bench", progress=False
            )
            rerun = time.perf_counter() - start
            assert again.skipped == len(files) and again.uploaded == 0
        for name, secs in (
            ("sequential put_object loop", sequential),
            (f"dogbreed data upload (x{args.concurrency})", parallel),
        ):
            key = "sequential" if name.startswith("seq") else "parallel"
            client_cpu, server_cpu = cpu[key]
            print(
                f"{name:27s}: {secs:6.2f} s  ({len(files) / secs:5.0f} files/s; CPU client "
                f"{client_cpu:5.1f} s, server {server_cpu:5.1f} s)"
            )
        print(f"re-run, all skipped        : {rerun:6.2f} s")
        print(f"speed-up: {sequential / parallel:.1f}x")
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)
        requests.Session().close()


if __name__ == "__main__":
    main()
