"""Slow and greedy clients on the stdlib servers: a total deadline per request, a cap per address.

A socket timeout alone bounds each read, not the request: one byte every 10 s keeps a handler
thread (and a connection slot) forever. Here:
  - `DeadlineReader` is a handler's rfile underneath its buffer: the clock starts at a request's
    first byte, and every read waits at most the idle timeout and never past the deadline, so
    headers plus body arrive within `request_deadline_s` whatever the byte rate (a JSON 408 then);
  - `ClientSlots` counts connections per client address, so one address holds at most
    `max_connections_per_client` of the server's slots (a JSON 429 beyond);
  - `Arriving` knows which connections are waiting for their client's bytes: when every slot is
    taken, a new connection evicts the one whose request has been arriving the longest (a 408;
    an idle keep-alive is just closed), so tricklers from many addresses cannot lock others out.
Both servers (ops/endpoint/server.py, ops/api/gateway.py) get these through
ops/endpoint/http_hardening.py; the limits are settings (serve.request_deadline_s,
serve.max_connections_per_client), bounded in ops/settings.py.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections import Counter

REQUEST_DEADLINE_S = 30.0  # headers and body of one request, from its first byte
MAX_CONNECTIONS_PER_CLIENT = 64  # of the server's 256: the local gateway pools 64 to the model
EVICT_AFTER_S = 1.0  # a full server evicts only connections waiting on their client this long


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
        self.since: float | None = None  # when this request (or the wait for it) began
        self.waiting = False  # blocked in recv: waiting for the client, not working for it
        self.evicted = False

    def readable(self) -> bool:
        return True

    def start_request(self) -> None:
        """A new request on this connection: the clock starts again at its first byte."""
        self.deadline, self.expired, self.received, self.since = None, False, 0, None

    def evict(self) -> None:
        """Wake the blocked read with end-of-file: the handler answers 408 (or closes if idle)."""
        self.evicted = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RD)

    def readinto(self, buffer) -> int:  # noqa: ANN001 (io signature)
        if self.since is None:
            self.since = time.monotonic()
        n = self._recv(buffer)
        if self.evicted:
            if not self.received:
                return 0  # an idle keep-alive: closed without an answer
            self.expired = True
            raise RequestDeadline("evicted: the server was full and this request the slowest")
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self.total_s
        self.received += n
        return n

    def _recv(self, buffer) -> int:  # noqa: ANN001 (io signature)
        timeout = self.idle_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.expired = True
                raise RequestDeadline(f"request not received within {self.total_s:g} s")
            timeout = left if timeout is None else min(timeout, left)
        self._sock.settimeout(timeout)
        self.waiting = True
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.expired = True
                raise RequestDeadline(f"request not received within {self.total_s:g} s") from None
            raise
        finally:
            self.waiting = False
            self._sock.settimeout(self.idle_s)  # writes keep the idle timeout, not what was left


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


class Arriving:
    """The readers of a server's connections, to evict the slowest when every slot is taken."""

    def __init__(self):
        self._readers: set[DeadlineReader] = set()
        self._lock = threading.Lock()
        self.evicted = 0

    def add(self, reader: DeadlineReader) -> None:
        with self._lock:
            self._readers.add(reader)

    def discard(self, reader: DeadlineReader) -> None:
        with self._lock:
            self._readers.discard(reader)

    def evict_slowest(self, min_age_s: float = EVICT_AFTER_S) -> bool:
        """Evict the connection waiting on its client whose request began first (at least
        `min_age_s` ago); False when none is (every slot is doing work: answer 503)."""
        oldest = time.monotonic() - min_age_s
        with self._lock:
            waiting = [
                r
                for r in self._readers
                if r.waiting and not r.evicted and r.since is not None and r.since <= oldest
            ]
            if not waiting:
                return False
            victim = min(waiting, key=lambda r: r.since)
            victim.evict()
            self.evicted += 1
        return True
