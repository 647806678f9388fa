"""Defences shared by the local model server and the local API gateway (both stdlib HTTP servers).

The stdlib answers protocol errors (bad request line, 431 oversize headers, 501 unknown method)
with HTML pages, keeps no socket timeout and starts a thread for every connection. Here:
  - every error is JSON ({"message": ...}), unsupported methods are a 405 with `Allow`;
  - sockets time out (`timeout`), headers are bounded (`MAX_HEADER_BYTES`, and the stdlib's
    100 headers of 64 KiB a line), and at most `max_connections` are served at once (a 503 beyond);
  - `drain()` lets requests in flight finish while new ones get a 503 (SIGTERM, shutdown);
  - a whole request (headers and body) must arrive within `request_deadline_s` (a 408), one
    client address holds at most `max_connections_per_client` connections (a 429), and a full
    server evicts the connection whose request has been arriving longest: ops/endpoint/slow_clients.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ops.endpoint.slow_clients import (
    MAX_CONNECTIONS_PER_CLIENT,
    REQUEST_DEADLINE_S,
    Arriving,
    ClientSlots,
    deadline_rfile,
)

MAX_HEADER_BYTES = 16 * 1024  # all header lines together (API Gateway allows 10 KB)
SOCKET_TIMEOUT_S = 30  # a connection idle (or one read waiting) this long is dropped
MAX_CONNECTIONS = 256  # connections served at once; more are answered 503 and closed
DRAIN_TIMEOUT_S = 30.0  # how long shutdown waits for requests in flight


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _busy_response(message: str, status: str = "503 Service Unavailable") -> bytes:
    body = json_bytes({"message": message})
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _refuse(request, response: bytes) -> None:  # noqa: ANN001 (a socket)
    """Answer a connection that will not be served, without blocking on a client that never reads."""
    with contextlib.suppress(OSError):
        request.settimeout(1.0)
        request.sendall(response)


class HardenedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a connection cap, an in-flight count and a drain switch."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    max_connections = MAX_CONNECTIONS
    max_connections_per_client = MAX_CONNECTIONS_PER_CLIENT
    request_deadline_s = REQUEST_DEADLINE_S

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.client_slots = ClientSlots(self.max_connections_per_client)
        self.arriving = Arriving()
        self.draining = False
        self._lock = threading.Lock()
        self._connections = 0
        self._in_flight = 0
        self.refused_busy = 0

    def set_client_limits(self, request_deadline_s: float, max_connections_per_client: int) -> None:
        """The slow-client limits (serve.request_deadline_s, serve.max_connections_per_client)."""
        self.request_deadline_s = float(request_deadline_s)
        self.client_slots.limit = self.max_connections_per_client = int(max_connections_per_client)

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 (stdlib)
        if not self.client_slots.take(client_address[0]):
            limit = self.client_slots.limit
            message = (
                f"too many connections from {client_address[0]}: the limit is {limit} per client "
                "(serve.max_connections_per_client); retry shortly"
            )
            _refuse(request, _busy_response(message, "429 Too Many Requests"))
            self.shutdown_request(request)
            return
        with self._lock:
            full = self._connections >= self.max_connections
            if not full:
                self._connections += 1
        if full and self.arriving.evict_slowest():  # its slot comes back as its thread ends
            with self._lock:
                self._connections += 1
            full = False
        if full:
            self.refused_busy += 1
            self.client_slots.give_back(client_address[0])
            _refuse(request, _busy_response("too many connections: retry shortly"))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self._lock:
                self._connections -= 1
            self.client_slots.give_back(client_address[0])
            raise

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001 (stdlib)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections -= 1
            self.client_slots.give_back(client_address[0])

    @contextlib.contextmanager
    def request_scope(self) -> Iterator[bool]:
        """Counts a request in flight; yields False (answer 503) once the server is draining."""
        with self._lock:
            if self.draining:
                accepted = False
            else:
                accepted = True
                self._in_flight += 1
        try:
            yield accepted
        finally:
            if accepted:
                with self._lock:
                    self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> int:
        """Refuse new requests (503) and wait for those in flight; returns how many were left."""
        with self._lock:
            self.draining = True
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.in_flight


class HardenedHandler(BaseHTTPRequestHandler):
    """JSON errors, a socket timeout, a request deadline, bounded headers and a 405 for methods a
    route lacks."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    allowed_methods = ("GET", "POST")
    server: HardenedServer

    def setup(self) -> None:
        """The stdlib's setup, with reads through the request deadline (slow_clients.py)."""
        super().setup()
        self.rfile.close()
        self.rfile, self._reader = deadline_rfile(
            self.connection, self.timeout, self.server.request_deadline_s
        )
        self.server.arriving.add(self._reader)

    def finish(self) -> None:
        self.server.arriving.discard(self._reader)
        super().finish()

    def handle_one_request(self) -> None:
        """One request; a JSON 408 when it was still arriving at its deadline."""
        self._reader.start_request()
        self._responded = False
        super().handle_one_request()
        if self._reader.expired and not self._responded:
            self.close_connection = True
            if not hasattr(self, "requestline"):  # the request line never completed
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", None
            deadline = self.server.request_deadline_s
            why = (
                "the server was full and this request had been arriving the longest"
                if self._reader.evicted
                else f"not received within {deadline:g} s (serve.request_deadline_s)"
            )
            self.send_error(408, f"request {why}: send the headers and body without pausing")

    def send_response(self, code: int, message: str | None = None) -> None:
        self._responded = True
        super().send_response(code, message)

    def error_headers(self, status: int) -> dict[str, str]:
        """Extra headers on every error answer (the model server adds x-amzn-ErrorType)."""
        return {}

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json_bytes(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's error page (400 bad request line, 414, 431, 501, 505) as JSON, with a
        status line even when the request line was too broken to name a version; never a 5xx
        for what is the client's mistake (501 unknown method -> 405, 505 -> 400)."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # HTTP/0.9 answers carry no status line at all
        text = message or self.responses.get(code, ("error",))[0]
        headers = self.error_headers(code)
        if code == 501:
            self._method_not_allowed()
            return
        if code == 505:
            code, text = 400, f"{text}: use HTTP/1.1"
        if code == 431 and "Too many headers" in text:
            text = "too many request headers (the limit is 100)"
        with contextlib.suppress(OSError):
            self.send_json(code, {"message": text}, headers)

    def parse_request(self) -> bool:
        """The stdlib's parsing, then the total header size bounded (431)."""
        if not super().parse_request():
            return False
        size = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self.send_error(
                431, f"request headers of {size} bytes exceed the limit of {MAX_HEADER_BYTES}"
            )
            return False
        return True

    def content_length(self) -> int | None:
        """The Content-Length header as a non-negative int (0 when absent), None when invalid."""
        raw = self.headers.get("Content-Length")
        if raw is None or raw.strip() == "":
            return 0
        try:
            length = int(raw.strip())
        except ValueError:
            return None
        return length if length >= 0 else None

    def answer_draining(self) -> None:
        """New requests while draining: 503, connection closed."""
        self.close_connection = True
        self.send_json(
            503,
            {"message": "the server is shutting down: retry shortly"},
            self.error_headers(503),
        )

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # the body (if any) is not read
        headers = {"Allow": ", ".join(self.allowed_methods), **self.error_headers(405)}
        allowed = " or ".join(self.allowed_methods)
        with contextlib.suppress(OSError):
            self.send_json(
                405, {"message": f"method {self.command} not allowed: use {allowed}"}, headers
            )

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = (
        _method_not_allowed
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; a host name is assumed to reach beyond."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, what: str) -> str | None:
    """A warning when `host` is beyond loopback: anyone who can reach it can use `what`."""
    if is_loopback(host):
        return None
    return (
        f"warning: {what} listens on {host}, beyond loopback: anyone who can reach this machine "
        "can call it"
    )
