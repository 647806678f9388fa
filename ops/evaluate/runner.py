"""Send every image of a manifest through POST /classify: batches, bounded concurrency, resumable.

Each answer is appended to a JSONL file as it arrives (one line per image), so an interrupted
run continues where it stopped. The file's first line is a header naming what was evaluated
(manifest + model or URL); a different run gets a different file, so runs never mix. Images
that failed (unreachable API, 4xx/5xx, missing on disk) are recorded too, never dropped, and are
tried again by the next run; answered images are never sent twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError

# After this many consecutive batches that could not reach the API (or were refused access:
# 401/403), the rest are not sent.
UNREACHABLE_LIMIT = 3


@dataclass(frozen=True)
class EvalItem:
    """One image of the manifest: its line index, path relative to the channel, true label."""

    index: int
    rel: str
    path: Path
    label: int


def load_items(prepared_dir: Path, split: str, limit: int = 0) -> list[EvalItem]:
    """The split's manifest as items; with a limit, a round-robin over classes (so every class
    is represented) instead of the first lines, which would be the first few classes only."""
    from ops.data.manifest import PreparedData

    prepared = PreparedData(Path(prepared_dir)).check()
    base = prepared.images_dir(split)
    items = [
        EvalItem(i, e.path, base / e.path, e.label) for i, e in enumerate(prepared.entries(split))
    ]
    if not items:
        raise DogbreedError(f"the {split} manifest {prepared.lst_path(split)} is empty")
    if limit and limit < len(items):
        by_class: dict[int, list[EvalItem]] = {}
        for item in items:
            by_class.setdefault(item.label, []).append(item)
        order: list[EvalItem] = []
        queues = [by_class[k] for k in sorted(by_class)]
        depth = 0
        while len(order) < limit:
            for queue in queues:
                if depth < len(queue) and len(order) < limit:
                    order.append(queue[depth])
            depth += 1
        items = sorted(order, key=lambda it: it.index)
    return items


def manifest_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_key(manifest: Path, model: str, top_k: int) -> dict[str, Any]:
    """What identifies a run: the manifest (path + content) and the model (or URL) answering."""
    manifest = Path(manifest).resolve()
    return {
        "manifest": str(manifest),
        "manifest_sha256": manifest_digest(manifest),
        "model": model,
        "top_k": int(top_k),
    }


def results_file(out_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(out_dir) / f"results-{digest}.jsonl"


class ResultStore:
    """The append-only JSONL of one run: a header line with the key, then one record per image.
    The latest record of an image wins (a failure retried later is replaced by its answer)."""

    def __init__(self, path: Path, key: dict[str, Any]):
        self.path = Path(path)
        self.key = key
        self.records: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            # The last line was cut by an interruption: drop it from the file too, or the next
            # append would be glued to it and that record lost. Its image is sent again.
            keep = raw.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
            raw = raw[:keep]
        lines = raw.decode("utf-8", errors="replace").splitlines()
        if not lines:
            return
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = {}
        if header.get("key") != self.key:
            raise DogbreedError(
                f"{self.path} belongs to another run",
                hint="delete it, or pass another --out folder",
            )
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by an interruption: that image is sent again
            self.records[int(record["i"])] = record

    def answered(self) -> set[int]:
        return {i for i, r in self.records.items() if r.get("ok")}

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        with self._lock:
            new = not self.path.is_file() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                if new:
                    fh.write(json.dumps({"key": self.key}) + "\n")
                for record in records:
                    fh.write(json.dumps(record) + "\n")
                    self.records[int(record["i"])] = record
                fh.flush()


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


def _failure(item: EvalItem, kind: str, message: str, status: int | None = None) -> dict:
    return {
        "i": item.index,
        "path": item.rel,
        "label": item.label,
        "ok": False,
        "kind": kind,
        "status": status,
        "error": message,
    }


def _answer(item: EvalItem, predictions: list[dict], **extra: Any) -> dict:
    """The record of an answered image: its top-k predictions best first, plus `extra`
    (request id, batch size, latency) where the route has them."""
    return {
        "i": item.index,
        "path": item.rel,
        "label": item.label,
        "ok": True,
        "predictions": [
            {
                "wnid": p.get("wnid"),
                "breed": p.get("breed"),
                "probability": float(p.get("probability", 0.0)),
            }
            for p in predictions
        ],
        **extra,
    }


def _kind_of(status: int | None) -> str:
    if status is None:
        return "unreachable"
    return "http_4xx" if status < 500 else "http_5xx"


class _BatchSender:
    """Sends one batch with a per-thread client; splits a batch the API refused as a whole into
    single images so one bad image does not fail its neighbours."""

    def __init__(self, client_factory: Callable[[], Any], top_k: int):
        self.client_factory = client_factory
        self.top_k = top_k
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
                payload.append((item, item.path.read_bytes()))
            except FileNotFoundError:
                records[item.index] = _failure(item, "missing", f"image not found: {item.path}")
            except OSError as exc:
                records[item.index] = _failure(
                    item, "missing", f"cannot read {item.path}: {exc.strerror or exc}"
                )
        if payload:
            for record in self._send(payload):
                records[record["i"]] = record
        return [records[item.index] for item in batch]

    def _send(self, payload: list[tuple[EvalItem, bytes]]) -> list[dict[str, Any]]:
        from ops.serving.client import ApiError

        with self.lock:
            if self.unreachable_streak >= UNREACHABLE_LIMIT:
                kind, status, why = self.last_fatal
                return [
                    _failure(
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
                _failure(item, _kind_of(exc.status), str(exc), exc.status) for item, _ in payload
            ]
        except DogbreedError as exc:
            return [_failure(item, "bad_response", str(exc)) for item, _ in payload]
        latency_ms = (time.perf_counter() - start) * 1000
        with self.lock:
            self.unreachable_streak = 0
        records = []
        for (item, _), answer, verdict in zip(payload, answers, verdicts, strict=True):
            if isinstance(answer, dict) or not answer:
                message = answer.get("error", str(answer)) if isinstance(answer, dict) else "empty"
                records.append(_failure(item, "rejected", f"the API rejected it: {message}"))
                continue
            records.append(
                _answer(
                    item,
                    answer,
                    request=request_id,
                    batch=len(payload),
                    latency_ms=round(latency_ms, 3),
                    **verdict_fields(verdict),
                )
            )
        return records


def verdict_fields(verdict: dict | None) -> dict[str, Any]:
    """What a result record keeps of the API's verdict (ops/evaluate/answers.py counts it)."""
    if not verdict:
        return {}
    keep = ("dog", "dog_score", "dog_signal", "uncertain")
    return {"answer": {k: verdict.get(k) for k in keep}}


