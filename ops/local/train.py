"""`dogbreed train` with backend "local": PyTorch + timm on this machine, no AWS, no network.

Modes (local.mode):
  head     backbone frozen; pooled features computed once and cached on disk (ops/local/features.py),
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

Checkpoints go to <artifacts_dir>/.checkpoints/<fingerprint>/ every checkpoint_frequency epochs;
a re-run with the same settings and data resumes from the last one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.local.calibrate import uncalibrated
from ops.settings import Settings, image_size
from ops.state import update_state

OPTIMIZERS = ("sgd", "nag", "adam", "rmsprop", "adamw")
# local settings that change neither the trained weights nor the checkpoints (calibration runs after
# the last checkpoint, on its own copy of the head)
RESUME_NEUTRAL = ("num_workers", "threads", "calibrate", "calibration_fraction")


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
        checkpoint_frequency=max(0, hp.checkpoint_frequency),
        augmentation=hp.augmentation_type,
    )


def make_optimizer(params, r: Recipe):
    import torch

    if r.optimizer in ("sgd", "nag"):
        return torch.optim.SGD(
            params,
            lr=r.learning_rate,
            momentum=r.momentum,
            weight_decay=r.weight_decay,
            nesterov=r.optimizer == "nag" and r.momentum > 0,
        )
    if r.optimizer == "adam":
        return torch.optim.Adam(params, lr=r.learning_rate, weight_decay=r.weight_decay)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.learning_rate, weight_decay=r.weight_decay)
    return torch.optim.RMSprop(
        params, lr=r.learning_rate, momentum=r.momentum, weight_decay=r.weight_decay
    )


def make_scheduler(optimizer, r: Recipe, steps_per_epoch: int):
    """Stepped once per optimizer step (cosine) or per epoch (multistep)."""
    import torch

    if r.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, r.epochs * steps_per_epoch)
        )
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=r.milestones, gamma=r.factor)


def topk_accuracy(logits, labels, k: int) -> float:
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean())


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
    """One checkpoint file per run fingerprint, written atomically."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / "checkpoint.pt"

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

        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, self.path)


def _state_fns(parts: dict, gen=None) -> tuple[Callable[[], dict], Callable[[dict], None]]:
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


