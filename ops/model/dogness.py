"""Is there a dog at all? The ImageNet classifier's dog signal, kept beside the breed head.

The breed head always names one of its breeds, even for a teapot. The ImageNet-1k classifier that
the head starts from separates dogs (rows 151-268, plus the dingo, dhole and African hunting dog
that Stanford Dogs counts as breeds) from 880 other classes, so the model keeps that classifier as
`model.dog_head` (a registered submodule: model.pt stores it) and the exported ONNX graph answers
a second output, "dog_score" [N] = the ImageNet softmax mass on those dog rows.

Models without an ImageNet classifier (an ensemble, random init, the SageMaker built-in algorithm)
fall back to the top breed probability as the score, with its own threshold. Both thresholds are
chosen on held-out training images so that `keep` (99 %) of dog images are accepted
(`choose_threshold`); docs/real-photos.md has the measured refusal rates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ops.model.ranking import choose_threshold

IMAGENET_DOG_ROWS = tuple(range(151, 269))  # ImageNet-1k: Chihuahua (151) .. Mexican hairless (268)
OUTPUT_NAME = "dog_score"
SIGNAL_IMAGENET = "imagenet"  # the dog_score output of the graph
SIGNAL_TOP_PROBABILITY = "top_probability"  # fallback: the top breed probability
# The target is >= 99 % of dogs accepted. A quantile of a finite sample moves: at 0.99 on the
# 1,200 held-out training images the validation split kept only 98.4 %, so thresholds are chosen
# at 99.5 % for a margin (measured in docs/real-photos.md).
DEFAULT_KEEP = 0.995


def dog_rows(class_rows: list[int | None]) -> list[int]:
    """The ImageNet rows that mean "a dog": 151-268 plus every row the breed classes map to."""
    return sorted(set(IMAGENET_DOG_ROWS) | {r for r in class_rows if r is not None})


def _dog_head_class():
    import torch

    class DogHead(torch.nn.Module):
        """ImageNet classifier on pooled features -> softmax mass of the dog rows, [N]."""

        def __init__(self, weight, bias, rows: list[int]):
            super().__init__()
            self.classifier = torch.nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                self.classifier.weight.copy_(weight)
                self.classifier.bias.copy_(bias)
            self.register_buffer("rows", torch.tensor(rows, dtype=torch.long))
            for p in self.parameters():
                p.requires_grad_(False)

        def forward(self, features):
            logits = self.classifier(features)
            dog = torch.logsumexp(logits.index_select(1, self.rows), 1)
            return torch.exp(dog - torch.logsumexp(logits, 1))

    return DogHead


def make_dog_head(weight, bias, rows: list[int]):
    """A DogHead module from an ImageNet classifier's weight [1000, D] and bias [1000]."""
    return _dog_head_class()(weight.detach().clone(), bias.detach().clone(), rows)


def attach_dog_head(model, weight, bias, rows: list[int]) -> None:
    """Register the dog head on a timm model (as `model.dog_head`): model.pt then stores it."""
    model.dog_head = make_dog_head(weight, bias, rows)


def dog_head_of(model):
    """The model's DogHead, or None when it has no ImageNet classifier."""
    head = getattr(model, "dog_head", None)
    return head if head is not None and hasattr(model, "forward_head") else None


def scores_from_features(dog_head, features) -> np.ndarray:
    """Dog scores [N] of cached pooled features [N, D] (no backbone run needed)."""
    import torch

    with torch.no_grad():
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return dog_head(x.to(dog_head.rows.device)).cpu().numpy()


def rates(dog_scores, other_scores, threshold: float) -> dict[str, Any]:
    """False-refusal rate (dogs below t) and false-acceptance rate (non-dogs at or above t)."""
    dogs, others = np.asarray(dog_scores), np.asarray(other_scores)
    out: dict[str, Any] = {"threshold": round(float(threshold), 6), "dogs": int(dogs.size)}
    out["false_refusal"] = round(float((dogs < threshold).mean()), 5) if dogs.size else None
    out["non_dogs"] = int(others.size)
    out["false_acceptance"] = round(float((others >= threshold).mean()), 5) if others.size else None
    return out


def _kept_threshold(scores, keep: float) -> float:
    """choose_threshold to 6 decimals, rounded down: rounding up would refuse the very dog whose
    score the threshold is."""
    exact = choose_threshold(scores, keep)
    rounded = round(exact, 6)
    return rounded if rounded <= exact else round(rounded - 1e-6, 6)


def thresholds_record(
    signal: str, dog_scores, top_probabilities, keep: float = DEFAULT_KEEP, **extra
) -> dict[str, Any]:
    """metadata.json's "dog" entry: which signal the model answers and each threshold, with the
    images they were chosen on. `dog_scores` is None when the model has no dog output."""
    record: dict[str, Any] = {
        "signal": signal,
        "output": OUTPUT_NAME if signal == SIGNAL_IMAGENET else None,
        "keep": keep,
        "top_probability_threshold": _kept_threshold(top_probabilities, keep),
        "top_probability_chosen_on": f"{len(top_probabilities)} held-out training images",
        **extra,
    }
    if dog_scores is not None:
        record["threshold"] = _kept_threshold(dog_scores, keep)
        record["chosen_on"] = (
            f"{len(dog_scores)} training images (the ImageNet classifier never trains on them)"
        )
    else:
        record["threshold"] = record["top_probability_threshold"]
        record["chosen_on"] = record["top_probability_chosen_on"]
    return record


def head_mode_record(
    model,
    train_features,
    held_top_probabilities,
    val_features,
    val_top_probabilities,
    keep: float = DEFAULT_KEEP,
) -> dict[str, Any]:
    """Thresholds chosen on training images no part of the signal trained on: the dog score on
    every training image (the ImageNet classifier stays frozen), the top probability on the
    calibration's held-out images; with the validation dogs' false-refusal rate at each. The
    "dog" record of metadata.json and metrics.json."""
    head = dog_head_of(model)
    held_dog = None if head is None else scores_from_features(head, train_features)
    signal = SIGNAL_IMAGENET if head is not None else SIGNAL_TOP_PROBABILITY
    record = thresholds_record(signal, held_dog, held_top_probabilities, keep)
    validation = {
        SIGNAL_TOP_PROBABILITY: rates(
            val_top_probabilities, [], record["top_probability_threshold"]
        )["false_refusal"]
    }
    if head is not None:
        val_dog = scores_from_features(head, val_features)
        validation[SIGNAL_IMAGENET] = rates(val_dog, [], record["threshold"])["false_refusal"]
    record["validation_false_refusal"] = validation
    return record
