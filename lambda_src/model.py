"""The model inside the Lambda: the artifact's ONNX graph, run by the same runtime code as
`dogbreed serve` (ops/endpoint/onnx_runtime.py, shipped in the function zip), loaded once per execution
environment.

The second scorer behind the handler (the first is endpoint.py), chosen by
CLASSIFY_BACKEND=model: `score(images, limits)` -> per image (class probabilities, dog fields),
an EndpointError (a 400 for an image the model cannot decode) or a NotClassified past the
deadline. numpy, Pillow and ONNX Runtime come from the Lambda layer
(ops/api/lambda_layer.py), so this module imports them only when the model is loaded.

  MODEL_DIR     the artifact folder (model.onnx, classes.json, preprocessing.json,
                metadata.json); default model/ beside this file, shipped in the zip
  MODEL_THREADS ONNX Runtime intra-op threads (default 0: the cores Lambda gives the function)
  MODEL_BATCH   views per forward pass (default 8: a batch of 16 Lite2 views took 622 MB
                peak RSS, as `serve` batches at most 8 here; bench/lambda_mode.py)
  PHOTO_POLICY  the photo policy (default "resize", as serve.photo_policy)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

try:
    from lambda_src import answer, config
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import answer
    import config

EndpointError = config.EndpointError
_lock = threading.Lock()
_runtimes: dict[tuple, Any] = {}


def model_dir() -> Path:
    """MODEL_DIR, else the model/ folder the deployment zip ships beside this file."""
    return Path(os.environ.get("MODEL_DIR") or Path(__file__).with_name("model"))


def load_runtime() -> Any:
    """The ModelRuntime of MODEL_DIR: built on first use, then kept for the process's life (one
    Lambda execution environment answers many requests)."""
    key = (
        str(model_dir()),
        int(os.environ.get("MODEL_THREADS") or 0),
        os.environ.get("PHOTO_POLICY") or "resize",
    )
    with _lock:
        if key not in _runtimes:
            # Heavy (onnxruntime, numpy, Pillow: the layer), so imported only here.
            from ops.endpoint.onnx_runtime import ModelRuntime

            _runtimes[key] = ModelRuntime(
                Path(key[0]), threads=key[1], spin=False, photo_policy=key[2]
            )
        return _runtimes[key]


def configuration_problem(limits: dict[str, Any]) -> str | None:
    """Why this scorer cannot answer (the model does not load), else None."""
    try:
        load_runtime()
    except Exception as exc:  # noqa: BLE001 (a deployment problem, answered as a 503)
        return f"cannot load the model from {model_dir()}: {exc}"
    return None


def score(images: list[bytes], limits: dict[str, Any]) -> list:
    """Per image, in input order: (class probabilities, dog fields) as the model server would
    answer them, an EndpointError for an image the model rejects, or a NotClassified for one
    left when the deadline came."""
    import numpy as np  # heavy (the layer), like the runtime itself

    from ops.model.preprocess import BadImageError, image_error_message

    runtime = load_runtime()
    results: list[Any] = []
    views: list[Any] = []
    for image in images:
        if time.monotonic() >= limits["deadline"]:
            results.append(config.NotClassified(504, config.LATE))
            continue
        try:
            views.append(runtime.preprocess_views(image))
            results.append(len(views[-1]))
        except BadImageError as exc:
            reason = image_error_message(exc)
            message = f"the model rejected the image: unable to decode the image: {reason}"
            results.append(EndpointError(400, message))
    rows = _forward(runtime, np.concatenate(views) if views else None)
    start = 0
    for i, result in enumerate(results):
        if isinstance(result, int):
            output = runtime.combine(rows[start : start + result])
            results[i] = answer.read_endpoint_body(output.endpoint_body(as_object=True))
            start += result
    return results


def _forward(runtime: Any, batch: Any) -> list:
    """The model's (probabilities, dog score) rows for every view, MODEL_BATCH views a pass."""
    if batch is None:
        return []
    size = max(1, int(os.environ.get("MODEL_BATCH") or 8))
    rows: list = []
    for i in range(0, len(batch), size):
        rows += runtime.predict_rows(batch[i : i + size])
    return rows
