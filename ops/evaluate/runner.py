"""Send every image of a manifest through POST /classify: batches, bounded concurrency, resumable.

Each answer is saved to the run's ResultStore (ops/evaluate/store.py) as it arrives, so an
interrupted run continues where it stopped. Images that failed (unreachable API, 4xx/5xx, missing
on disk) are recorded too, never dropped, and are tried again by the next run; answered images are
never sent twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from ops.api.photo_size import shrink
from ops.errors import DogbreedError
from ops.evaluate.records import (
    EvalItem,
    answer_record,
    failure_record,
    failures_by_kind,
    verdict_fields,
)
from ops.evaluate.store import ResultStore
from ops.progress import progress_bar

# After this many consecutive batches that could not reach the API (or were refused access:
# 401/403), the rest are not sent.
UNREACHABLE_LIMIT = 3


@dataclass
class RunOutcome:
    """What one `evaluate_items` call did; `records` covers every item, in manifest order."""

    records: list[dict[str, Any]]
    sent_now: int
    reused: int
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.interrupted and all(r.get("ok") for r in self.records)


def _kind_of(status: int | None) -> str:
    """The failure kind of an ApiError's HTTP status (None: the API was not reached)."""
    if status is None:
        return "unreachable"
    return "http_4xx" if status < 500 else "http_5xx"


class _BatchSender:
    """Sends one batch with a per-thread client; splits a batch the API refused as a whole into
    single images so one bad image does not fail its neighbours."""

    def __init__(self, client_factory: Callable[[], Any], top_k: int, original: bool = False):
        self.client_factory = client_factory
        self.top_k = top_k
        self.original = original  # False: photos over 1024 px are resized (ops/api/photo_size)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.unreachable_streak = 0  # consecutive requests that were unreachable or refused
        self.last_fatal: tuple[str, int | None, str] = ("unreachable", None, "")
        self.clients: list[Any] = []

    def client(self) -> Any:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.client_factory()
            with self.lock:
                self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            close = getattr(client, "close", None)
            if close:
                close()

    def __call__(self, batch: list[EvalItem]) -> list[dict[str, Any]]:
        records: dict[int, dict] = {}
        payload: list[tuple[EvalItem, bytes]] = []
        for item in batch:
            try:
                data = item.path.read_bytes()
                payload.append((item, data if self.original else shrink(data)))
            except FileNotFoundError:
                records[item.index] = failure_record(
                    item, "missing", f"image not found: {item.path}"
                )
            except OSError as exc:
                records[item.index] = failure_record(
                    item, "missing", f"cannot read {item.path}: {exc.strerror or exc}"
                )
        if payload:
            for record in self._send(payload):
                records[record["i"]] = record
        return [records[item.index] for item in batch]

    def _send(self, payload: list[tuple[EvalItem, bytes]]) -> list[dict[str, Any]]:
        from ops.api.client import ApiError

        with self.lock:
            if self.unreachable_streak >= UNREACHABLE_LIMIT:
                kind, status, why = self.last_fatal
                return [
                    failure_record(
                        item,
                        kind,
                        f"not sent: {why} ({UNREACHABLE_LIMIT} requests in a row)",
                        status,
                    )
                    for item, _ in payload
                ]
        request_id = uuid.uuid4().hex[:12]
        start = time.perf_counter()
        try:
            client = self.client()
            images = [data for _, data in payload]
            if hasattr(client, "classify_answers"):  # the API's verdicts (dog, uncertain) too
                answers, verdicts = client.classify_answers(images, top_k=self.top_k)
            else:
                answers, verdicts = client.classify(images, top_k=self.top_k), [None] * len(images)
        except ApiError as exc:
            # Unreachable, or access refused: every further request would fail the same way.
            fatal = exc.status is None or exc.status in (401, 403)
            with self.lock:
                self.unreachable_streak = self.unreachable_streak + 1 if fatal else 0
                if fatal:
                    why = "the API was unreachable" if exc.status is None else "access refused"
                    self.last_fatal = (_kind_of(exc.status), exc.status, why)
            if not fatal and len(payload) > 1:
                return [record for one in payload for record in self._send([one])]
            return [
                failure_record(item, _kind_of(exc.status), str(exc), exc.status)
                for item, _ in payload
            ]
        except DogbreedError as exc:
            return [failure_record(item, "bad_response", str(exc)) for item, _ in payload]
        latency_ms = (time.perf_counter() - start) * 1000
        with self.lock:
            self.unreachable_streak = 0
        records = []
        for (item, _), answer, verdict in zip(payload, answers, verdicts, strict=True):
            if isinstance(answer, dict) or not answer:
                message = answer.get("error", str(answer)) if isinstance(answer, dict) else "empty"
                records.append(failure_record(item, "rejected", f"the API rejected it: {message}"))
                continue
            records.append(
                answer_record(
                    item,
                    answer,
                    request=request_id,
                    batch=len(payload),
                    latency_ms=round(latency_ms, 3),
                    **verdict_fields(verdict),
                )
            )
        return records


class _Saver:
    """Saves each finished batch to the store and counts it on the progress bar."""

    def __init__(self, store: ResultStore, total: int, initial: int, progress: bool):

        self.store = store
        self.done = 0
        self.failed = 0
        self.saved: set[Any] = set()
        self.bar = progress_bar(
            total=total,
            initial=initial,
            unit="img",
            desc="evaluate",
            disable=not progress,
            dynamic_ncols=True,
        )

    def __call__(self, future) -> None:
        records = future.result()
        self.saved.add(future)
        self.store.append(records)
        self.done += len(records)
        self.failed += sum(not r["ok"] for r in records)
        self.bar.update(len(records))
        if self.failed:
            self.bar.set_postfix(failed=self.failed)


def _save_as_completed(futures: list, save: _Saver, on_batch) -> bool:
    """Save each batch as it finishes; on Ctrl-C cancel what has not started, save what was in
    flight, and return True (interrupted)."""
    try:
        for future in as_completed(futures):
            save(future)
            if on_batch:
                on_batch(save.done)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        save.bar.write("interrupted: waiting for the requests in flight, then saving...")
        for future in futures:
            if future in save.saved or future.cancelled():
                continue
            # A request in flight that failed is simply tried again by the next run.
            with contextlib.suppress(Exception):
                save(future)
        return True
    return False


def evaluate_items(
    items: list[EvalItem],
    store: ResultStore,
    client_factory: Callable[[], Any],
    batch_size: int = 8,
    concurrency: int = 4,
    top_k: int = 5,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    original: bool = False,
) -> RunOutcome:
    """Send the items not yet answered in `store`, `concurrency` requests at a time.

    On Ctrl-C the requests already in flight are awaited and saved (so nothing answered is sent
    again), the rest is left for the next run, and the outcome says `interrupted`.
    `on_batch(done)` is called after each saved batch (used by tests to interrupt a run).
    """
    answered = store.answered()
    todo = [item for item in items if item.index not in answered]
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), max(1, batch_size))]
    sender = _BatchSender(client_factory, top_k, original)
    save = _Saver(store, total=len(items), initial=len(items) - len(todo), progress=progress)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="evaluate")
    try:
        interrupted = _save_as_completed(
            [pool.submit(sender, batch) for batch in batches], save, on_batch
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        sender.close()
        save.bar.close()
    records = [
        store.records.get(item.index) or failure_record(item, "not_sent", "not sent (interrupted)")
        for item in items
    ]
    return RunOutcome(
        records=records,
        sent_now=save.done,
        reused=len(items) - len(todo),
        interrupted=interrupted,
        failures=failures_by_kind(records),
    )
