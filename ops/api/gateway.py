"""A local API Gateway: POST /classify on loopback -> the unchanged Lambda handler -> a runtime URL.

It builds the same Lambda proxy event API Gateway's REST API (v1 payload) sends: headers,
query string, and a binary body base64-encoded with isBase64Encoded=true (the `binary_media_types`
of the Terraform stage), then maps the handler's proxy response back to HTTP. The handler reads
its configuration from the process environment, as on Lambda, so the gateway sets ENDPOINT_NAME,
CLASSES_PATH and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME there (one gateway per process; shutdown()
restores the previous values).
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ops.endpoint.http_hardening import (
    DRAIN_TIMEOUT_S,
    HardenedHandler,
    HardenedServer,
    exposure_warning,
)
from ops.endpoint.slow_clients import MAX_CONNECTIONS_PER_CLIENT, REQUEST_DEADLINE_S
from ops.errors import DogbreedError

log = logging.getLogger(__name__)

# Content types API Gateway treats as binary in our stage (terraform binary_media_types).
BINARY_TYPES = ("image/", "application/x-image", "application/octet-stream")
STAGE = "local"
MAX_READ_BYTES = 12 * 1024 * 1024  # API Gateway's own payload limit is 10 MB
LOCAL_POOL_CONNECTIONS = 64  # handler -> model server keep-alive connections (MAX_POOL_CONNECTIONS)


def proxy_event(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
    resource: str = "/classify",
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event for one HTTP request to `resource`."""
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    is_binary = content_type.lower().startswith(BINARY_TYPES)
    if is_binary:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text, encoded = body.decode("utf-8", errors="replace"), False
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{parts.path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip, "apiKey": headers.get("x-api-key")},
            "apiId": "local",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class LambdaContext:
    """The parts of the Lambda context object the handler reads."""

    def __init__(self, request_id: str, function_name: str = "dogbreed-classify-local"):
        self.aws_request_id = request_id
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Handler(HardenedHandler):
    server_version = "dogbreed-gateway"
    protocol_version = "HTTP/1.1"
    allowed_methods = ("GET", "POST", "OPTIONS")
    # Headers and body go out as two writes: with Nagle's algorithm and the client's delayed ACK
    # every keep-alive answer waited ~40 ms (the model server had the same fix).
    disable_nagle_algorithm = True
    server: _Server

    def error_headers(self, status: int) -> dict[str, str]:
        """The gateway's own errors carry CORS headers too (API Gateway's gateway responses do),
        so a page on an allowed origin can show them instead of a bare network error."""
        from lambda_src.page import cors_headers

        headers = getattr(self, "headers", None)  # unset when the request line is broken
        origin = headers.get("Origin", "") if headers is not None else ""
        return cors_headers(origin, self.server.cors_origins)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # e.g. the request said Connection: close (RFC 9112 9.6)
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. Ctrl-C); nothing to answer

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        try:
            self.send_json(status, payload, self.error_headers(status))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/ping":
            self._json(200, {"status": "healthy"})
        elif path in ("", f"/{STAGE}"):  # the page: API Gateway's GET / proxies to the Lambda
            self._invoke("GET", b"", resource="/")
        else:
            self._json(404, {"message": "Missing Authentication Token"})  # API Gateway's 404

    def do_OPTIONS(self) -> None:  # noqa: N802 (stdlib naming)
        """The CORS preflight of POST /classify, answered here as API Gateway's mock does."""
        from lambda_src.page import preflight_headers

        path = urlsplit(self.path).path.rstrip("/")
        if path not in ("/classify", f"/{STAGE}/classify"):
            self._json(404, {"message": "Missing Authentication Token"})
            return
        headers = preflight_headers(self.headers.get("Origin", ""), self.server.cors_origins)
        if headers:
            self._send(204, b"", headers)
        else:
            message = "CORS preflight refused: this origin is not in serve.cors_origins"
            self._json(403, {"message": message})

    def _invoke(self, method: str, body: bytes, resource: str = "/classify") -> None:
        """Run the Lambda handler on the proxy event of this request and answer its response."""
        from lambda_src.handler import handler

        event = proxy_event(
            method, self.path, dict(self.headers.items()), body, self.client_address[0], resource
        )
        result = handler(event, LambdaContext(event["requestContext"]["requestId"]))
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        self._send(int(result.get("statusCode", 502)), data, dict(result.get("headers") or {}))

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        with self.server.request_scope() as accepted:
            if not accepted:
                self.answer_draining()
                return
            try:
                self._post()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the client went away or stalled
            except Exception:  # a bug costs one request a JSON 500, never a silent close
                log.exception("unexpected error on POST %s", self.path)
                self.close_connection = True
                self._json(500, {"message": "Internal server error"})

    def _post(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._json(411, {"message": "chunked bodies are not supported: send Content-Length"})
            return
        length = self.content_length()
        if length is None:
            self.close_connection = True
            self._json(400, {"message": "invalid Content-Length header"})
            return
        if length > MAX_READ_BYTES:
            self.close_connection = True
            self._json(413, {"message": "Request Too Long"})
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed before sending the whole body
            self.close_connection = True
            return
        path = urlsplit(self.path).path.rstrip("/")
        if path not in ("/classify", f"/{STAGE}/classify"):
            self._json(404, {"message": "Missing Authentication Token"})
            return
        api_key = self.server.api_key
        sent = self.headers.get("x-api-key") or ""
        if api_key and not hmac.compare_digest(sent.encode(), api_key.encode()):
            self._json(403, {"message": "Forbidden"})
            return
        self._invoke("POST", body)


class _Server(HardenedServer):
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()  # the handler's CORS_ALLOWED_ORIGINS, for the preflight


class Gateway:
    """A running local gateway: `.url` (the API root; POST {url}/classify), `.shutdown()`."""

    def __init__(self, server: _Server, env_before: dict[str, str | None]):
        self._server = server
        self._env_before = env_before
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="dogbreed-gateway",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    @property
    def classify_url(self) -> str:
        return f"{self.url}/classify"

    @property
    def exposure_warning(self) -> str | None:
        """A warning when bound beyond loopback, stronger without an API key."""
        what = "the local API" if self._server.api_key else "the local API (no serve.api_key)"
        return exposure_warning(self._server.server_address[0], what)

    def shutdown(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Drain (requests in flight finish, new ones get a 503), then stop serving."""
        self._server.drain(drain_timeout_s)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        for key, value in self._env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def handler_environment(
    runtime_url: str, endpoint_name: str, classes_path: Path, **limits: Any
) -> dict[str, str]:
    """The environment the Lambda function gets from Terraform, pointed at a local runtime."""
    env = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_url,
        "ENDPOINT_NAME": endpoint_name,
        "CLASSES_PATH": str(Path(classes_path).resolve()),
    }
    env.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    # The local model server needs no credentials, but botocore signs every request.
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        env["AWS_ACCESS_KEY_ID"] = "local"
        env["AWS_SECRET_ACCESS_KEY"] = "local"
    # One process serves many requests at once here (one per Lambda instance on AWS): enough
    # keep-alive connections to the model server for all of their fan-out.
    env["MAX_POOL_CONNECTIONS"] = str(LOCAL_POOL_CONNECTIONS)
    env.update({k.upper(): str(v) for k, v in limits.items()})
    return env


def start_gateway(
    host: str,
    port: int,
    runtime_url: str,
    endpoint_name: str,
    classes_path: Path,
    api_key: str | None = None,
    cors_origins: tuple[str, ...] | list[str] = (),
    request_deadline_s: float = REQUEST_DEADLINE_S,
    max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
    **limits: Any,
) -> Gateway:
    """Serve POST /classify (and the page at GET /) on host:port (0 = a free port) in a
    background thread.

    `limits` become the handler's environment (e.g. max_images=32 -> MAX_IMAGES=32);
    `cors_origins` the origins whose pages may call it (CORS_ALLOWED_ORIGINS; none = CORS off);
    `request_deadline_s` and `max_connections_per_client` bound slow and greedy clients.
    Raises OSError when the port is taken.
    """
    classes_path = Path(classes_path)
    if not classes_path.is_file():
        raise DogbreedError(f"classes file {classes_path} not found")
    server = _Server((host, port), _Handler)
    server.set_client_limits(request_deadline_s, max_connections_per_client)
    server.api_key = api_key or None
    server.cors_origins = tuple(o.strip().rstrip("/") for o in cors_origins if o.strip())
    limits["cors_allowed_origins"] = ",".join(server.cors_origins)
    env = handler_environment(runtime_url, endpoint_name, classes_path, **limits)
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    return Gateway(server, before)
