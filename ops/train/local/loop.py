"""The epoch loop shared by every mode: train, validate, checkpoint, early-stop, resume.

Checkpoints go to <artifacts_dir>/.checkpoints/<fingerprint>/ every checkpoint_frequency epochs;
a re-run with the same settings and data resumes from the last one (timm's checkpoint_saver, smaller).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import click

from ops.data.manifest import PreparedData
from ops.settings import Settings
from ops.train.local.recipe import Recipe

# local settings that change neither the trained weights nor the checkpoints (calibration runs after
# the last checkpoint, on its own copy of the head)
RESUME_NEUTRAL = (
    "num_workers",
    "threads",
    "calibrate",
    "calibration_fraction",
    "artifacts_dir",  # where the checkpoints live already
    "cache_dir",  # features, not weights
)


def fingerprint(settings: Settings, prepared: PreparedData) -> str:
    """What must be equal for a checkpoint to be resumed: the settings that train + the data."""
    s = settings.as_dict()
    relevant = {
        "hp": s["hyperparameters"],
        "local": {k: v for k, v in s["local"].items() if k not in RESUME_NEUTRAL},
        "data": [
            hashlib.sha1(prepared.lst_path(x).read_bytes()).hexdigest()
            for x in ("train", "validation")
        ],
        "classes": hashlib.sha1(prepared.classes_path.read_bytes()).hexdigest(),
    }
    return hashlib.sha1(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpointer:
    """One checkpoint file per run fingerprint, written atomically (only by the writing process)."""

    def __init__(self, folder: Path, writer: bool = True):
        self.folder = folder
        self.path = folder / "checkpoint.pt"
        self.writer = writer  # False on every distributed rank but 0: they read, never write

    def load(self) -> dict | None:
        import torch

        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception:  # noqa: BLE001 - a torn checkpoint is as good as none
            return None

    def save(self, payload: dict) -> None:
        import torch

        if not self.writer:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, self.path)


def checkpoint_state(parts: dict, gen=None) -> tuple[Callable[[], dict], Callable[[dict], None]]:
    """(get, set) of the checkpointed state: each part's state_dict, plus the shuffling RNG."""

    def get() -> dict:
        state = {name: part.state_dict() for name, part in parts.items()}
        if gen is not None:
            state["rng"] = gen.get_state()
        return state

    def set_(state: dict) -> None:
        for name, part in parts.items():
            part.load_state_dict(state[name])
        if gen is not None:
            gen.set_state(state["rng"])

    return get, set_


def echo(msg: str) -> None:
    """Progress of a long run, on stderr so stdout keeps only the result."""
    click.echo(msg, err=True)


def fmt_eta(seconds: float) -> str:
    """Seconds as 1m05s."""
    seconds = int(max(0, seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class TrainingInterrupted(Exception):
    """Raised by a callback to stop training after a checkpoint (used by tests)."""


def before_training(evaluate: Callable[[], tuple[float, float, float]], head_init: str) -> dict:
    """Epoch 0 of the history: validation figures of the untrained (or ImageNet-initialised) head."""
    vloss, top1, top5 = evaluate()
    echo(f"before training ({head_init} head): val top-1 {top1:.2%}  top-5 {top5:.2%}")
    return {
        "epoch": 0,
        "val_loss": round(vloss, 5),
        "val_top1": round(top1, 5),
        "val_top5": round(top5, 5),
    }


def _epoch_row(epoch, epochs, loss, steps, validation, t0: float, eta: float) -> dict:
    """One history row (printed as a progress line): train loss, validation loss/top-1/top-5."""
    val_loss, top1, top5 = validation
    row = {
        "epoch": epoch,
        "train_loss": round(loss, 5),
        "val_loss": round(val_loss, 5),
        "val_top1": round(top1, 5),
        "val_top5": round(top5, 5),
        "steps": steps,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    echo(
        f"epoch {epoch}/{epochs}  steps {steps}  loss {loss:.4f}  "
        f"val top-1 {top1:.2%}  top-5 {top5:.2%}  ({row['seconds']:.1f}s, ETA {fmt_eta(eta)})"
    )
    return row


def fit(
    step_fn: Callable[[int], tuple[float, int]],
    eval_fn: Callable[[], tuple[float, float, float]],
    state_fns: tuple[Callable[[], dict], Callable[[dict], None]],
    recipe: Recipe,
    checkpointer: Checkpointer,
    resume: bool,
    start_history: list[dict],
    callback: Callable[[dict], None] | None = None,
) -> tuple[list[dict], str]:
    """The epoch loop shared by all modes: train, validate, checkpoint, early-stop, resume."""
    get_state, set_state = state_fns
    history = list(start_history)
    start_epoch, best, bad = 1, -1.0, 0
    ckpt = checkpointer.load() if resume else None
    if ckpt is not None:
        set_state(ckpt["state"])
        history, best, bad = ckpt["history"], ckpt["best"], ckpt["bad_epochs"]
        start_epoch = ckpt["epoch"] + 1
        echo(f"resuming from checkpoint at epoch {ckpt['epoch']} ({checkpointer.path})")
        if ckpt.get("stopped"):
            return history, ckpt["stopped"]
    stopped = ""
    t_start = time.perf_counter()
    for done_epochs, epoch in enumerate(range(start_epoch, recipe.epochs + 1), 1):
        t0 = time.perf_counter()
        loss, steps = step_fn(epoch)
        val_loss, top1, top5 = eval_fn()
        per_epoch = (time.perf_counter() - t_start) / done_epochs
        eta = per_epoch * (recipe.epochs - epoch)
        row = _epoch_row(epoch, recipe.epochs, loss, steps, (val_loss, top1, top5), t0, eta)
        history.append(row)
        if top1 > best + recipe.tolerance:
            best, bad = top1, 0
        else:
            bad += 1
        if recipe.early_stopping and epoch >= recipe.min_epochs and bad >= recipe.patience:
            stopped = f"early stopping at epoch {epoch} (no gain for {bad} epochs)"
        last = epoch == recipe.epochs or bool(stopped)
        if last or (recipe.checkpoint_frequency and epoch % recipe.checkpoint_frequency == 0):
            checkpointer.save(
                {
                    "epoch": epoch,
                    "state": get_state(),
                    "history": history,
                    "best": best,
                    "bad_epochs": bad,
                    "stopped": stopped or ("completed" if last else ""),
                }
            )
        if callback is not None:
            callback({"epoch": epoch, **row})
        if stopped:
            echo(stopped)
            break
    return history, stopped or "completed"
