"""One image's verdict for people: is it a dog, which breed, and is the model torn between two.

Standard library only: the Lambda ships it beside handler.py, and `dogbreed predict`, `classify`
and the evaluation report import the same functions, so every surface says the same thing.

The endpoint answers either the built-in algorithm's JSON list of class probabilities, or (the
local model server, when asked with the custom attribute below) an object
    {"probabilities": [...], "dog_score": 0.97, "dog_signal": "imagenet", "dog_threshold": 0.41,
     "known_score": 9.1, "known_threshold": 6.2}
(known_*: the open-set score and its threshold, ops/model/open_set.py; cam: where the model
looked, a grid of [0, 1] values over the centre square it saw, ops/model/graph.py; absent for
older models).
With no dog score (the built-in algorithm) the fallback signal is the top breed probability
against DOG_MIN_TOP_PROBABILITY. The fields of `verdict` are documented in docs/real-photos.md.
"""

from __future__ import annotations

import math
import os
from typing import Any

NO_DOG = "no dog recognised"
UNKNOWN_BREED = "a dog, breed not recognised"
# Sent as invoke_endpoint CustomAttributes: the local model server then answers the object form;
# SageMaker passes the attribute to the container, which the built-in algorithm ignores.
CUSTOM_ATTRIBUTE = "dogbreed-answer=object"
SIGNAL_TOP_PROBABILITY = "top_probability"
# Defaults measured on the default local model (docs/real-photos.md); the environment overrides.
DEFAULT_MIN_TOP_PROBABILITY = 0.0
DEFAULT_UNCERTAIN_MARGIN = 0.2
MAX_CAM_SIDE = 32  # an activation map is the last feature map: 7-9 cells a side for 224-260 px


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def activation_map(value: Any) -> list[list[float]] | None:
    """The endpoint's "cam" checked: a non-empty square-ish grid of at most MAX_CAM_SIDE rows of
    equal length, numbers clipped to [0, 1]; None for anything else."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_CAM_SIDE:
        return None
    width = len(value[0]) if isinstance(value[0], list) else 0
    if not 0 < width <= MAX_CAM_SIDE:
        return None
    grid = []
    for row in value:
        if not isinstance(row, list) or len(row) != width:
            return None
        if not all(_finite_number(v) for v in row):
            return None
        grid.append([min(max(float(v), 0.0), 1.0) for v in row])
    return grid


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def min_top_probability() -> float:
    """The fallback threshold on the top probability (DOG_MIN_TOP_PROBABILITY)."""
    return _float(os.environ.get("DOG_MIN_TOP_PROBABILITY"), DEFAULT_MIN_TOP_PROBABILITY)


def uncertain_margin() -> float:
    """Top-1 minus top-2 probability under which an answer is flagged uncertain."""
    return _float(os.environ.get("UNCERTAIN_MARGIN"), DEFAULT_UNCERTAIN_MARGIN)


def read_endpoint_body(parsed: Any) -> tuple[list[float], dict[str, Any]]:
    """(class probabilities, dog fields) of a decoded endpoint answer; dog fields may be empty.

    Raises ValueError/TypeError/IndexError for a body that is neither form.
    """
    dog: dict[str, Any] = {}
    scores = parsed
    if isinstance(parsed, dict):
        if parsed.get("dog_score") is not None:
            dog = {
                "dog_score": float(parsed["dog_score"]),
                "dog_signal": str(parsed.get("dog_signal") or "model"),
                "dog_threshold": float(parsed.get("dog_threshold") or 0.0),
            }
        if parsed.get("known_score") is not None and parsed.get("known_threshold") is not None:
            dog["known_score"] = float(parsed["known_score"])
            dog["known_threshold"] = float(parsed["known_threshold"])
        cam = activation_map(parsed.get("cam"))
        if cam is not None:
            dog["cam"] = cam
        scores = parsed.get("predictions") or parsed.get("probabilities")
    if scores and isinstance(scores[0], list):
        scores = scores[0]
    return [float(s) for s in scores], dog


def verdict(
    ranked: list[dict[str, Any]],
    dog: dict[str, Any] | None = None,
    *,
    min_top: float | None = None,
    margin: float | None = None,
) -> dict[str, Any]:
    """The answer for one image from its ranked breeds (best first, each with "breed" and
    "probability"; at least two for the uncertain flag) and the endpoint's dog fields.

    {"dog": bool, "dog_score", "dog_signal", "dog_threshold", "breed": name | None,
     "breed_known": bool, "uncertain": bool, "alternatives": [second breed] | [],
     "label": what to show}, plus "known_score", "known_threshold" and "closest" (the top breed
    of a dog whose breed is not recognised) when the endpoint sent an open-set score.
    """
    min_top = min_top_probability() if min_top is None else min_top
    margin = uncertain_margin() if margin is None else margin
    top = ranked[0] if ranked else {"breed": None, "probability": 0.0}
    if dog and dog.get("dog_score") is not None:
        score, signal = float(dog["dog_score"]), str(dog.get("dog_signal") or "model")
        threshold = float(dog.get("dog_threshold") or 0.0)
    else:
        score, signal, threshold = float(top["probability"]), SIGNAL_TOP_PROBABILITY, min_top
    is_dog = bool(ranked) and score >= threshold
    known = open_set(dog)
    breed_known = is_dog and (known is None or known[0] >= known[1])
    second = ranked[1] if len(ranked) > 1 else None
    uncertain = bool(
        breed_known and second and float(top["probability"]) - float(second["probability"]) < margin
    )
    if not is_dog:
        label = NO_DOG
    elif not breed_known:
        label = UNKNOWN_BREED
    elif uncertain:
        label = f"{top['breed']} or {second['breed']}"
    else:
        label = str(top["breed"])
    out = {
        "dog": is_dog,
        "dog_score": round(score, 6),
        "dog_signal": signal,
        "dog_threshold": round(threshold, 6),
        "breed": top["breed"] if breed_known else None,
        "breed_known": breed_known,
        "uncertain": uncertain,
        "alternatives": [second["breed"]] if uncertain else [],
        "label": label,
    }
    if known is not None:
        out.update(known_score=round(known[0], 6), known_threshold=round(known[1], 6))
        if is_dog and not breed_known:
            out["closest"] = top["breed"]
    if dog and dog.get("cam") is not None:
        out["cam"] = dog["cam"]
    return out


def open_set(dog: dict[str, Any] | None) -> tuple[float, float] | None:
    """(known score, its threshold) from the endpoint's fields, or None when it sent none."""
    if not dog or dog.get("known_score") is None or dog.get("known_threshold") is None:
        return None
    try:
        return float(dog["known_score"]), float(dog["known_threshold"])
    except (TypeError, ValueError):
        return None
