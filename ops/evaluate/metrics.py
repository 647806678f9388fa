"""Evaluation metrics from per-image results: accuracy, per-class P/R/F1, confusion, calibration, latency.

Pure numpy, no I/O, so the figures can be checked against hand-computed values. A result is
{"label": true class index, "ranked": [predicted class index, ...] best first (-1 = a wnid
outside the evaluated classes), "confidence": top-1 probability}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ops.model.ranking import calibration, hits_at_k

LATENCY_PERCENTILES = (50, 90, 95, 99)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """cm[true, predicted] counts; predictions outside 0..n-1 are not counted (see `outside`)."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    inside = (predicted >= 0) & (predicted < num_classes)
    np.add.at(cm, (labels[inside], predicted[inside]), 1)
    return cm


def per_class_scores(
    cm: np.ndarray, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 per class (0 where undefined). Recall divides by the support, so
    predictions outside the evaluated classes count as misses."""
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def latency_summary(latencies_ms: list[float]) -> dict[str, Any]:
    """Percentiles of request latencies (one value per POST, whatever its batch size)."""
    if not latencies_ms:
        empty = {f"p{p}_ms": None for p in LATENCY_PERCENTILES}
        return {"requests": 0, "mean_ms": None, **empty, "max_ms": None}
    arr = np.asarray(latencies_ms, dtype=float)
    out: dict[str, Any] = {"requests": len(arr), "mean_ms": float(arr.mean())}
    for p in LATENCY_PERCENTILES:
        out[f"p{p}_ms"] = float(np.percentile(arr, p))
    out["max_ms"] = float(arr.max())
    return out


def confused_pairs(cm: np.ndarray, names: list[str], top: int = 20) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: (true, predicted, count, share of the true class)."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None, kind="stable")[::-1]
    rows = cm.sum(axis=1)
    pairs = []
    for idx in flat[:top]:
        t, p = np.unravel_index(idx, cm.shape)
        count = int(off[t, p])
        if count == 0:
            break
        pairs.append(
            {
                "true": names[t],
                "predicted": names[p],
                "true_index": int(t),
                "predicted_index": int(p),
                "count": count,
                "share_of_true": count / int(rows[t]) if rows[t] else 0.0,
            }
        )
    return pairs


def compute_metrics(
    results: list[dict[str, Any]],
    class_names: list[str],
    latencies_ms: list[float] | None = None,
    top_pairs: int = 20,
) -> dict[str, Any]:
    """Every figure of the report, from the answered images (failures are counted elsewhere)."""
    n_classes = len(class_names)
    labels = np.array([r["label"] for r in results], dtype=np.int64)
    top1 = np.array([r["ranked"][0] if r["ranked"] else -1 for r in results], dtype=np.int64)
    in_top5 = hits_at_k([r["ranked"] for r in results], labels, 5)
    confidence = np.array([r["confidence"] for r in results], dtype=float)
    correct = top1 == labels
    n = len(results)
    cm = confusion_matrix(labels, top1, n_classes)
    support = np.bincount(labels, minlength=n_classes) if n else np.zeros(n_classes, np.int64)
    outside = np.bincount(labels[top1 < 0], minlength=n_classes) if n else support * 0
    precision, recall, f1 = per_class_scores(cm, support)
    per_class = [
        {
            "index": i,
            "name": class_names[i],
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "correct": int(cm[i, i]),
            "predicted_outside": int(outside[i]),
        }
        for i in range(n_classes)
    ]
    evaluated = support > 0
    return {
        "answered": n,
        "top1": float(correct.mean()) if n else None,
        "top5": float(in_top5.mean()) if n else None,
        "macro_precision": float(precision[evaluated].mean()) if evaluated.any() else None,
        "macro_recall": float(recall[evaluated].mean()) if evaluated.any() else None,
        "macro_f1": float(f1[evaluated].mean()) if evaluated.any() else None,
        "mean_confidence": float(confidence.mean()) if n else None,
        "calibration": calibration(confidence, correct) if n else {"ece": None, "bins": []},
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "confused_pairs": confused_pairs(cm, class_names, top_pairs),
        "predicted_outside_classes": int(outside.sum()),
        "latency": latency_summary(latencies_ms or []),
    }


def worst_classes(per_class: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Classes with support, lowest recall first (ties: lower F1, then more images)."""
    rows = [r for r in per_class if r["support"] > 0]
    return sorted(rows, key=lambda r: (r["recall"], r["f1"], -r["support"], r["name"]))[:k]
