"""A minimal real HTTP server on loopback speaking the SageMaker runtime API, with scripted failures.

The handler tests need an endpoint that can throttle, fail one image, or answer slowly on demand,
which a real model cannot be told to do. Bodies are fake JPEGs (magic bytes + a marker):
  b"class=N"      -> probabilities peaked on class N
  b"throttle=N"   -> ThrottlingException (HTTP 400/429 shape) for the first N calls of that body
  b"model-error"  -> ModelError 424, like SageMaker relaying a container error
  b"unavailable"  -> ServiceUnavailable 503, always
  b"slow"         -> sleeps 0.2 s first (to observe the thread pool's bound)
  b"close"        -> classes 0 and 1 at 0.47 / 0.45 (an uncertain answer)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JPEG_MAGIC = b"\xff\xd8\xff\xe0"


def fake_jpeg(marker: str) -> bytes:
    return JPEG_MAGIC + b"\x00\x10JFIF\x00" + marker.encode()


class RuntimeStub:
    def __init__(self, num_classes: int = 3, endpoint_name: str = "stub-endpoint"):
        self.num_classes = num_classes
        self.endpoint_name = endpoint_name
        self.calls: Counter[bytes] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, payload, error_type=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = re.match(r"^/endpoints/([^/]+)/invocations$", self.path)
                if not match or match.group(1) != stub.endpoint_name:
                    name = match.group(1) if match else "?"
                    self._send(400, {"message": f"Endpoint {name} not found."}, "ValidationError")
                    return
                with stub.lock:
                    stub.calls[body] += 1
                    count = stub.calls[body]
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    stub.answer(self, body, count)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, h, body: bytes, count: int) -> None:
        marker = body[len(fake_jpeg("")) :].decode(errors="replace")
        if marker.startswith("slow"):
            time.sleep(0.2)
            marker = marker[4:].lstrip("-") or "class=0"
        if marker.startswith("throttle="):
            if count <= int(marker.split("=")[1]):
                h._send(400, {"message": "Rate exceeded"}, "ThrottlingException")
                return
            marker = "class=1"
        if marker == "model-error":
            h._send(
                424,
                {
                    "message": 'Received client error (400) from primary with message "unable to decode".'
                },
                "ModelError",
            )
            return
        if marker == "unavailable":
            h._send(503, {"message": "The endpoint is overloaded."}, "ServiceUnavailable")
            return
        if marker == "close":  # two breeds within 0.02: the answer is "A or B"
            probs = [0.47, 0.45] + [0.08 / max(1, self.num_classes - 2)] * (self.num_classes - 2)
            h._send(200, probs[: self.num_classes])
            return
        k = int(marker.split("=")[1]) if marker.startswith("class=") else 0
        rest = 0.1 / max(1, self.num_classes - 1)
        probs = [0.9 if i == k else rest for i in range(self.num_classes)]
        h._send(200, probs)

    @property
    def url(self) -> str:
        host, port = self.server.server_address
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