def _echo(msg: str) -> None:
    click.echo(msg, err=True)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class TrainingInterrupted(Exception):
    """Raised by a callback to stop training after a checkpoint (used by tests)."""


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
        _echo(f"resuming from checkpoint at epoch {ckpt['epoch']} ({checkpointer.path})")
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
        row = {
            "epoch": epoch,
            "train_loss": round(loss, 5),
            "val_loss": round(val_loss, 5),
            "val_top1": round(top1, 5),
            "val_top5": round(top5, 5),
            "steps": steps,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        history.append(row)
        _echo(
            f"epoch {epoch}/{recipe.epochs}  steps {steps}  loss {loss:.4f}  "
            f"val top-1 {top1:.2%}  top-5 {top5:.2%}  ({row['seconds']:.1f}s, ETA {_fmt_eta(eta)})"
        )
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
            _echo(stopped)
            break
    return history, stopped or "completed"


def _labels(entries) -> list[int]:
    return [label for _, label in entries]


def train_local(
    settings: Settings, resume: bool = True, callback: Callable[[dict], None] | None = None
) -> dict:
    """Train with the local backend, export the artifact, record it in the state file."""
    import torch

    from ops.local.export import export_artifact
    from ops.local.model import build_model, select_device

    local, hp = settings.local, settings.hyperparameters
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
    recipe = make_recipe(settings)
    if local.threads:
        torch.set_num_threads(local.threads)
    torch.manual_seed(settings.data.seed)
    device = select_device(local.device)
    t_begin = time.perf_counter()
    built = build_model(
        local.backbone,
        classes,
        weights=local.weights,
        pretrained=bool(hp.use_pretrained_model),
        image_size=image_size(settings),
        num_layers=hp.num_layers,
        input_size=local.input_size,
    )
    model = built.model
    _echo(
        f"model {built.backbone} weights {built.weights.source} head {built.head_init} "
        f"input {built.preprocessing.input_size}px on {device}; mode {local.mode}; "
        f"{len(train_items)} train / {len(val_items)} validation images; "
        f"recipe {recipe.optimizer} lr {recipe.learning_rate:g} x {recipe.epochs} epochs"
    )
    fp = fingerprint(settings, prepared)
    artifacts = settings.resolve(local.artifacts_dir)
    checkpointer = Checkpointer(artifacts / ".checkpoints" / fp)
    timings: dict[str, float] = {}
    run_mode = _train_head if local.mode == "head" else _train_images
    history, how, model, calibration = run_mode(
        settings,
        built,
        train_items,
        val_items,
        recipe,
        device,
        checkpointer,
        resume,
        callback,
        timings,
    )
    timings["total_s"] = round(time.perf_counter() - t_begin, 1)
    dog = calibration.pop("dog", None)  # head mode: the dog-score thresholds
    final = history[-1] if history else {}
    metrics = {
        "history": history,
        "stopped": how,
        "validation_top1": final.get("val_top1"),
        "validation_top5": final.get("val_top5"),
        "before_training_top1": history[0]["val_top1"]
        if history and history[0]["epoch"] == 0
        else None,
        "timings": timings,
        "calibration": calibration,
        "dog": dog,
    }
    run_id = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{built.backbone}-{local.mode}"
    out_dir = artifacts / run_id
    metadata = {
        "backbone": built.backbone,
        "weights": built.weights.source,
        "head_init": built.head_init,
        "mode": local.mode,
        "num_classes": len(classes),
        "hyperparameters": settings.as_dict()["hyperparameters"],
        "recipe": recipe.as_dict(),
        "local": settings.as_dict()["local"],
        "prepared_dir": str(prepared.root),
        "fingerprint": fp,
        "calibration_temperature": calibration["temperature"],
        "dog": dog,
    }
    _echo(f"exporting the artifact to {out_dir}")
    tar = export_artifact(
        model.cpu().eval(), prepared.classes_path, built.preprocessing, out_dir, metadata, metrics
    )
    _update_latest(artifacts, run_id)
    record = {
        "backend": "local",
        "artifact_dir": str(out_dir),
        "model_tar": str(tar),
        "metrics": {k: v for k, v in metrics.items() if k != "history"},
        "settings": settings.as_dict(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    update_state("training", record)
    top1 = metrics["validation_top1"]
    _echo(
        f"done in {_fmt_eta(timings['total_s'])}: validation top-1 {top1:.2%}"
        if top1 is not None
        else "done"
    )
    click.echo(str(tar))
    return record


def _update_latest(artifacts: Path, run_id: str) -> None:
    """artifacts/latest -> the newest run (a symlink, plus latest.txt where links fail)."""
    link = artifacts / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(run_id, target_is_directory=True)
    except OSError:
        pass
    (artifacts / "latest.txt").write_text(run_id + "\n")


# ---------------------------------------------------------------- head mode (cached features)


def cached_features(settings, built, items, device, view: str = "plain", desc: str = "features"):
    """[len(items), D] pooled features of (path, label) items from the feature cache (computing
    the missing ones): what head mode trains on, and what `data audit` scores."""
    import numpy as np

    from ops.local.features import cache_key, extract_features
    from ops.local.model import members

    local = settings.local
    cache_root = settings.resolve(local.cache_dir) / "features"
    engine = local.engine if device.type == "cpu" else "torch"
    parts = members(built)
    out = []
    for name, weights_key, extractor in parts:
        key = cache_key(name, weights_key, built.preprocessing, view)
        out.append(
            extract_features(
                [p for p, _ in items],
                extractor.to(device),
                built.preprocessing,
                cache_root / key,
                flip=view == "flip",
                batch_size=local.extract_batch_size,
                engine=engine,
                threads=local.threads,
                desc=f"{desc} [{name}]" if len(parts) > 1 else desc,
            )
        )
    return np.concatenate(out, axis=1)


def _train_head(
    settings, built, train_items, val_items, recipe, device, ckpt, resume, callback, timings
):
    import numpy as np
    import torch

    local = settings.local

    def feats(items, view, desc):
        return cached_features(settings, built, items, device, view, desc)

    t0 = time.perf_counter()
    x_val = feats(val_items, "plain", "validation features")
    x_train = [feats(train_items, "plain", "train features")]
    if local.flip_views:
        x_train.append(feats(train_items, "flip", "train features (flipped)"))
    timings["features_s"] = round(time.perf_counter() - t0, 1)

    y_train = torch.tensor(_labels(train_items))
    xt = torch.from_numpy(np.concatenate(x_train)).to(device)
    yt = y_train.repeat(len(x_train)).to(device)
    xv = torch.from_numpy(x_val).to(device)
    yv = torch.tensor(_labels(val_items)).to(device)

    head = built.model.get_classifier().to(device)
    untrained_head = copy.deepcopy(head)  # the calibration head's starting point
    optimizer, scheduler, gen, step = head_trainer(head, xt, yt, recipe, settings.data.seed)
    loss_fn = torch.nn.CrossEntropyLoss()

    def evaluate():
        head.eval()
        with torch.no_grad():
            logits = head(xv)
            return (
                float(loss_fn(logits, yv)),
                topk_accuracy(logits, yv, 1),
                topk_accuracy(logits, yv, 5),
            )

    state_fns = _state_fns({"head": head, "optimizer": optimizer, "scheduler": scheduler}, gen)
    vloss, top1, top5 = evaluate()
    before = {
        "epoch": 0,
        "val_loss": round(vloss, 5),
        "val_top1": round(top1, 5),
        "val_top5": round(top5, 5),
    }
    _echo(f"before training ({built.head_init} head): val top-1 {top1:.2%}  top-5 {top5:.2%}")
    t1 = time.perf_counter()
    history, how = fit(step, evaluate, state_fns, recipe, ckpt, resume, [before], callback)
    timings["head_training_s"] = round(time.perf_counter() - t1, 1)
    calibration, held = uncalibrated("local.calibrate is off"), None
    if local.calibrate:
        t2 = time.perf_counter()
        calibration, held = _calibrate(
            head, untrained_head, x_train, y_train, (xv, yv), recipe, history, settings, device
        )
        timings["calibration_s"] = round(time.perf_counter() - t2, 1)
    calibration["dog"] = _dog_record(built.model, head, x_train[0], x_val, xv, held)
    return history, how, built.model.cpu(), calibration


def _dog_record(model, head, train_features, val_features, xv, held):
    """Dog-score thresholds (ops/local/dogness.py): the dog score's on every training image, the
    top probability's on the calibration's held-out images (`held` = (indices, calibrated
    probabilities)), or without them on the validation images."""
    import torch

    from ops.local.dogness import head_mode_record

    head.eval()
    with torch.no_grad():
        val_top = torch.softmax(head(xv), 1).max(1).values.cpu().numpy()
    if held is None:
        record = head_mode_record(model, train_features, val_top, val_features, val_top)
        record["top_probability_chosen_on"] = (
            f"{len(val_top)} validation images (no held-out training images)"
        )
    else:
        record = head_mode_record(model, train_features, held[1].max(1), val_features, val_top)
    _echo(
        f"dog signal {record['signal']}: threshold {record['threshold']:.4f} "
        f"({record['chosen_on']}); validation false refusals "
        + ", ".join(f"{k} {v:.2%}" for k, v in record["validation_false_refusal"].items())
    )
    return record


def _update(loss, optimizer, scheduler, recipe: Recipe) -> float:
    """One optimizer step, plus the scheduler when it steps per batch (cosine); the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if recipe.scheduler == "cosine":
        scheduler.step()
    return loss.item()


def head_trainer(head, xt, yt, recipe: Recipe, seed: int):
    """(optimizer, scheduler, RNG, one-epoch step) for a linear head on cached feature rows."""
    import torch

    optimizer = make_optimizer(head.parameters(), recipe)
    steps_per_epoch = math.ceil(len(xt) / recipe.batch_size)
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)

    def step(epoch):
        head.train()
        order = torch.randperm(len(xt), generator=gen).to(xt.device)
        total = 0.0
        for i in range(0, len(xt), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            loss = loss_fn(head(xt[idx]), yt[idx])
            total += _update(loss, optimizer, scheduler, recipe) * len(idx)
        if recipe.scheduler != "cosine":
            scheduler.step()
        return total / len(xt), steps_per_epoch

    return optimizer, scheduler, gen, step


def _calibrate(head, fresh_head, views, y_train, validation, recipe, history, settings, device):
    """Fit a softmax temperature on held-out training images and fold it into `head`; returns
    (calibration record, (held-out indices, their calibrated probabilities) or None).

    A second head (`fresh_head`, the same starting point) trains with the same recipe and number of
    epochs on the other images; its logits on the held-out ones fit T (ops/local/calibrate.py)
    when they hold at least MIN_ERRORS mistakes (fewer make T noise).
    Held-out images leave every view (plain and flipped) of the calibration head's training data.
    """
    import dataclasses

    import numpy as np
    import torch

    from ops.local.calibrate import (
        MIN_ERRORS,
        MIN_HOLDOUT,
        fit_temperature,
        fold_temperature,
        holdout_split,
        quality,
    )

    local = settings.local
    kept, held = holdout_split(len(y_train), local.calibration_fraction, settings.data.seed)
    epochs = max((row["epoch"] for row in history), default=0)
    if len(held) < MIN_HOLDOUT or not kept or epochs < 1:
        reason = f"{len(held)} held-out images (need {MIN_HOLDOUT})" if epochs else "no epochs"
        _echo(f"calibration skipped: {reason}")
        return uncalibrated(reason), None
    xt = torch.from_numpy(np.concatenate([v[kept] for v in views])).to(device)
    yt = y_train[kept].repeat(len(views)).to(device)
    _, _, _, step = head_trainer(
        fresh_head, xt, yt, dataclasses.replace(recipe, epochs=epochs), settings.data.seed
    )
    for epoch in range(1, epochs + 1):
        step(epoch)
    fresh_head.eval()
    with torch.no_grad():
        held_logits = fresh_head(torch.from_numpy(views[0][held]).to(device)).cpu()
    errors = int((held_logits.argmax(1) != y_train[held]).sum())
    if errors < MIN_ERRORS:
        reason = (
            f"{errors} of {len(held)} held-out images misclassified "
            f"(need {MIN_ERRORS} to fit a temperature)"
        )
        _echo(f"calibration skipped: {reason}")
        probs = torch.softmax(held_logits, 1).numpy()
        return uncalibrated(reason, holdout_images=len(held)), (held, probs)
    temperature = fit_temperature(held_logits, y_train[held])
    xv, yv = validation
    head.eval()
    with torch.no_grad():
        before = quality(head(xv).cpu(), yv.cpu())
        fold_temperature(head, temperature)
        after = quality(head(xv).cpu(), yv.cpu())
    _echo(
        f"calibration: temperature {temperature:.3f} fitted on {len(held):,} held-out training "
        f"images; validation ECE {before['ece']:.2%} -> {after['ece']:.2%}, "
        f"NLL {before['nll']:.4f} -> {after['nll']:.4f}"
    )
    record = {
        "temperature": round(temperature, 5),
        "holdout_images": len(held),
        "holdout_errors": errors,
        "validation_before": before,
        "validation_after": after,
    }
    return record, (held, torch.softmax(held_logits / temperature, 1).numpy())


# ---------------------------------------------------------------- partial / full (images)


def _augmentations(kind: str, size: int, prep):
    from torchvision import transforms as T  # noqa: N812

    ops = []
    if "crop" in kind:
        ops.append(T.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True))
    ops.append(T.RandomHorizontalFlip())
    if "color" in kind:
        ops.append(T.ColorJitter(0.3, 0.3, 0.3))
    if "transform" in kind:
        ops.append(T.RandomAffine(degrees=10, shear=5))
    return T.Compose(ops)


class _ImageDataset:
    def __init__(self, items, prep, augment=None):
        self.items, self.prep, self.augment = items, prep, augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        import torch

        from ops.local.preprocess import decode_image, resize_and_crop, to_array

        path, label = self.items[i]
        img = resize_and_crop(decode_image(Path(path).read_bytes()), self.prep)
        if self.augment is not None:
            img = self.augment(img)
        return torch.from_numpy(to_array(img, self.prep)), label


def _train_images(
    settings, built, train_items, val_items, recipe, device, ckpt, resume, callback, timings
):
    import torch

    from ops.local.model import trainable_tail

    local = settings.local
    model = built.model.to(device)
    if local.mode == "partial":
        for p in model.parameters():
            p.requires_grad_(False)
        for module in trainable_tail(model, local.partial_blocks):
            for p in module.parameters():
                p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        augment = _augmentations(
            recipe.augmentation, built.preprocessing.input_size, built.preprocessing
        )
    except ImportError:
        augment = None
    loader_args = {"num_workers": local.num_workers, "persistent_workers": local.num_workers > 0}
    train_loader = torch.utils.data.DataLoader(
        _ImageDataset(train_items, built.preprocessing, augment),
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.data.seed),
        **loader_args,
    )
    val_loader = torch.utils.data.DataLoader(
        _ImageDataset(val_items, built.preprocessing),
        batch_size=max(32, recipe.batch_size),
        **loader_args,
    )
    optimizer = make_optimizer(params, recipe)
    scheduler = make_scheduler(optimizer, recipe, len(train_loader))
    loss_fn = torch.nn.CrossEntropyLoss()

    def frozen_eval():
        # BatchNorm statistics of frozen stages stay as pretrained
        if local.mode == "partial":
            model.eval()
            for module in trainable_tail(model, local.partial_blocks):
                module.train()
        else:
            model.train()

    def evaluate():
        model.eval()
        total, n, logits_all, labels_all = 0.0, 0, [], []
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                total += float(loss_fn(out, y)) * len(y)
                n += len(y)
                logits_all.append(out)
                labels_all.append(y)
        logits, labels = torch.cat(logits_all), torch.cat(labels_all)
        return total / n, topk_accuracy(logits, labels, 1), topk_accuracy(logits, labels, 5)

    def step(epoch):
        from tqdm import tqdm

        frozen_eval()
        total, n = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}", unit="batch", leave=False)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            total += _update(loss_fn(model(x), y), optimizer, scheduler, recipe) * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        if recipe.scheduler != "cosine":
            scheduler.step()
        return total / n, len(train_loader)

    state_fns = _state_fns({"model": model, "optimizer": optimizer, "scheduler": scheduler})
    history: list[dict] = []
    if not (resume and ckpt.load() is not None):
        vloss, top1, top5 = evaluate()
        history = [
            {
                "epoch": 0,
                "val_loss": round(vloss, 5),
                "val_top1": round(top1, 5),
                "val_top5": round(top5, 5),
            }
        ]
        _echo(f"before training ({built.head_init} head): val top-1 {top1:.2%}  top-5 {top5:.2%}")
    t1 = time.perf_counter()
    history, how = fit(step, evaluate, state_fns, recipe, ckpt, resume, history, callback)
    timings["training_s"] = round(time.perf_counter() - t1, 1)
    for p in model.parameters():
        p.requires_grad_(True)
    return history, how, model.cpu(), uncalibrated("head mode only")
