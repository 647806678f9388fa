"""A local model server that speaks the SageMaker runtime API, so unchanged boto3 code can call it.

Routes:
    POST /endpoints/{name}/invocations   what boto3 `sagemaker-runtime` `invoke_endpoint` calls
    GET  /ping, POST /invocations         the SageMaker inference-container contract
    GET  /stats                           request and batch-size counters (for tests and benches)

Answers like the built-in image-classification algorithm: a JSON list of class probabilities in
class-index order. With CustomAttributes `dogbreed-answer=object` (what the Lambda sends) it
answers {"probabilities", "dog_score", "dog_signal", "dog_threshold"} (lambda_src/answer.py);
serve.photo_policy turns a full photo into one or more views first (ops/model/photo_policy.py). Errors on the runtime API use SageMaker's shapes (`x-amzn-ErrorType` header,
JSON `message`), so boto3 raises a readable ClientError: an unknown endpoint is a ValidationError
(400); a request the model rejects (bad image, unsupported content type) is a ModelError (424)
carrying the model's status and message, as SageMaker relays container errors.

Concurrent requests are batched (ops/endpoint/batching.py): handler threads decode and preprocess in
parallel, one worker thread runs the model on up to `max_batch_size` queued images, waiting at most
`max_batch_delay_ms` for more, and not at all when no other request is on its way.
`max_batch_size=0` ("auto", the default setting) times the model at batch sizes 1..32 at start
and takes the fastest per image: on a CPU that is often 4-8, as bigger batches leave the caches.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import uuid
from collections import Counter
from typing import Any

import numpy as np

from lambda_src.answer import CUSTOM_ATTRIBUTE
from lambda_src.formats import IMAGE_FORMATS_TEXT, image_kind
from ops.endpoint.batching import Batcher, measure_batch_sizes, pick_batch_size
from ops.endpoint.http_hardening import (
    DRAIN_TIMEOUT_S,
    HardenedHandler,
    HardenedServer,
    exposure_warning,
    is_loopback,
)
from ops.endpoint.slow_clients import MAX_CONNECTIONS_PER_CLIENT, REQUEST_DEADLINE_S
from ops.errors import RequestError
from ops.model.preprocess import BadImageError, image_error_message

log = logging.getLogger(__name__)

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png")
VARIANT = "AllTraffic"
ACCOUNT = "000000000000"
_ENDPOINT_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"  # boto3's CustomAttributes
_DRAIN_LIMIT = 64 * 1024 * 1024  # larger bodies are not read: the connection is closed instead


class _HTTPServer(HardenedServer):
    app: ModelServer


class _Handler(HardenedHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections
    # Headers and body go out as separate writes; without TCP_NODELAY, Nagle + the client's
    # delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    timeout = 120  # seconds a connection may sit idle (boto3 keep-alive) before it is dropped
    server_version = "dogbreed-model-server"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    # -- responses ---------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, body, {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})})

    def error_headers(self, status: int) -> dict[str, str]:
        """Protocol errors on the runtime API carry SageMaker's error type, as boto3 expects."""
        path = getattr(self, "path", "") or ""  # unset when the request line is broken
        if not _ENDPOINT_PATH.match(path.split("?", 1)[0]):
            return {}
        code = "ServiceUnavailable" if status == 503 else "ValidationError"
        return {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())}

    def _send_runtime_error(self, status: int, code: str, message: str, **extra: Any) -> None:
        """SageMaker runtime's error shape: botocore reads the code from x-amzn-ErrorType."""
        self._send(status, {"message": message, **extra}, {"x-amzn-ErrorType": code})

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        path = self.path.split("?", 1)[0]
        if self.server.draining and path == "/ping":
            self.answer_draining()  # load balancers stop sending here
        elif path == "/ping":
            self._send(200, {"status": "healthy"})
        elif path == "/stats":
            self._send(200, self.server.app.stats())
        else:
            self._send(404, {"message": f"no route GET {path}"})

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        with self.server.request_scope() as accepted:
            if accepted:
                self._post()
            else:
                self.answer_draining()

    def _post(self) -> None:
        path = self.path.split("?", 1)[0]
        match = _ENDPOINT_PATH.match(path)
        try:
            if not self._key_accepted(match is not None):
                return
            if path == "/invocations":
                self._container_invocation()
            elif match:
                self._runtime_invocation(match.group(1))
            else:
                self._drain_body()
                self._send(404, {"message": f"no route POST {path}"})
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to answer
        except Exception as exc:  # a bug must cost one request a 500, never the server
            log.exception("unexpected error on POST %s", path)
            self.close_connection = True
            code = "InternalFailure" if match else "error"
            self._send(500, {"message": f"internal error: {exc}"}, {"x-amzn-ErrorType": code})

    def _container_invocation(self) -> None:
        """POST /invocations: the container contract; errors are plain JSON messages."""
        try:
            probs = self._invoke()
        except RequestError as exc:
            self._send(exc.status, {"message": exc.message})
            return
        self._send(200, probs)

    def _runtime_invocation(self, endpoint_name: str) -> None:
        """POST /endpoints/{name}/invocations: the runtime API, as SageMaker answers it."""
        app = self.server.app
        if endpoint_name != app.endpoint_name:
            self._drain_body()
            self._send_runtime_error(
                400,
                "ValidationError",
                f"Endpoint {endpoint_name} of account {ACCOUNT} not found. "
                f"This server serves endpoint {app.endpoint_name}.",
            )
            return
        try:
            probs = self._invoke()
        except RequestError as exc:
            if exc.status == 413:
                self._send_runtime_error(413, "ValidationError", exc.message)
                return
            kind = "client" if exc.status < 500 else "server"
            self._send_runtime_error(
                424,
                "ModelError",
                f'Received {kind} error ({exc.status}) from primary with message "{exc.message}".',
                OriginalStatusCode=exc.status,
                OriginalMessage=exc.message,
            )
            return
        self._send(200, probs, {"x-Amzn-Invoked-Production-Variant": VARIANT})

    def _key_accepted(self, runtime_api: bool) -> bool:
        """serve.api_key is required beyond loopback: else a 403 (the body is not read)."""
        key = self.server.app.api_key
        if not key or is_loopback(self.server.server_address[0]):
            return True
        sent = self.headers.get("x-api-key") or ""
        if hmac.compare_digest(sent.encode(), key.encode()):
            return True
        self.close_connection = True
        message = "Forbidden: send serve.api_key in the x-api-key header"
        if runtime_api:
            self._send_runtime_error(403, "AccessDeniedException", message)
        else:
            self._send(403, {"message": message})
        return False

    # -- the work ----------------------------------------------------------------------------
    def _drain_body(self) -> bytes | None:
        """Read (and usually discard) the body so keep-alive connections stay in sync."""
        length = self.content_length()
        if length is None or length > _DRAIN_LIMIT:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _read_body(self) -> bytes:
        app = self.server.app
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise RequestError(411, "chunked bodies are not supported: send Content-Length")
        length = self.content_length()
        if length is None:
            self.close_connection = True
            raise RequestError(400, "invalid Content-Length header: send a non-negative integer")
        if length > app.max_image_bytes:
            self._drain_body()
            raise RequestError(
                413,
                f"request body of {length} bytes exceeds the limit of {app.max_image_bytes} "
                "bytes (serve.max_image_bytes)",
            )
        body = self.rfile.read(length) if length else b""
        if not body:
            raise RequestError(400, "empty request body: send one encoded image")
        return body

    def _invoke(self) -> list[float] | dict[str, Any]:
        """Check, read and preprocess the image, then wait for its batch's result: the list of
        probabilities, or with CustomAttributes `dogbreed-answer=object` the object with the dog
        score (lambda_src/answer.py)."""
        app = self.server.app
        app.count("requests")
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        accept = (self.headers.get("Accept") or "").lower()
        app.batcher.arriving()
        try:
            views = self._read_and_preprocess(content_type, accept)
        except BaseException as exc:
            app.batcher.arrived()
            if isinstance(exc, RequestError):
                app.count("errors")
            raise
        try:  # the photo policy's views, batched with everyone's; the last ends `arriving`
            futures = [
                app.batcher.submit(view, arrived=i == len(views) - 1)
                for i, view in enumerate(views)
            ]
            rows = [future.result(timeout=app.request_timeout_s) for future in futures]
            output = app.runtime.combine(rows)
        except RequestError:
            app.count("errors")
            raise
        except Exception as exc:
            app.count("errors")
            raise RequestError(500, f"inference failed: {exc}") from None
        app.count("images")
        attributes = self.headers.get(CUSTOM_ATTRIBUTES_HEADER) or ""
        return output.endpoint_body(as_object=CUSTOM_ATTRIBUTE in attributes)

    def _read_and_preprocess(self, content_type: str, accept: str) -> np.ndarray:
        """Check the headers, read the body and turn it into the model's input."""
        app = self.server.app
        if content_type not in IMAGE_CONTENT_TYPES:
            self._drain_body()
            raise RequestError(
                415,
                f"unsupported content type {content_type or '(none)'!r}: "
                f"send one of {', '.join(IMAGE_CONTENT_TYPES)}",
            )
        if accept and not any(a in accept for a in ("json", "*/*")):
            self._drain_body()
            raise RequestError(406, f"cannot answer Accept {accept!r}: use application/json")
        body = self._read_body()
        if image_kind(body) is None:  # the formats POST /classify accepts (one definition)
            raise RequestError(400, f"unable to decode the image: not a {IMAGE_FORMATS_TEXT} image")
        try:
            return app.runtime.preprocess_views(body)
        except BadImageError as exc:
            reason = image_error_message(exc)
            raise RequestError(400, f"unable to decode the image: {reason}") from None


