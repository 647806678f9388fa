"""Local training (backend "local"): PyTorch + timm on this machine, no AWS, no network.

Modes (local.mode):
  head     backbone frozen; pooled features computed once and cached on disk (ops/model/features.py),
           then the linear head trains in seconds per epoch. The head starts from the ImageNet rows of
           the 120 breeds, so it is accurate before the first step.
  partial  the last local.partial_blocks stages + head train on images (the rest frozen)
  full     everything trains on images

SageMaker hyperparameter names map onto PyTorch (see docs/local-training.md): optimizer
sgd/nag/adam/rmsprop -> torch.optim.SGD/SGD(nesterov)/Adam/RMSprop with momentum and weight_decay;
lr_scheduler_step "a,b" (epochs) + lr_scheduler_factor -> MultiStepLR; early_stopping_* -> stop after
`patience` epochs without a validation gain > tolerance (never before min_epochs);
mini_batch_size, checkpoint_frequency, use_pretrained_model, image_shape (when not pretrained) and
augmentation_type (crop / crop_color / crop_color_transform in partial/full; flips in head) as named.
With local.recipe = "fast" (default) head/partial training use local.optimizer/learning_rate,
cosine decay and epochs = min(hyperparameters.epochs, local.max_epochs), since the SageMaker table
(120 epochs SGD 1e-4) is meant for full fine-tuning on GPUs.

Checkpoints and the run fingerprint: loop.py. The recipe: recipe.py. Head mode: head.py;
partial/full: images.py; the softmax temperature: calibrate.py; the artifact, `latest` and the
training record: publish.py. `train_local` returns the training record; the `train` command
writes it to the state file and prints the result (the steps' progress lines go to stderr).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.settings import Settings, image_size
from ops.train.local.distributed import World
from ops.train.local.loop import Checkpointer, TrainingInterrupted, echo, fingerprint
from ops.train.local.promotion import judge
from ops.train.local.publish import link_latest, record_of_run, write_artifact
from ops.train.local.recipe import Recipe, make_recipe

__all__ = ["TrainingInterrupted", "make_recipe", "train_local"]


@dataclass
class Run:
    """What every step of one training run shares: the data, the model, the recipe, where it runs
    and checkpoints, and when it began."""

    settings: Settings
    prepared: PreparedData
    train_items: list
    val_items: list
    recipe: Recipe
    device: Any
    built: Any  # ops.model.network.BuiltModel
    fingerprint: str
    checkpointer: Checkpointer
    started: float  # time.perf_counter() before the model was built


def train_local(
    settings: Settings,
    resume: bool = True,
    callback: Callable[[dict], None] | None = None,
    *,
    world: World | None = None,
    checkpoint_root: Path | None = None,
    promote_anyway: bool = False,
) -> dict:
    """Train with the local backend and export the artifact; returns the "training" record.

    `world` (distributed.py) makes this one of several data-parallel processes: only rank 0
    checkpoints and exports, and the other ranks return the metrics alone. `checkpoint_root`
    replaces <artifacts_dir>/.checkpoints (SageMaker's /opt/ml/checkpoints, synced with S3).
    `latest` moves to the new artifact only when the run did not end clearly worse than it
    started, or `promote_anyway` (promotion.py); the record's "promotion" says which and why.
    """
    world = world or World()
    _check_world(settings, world)
    run = _start(settings, world, checkpoint_root)
    model, metrics = _train(run, resume, callback, world)
    if not world.is_writer:
        return {"rank": world.rank, "metrics": metrics}
    out_dir, tar = write_artifact(run, model, metrics)
    promotion = judge(metrics, len(run.val_items), anyway=promote_anyway)
    if promotion.promoted:
        link_latest(out_dir)
    return {**record_of_run(settings, out_dir, tar, metrics), "promotion": promotion.as_dict()}


def _check_world(settings: Settings, world: World) -> None:
    """DogbreedError for head mode across several processes (its features are cached once)."""
    if world.distributed and settings.local.mode == "head":
        raise DogbreedError(
            "head mode trains on one process (its features are cached once); "
            "distributed training needs local.mode partial or full",
            exit_code=2,
        )


def _start(settings: Settings, world: World, checkpoint_root: Path | None) -> Run:
    """Check the data, seed, pick the device and build the model: the Run the steps share."""
    import torch

    from ops.model.network import build_model, select_device

    local, hp = settings.local, settings.hyperparameters
    prepared, train_items, val_items = _checked_data(settings)
    recipe = make_recipe(settings)
    if local.threads:
        torch.set_num_threads(local.threads)
    torch.manual_seed(settings.data.seed)
    device = world.device(select_device(local.device))
    world.init(device)
    started = time.perf_counter()
    built = build_model(
        local.backbone,
        prepared.classes(),
        weights=local.weights,
        pretrained=bool(hp.use_pretrained_model),
        image_size=image_size(settings),
        num_layers=hp.num_layers,
        input_size=local.input_size,
    )
    echo(
        f"model {built.backbone} weights {built.weights.source} head {built.head_init} "
        f"input {built.preprocessing.input_size}px on {device}; mode {local.mode}; "
        f"{len(train_items)} train / {len(val_items)} validation images; "
        f"recipe {recipe.optimizer} lr {recipe.learning_rate:g} x {recipe.epochs} epochs"
    )
    fp = fingerprint(settings, prepared)
    root = checkpoint_root or settings.resolve(local.artifacts_dir) / ".checkpoints"
    checkpointer = Checkpointer(root / fp, writer=world.is_writer)
    return Run(
        settings, prepared, train_items, val_items, recipe, device, built, fp, checkpointer, started
    )


def _train(run: Run, resume: bool, callback, world: World) -> tuple[Any, dict]:
    """Train in the configured mode; (the trained model, the artifact's metrics)."""
    timings: dict[str, float] = {}
    args = (
        run.settings,
        run.built,
        run.train_items,
        run.val_items,
        run.recipe,
        run.device,
        run.checkpointer,
        resume,
    )
    if run.settings.local.mode == "head":
        from ops.train.local.head import train_head

        history, how, model, calibration = train_head(*args, callback, timings)
    else:
        from ops.train.local.image_modes import train_images

        history, how, model, calibration = train_images(*args, callback, timings, world=world)
    timings["total_s"] = round(time.perf_counter() - run.started, 1)
    dog = calibration.pop("dog", None)  # head mode: the dog-score thresholds (dogness.py)
    open_set = calibration.pop("open_set", None)  # head mode: the known-breed threshold
    return model, {**_metrics(history, how, timings, calibration), "dog": dog, "open_set": open_set}


def _checked_data(settings: Settings):
    """(prepared, train items, validation items) after checking labels and image files."""
    prepared = PreparedData(settings.resolve(settings.data.prepared_dir)).check()
    classes = prepared.classes()
    train_items = prepared.image_paths("train")
    val_items = prepared.image_paths("validation")
    if not train_items or not val_items:
        raise DogbreedError(f"{prepared.root}: train and validation manifests must not be empty")
    for items, split in ((train_items, "train"), (val_items, "validation")):
        bad = [label for _, label in items if not 0 <= label < len(classes)]
        if bad:
            raise DogbreedError(f"{split}.lst has label {bad[0]} outside classes.json")
        missing = [p for p, _ in items if not p.is_file()]
        if missing:
            raise DogbreedError(f"{len(missing)} {split} images are missing, e.g. {missing[0]}")
    return prepared, train_items, val_items


def _metrics(history: list[dict], how: str, timings: dict, calibration: dict) -> dict:
    """metrics.json of the artifact: the epoch history, final figures, timings, calibration."""
    final = history[-1] if history else {}
    return {
        "history": history,
        "stopped": how,
        "validation_top1": final.get("val_top1"),
        "validation_top5": final.get("val_top5"),
        "before_training_top1": history[0]["val_top1"]
        if history and history[0]["epoch"] == 0
        else None,
        "timings": timings,
        "calibration": calibration,
    }
