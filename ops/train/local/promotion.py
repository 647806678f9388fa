"""Whether a finished run may become `latest`: not when it ended clearly worse than it started.

Every run measures validation top-1 before its first step (epoch 0: the ImageNet-rows head, or the
untrained model). A run that ends clearly below that (a learning rate of 1e6 took a 100 % head to
chance) must not replace the model that `serve` and `deploy` use: its artifact is kept for a look,
but `latest` and the state record stay where they were unless the user promotes it anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

# "Clearly worse": more than this much top-1 below the start, and more than one validation image.
TOLERANCE = 0.02


@dataclass(frozen=True)
class Promotion:
    """The verdict on one run, as recorded in its training record."""

    promoted: bool
    reason: str
    start_top1: float | None
    final_top1: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def judge(metrics: dict, validation_images: int, anyway: bool = False) -> Promotion:
    """The verdict from a run's metrics (before_training_top1, validation_top1)."""
    start, final = metrics.get("before_training_top1"), metrics.get("validation_top1")
    if start is None or final is None:
        return Promotion(True, "no starting figure to compare with", start, final)
    margin = max(TOLERANCE, 1.0 / max(1, validation_images))
    if final >= start - margin:
        return Promotion(
            True, f"validation top-1 {final:.2%} (at the start {start:.2%})", start, final
        )
    reason = f"validation top-1 fell from {start:.2%} before training to {final:.2%} after it"
    if anyway:
        return Promotion(True, f"{reason}; promoted anyway (--promote-anyway)", start, final)
    return Promotion(False, reason, start, final)


def unique_run_dir(artifacts: Path, run_id: str) -> Path:
    """<artifacts>/<run id>, created now; -2, -3, ... when another run took that id (same second)."""
    artifacts.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = artifacts / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{artifacts / run_id}: 999 runs with this id")
