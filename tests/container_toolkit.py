"""Drive a container package through AWS's own inference toolkit, without the Java model server.

In the PyTorch inference container TorchServe's Python worker loads
sagemaker_pytorch_serving_container.handler_service.HandlerService, calls initialize(context)
once (the toolkit's Transformer imports code/inference.py, which the worker finds through
PYTHONPATH, and runs model_fn on /opt/ml/model) and handle(data, context) per request. This
module builds the same objects: TorchServe's own ts.context.Context / RequestProcessor (pure
Python, from the torchserve wheel) and the toolkit's HandlerService.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    """One response as the model server would send it."""

    status: int
    body: Any  # bytes/str of a success, the error text otherwise
    content_type: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def context(model_dir: Path, headers: dict[str, str] | None = None):
    """A TorchServe request context for one request with these headers."""
    from ts.context import Context, RequestProcessor

    ctx = Context(
        model_name="model",
        model_dir=str(model_dir),
        manifest={"model": {"modelName": "model"}},
        batch_size=1,
        gpu=None,
        mms_version="toolkit-test",
    )
    ctx.request_processor = [RequestProcessor(headers or {})]
    return ctx


def load_service(model_dir: Path, monkeypatch):
    """HandlerService initialised on the extracted package, as the container's worker does."""
    from sagemaker_pytorch_serving_container.handler_service import HandlerService

    code = str(Path(model_dir) / "code")
    monkeypatch.syspath_prepend(code)  # the worker's PYTHONPATH (set by DefaultHandlerService)
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "inference.py")
    # DefaultHandlerService.initialize writes code/ into os.environ["PYTHONPATH"]; restore it
    # after the test, or later `dogbreed` subprocesses import the package's partial copy of ops.
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("inference", None)  # a previous test's package
    service = HandlerService()
    service.initialize(context(model_dir))
    return service


def invoke(
    service, model_dir: Path, body: bytes, content_type: str, accept: str | None = None
) -> Answer:
    """One request through HandlerService.handle, as TorchServe hands it over."""
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    ctx = context(model_dir, headers)
    (out,) = service.handle([{"body": body}], ctx)
    status, _phrase = ctx.get_response_status(0)
    return Answer(status, out, ctx.get_response_content_type(0))