def evaluate_items(
    items: list[EvalItem],
    store: ResultStore,
    client_factory: Callable[[], Any],
    batch_size: int = 8,
    concurrency: int = 4,
    top_k: int = 5,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Send the items not yet answered in `store`, `concurrency` requests at a time.

    On Ctrl-C the requests already in flight are awaited and saved (so nothing answered is sent
    again), the rest is left for the next run, and the outcome says `interrupted`.
    `on_batch(done)` is called after each saved batch (used by tests to interrupt a run).
    """
    from tqdm import tqdm

    answered = store.answered()
    todo = [item for item in items if item.index not in answered]
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), max(1, batch_size))]
    sender = _BatchSender(client_factory, top_k)
    interrupted = False
    done = 0
    bar = tqdm(
        total=len(items),
        initial=len(items) - len(todo),
        unit="img",
        desc="evaluate",
        disable=not progress,
        dynamic_ncols=True,
    )
    failed = 0
    saved: set[Any] = set()

    def save(future) -> None:
        nonlocal done, failed
        records = future.result()
        saved.add(future)
        store.append(records)
        done += len(records)
        failed += sum(not r["ok"] for r in records)
        bar.update(len(records))
        if failed:
            bar.set_postfix(failed=failed)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="evaluate")
    futures = [pool.submit(sender, batch) for batch in batches]
    try:
        for future in as_completed(futures):
            save(future)
            if on_batch:
                on_batch(done)
    except KeyboardInterrupt:
        interrupted = True
        for future in futures:
            future.cancel()
        bar.write("interrupted: waiting for the requests in flight, then saving...")
        for future in futures:
            if future in saved or future.cancelled():
                continue
            # A request in flight that failed is simply tried again by the next run.
            with contextlib.suppress(Exception):
                save(future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        sender.close()
        bar.close()
    records = [
        store.records.get(item.index) or _failure(item, "not_sent", "not sent (interrupted)")
        for item in items
    ]
    failures: dict[str, int] = {}
    for record in records:
        if not record.get("ok"):
            failures[record["kind"]] = failures.get(record["kind"], 0) + 1
    return RunOutcome(
        records=records,
        sent_now=done,
        reused=len(items) - len(todo),
        interrupted=interrupted,
        failures=failures,
    )
