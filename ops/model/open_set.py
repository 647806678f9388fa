"""Is it a breed the model knows? Open-set scores, their threshold, and the artifact's record.

A head trained on 120 breeds names one of them for any dog, also a dog of a breed outside the 120
or of mixed breeds. Open-set scores say how much an image looks like the known breeds (higher =
more known): max softmax probability, max logit, energy (logsumexp of the logits), distance to
the nearest training features (k-NN, Sun et al. 2022) and a class-conditional Gaussian
(Mahalanobis). bench/open_set.py compares them on held-out breeds (docs/real-photos.md).

The shipped score is the energy, logsumexp of the (temperature-scaled) logits: the best of the
five on held-out breeds (AUROC 0.932 against 0.929 for the max logit, 0.856 k-NN, 0.838 max
softmax, 0.749 Mahalanobis: docs/real-photos.md), and it needs nothing but the head the graph
already runs, so the ONNX graph answers it as an output ("known_score") at no extra cost. Its threshold is chosen
on training images the scoring head never trained on (the calibration's held-out fold) so that
`keep` of known-breed dogs are answered with a breed; metadata.json stores it as "open_set".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ops.model.ranking import choose_threshold

OUTPUT_NAME = "known_score"
SHIPPED_SCORE = "energy"
# The target is >= 95 % of known-breed dogs kept; chosen at 96 % for a margin (a quantile of a
# finite held-out fold moves, as the dog threshold's did: ops/model/dogness.py).
DEFAULT_KEEP = 0.96


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(1, keepdims=True)
    return (top + np.log(np.exp(logits - top).sum(1, keepdims=True)))[:, 0]


def logit_scores(logits) -> dict[str, np.ndarray]:
    """The head-only scores of logits [N, C]: max softmax, max logit, energy (all: higher = known)."""
    logits = np.asarray(logits, dtype=np.float64)
    lse = _logsumexp(logits)
    top = logits.max(1)
    return {"max_softmax": np.exp(top - lse), "max_logit": top, "energy": lse}


def _normalised(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_score(train_features, features, k: int = 10, chunk: int = 1024) -> np.ndarray:
    """Minus the distance to the k-th nearest training feature, both L2-normalised (Sun et al.)."""
    bank = _normalised(train_features)
    k = max(1, min(k, len(bank)))
    out = []
    for i in range(0, len(features), chunk):
        sims = _normalised(features[i : i + chunk]) @ bank.T
        kth = -np.partition(-sims, k - 1, axis=1)[:, k - 1]
        out.append(-np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0)))
    return np.concatenate(out) if out else np.zeros(0)


def mahalanobis_fit(features, labels, shrinkage: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(class means [C, D], precision [D, D]) of a Gaussian per class with one shared covariance,
    shrunk toward its mean variance (few images per class, many dimensions)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    centred = x - means[np.searchsorted(classes, y)]
    cov = centred.T @ centred / max(len(x) - len(classes), 1)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    return means, np.linalg.inv(cov)


def mahalanobis_score(fitted, features, chunk: int = 1024) -> np.ndarray:
    """Minus the smallest Mahalanobis distance (squared) to a class mean."""
    means, precision = fitted
    projected = means @ precision  # (x - m)' P (x - m) = x'Px - 2 (Pm)'x + m'Pm
    offsets = (projected * means).sum(1)
    out = []
    for i in range(0, len(features), chunk):
        x = np.asarray(features[i : i + chunk], dtype=np.float64)
        quad = ((x @ precision) * x).sum(1)
        out.append(-(quad[:, None] - 2 * x @ projected.T + offsets[None]).min(1))
    return np.concatenate(out) if out else np.zeros(0)


def auroc(known, unknown) -> float:
    """P(a known image scores above an unknown one), ties counting half (Mann-Whitney U)."""
    known, unknown = np.asarray(known, float), np.asarray(unknown, float)
    if not known.size or not unknown.size:
        return float("nan")
    ordered = np.sort(unknown)
    below = np.searchsorted(ordered, known, "left")
    ties = np.searchsorted(ordered, known, "right") - below
    u = float((below + 0.5 * ties).sum())
    return float(u / (known.size * unknown.size))


def flagged_at_keep(known, unknown, keep: float = 0.95) -> tuple[float, float]:
    """(threshold keeping `keep` of known images, share of unknown images below it)."""
    threshold = choose_threshold(known, keep)
    unknown = np.asarray(unknown, float)
    return threshold, float((unknown < threshold).mean()) if unknown.size else float("nan")


def threshold_record(held_scores, keep: float = DEFAULT_KEEP, **extra) -> dict[str, Any]:
    """metadata.json's "open_set" entry: the score, the graph output, the threshold and what it
    was chosen on (scores of held-out training images of known breeds)."""
    held = np.asarray(held_scores, dtype=np.float64)
    return {
        "score": SHIPPED_SCORE,
        "output": OUTPUT_NAME,
        "keep": keep,
        "threshold": round(choose_threshold(held, keep), 6),
        "chosen_on": f"{held.size} held-out training images of known breeds",
        **extra,
    }


def artifact_settings(artifact_dir: Path, outputs: list[str]) -> dict[str, Any]:
    """The artifact's open-set verdict: graph output and threshold, or output None when the graph
    has no known_score or metadata.json no threshold (older artifacts: every breed is known)."""
    try:
        meta = json.loads((Path(artifact_dir) / "metadata.json").read_text())
    except (OSError, ValueError):
        meta = {}
    record = meta.get("open_set") if isinstance(meta, dict) else None
    threshold = record.get("threshold") if isinstance(record, dict) else None
    if OUTPUT_NAME not in outputs or not isinstance(threshold, int | float):
        return {"output": None, "threshold": None}
    return {"output": OUTPUT_NAME, "threshold": float(threshold)}
