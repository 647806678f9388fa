"""Head mode: backbone frozen, pooled features cached once, a linear head trained on them.

The head starts from the ImageNet rows of the breeds, so it is accurate before the first step;
a softmax temperature fitted on held-out training images is folded into it (calibrate.py).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time

from ops.model.ranking import top_k_accuracy
from ops.train.local.calibrate import (
    MIN_ERRORS,
    MIN_HOLDOUT,
    fit_temperature,
    fold_temperature,
    holdout_split,
    quality,
    uncalibrated,
)
from ops.train.local.loop import before_training, checkpoint_state, echo, fit
from ops.train.local.recipe import Recipe, make_optimizer, make_scheduler, optimizer_step


def labels_of(entries) -> list[int]:
    """The labels of (path, label) manifest entries."""
    return [label for _, label in entries]


def cached_features(settings, built, items, device, view: str = "plain", desc: str = "features"):
    """[len(items), D] pooled features of (path, label) items from the feature cache (computing
    the missing ones): what head mode trains on, and what `data audit` scores."""
    import numpy as np

    from ops.model.features import cache_key, extract_features
    from ops.model.network import members

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


def train_head(
    settings, built, train_items, val_items, recipe, device, ckpt, resume, callback, timings
):
    """Head training on cached features; (history, how it stopped, model, calibration record).

    Long because feature extraction, the eval closure and the calibration hand-off (temperature,
    dog and open-set thresholds) stay together: they share the cached tensors, which split apart
    they would pass all around.
    """
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

    y_train = torch.tensor(labels_of(train_items))
    xt = torch.from_numpy(np.concatenate(x_train)).to(device)
    yt = y_train.repeat(len(x_train)).to(device)
    xv = torch.from_numpy(x_val).to(device)
    yv = torch.tensor(labels_of(val_items)).to(device)

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
                top_k_accuracy(logits, yv, 1),
                top_k_accuracy(logits, yv, 5),
            )

    state_fns = checkpoint_state(
        {"head": head, "optimizer": optimizer, "scheduler": scheduler}, gen
    )
    before = before_training(evaluate, built.head_init)
    t1 = time.perf_counter()
    history, how = fit(step, evaluate, state_fns, recipe, ckpt, resume, [before], callback)
    timings["head_training_s"] = round(time.perf_counter() - t1, 1)
    calibration, held = uncalibrated("local.calibrate is off"), None
    if local.calibrate:
        t2 = time.perf_counter()
        calibration, held = calibrate_head(
            head, untrained_head, x_train, y_train, (xv, yv), recipe, history, settings, device
        )
        timings["calibration_s"] = round(time.perf_counter() - t2, 1)
    calibration["dog"] = dog_record(built.model, head, x_train[0], x_val, xv, held)
    calibration["open_set"] = open_set_record(head, xv, held)
    return history, how, built.model.cpu(), calibration


def dog_record(model, head, train_features, val_features, xv, held):
    """Dog-score thresholds (ops/model/dogness.py): the dog score's on every training image, the
    top probability's on the calibration's held-out images (`held` = (indices, calibrated
    probabilities)), or without them on the validation images."""
    import torch

    from ops.model.dogness import head_mode_record

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
    echo(
        f"dog signal {record['signal']}: threshold {record['threshold']:.4f} "
        f"({record['chosen_on']}); validation false refusals "
        + ", ".join(f"{k} {v:.2%}" for k, v in record["validation_false_refusal"].items())
    )
    return record


def open_set_record(head, xv, held):
    """The known-breed threshold (ops/model/open_set.py) on the score of the calibration's
    held-out images (`held`[2]: their logits / T), or without them on the validation images."""
    import torch

    from ops.model.open_set import SHIPPED_SCORE, logit_scores, threshold_record

    if held is not None:
        record = threshold_record(logit_scores(held[2])[SHIPPED_SCORE])
    else:
        head.eval()
        with torch.no_grad():
            scores = logit_scores(head(xv).cpu().numpy())[SHIPPED_SCORE]
        record = threshold_record(scores)
        record["chosen_on"] = f"{len(scores)} validation images (no held-out training images)"
    echo(f"open set: known_score threshold {record['threshold']:.4f} ({record['chosen_on']})")
    return record


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
            total += optimizer_step(loss, optimizer, scheduler, recipe) * len(idx)
        if recipe.scheduler != "cosine":
            scheduler.step()
        return total / len(xt), steps_per_epoch

    return optimizer, scheduler, gen, step


def calibrate_head(head, fresh_head, views, y_train, validation, recipe, history, settings, device):
    """Fit a softmax temperature on held-out training images and fold it into `head`; returns
    (calibration record, (held-out indices, their calibrated probabilities and logits) or None).

    A second head (`fresh_head`, the same starting point) trains with the same recipe and number of
    epochs on the other images; its logits on the held-out ones fit T (ops/train/local/calibrate.py)
    when they hold at least MIN_ERRORS mistakes (fewer make T noise).
    Held-out images leave every view (plain and flipped) of the calibration head's training data.
    """
    import torch

    local = settings.local
    kept, held = holdout_split(len(y_train), local.calibration_fraction, settings.data.seed)
    epochs = max((row["epoch"] for row in history), default=0)
    if len(held) < MIN_HOLDOUT or not kept or epochs < 1:
        reason = f"{len(held)} held-out images (need {MIN_HOLDOUT})" if epochs else "no epochs"
        echo(f"calibration skipped: {reason}")
        return uncalibrated(reason), None
    held_logits = _held_out_logits(
        fresh_head, views, y_train, (kept, held), recipe, epochs, settings.data.seed, device
    )
    if not torch.isfinite(held_logits).all():  # diverged (a huge learning rate): nothing to fit
        reason = "the held-out logits are not finite (training diverged)"
        echo(f"calibration skipped: {reason}")
        return uncalibrated(reason), None
    errors = int((held_logits.argmax(1) != y_train[held]).sum())
    if errors < MIN_ERRORS:
        reason = (
            f"{errors} of {len(held)} held-out images misclassified "
            f"(need {MIN_ERRORS} to fit a temperature)"
        )
        echo(f"calibration skipped: {reason}")
        probs = torch.softmax(held_logits, 1).numpy()
        return uncalibrated(reason, holdout_images=len(held)), (held, probs, held_logits.numpy())
    try:
        temperature = fit_temperature(held_logits, y_train[held])
    except ValueError as exc:
        echo(f"calibration skipped: {exc}")
        return uncalibrated(str(exc)), None
    before, after = _fold_measured(head, temperature, validation)
    echo(
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
    scaled = held_logits / temperature
    return record, (held, torch.softmax(scaled, 1).numpy(), scaled.numpy())


def _held_out_logits(fresh_head, views, y_train, split, recipe, epochs, seed, device):
    """Train `fresh_head` for `epochs` on every view of the kept images (split = (kept, held));
    its logits on the held-out images (plain view), on CPU."""

    import numpy as np
    import torch

    kept, held = split
    xt = torch.from_numpy(np.concatenate([v[kept] for v in views])).to(device)
    yt = y_train[kept].repeat(len(views)).to(device)
    _, _, _, step = head_trainer(
        fresh_head, xt, yt, dataclasses.replace(recipe, epochs=epochs), seed
    )
    for epoch in range(1, epochs + 1):
        step(epoch)
    fresh_head.eval()
    with torch.no_grad():
        return fresh_head(torch.from_numpy(views[0][held]).to(device)).cpu()


def _fold_measured(head, temperature: float, validation) -> tuple[dict, dict]:
    """Fold `temperature` into `head`; its validation quality (NLL, ECE) before and after."""
    import torch

    xv, yv = validation
    head.eval()
    with torch.no_grad():
        before = quality(head(xv).cpu(), yv.cpu())
        fold_temperature(head, temperature)
        after = quality(head(xv).cpu(), yv.cpu())
    return before, after
