"""The bad-input corpus (tests/bad_inputs.py) against the handler, the local gateway and the model server.

All three run for real on loopback with a tiny real model: every case must be answered with a
4xx JSON error, or, for a batch, a 200 whose broken image carries an {"error"} in place. Never a
5xx, never a closed connection without an answer.
"""

from __future__ import annotations

import json

import pytest
import requests

from lambda_src import handler as lambda_handler
from ops.api.gateway import proxy_event
from tests.bad_inputs import (
    http_request_cases,
    json_body_cases,
    raw_image_cases,
    send_raw,
)
from tests.serving_fixtures import RUNTIME_PATH

BODIES = json_body_cases()
IMAGES = raw_image_cases()
HTTP_CASES = http_request_cases("{path}")


def check_answer(status: int, body: dict, per_image_error: bool = False) -> None:
    """The corpus rule: a 4xx with a JSON message, or a 200 with a per-image error in a batch."""
    if per_image_error:
        assert status == 200, body
        good, bad = body["predictions"]
        assert isinstance(good, list) and good[0]["breed"]
        assert set(bad) == {"error"} and bad["error"], body
        return
    assert 400 <= status < 500, (status, body)
    message = body.get("error") or body.get("message")
    assert isinstance(message, str) and message, body


def _handler_call(event) -> tuple[int, dict]:
    result = lambda_handler.handler(event, None)
    assert result["headers"]["Content-Type"] == "application/json"
    return result["statusCode"], json.loads(result["body"])


@pytest.mark.parametrize("case", BODIES, ids=lambda c: c.name)
def test_handler_answers_every_bad_json_body_with_a_4xx(handler_env, case):
    event = proxy_event(
        "POST", "/classify", {"Content-Type": case.content_type}, case.text.encode()
    )
    status, body = _handler_call(event)
    check_answer(status, body, case.per_image_error)
    if not case.per_image_error:
        assert body["request_id"]


@pytest.mark.parametrize(("name", "data", "content_type"), IMAGES, ids=[c[0] for c in IMAGES])
def test_handler_answers_every_hostile_raw_image_with_a_4xx(handler_env, name, data, content_type):
    event = proxy_event("POST", "/classify", {"Content-Type": content_type}, data)
    check_answer(*_handler_call(event))


@pytest.mark.parametrize(
    "event",
    [
        {"httpMethod": "POST", "body": 5, "headers": {"Content-Type": "application/json"}},
        {"httpMethod": "POST", "body": ["a"], "headers": None},
        {"httpMethod": "GET", "body": None},
        {"httpMethod": "POST", "body": "{}", "requestContext": "not-a-dict"},
        {"httpMethod": "POST", "body": "e30=", "isBase64Encoded": True},  # b64 "{}" as octet
        {
            "httpMethod": "POST",
            "body": "!!!",
            "isBase64Encoded": True,
            "headers": {"Content-Type": "application/json"},
        },
    ],
    ids=["body-number", "body-list", "get", "context-string", "b64-no-type", "b64-bad"],
)
def test_handler_odd_proxy_events_are_4xx(handler_env, event):
    check_answer(*_handler_call(event))


def _post_gateway(gateway, case_text: str, content_type: str) -> tuple[int, dict]:
    resp = requests.post(
        gateway.classify_url,
        data=case_text.encode(),
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert resp.headers["Content-Type"] == "application/json"
    return resp.status_code, resp.json()


@pytest.mark.parametrize("case", BODIES, ids=lambda c: c.name)
def test_gateway_answers_every_bad_json_body_with_a_4xx(gateway, case):
    check_answer(*_post_gateway(gateway, case.text, case.content_type), case.per_image_error)


@pytest.mark.parametrize(("name", "data", "content_type"), IMAGES, ids=[c[0] for c in IMAGES])
def test_gateway_answers_every_hostile_raw_image_with_a_4xx(gateway, name, data, content_type):
    resp = requests.post(
        gateway.classify_url, data=data, headers={"Content-Type": content_type}, timeout=30
    )
    check_answer(resp.status_code, resp.json())


@pytest.mark.parametrize(("name", "data", "content_type"), IMAGES, ids=[c[0] for c in IMAGES])
@pytest.mark.parametrize("path", [RUNTIME_PATH, "/invocations"])
def test_model_server_answers_every_hostile_image_with_a_4xx(
    model_server, path, name, data, content_type
):
    resp = requests.post(
        model_server.url + path, data=data, headers={"Content-Type": content_type}, timeout=30
    )
    assert 400 <= resp.status_code < 500, resp.text
    message = resp.json()["message"]
    assert "decode" in message or "limit" in message, message


@pytest.mark.parametrize(("name", "raw"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
@pytest.mark.parametrize(
    ("target", "path"), [("gateway", "/classify"), ("model_server", RUNTIME_PATH)]
)
def test_servers_answer_every_broken_http_request_with_json(request, target, path, name, raw):
    server = request.getfixturevalue(target)
    status, headers, body = send_raw(server.port, raw.replace(b"{path}", path.encode()))
    assert status is not None, f"no answer to {name}"
    assert 400 <= status < 500, (status, body[:200])
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer.get("message") or answer.get("error"), answer


def test_the_corpus_covers_the_reported_cases():
    """The issue's cases are all in the corpus (so a refactor cannot quietly drop one)."""
    names = {c.name for c in BODIES} | {c[0] for c in IMAGES}
    for expected in (
        "top_k-Infinity",
        "top_k-1e400",
        "top_k-5000-digits",
        "deep-nesting-100000",
        "wide-20000x1.png",
        "huge-12500x12500.png",
        "truncated.jpg",
        "jpeg-magic-then-garbage.jpg",
    ):
        assert expected in names
    raw_names = {c[0] for c in HTTP_CASES}
    assert {"content-length-abc", "put", "delete", "oversize-header"} <= raw_names
