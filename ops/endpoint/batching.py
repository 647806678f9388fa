"""Dynamic batching for the model server: requests from many threads run through the model together.

The Batcher queues preprocessed images and one worker thread runs up to `max_batch_size` of them,
waiting at most `max_batch_delay_ms` for more, and not at all when no other request is on its way.
The batch size is timed at start when serve.max_batch_size is 0: measure_batch_sizes times the
candidates and pick_batch_size takes the smallest within a few per cent of the best throughput.
"""

from __future__ import annotations

import logging
import queue
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from ops.errors import RequestError

if TYPE_CHECKING:
    from ops.endpoint.onnx_runtime import ModelRuntime

log = logging.getLogger(__name__)


class Batcher:
    """Collects preprocessed images from many threads and runs them through the model in batches."""

    def __init__(self, predict_arrays, max_batch_size: int = 32, max_batch_delay_ms: float = 5.0):
        self.predict_arrays = predict_arrays
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_delay_s = max(0.0, float(max_batch_delay_ms)) / 1000.0
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._incoming = 0  # requests received and still being read/preprocessed
        self._stop = object()
        self._closed = False
        self.batch_sizes: Counter[int] = Counter()
        self._thread = threading.Thread(target=self._run, name="dogbreed-batcher", daemon=True)
        self._thread.start()

    def arriving(self) -> None:
        """A request has started: the worker may wait for it to join the current batch."""
        with self._lock:
            self._incoming += 1

    def arrived(self) -> None:
        with self._lock:
            self._incoming -= 1

    def submit(self, array: np.ndarray, arrived: bool = False) -> Future:
        """Queue one [3,S,S] image; the future resolves to its [C] probabilities.

        arrived=True also ends this request's `arriving()` in the same step, so the worker never
        waits for a request that is already in the queue.
        """
        future: Future = Future()
        with self._lock:  # atomic with the counter; never queued behind the stop marker
            if arrived:
                self._incoming -= 1
            if self._closed:
                raise RequestError(503, "the model server is shutting down")
            self._queue.put((array, future))
        return future

    def close(self) -> None:
        """Answer what is queued, then stop the worker; later submissions get a 503."""
        with self._lock:
            self._closed = True
            self._queue.put(self._stop)
        self._thread.join(timeout=10)

    def _collect(self, first) -> tuple[list, bool]:
        """The first item plus whatever arrives before the batch is full or the delay runs out."""
        batch, stopping = [first], False
        deadline = time.monotonic() + self.max_delay_s
        while len(batch) < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                with self._lock:
                    nobody_coming = self._incoming == 0
                if nobody_coming or remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is self._stop:
                stopping = True
                break
            batch.append(item)
        return batch, stopping

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is self._stop:
                return
            batch, stopping = self._collect(first)
            futures = [f for _, f in batch]
            try:
                probs = self.predict_arrays(np.stack([a for a, _ in batch]))
                if len(probs) != len(batch):
                    raise RuntimeError(f"model gave {len(probs)} rows for {len(batch)} images")
            except Exception as exc:  # model failure: every request of the batch gets a 500
                log.exception("model failed on a batch of %d", len(batch))
                for f in futures:
                    f.set_exception(exc)
            else:
                with self._lock:
                    self.batch_sizes[len(batch)] += 1
                for f, row in zip(futures, probs, strict=True):
                    f.set_result(row)
            if stopping:
                return


def measure_batch_sizes(
    runtime: ModelRuntime,
    candidates=(1, 2, 4, 8, 16, 32),
    min_seconds: float = 0.25,
    rounds: int = 3,
) -> dict[int, float]:
    """images/s of the model forward at each batch size (random preprocessed input).

    The candidates take turns in `rounds` short rounds and each keeps its median, so a burst of
    load from other processes skews one round of every size instead of all of one size.
    """

    s = runtime.input_size
    rng = np.random.default_rng(0)
    inputs = {bs: rng.standard_normal((bs, 3, s, s)).astype(np.float32) for bs in candidates}
    for x in inputs.values():
        runtime.predict_arrays(x)  # warm-up: first runs allocate
    runs: dict[int, list[float]] = {bs: [] for bs in candidates}
    for _ in range(max(1, rounds)):
        for bs, x in inputs.items():
            n, t0 = 0, time.perf_counter()
            while n == 0 or time.perf_counter() - t0 < min_seconds / max(1, rounds):
                runtime.predict_arrays(x)
                n += bs
            runs[bs].append(n / (time.perf_counter() - t0))
    return {bs: statistics.median(r) for bs, r in runs.items()}


def pick_batch_size(throughput: dict[int, float], tolerance: float = 0.05) -> int:
    """The smallest batch size within `tolerance` of the best throughput (less latency, same speed).

    On a CPU the fastest batch is often small (4-8): larger batches fall out of the caches.
    """
    best = max(throughput.values())
    return min(bs for bs, ips in throughput.items() if ips >= (1 - tolerance) * best)
