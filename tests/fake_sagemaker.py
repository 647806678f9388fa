"""A small real HTTP server on 127.0.0.1 that speaks the SageMaker JSON API where moto cannot.

moto completes training and tuning jobs the moment they are created and does not implement
StopTrainingJob or ListTrainingJobsForHyperParameterTuningJob. This server forwards every request
to moto server unchanged (S3, IAM, STS, CloudWatch, CreateTrainingJob...) except the SageMaker
actions a test scripts: each DescribeTrainingJob / DescribeHyperParameterTuningJob answer is
moto's answer overlaid with the next step of a script (InProgress -> ... -> Completed/Failed),
and chosen actions can fail with a given AWS error (e.g. ResourceLimitExceeded). `put_delay_s`
holds every forwarded PUT that long, so a test can interrupt a fast upload mid-way on any machine.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FakeSageMaker:
    def __init__(self, upstream: str | None = None):
        self.upstream = upstream
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.training_steps: list[dict[str, Any]] = []  # overlays, in order; the last one repeats
        self.tuning_steps: list[dict[str, Any]] = []
        self.trials: list[dict[str, Any]] = []
        self.errors: dict[str, tuple[int, str, str]] = {}  # action -> (status, code, message)
        self.stopped: set[str] = set()
        self.put_delay_s = 0.0
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                owner._forward(self, b"")

            def do_HEAD(self) -> None:
                owner._forward(self, b"")

            def do_DELETE(self) -> None:
                owner._forward(self, self._body())

            def do_PUT(self) -> None:
                body = self._body()
                time.sleep(owner.put_delay_s)
                owner._forward(self, body)

            def do_POST(self) -> None:
                owner._handle_post(self, self._body())

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSageMaker:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- scripting helpers -------------------------------------------------------------------
    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]

    def bodies(self, action: str) -> list[dict[str, Any]]:
        return [body for a, body in self.calls if a == action]

    # -- request handling --------------------------------------------------------------------
    def _handle_post(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        target = handler.headers.get("X-Amz-Target", "")
        if not target.startswith("SageMaker."):
            return self._forward(handler, body)
        action = target.split(".", 1)[1]
        payload = json.loads(body or b"{}")
        with self._lock:
            self.calls.append((action, payload))
        if action in self.errors:
            status, code, message = self.errors[action]
            return self._reply(handler, status, {"__type": code, "message": message})
        if action == "StopTrainingJob":
            self.stopped.add(payload["TrainingJobName"])
            return self._reply(handler, 200, {})
        if action == "StopHyperParameterTuningJob":
            self.stopped.add(payload["HyperParameterTuningJobName"])
            return self._reply(handler, 200, {})
        if action == "ListTrainingJobsForHyperParameterTuningJob":
            return self._reply(handler, 200, {"TrainingJobSummaries": self.trials})
        if action == "DescribeTrainingJob" and self.training_steps:
            return self._describe(handler, body, payload["TrainingJobName"], self.training_steps)
        if action == "DescribeHyperParameterTuningJob" and self.tuning_steps:
            name = payload["HyperParameterTuningJobName"]
            return self._describe(handler, body, name, self.tuning_steps)
        return self._forward(handler, body)

    def _describe(
        self, handler: BaseHTTPRequestHandler, body: bytes, name: str, steps: list[dict[str, Any]]
    ) -> None:
        status, base = self._upstream(handler, body)
        if status != 200:
            base = {}
        with self._lock:
            i = self._counters.get(name, 0)
            self._counters[name] = i + 1
        overlay = steps[min(i, len(steps) - 1)]
        if name in self.stopped:
            key = (
                "TrainingJobStatus"
                if steps is self.training_steps
                else "HyperParameterTuningJobStatus"
            )
            overlay = {**overlay, key: "Stopped", "SecondaryStatus": "Stopped"}
        key = "TrainingJobName" if steps is self.training_steps else "HyperParameterTuningJobName"
        base.setdefault(key, name)
        now = time.time()
        base.update({"CreationTime": now - 60, "LastModifiedTime": now})
        base.update(overlay)
        self._reply(handler, 200, base)

    def _upstream(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict]:
        if not self.upstream:
            return 404, {}
        status, _headers, data = self._send_upstream(handler, body)
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {}

    def _send_upstream(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        headers["Host"] = parts.netloc
        conn.request(handler.command, handler.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheaders(), data

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if not self.upstream:
            return self._reply(handler, 404, {"__type": "NotFound", "message": "no upstream"})
        status, headers, data = self._send_upstream(handler, body)
        handler.send_response(status)
        for key, value in headers:
            if key.lower() in ("transfer-encoding", "connection", "server", "date"):
                continue
            if key.lower() == "content-length" and handler.command != "HEAD":
                continue
            handler.send_header(key, value)
        if handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/x-amz-json-1.1")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
