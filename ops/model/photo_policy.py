"""How a full, uncropped photo becomes model inputs, and how their answers become one answer.

The model was trained on box crops; users send whole photos with background. A policy names the
views of a photo (boxes in its pixel coordinates) and how to merge the model's answers for them:

    resize         the whole photo, shorter side to the input size, centre square (one view)
    squash         the whole photo squeezed to a square, nothing cut off (one view)
    crops-max-dog  the whole photo + 5 crops; keep the view with the strongest dog signal
    crops-mean     the same 6 views; average their probabilities (dog score: the strongest)
    crops-dog-mean the same 6 views; probabilities averaged with the dog scores as weights

Chosen by measurement (bench/photo_policy.py, docs/real-photos.md); the setting is
serve.photo_policy. Depends only on numpy and Pillow, so the SageMaker inference code can ship it
as it is: the caller turns each view into the model's input with its own preprocessing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

POLICIES = ("resize", "squash", "crops-max-dog", "crops-mean", "crops-dog-mean")
DEFAULT_POLICY = "resize"
CROP_SCALE = 0.6  # side of the corner and centre crops, as a share of the photo's sides

Box = tuple[int, int, int, int]  # left, top, right, bottom (Pillow's crop box)


def check_policy(policy: str) -> str:
    """The policy name, or ValueError listing the known ones."""
    if policy not in POLICIES:
        raise ValueError(f"unknown photo policy {policy!r}: one of {', '.join(POLICIES)}")
    return policy


def view_boxes(width: int, height: int, policy: str, scale: float = CROP_SCALE) -> list[Box]:
    """The boxes of the views a policy looks at; the first is always the whole photo."""
    check_policy(policy)
    whole = (0, 0, width, height)
    if not policy.startswith("crops"):
        return [whole]
    cw, ch = max(1, round(width * scale)), max(1, round(height * scale))
    xs, ys = (0, width - cw), (0, height - ch)
    corners = [(x, y, x + cw, y + ch) for y in ys for x in xs]
    cx, cy = (width - cw) // 2, (height - ch) // 2
    return [whole, *corners, (cx, cy, cx + cw, cy + ch)]


def views(img: Image.Image, policy: str, input_size: int) -> list[Image.Image]:
    """The policy's views of an RGB photo, as images for the caller's preprocessing
    (which resizes the shorter side and centre-crops); `squash` is already input_size square."""
    if policy == "squash":
        return [img.resize((input_size, input_size), Image.BICUBIC)]
    return [
        img.crop(box) if box != (0, 0, *img.size) else img for box in view_boxes(*img.size, policy)
    ]


def combine(
    probabilities: np.ndarray, dog_scores: np.ndarray | None, policy: str
) -> tuple[np.ndarray, float | None, int]:
    """(probabilities [C], dog score or None, index of the view answered) from the views'
    probabilities [K, C] and dog scores [K] (None: the model has no dog signal, so the top
    probability stands in for it). Index -1 means an average over the views."""
    check_policy(policy)
    probs = np.asarray(probabilities, dtype=np.float32)
    dog = None if dog_scores is None else np.asarray(dog_scores, dtype=np.float32)
    strength = dog if dog is not None else probs.max(1)
    if len(probs) == 1 or policy in ("resize", "squash"):
        return probs[0], None if dog is None else float(dog[0]), 0
    if policy == "crops-max-dog":
        best = int(np.argmax(strength))
        return probs[best], None if dog is None else float(dog[best]), best
    if policy == "crops-mean":
        weights = np.ones(len(probs), dtype=np.float32)
    else:  # crops-dog-mean
        weights = np.maximum(strength, 1e-6)
    mean = (probs * weights[:, None]).sum(0) / weights.sum()
    return mean.astype(np.float32), None if dog is None else float(dog.max()), -1


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (for scoring crops against the annotated dog)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_coverage(view: Box, dog: Box) -> float:
    """Share of the dog's box inside the view (1.0: the whole dog is in it)."""
    ix = max(0, min(view[2], dog[2]) - max(view[0], dog[0]))
    iy = max(0, min(view[3], dog[3]) - max(view[1], dog[1]))
    area = (dog[2] - dog[0]) * (dog[3] - dog[1])
    return ix * iy / area if area > 0 else 0.0
