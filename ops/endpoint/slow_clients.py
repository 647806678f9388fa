"""Slow and greedy clients on the stdlib servers: a total deadline per request, a cap per address.

A socket timeout alone bounds each read, not the request: one byte every 10 s keeps a handler
thread (and a connection slot) forever. Here:
  - `DeadlineReader` is a handler's rfile underneath its buffer: the clock starts at a request's
    first byte, and every read waits at most the idle timeout and never past the deadline, so
    headers plus body arrive within `request_deadline_s` whatever the byte rate (a JSON 408 then);
  - `ClientSlots` counts connections per client address, so one address holds at most
    `max_connections_per_client` of the server's slots (a JSON 429 beyond).
Both servers (ops/endpoint/server.py, ops/api/gateway.py) get these through
ops/endpoint/http_hardening.py; the limits are settings (serve.request_deadline_s,
serve.max_connections_per_client), bounded in ops/settings.py.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter

REQUEST_DEADLINE_S = 30.0  # headers and body of one request, from its first byte
MAX_CONNECTIONS_PER_CLIENT = 64  # of the server's 256: the local gateway pools 64 to the model


class RequestDeadline(TimeoutError):
    """A request was still arriving at its deadline (answered 408 when possible)."""


class DeadlineReader(io.RawIOBase):
    """A socket's reads for a handler's rfile: idle timeout per read, total deadline per request."""

    def __init__(self, sock: socket.socket, idle_s: float | None, total_s: float):
        super().__init__()
        self._sock = sock
        self.idle_s = idle_s
        self.total_s = total_s
        self.deadline: float | None = None  # monotonic; set when a request's first byte arrives
        self.expired = False
        self.received = 0  # bytes of the current request

    def readable(self) -> bool:
        return True

    def start_request(self) -> None:
        """A new request on this connection: the clock starts again at its first byte."""
        self.deadline, self.expired, self.received = None, False, 0

    def readinto(self, buffer) -> int:  # noqa: ANN001 (io signature)
        timeout = self.idle_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.expired = True
                raise RequestDeadline(f"request not received within {self.total_s:g} s")
            timeout = left if timeout is None else min(timeout, left)
        self._sock.settimeout(timeout)
        try:
            n = self._sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.expired = True
                raise RequestDeadline(f"request not received within {self.total_s:g} s") from None
            raise
        finally:
            self._sock.settimeout(self.idle_s)  # writes keep the idle timeout, not what was left
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self.total_s
        self.received += n
        return n


def deadline_rfile(sock: socket.socket, idle_s: float | None, total_s: float):
    """(buffered rfile, its DeadlineReader) for a handler's connection."""
    raw = DeadlineReader(sock, idle_s, total_s)
    return io.BufferedReader(raw, io.DEFAULT_BUFFER_SIZE), raw


class ClientSlots:
    """Connections held per client address, capped: `take` False means refuse (429)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.refused = 0

    def take(self, address: str) -> bool:
        with self._lock:
            if self._held[address] >= self.limit:
                self.refused += 1
                return False
            self._held[address] += 1
            return True

    def give_back(self, address: str) -> None:
        with self._lock:
            self._held[address] -= 1
            if self._held[address] <= 0:
                del self._held[address]

    def held(self, address: str) -> int:
        with self._lock:
            return self._held.get(address, 0)
