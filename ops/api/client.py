"""The `POST /classify` client: what `dogbreed classify`, the evaluation and the benchmark call.

One request carries a batch of images (JSON, base64); whole-request failures raise ApiError with
the HTTP status, while per-image failures come back in place as {"error": ...}.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import requests

from ops.errors import DogbreedError
from ops.records import read_deployment, read_serve

RETRY_STATUSES = (429, 502, 503, 504)


class ApiError(DogbreedError):
    """A whole request to the classify API failed; `status` is the HTTP status (None: unreachable)."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None):
        super().__init__(message, exit_code=1, hint=hint)
        self.status = status


def classify_url(url: str) -> str:
    """Accept either the API root (".../prod") or the full ".../classify" URL."""
    url = url.rstrip("/")
    return url if url.endswith("/classify") else f"{url}/classify"


class ClassifyClient:
    """A small, thread-safe-enough client (one requests.Session per instance) for POST /classify."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30, retries: int = 3):
        if not url:
            raise DogbreedError(
                "no classify API URL", hint="pass --url, or run `dogbreed serve --api` / `deploy`"
            )
        self.url = classify_url(url)
        self.api_key = api_key or None
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.session = requests.Session()
        self.backoff_s = 0.2

    def classify(self, images: list[bytes], top_k: int = 5) -> list[list[dict] | dict]:
        """Top-k predictions per image, in input order: a list of {"breed","wnid","probability"}
        for each classified image, or {"error": message} for an image the API rejected."""
        return self.classify_answers(images, top_k)[0]

    def classify_answers(
        self, images: list[bytes], top_k: int = 5
    ) -> tuple[list[list[dict] | dict], list[dict | None]]:
        """(predictions, answers): answers[i] is the API's verdict for image i (dog or "no dog
        recognised", uncertain; lambda_src/answer.py), None from an API that sends none."""
        if not images:
            return [], []
        payload = {
            "images": [base64.b64encode(bytes(img)).decode("ascii") for img in images],
            "top_k": int(top_k),
        }
        body = self._post(payload)
        predictions = body.get("predictions") if isinstance(body, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(images):
            raise ApiError(f"{self.url} answered an unexpected body: {str(body)[:200]}", status=200)
        answers = body.get("answers")
        if not isinstance(answers, list) or len(answers) != len(images):
            answers = [None] * len(images)
        return predictions, [a if isinstance(a, dict) and "dog" in a else None for a in answers]

    def classify_one(self, image: bytes, top_k: int = 5) -> list[dict] | dict:
        """One image, sent as a JSON batch of one."""
        return self.classify([image], top_k=top_k)[0]

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def _post(self, payload: dict[str, Any]) -> Any:
        last: ApiError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = self.session.post(
                    self.url, json=payload, headers=self._headers(), timeout=self.timeout
                )
            except requests.exceptions.RequestException as exc:
                last = ApiError(
                    f"cannot reach {self.url}: {type(exc).__name__}",
                    status=None,
                    hint="is `dogbreed serve --api` running, or the URL right?",
                )
                continue
            if resp.status_code in RETRY_STATUSES:
                last = _error_from(resp, self.url)
                continue
            if resp.status_code >= 400:
                raise _error_from(resp, self.url)
            try:
                return resp.json()
            except ValueError as exc:
                raise ApiError(
                    f"{self.url} answered non-JSON: {resp.text[:200]!r}", status=resp.status_code
                ) from exc
        assert last is not None
        raise last

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ClassifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_from(resp: requests.Response, url: str) -> ApiError:
    """ApiError with the API's own message ({"error": ...} or {"message": ...}) when it sent one."""
    try:
        body = resp.json()
        message = body.get("error") or body.get("message") or resp.text
    except (ValueError, AttributeError):
        message = resp.text
    hints = {
        403: "check --api-key (x-api-key) and the URL",
        429: "throttled: slow down or raise deploy.throttle_rate_limit",
    }
    return ApiError(
        f"{url} answered HTTP {resp.status_code}: {str(message)[:300]}",
        status=resp.status_code,
        hint=hints.get(resp.status_code),
    )


def default_api(settings) -> tuple[str, str | None]:
    """(URL, API key) from the settings, else the state file: the local API for the local backend
    ("serve"), the deployed one ("deployment") for sagemaker, falling back to the other."""

    if settings.evaluate.url:
        return settings.evaluate.url, settings.evaluate.api_key or None
    serve, deployment = read_serve(), read_deployment()
    local = (serve.api_url, settings.serve.api_key or None) if serve and serve.running else None
    deployed = (deployment.api_url, deployment.api_key) if deployment else None
    order = (local, deployed) if settings.backend == "local" else (deployed, local)
    for found in order:
        if found and found[0]:
            return found[0], settings.evaluate.api_key or found[1]
    raise DogbreedError(
        "no classify API URL known",
        hint="pass --url, or start one with `dogbreed serve --api` (local) or `dogbreed deploy`",
    )
