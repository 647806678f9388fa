"""Fault runs shared by tests/test_faults.py and bench/faults.py: a real `dogbreed serve` process,
keep-alive load on POST /classify, and the server killed (SIGKILL) and restarted under it.

Counts every request: sent, answered (any HTTP status), 2xx/4xx/5xx, unanswered (the client got
no HTTP answer at all: reset, closed, timed out). The goal is 0 unanswered.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def start_model_server(
    artifact: Path, port: int, endpoint: str, state_file: Path, batch: int = 4
) -> subprocess.Popen:
    """`dogbreed serve` (model server only) in its own process; returns once /ping answers."""
    env = {
        **os.environ,
        "DOGBREED_STATE_FILE": str(state_file),
        "DOGBREED_SERVE__MAX_BATCH_SIZE": str(batch),
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "ops", "serve", "--artifact", str(artifact)]
    cmd += ["--port", str(port), "--endpoint-name", endpoint, "--threads", "1"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dogbreed serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("dogbreed serve did not answer /ping within 120 s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


@dataclass
class LoadCounts:
    """What a load run sent and what came back."""

    sent: int = 0
    answered: int = 0
    by_class: Counter = field(default_factory=Counter)  # "2xx", "4xx", "5xx"
    by_status: Counter = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)  # the client-side errors
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | None, error: str | None = None) -> None:
        with self.lock:
            self.sent += 1
            if status is None:
                self.unanswered.append(error or "no answer")
                return
            self.answered += 1
            self.by_status[status] += 1
            self.by_class[f"{status // 100}xx"] += 1

    def summary(self) -> dict:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "2xx": self.by_class.get("2xx", 0),
            "4xx": self.by_class.get("4xx", 0),
            "5xx": self.by_class.get("5xx", 0),
            "unanswered": len(self.unanswered),
            "statuses": dict(sorted(self.by_status.items())),
        }


def load(
    classify_url: str,
    image: bytes,
    connections: int,
    seconds: float,
    timeout: float = 60,
) -> LoadCounts:
    """`connections` keep-alive clients POSTing one JSON image each, for `seconds`."""
    counts = LoadCounts()
    payload = {"images": [base64.b64encode(image).decode("ascii")], "top_k": 1}
    deadline = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                try:
                    resp = session.post(classify_url, json=payload, timeout=timeout)
                    resp.json()  # an answer is a complete JSON body
                except (requests.RequestException, ValueError) as exc:
                    counts.record(None, f"{type(exc).__name__}: {exc}"[:200])
                    continue
                counts.record(resp.status_code)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 30)
    return counts


def kill_and_restart_under_load(
    start, classify_url: str, image: bytes, connections: int, seconds: float, down_s: float = 1.0
) -> tuple[LoadCounts, subprocess.Popen]:
    """Load for `seconds`; half-way SIGKILL the server `start()` made, restart it `down_s` later.

    Returns the counts and the restarted process (the caller stops it).
    """
    box = {"proc": start()}

    def fault() -> None:
        time.sleep(seconds / 2)
        box["proc"].kill()
        box["proc"].wait()
        time.sleep(down_s)
        box["proc"] = start()

    killer = threading.Thread(target=fault, daemon=True)
    killer.start()
    counts = load(classify_url, image, connections, seconds)
    killer.join(180)
    return counts, box["proc"]
