"""Leakage between train and validation: exact duplicates (sha256) and near-duplicates (pHash).

The same photo cropped slightly differently differs in bytes but not in its 64-bit perceptual
hash (a few bits at most), so every train x validation pair is compared by Hamming distance,
vectorised with numpy in blocks (12,000 x 8,580 pairs take about a second).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HashedImage:
    rel: str  # <class-folder>/<file>
    label: int
    sha256: str
    phash: int


@dataclass(frozen=True)
class DuplicatePair:
    train: str
    validation: str
    distance: int  # 0 with kind "exact"
    kind: str  # "exact" (same bytes) or "near" (perceptual hash within the threshold)
    same_class: bool

    def as_dict(self) -> dict:
        return {
            "train": self.train,
            "validation": self.validation,
            "kind": self.kind,
            "distance": self.distance,
            "same_class": self.same_class,
        }


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    bits = np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1)  # numpy < 2
    return bits.sum(axis=-1, dtype=np.uint8)


def find_duplicates(
    train: list[HashedImage], validation: list[HashedImage], max_distance: int, block: int = 512
) -> list[DuplicatePair]:
    """Every (train, validation) pair with the same sha256 or pHash distance <= max_distance."""
    pairs: list[DuplicatePair] = []
    by_sha: dict[str, list[HashedImage]] = {}
    for t in train:
        by_sha.setdefault(t.sha256, []).append(t)
    for v in validation:
        for t in by_sha.get(v.sha256, []):
            pairs.append(DuplicatePair(t.rel, v.rel, 0, "exact", t.label == v.label))
    if train and validation and max_distance >= 0:
        th = np.array([t.phash for t in train], dtype=np.uint64)
        for start in range(0, len(validation), block):
            chunk = validation[start : start + block]
            vh = np.array([v.phash for v in chunk], dtype=np.uint64)
            dist = _popcount(vh[:, None] ^ th[None, :])
            for vi, ti in zip(*np.nonzero(dist <= max_distance), strict=True):
                v, t = chunk[vi], train[ti]
                if v.sha256 == t.sha256:
                    continue  # already reported as exact
                pairs.append(
                    DuplicatePair(t.rel, v.rel, int(dist[vi, ti]), "near", t.label == v.label)
                )
    return sorted(pairs, key=lambda p: (p.validation, p.train))
