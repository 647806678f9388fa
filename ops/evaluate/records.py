"""What a run sends (the manifest's images as EvalItems) and what it keeps for each image (an
answer or a failure record): the same records for the API runner and the batch transform route,
so the report reads one shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError


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

    prepared = PreparedData(Path(prepared_dir)).check()
    base = prepared.images_dir(split)
    items = [
        EvalItem(i, e.path, base / e.path, e.label) for i, e in enumerate(prepared.entries(split))
    ]
    if not items:
        raise DogbreedError(f"the {split} manifest {prepared.lst_path(split)} is empty")
    if limit and limit < len(items):
        items = _round_robin(items, limit)
    return items


def _round_robin(items: list[EvalItem], limit: int) -> list[EvalItem]:
    """`limit` items taken one class at a time, in manifest order (every class gets its turn)."""
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
    return sorted(order, key=lambda it: it.index)


def failure_record(item: EvalItem, kind: str, message: str, status: int | None = None) -> dict:
    """The record of an image without an answer: why (`kind`, `message`) and the HTTP status."""
    return {
        "i": item.index,
        "path": item.rel,
        "label": item.label,
        "ok": False,
        "kind": kind,
        "status": status,
        "error": message,
    }


def answer_record(item: EvalItem, predictions: list[dict], **extra: Any) -> dict:
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


def failures_by_kind(records: list[dict[str, Any]]) -> dict[str, int]:
    """{failure kind: how many records of that kind}, for the outcome and the report's counts."""
    by_kind: dict[str, int] = {}
    for r in records:
        if not r.get("ok"):
            by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
    return by_kind


def verdict_fields(verdict: dict | None) -> dict[str, Any]:
    """What a result record keeps of the API's verdict (ops/evaluate/answers.py counts it)."""
    if not verdict:
        return {}
    keep = ("dog", "dog_score", "dog_signal", "uncertain", "breed_known", "known_score", "cam")
    return {"answer": {k: verdict.get(k) for k in keep}}