class ModelServer:
    """The HTTP server, the batcher and the runtime together; `start()` serves in a thread."""

    def __init__(
        self,
        runtime,
        host: str = "127.0.0.1",
        port: int = 0,
        endpoint_name: str = "dogbreed-local",
        max_batch_size: int = 8,
        max_batch_delay_ms: float = 5.0,
        max_image_bytes: int = 4 * 1000 * 1000,
        request_timeout_s: float = 120.0,
        api_key: str = "",
        request_deadline_s: float = REQUEST_DEADLINE_S,
        max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
    ):
        self.runtime = runtime
        self.endpoint_name = endpoint_name
        self.max_image_bytes = int(max_image_bytes)
        self.request_timeout_s = request_timeout_s
        self.api_key = api_key or ""  # required beyond loopback (_Handler._key_accepted)
        self.batch_timing: dict[int, float] | None = None  # images/s per batch size, if timed
        if max_batch_size <= 0:  # "auto": the batch size this machine runs the model fastest at
            self.batch_timing = measure_batch_sizes(runtime)
            max_batch_size = pick_batch_size(self.batch_timing)
        self.batcher = Batcher(runtime.predict_rows, max_batch_size, max_batch_delay_ms)
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.app = self
        self.httpd.set_client_limits(request_deadline_s, max_connections_per_client)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def exposure_warning(self) -> str | None:
        """A warning when bound beyond loopback without serve.api_key (nothing then checks who
        calls the runtime API)."""
        if self.api_key:
            return None
        return exposure_warning(self.httpd.server_address[0], "the model server (no API key)")

    @property
    def url(self) -> str:
        """The base URL (for AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME); wildcard hosts map to loopback."""
        host = self.httpd.server_address[0]
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += n

    def stats(self) -> dict[str, Any]:
        with self.batcher._lock:
            sizes = dict(sorted(self.batcher.batch_sizes.items()))
        batches = sum(sizes.values())
        with self._counts_lock:
            counts = dict(self._counts)
        return {
            "endpoint_name": self.endpoint_name,
            "requests": counts.get("requests", 0),
            "images": counts.get("images", 0),
            "errors": counts.get("errors", 0),
            "batches": batches,
            "batch_sizes": {str(k): v for k, v in sizes.items()},
            "max_batch_size_seen": max(sizes, default=0),
            "mean_batch_size": (sum(k * v for k, v in sizes.items()) / batches) if batches else 0,
            "max_batch_size": self.batcher.max_batch_size,
            "max_batch_delay_ms": self.batcher.max_delay_s * 1000,
        }

    def start(self) -> ModelServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="dogbreed-model-server", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Drain (requests in flight finish, new ones get a 503), then stop serving."""
        left = self.httpd.drain(drain_timeout_s)
        if left:
            log.warning("stopping with %d requests still in flight", left)
        self.httpd.shutdown()
        self.httpd.server_close()
        self.batcher.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_settings_kwargs(settings) -> dict[str, Any]:
    """ModelServer keyword arguments from the [serve] settings."""
    s = settings.serve
    return {
        "host": s.host,
        "port": s.port,
        "endpoint_name": s.endpoint_name,
        "max_batch_size": s.max_batch_size,
        "max_batch_delay_ms": s.max_batch_delay_ms,
        "max_image_bytes": s.max_image_bytes,
        "api_key": s.api_key,
        "request_deadline_s": s.request_deadline_s,
        "max_connections_per_client": s.max_connections_per_client,
    }
