"""The inference handler of a dogbreed model for AWS's PyTorch inference container (and `dogbreed serve`).

SageMaker's inference toolkit imports this file as `code/inference.py` of model.tar.gz and calls
model_fn once, then input_fn -> predict_fn -> output_fn per request. It keeps the built-in
image-classification algorithm's contract: application/x-image, image/jpeg or image/png in, a
JSON list of class probabilities in class-index order out; an undecodable image is a 400, an
unsupported content type a 415, an Accept other than JSON a 406 (as the local model server).

It needs only torch, numpy, Pillow and sagemaker_inference (all in the container) plus
ops/errors.py and ops/model/preprocess.py, which ops/artifact/container_package.py copies beside it
byte for byte: the image preprocessing training measured is the one the endpoint runs. The model
is the artifact's TorchScript export (model.ts, softmax inside), so the container needs no timm.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sagemaker_inference.errors import GenericInferenceToolkitError

from ops.model.preprocess import (
    BadImageError,
    Preprocessing,
    image_error_message,
    preprocess_bytes,
)

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON_ACCEPTS = ("application/json", "*/*")
MODEL_FILE = "model.ts"

# The container loads one model per worker process and input_fn is not given it, so model_fn
# records the loaded model's preprocessing here.
_LOADED: dict[str, Any] = {}


@dataclass(frozen=True)
class LoadedModel:
    """What model_fn returns: the TorchScript module, its classes and its preprocessing."""

    module: Any
    classes: list[dict[str, Any]]
    preprocessing: Preprocessing


def model_fn(model_dir: str) -> LoadedModel:
    """Load model.ts, classes.json and preprocessing.json from the extracted model folder."""
    module = torch.jit.load(os.path.join(model_dir, MODEL_FILE), map_location="cpu").eval()
    with open(os.path.join(model_dir, "classes.json")) as fh:
        classes = sorted(json.load(fh), key=lambda c: c["index"])
    preprocessing = Preprocessing.load(os.path.join(model_dir, "preprocessing.json"))
    _LOADED["preprocessing"] = preprocessing
    return LoadedModel(module, classes, preprocessing)


def content_type_of(header: str | None) -> str:
    """The media type of a Content-Type header, without parameters, lower case."""
    return (header or "").split(";", 1)[0].strip().lower()


def input_fn(request_body: bytes, request_content_type: str) -> torch.Tensor:
    """One encoded image -> the model's float32 input [1,3,S,S]; 415 / 400 as the built-in answers."""
    content_type = content_type_of(request_content_type)
    if content_type not in IMAGE_CONTENT_TYPES:
        raise GenericInferenceToolkitError(
            415,
            f"unsupported content type {content_type or '(none)'!r}: "
            f"send one of {', '.join(IMAGE_CONTENT_TYPES)}",
        )
    if not request_body:
        raise GenericInferenceToolkitError(400, "empty request body: send one encoded image")
    if "preprocessing" not in _LOADED:
        raise GenericInferenceToolkitError(503, "the model is not loaded yet (model_fn first)")
    try:
        array = preprocess_bytes(bytes(request_body), _LOADED["preprocessing"])
    except BadImageError as exc:
        raise GenericInferenceToolkitError(
            400, f"unable to decode the image: {image_error_message(exc)}"
        ) from None
    return torch.from_numpy(array).unsqueeze(0)


def predict_fn(input_data: torch.Tensor, model: LoadedModel) -> np.ndarray:
    """[N,3,S,S] preprocessed images -> [N,C] class probabilities (float32)."""
    with torch.inference_mode():
        return model.module(input_data.to(torch.float32)).numpy()


def output_fn(prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
    """The built-in algorithm's answer: one image's probabilities as a JSON list; 406 otherwise."""
    wanted = (accept or "*/*").lower()
    if not any(kind in wanted for kind in JSON_ACCEPTS):
        raise GenericInferenceToolkitError(
            406, f"cannot answer Accept {accept!r}: use application/json"
        )
    rows = np.asarray(prediction, dtype=np.float32)
    body = rows[0].tolist() if rows.ndim == 2 and rows.shape[0] == 1 else rows.tolist()
    return json.dumps(body), "application/json"
