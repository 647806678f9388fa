"""Ranking and accuracy metrics shared by local training and evaluation: one copy of top-k and ECE.

Pure numpy. Scores may be numpy arrays or torch tensors (converted on the CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ECE_BINS = 15


def _numpy(scores: Any) -> np.ndarray:
    """A numpy view of scores (torch tensors are detached and moved to the CPU)."""
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    return np.asarray(scores, dtype=float)


def rank(scores: Any, k: int | None = None) -> np.ndarray:
    """Class indices best first along the last axis (ties: lower index first), the first k."""
    order = np.argsort(-_numpy(scores), axis=-1, kind="stable")
    return order if k is None else order[..., :k]


def hits_at_k(ranked: Sequence[Sequence[int]], labels: Sequence[int], k: int) -> np.ndarray:
    """Per image: is the true label among the first k of its ranking."""
    return np.array([int(y) in list(r[:k]) for r, y in zip(ranked, labels, strict=True)], bool)


def top_k_accuracy(scores: Any, labels: Any, k: int) -> float:
    """Share of rows whose true label is among the k highest scores (k capped at the classes)."""
    scores = _numpy(scores)
    k = min(k, scores.shape[1])
    hits = hits_at_k(rank(scores, k), _numpy(labels).astype(np.int64), k)
    return float(hits.mean()) if len(hits) else 0.0


def calibration(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, and the per-bin table."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # A confidence of exactly 1.0 belongs to the last bin; 0 to the first.
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece, n = [], 0.0, len(confidence)
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        acc = float(correct[mask].mean()) if count else None
        conf = float(confidence[mask].mean()) if count else None
        if count:
            ece += abs(acc - conf) * count / n
        table.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "accuracy": acc,
                "confidence": conf,
            }
        )
    return {"ece": float(ece) if n else None, "bins": table}


def choose_threshold(dog_scores, keep: float = 0.99) -> float:
    """The largest threshold t such that at least `keep` of these (dog) images score >= t: the
    dog signal's thresholds (ops/model/dogness.py) and the report's suggested fallback."""
    scores = np.sort(np.asarray(dog_scores, dtype=np.float64))
    if scores.size == 0:
        return 0.0
    refuse = int(np.floor((1.0 - keep) * scores.size + 1e-9))  # images allowed below t
    return float(scores[min(refuse, scores.size - 1)])
