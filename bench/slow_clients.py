"""Benchmark: normal clients beside sockets that trickle one byte every few seconds (issue 23).

Against a real `dogbreed serve --api` process (tiny test model, `--threads 1`):
  1. without tricklers: `--clients` clients POST one JSON image each to the local gateway's
     POST /classify for `--seconds`, each request on a new connection (other users arriving;
     `--keep-alive`: one connection per client); answered count and latency percentiles;
  2. with tricklers: the same, while `--tricklers` sockets from `--addresses` other loopback
     addresses (127.0.0.2, ...) each send a POST /classify one byte every `--every` seconds and,
     when the server cuts them off (408 at serve.request_deadline_s, 429 over
     serve.max_connections_per_client), connect again at their next tick.
Prints sent / answered / 2xx / unanswered and p50 / p99 latency of the normal requests for both,
what the tricklers got back, and whether the goal holds: every normal request answered with a
2xx and p99 within 2x of the run without tricklers.

    .venv/bin/python bench/slow_clients.py                                  # 300 tricklers, 1 address
    .venv/bin/python bench/slow_clients.py --addresses 8 --deadline 10      # spread over 8 addresses
    .venv/bin/python bench/slow_clients.py --server-repo /path/to/old/checkout   # the code before
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.bad_inputs import good_image  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fault_load import stop  # noqa: E402


def start_serve(repo: Path, artifact: Path, work: Path, deadline: float | None):
    """`dogbreed serve --api` from `repo` in its own process; (process, API URL) once it answers."""
    port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "DOGBREED_STATE_FILE": str(work / "state.json"),
        "DOGBREED_SERVE__MAX_BATCH_SIZE": "4",
        "PYTHONPATH": str(repo),
    }
    if deadline is not None:
        env["DOGBREED_SERVE__REQUEST_DEADLINE_S"] = str(deadline)
    cmd = [sys.executable, "-m", "ops", "serve", "--api", "--artifact", str(artifact)]
    cmd += ["--port", str(port), "--api-port", str(api_port), "--threads", "1"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{api_port}"
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError(f"dogbreed serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("dogbreed serve --api did not answer within 120 s")


def normal_load(url: str, clients: int, seconds: float, keep_alive: bool = False) -> dict:
    """`clients` clients POSTing one JSON image each, back to back, for `seconds`: each request on
    a new connection (other users arriving), or with `keep_alive` on one connection per client."""
    body = {"images": [base64.b64encode(good_image()).decode()], "top_k": 1}
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds
    close = {} if keep_alive else {"Connection": "close"}

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    answer = session.post(f"{url}/classify", json=body, headers=close, timeout=60)
                    status = answer.status_code
                    if status >= 500:
                        errors.append(f"{status} {answer.text[:100]}")
                except requests.RequestException as exc:
                    status = None
                    errors.append(f"{type(exc).__name__}: {str(exc)[:150]}")
                took = time.perf_counter() - started
                with lock:
                    counts["sent"] += 1
                    if status is None:
                        counts["unanswered"] += 1
                        continue
                    counts["answered"] += 1
                    counts[f"{status // 100}xx"] += 1
                    latencies.append(took)

    with ThreadPoolExecutor(clients) as pool:
        for _ in pool.map(lambda _: client(), range(clients)):
            pass
    ms = np.array(latencies) * 1000
    return {
        **{k: counts.get(k, 0) for k in ("sent", "answered", "2xx", "4xx", "5xx", "unanswered")},
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if ms.size else None,
        "errors": Counter(e.split(":")[0] for e in errors).most_common(3) + errors[:2],
    }


class Tricklers:
    """`n` sockets from `addresses` loopback addresses, each sending a request one byte per tick;
    a socket the server answers or closes is replaced at its next tick. One thread, a selector."""

    def __init__(self, port: int, n: int, addresses: int, every: float):
        self.port, self.n, self.every = port, n, every
        self.sources = [f"127.0.0.{2 + i % addresses}" for i in range(n)]
        body = b"x" * 20_000
        self.request = (
            b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        self.outcomes: Counter[str] = Counter()
        self.connects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self, i: int) -> socket.socket | None:
        try:
            sock = socket.create_connection(
                ("127.0.0.1", self.port), timeout=2, source_address=(self.sources[i], 0)
            )
        except OSError:
            self.outcomes["connect failed"] += 1
            return None
        sock.setblocking(False)
        self.connects += 1
        return sock

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        socks: dict[int, tuple[socket.socket, int]] = {}  # index -> (socket, bytes sent)
        for i in range(self.n):
            sock = self._connect(i)
            if sock is not None:
                socks[i] = (sock, 0)
                sel.register(sock, selectors.EVENT_READ, i)
        next_tick = time.monotonic()
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=max(0.0, min(0.2, next_tick - time.monotonic()))):
                self._answered(sel, socks, key.data)
            if time.monotonic() < next_tick:
                continue
            next_tick += self.every
            for i in range(self.n):
                if i not in socks:
                    sock = self._connect(i)
                    if sock is not None:
                        socks[i] = (sock, 0)
                        sel.register(sock, selectors.EVENT_READ, i)
                    continue
                sock, sent = socks[i]
                try:
                    sock.send(self.request[sent % len(self.request) : sent % len(self.request) + 1])
                    socks[i] = (sock, sent + 1)
                except OSError:
                    self._answered(sel, socks, i)
        for sock, _ in socks.values():
            sock.close()

    def _answered(self, sel, socks, i: int) -> None:
        sock, _ = socks.pop(i)
        sel.unregister(sock)
        try:
            sock.setblocking(True)
            sock.settimeout(1)
            data = sock.recv(4096)
        except OSError:
            data = b""
        sock.close()
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        self.outcomes[status] += 1

    def __enter__(self) -> Tricklers:
        self._thread.start()
        time.sleep(min(3.0, self.every))  # every socket connected before the normal load starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, help="artifact folder (default: a tiny model)")
    parser.add_argument("--clients", type=int, default=8, help="normal clients")
    parser.add_argument(
        "--keep-alive", action="store_true", help="normal clients keep one connection each"
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of each run")
    parser.add_argument("--tricklers", type=int, default=300)
    parser.add_argument("--addresses", type=int, default=1, help="loopback addresses they use")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between their bytes")
    parser.add_argument("--deadline", type=float, help="serve.request_deadline_s (default 30)")
    parser.add_argument("--server-repo", type=Path, default=REPO, help="checkout to serve from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        work = Path(tmp)
        artifact = args.artifact
        if artifact is None:
            from tests.local_artifacts import make_tiny_artifact

            artifact = make_tiny_artifact(work / "tiny")
        proc, url = start_serve(args.server_repo.resolve(), artifact, work, args.deadline)
        try:
            normal_load(url, args.clients, 2, args.keep_alive)  # warm-up
            alone = normal_load(url, args.clients, args.seconds, args.keep_alive)
            port = int(url.rsplit(":", 1)[1])
            with Tricklers(port, args.tricklers, args.addresses, args.every) as tricklers:
                beside = normal_load(url, args.clients, args.seconds, args.keep_alive)
        finally:
            stop(proc)
    print(f"server: {args.server_repo.resolve()}  artifact: {artifact}")
    print(
        f"{args.clients} normal clients ({'keep-alive' if args.keep_alive else 'a connection per request'})"
        f" x {args.seconds:g} s; {args.tricklers} tricklers from "
        f"{args.addresses} address(es), one byte every {args.every:g} s"
    )
    for name, run in (("without tricklers", alone), ("with tricklers", beside)):
        print(f"  {name:<18} " + "  ".join(f"{k} {v}" for k, v in run.items()))
    print(f"  trickler connections: {tricklers.connects}, ended by: {dict(tricklers.outcomes)}")
    ok = (
        beside["unanswered"] == 0
        and beside["2xx"] == beside["sent"]
        and beside["p99_ms"] is not None
        and beside["p99_ms"] <= 2 * alone["p99_ms"]
    )
    print(f"goal (every normal request a 2xx, p99 within 2x): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
