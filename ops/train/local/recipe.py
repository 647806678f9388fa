"""The training recipe: SageMaker hyperparameter names -> one Recipe -> optimizer and scheduler.

As timm's scheduler_factory: configuration -> keyword arguments -> factory, so each step can be
read and tested alone. With local.recipe = "fast" (default) head/partial training use
local.optimizer/learning_rate, cosine decay and epochs = min(hyperparameters.epochs, local.max_epochs),
since the SageMaker table (120 epochs SGD 1e-4) is meant for full fine-tuning on GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.errors import DogbreedError
from ops.hyperparameters import local_optimizer_options
from ops.settings import Settings

OPTIMIZERS = ("sgd", "nag", "adam", "rmsprop", "adamw")


@dataclass
class Recipe:
    """The effective training recipe after mapping the hyperparameters."""

    epochs: int
    optimizer: str
    learning_rate: float
    momentum: float
    weight_decay: float
    batch_size: int
    scheduler: str  # "cosine" or "multistep"
    milestones: list[int]
    factor: float
    early_stopping: bool
    min_epochs: int
    patience: int
    tolerance: float
    checkpoint_frequency: int
    augmentation: str
    # torch.optim options mapped from the SageMaker names, and the names this run ignores
    # (ops/hyperparameters.local_optimizer_options)
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    ignored_hyperparameters: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_recipe(settings: Settings) -> Recipe:
    hp, local = settings.hyperparameters, settings.local
    fast = local.recipe == "fast" and local.mode in ("head", "partial")
    if local.recipe not in ("fast", "sagemaker"):
        raise DogbreedError("local.recipe must be 'fast' or 'sagemaker'", exit_code=2)
    optimizer = (local.optimizer if fast else hp.optimizer).lower()
    if optimizer not in OPTIMIZERS:
        raise DogbreedError(
            f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}", exit_code=2
        )
    try:
        milestones = [int(s) for s in hp.lr_scheduler_step.split(",") if s.strip()]
    except ValueError as exc:
        raise DogbreedError(
            "hyperparameters.lr_scheduler_step must be epochs like '10,20'", exit_code=2
        ) from exc
    epochs = min(hp.epochs, local.max_epochs) if fast else hp.epochs
    options, ignored = local_optimizer_options(hp, optimizer)
    if epochs < 1 or hp.mini_batch_size < 1:
        raise DogbreedError("epochs and mini_batch_size must be at least 1", exit_code=2)
    return Recipe(
        epochs=epochs,
        optimizer=optimizer,
        learning_rate=local.learning_rate if fast else hp.learning_rate,
        momentum=hp.momentum,
        weight_decay=hp.weight_decay,
        batch_size=hp.mini_batch_size,
        scheduler="cosine" if fast else "multistep",
        milestones=milestones,
        factor=hp.lr_scheduler_factor,
        early_stopping=hp.early_stopping,
        min_epochs=hp.early_stopping_min_epochs,
        patience=hp.early_stopping_patience,
        tolerance=hp.early_stopping_tolerance,
        # 0 means "not sent" to SageMaker; locally, resume checkpoints stay every epoch
        checkpoint_frequency=max(0, hp.checkpoint_frequency) or 1,
        augmentation=hp.augmentation_type,
        optimizer_options=options,
        ignored_hyperparameters=ignored,
    )


def optimizer_kwargs(r: Recipe) -> dict[str, Any]:
    """The torch.optim keyword arguments of a recipe (plus "name", the optimizer to build)."""
    # adam/adamw: betas, eps; rmsprop: alpha (gamma), eps, momentum; sgd/nag: momentum, nesterov
    return {"name": r.optimizer, "lr": r.learning_rate, **r.optimizer_options}


def create_optimizer(params, name: str, **kwargs):
    """torch.optim.SGD (sgd, nag) / Adam / AdamW / RMSprop by SageMaker name."""
    import torch

    factory = {
        "sgd": torch.optim.SGD,
        "nag": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }[name]
    return factory(params, **kwargs)


def make_optimizer(params, r: Recipe):
    """The optimizer of a recipe."""
    return create_optimizer(params, **optimizer_kwargs(r))


def scheduler_kwargs(r: Recipe, steps_per_epoch: int) -> dict[str, Any]:
    """The scheduler keyword arguments of a recipe (plus "name": cosine or multistep)."""
    if r.scheduler == "cosine":
        return {"name": "cosine", "T_max": max(1, r.epochs * steps_per_epoch)}
    return {"name": "multistep", "milestones": r.milestones, "gamma": r.factor}


def create_scheduler(optimizer, name: str, **kwargs):
    """CosineAnnealingLR (stepped per optimizer step) or MultiStepLR (stepped per epoch)."""
    import torch

    factory = {
        "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
        "multistep": torch.optim.lr_scheduler.MultiStepLR,
    }[name]
    return factory(optimizer, **kwargs)


def make_scheduler(optimizer, r: Recipe, steps_per_epoch: int):
    """Stepped once per optimizer step (cosine) or per epoch (multistep)."""
    return create_scheduler(optimizer, **scheduler_kwargs(r, steps_per_epoch))


def optimizer_step(loss, optimizer, scheduler, recipe: Recipe) -> float:
    """One optimizer step, plus the scheduler when it steps per batch (cosine); the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if recipe.scheduler == "cosine":
        scheduler.step()
    return loss.item()
