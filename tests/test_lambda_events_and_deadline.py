"""lambda_src.handler on every event shape API Gateway, function URLs, SAM and Powertools produce,
against endpoints with serverless semantics (throttling above max concurrency) on loopback, and
answering before API Gateway's limit with the images it could not classify."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lambda_src import config as lambda_config
from lambda_src import handler as lambda_handler
from tests.factories import BREEDS
from tests.runtime_stub import RuntimeStub, fake_jpeg
from tests.test_lambda_handler import b64, call, json_event

# --- event layouts: the keys of the real samples, with our bodies ------------------------------


def sam_rest_event(body: str) -> dict:
    """`sam local generate-event apigateway aws-proxy` (AwsProxy.json): base64 body, no Content-Type."""
    return {
        "body": body,
        "resource": "/classify",
        "path": "/classify",
        "httpMethod": "POST",
        "isBase64Encoded": True,
        "queryStringParameters": {"foo": "bar"},
        "multiValueQueryStringParameters": {"foo": ["bar"]},
        "pathParameters": {"proxy": "/classify"},
        "stageVariables": {"baz": "qux"},
        "headers": {"Accept": "text/html", "Host": "1234567890.execute-api.amazonaws.com"},
        "multiValueHeaders": {"Accept": ["text/html"]},
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "123456",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": "/classify",
            "httpMethod": "POST",
            "apiId": "1234567890",
            "protocol": "HTTP/1.1",
        },
    }


def http_api_event(body: str, method: str = "POST", b64_body: bool = False, **headers) -> dict:
    """HTTP API payload 2.0 (Powertools apiGatewayProxyV2Event.json, SAM HttpApi.json): no
    httpMethod, lower-case headers, the method in requestContext.http."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/classify",
        "rawQueryString": "",
        "cookies": ["cookie1"],
        "headers": {"header1": "value1", **headers},
        "queryStringParameters": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": "/classify",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.168.0.1/32",
                "userAgent": "agent",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1583348638390,
        },
        "body": body,
        "isBase64Encoded": b64_body,
    }


def function_url_event(body: str, method: str = "POST", **headers) -> dict:
    """Lambda function URL (Powertools lambdaFunctionUrlEvent.json): payload 2.0 from *.lambda-url."""
    event = http_api_event(body, method, host="abc.lambda-url.us-east-1.on.aws", **headers)
    event["requestContext"]["accountId"] = "anonymous"
    return event


def powertools_rest_event(body: str, method: str = "POST") -> dict:
    """Powertools apiGatewayProxyEvent.json: REST payload 1.0 with version "1.0"."""
    return {
        "version": "1.0",
        "resource": "/classify",
        "path": "/classify",
        "httpMethod": method,
        "headers": {"header1": "value1", "Content-Type": "application/json"},
        "multiValueHeaders": {"header1": ["value1"]},
        "queryStringParameters": None,
        "requestContext": {"httpMethod": method, "requestId": "id=", "stage": "$default"},
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The function's environment, pointed at a stub set by each test."""
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    path = tmp_path / "classes.json"
    path.write_text(json.dumps(classes))
    monkeypatch.setenv("CLASSES_PATH", str(path))
    monkeypatch.setenv("RETRY_BASE_SECONDS", "0.02")

    def point_at(stub: RuntimeStub, **variables: str) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stub.url)
        monkeypatch.setenv("ENDPOINT_NAME", stub.endpoint_name)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return point_at


@pytest.fixture
def stub():
    with RuntimeStub(num_classes=3) as server:
        yield server


JSON_BODY = json.dumps({"images": [b64(fake_jpeg("class=2"))], "top_k": 1})


@pytest.mark.parametrize(
    "event",
    [
        sam_rest_event(base64.b64encode(JSON_BODY.encode()).decode()),
        http_api_event(JSON_BODY, **{"content-type": "application/json"}),
        http_api_event(base64.b64encode(JSON_BODY.encode()).decode(), b64_body=True),
        function_url_event(JSON_BODY, **{"content-type": "application/json"}),
        powertools_rest_event(JSON_BODY),
    ],
    ids=[
        "sam-rest-base64-no-content-type",
        "http-api-v2",
        "http-api-v2-base64",
        "function-url",
        "powertools-rest-v1",
    ],
)
def test_every_event_shape_is_classified(env, stub, event):
    env(stub)
    status, body = call(event)
    assert status == 200, body
    assert body["predictions"][0][0]["breed"] == BREEDS[2][1] and body["unclassified"] == []


def test_a_raw_image_in_a_sam_event_without_content_type_is_an_image(env, stub):
    env(stub)
    status, body = call(sam_rest_event(b64(fake_jpeg("class=1"))))
    assert status == 200 and body["predictions"][0][0]["breed"] == BREEDS[1][1]


@pytest.mark.parametrize(
    "event",
    [
        http_api_event("", method="GET"),
        function_url_event("", method="GET"),
        powertools_rest_event("Hello from Lambda!", method="GET"),
    ],
    ids=["http-api-v2", "function-url", "powertools-rest-v1"],
)
def test_the_method_is_read_from_every_payload_version(env, stub, event):
    env(stub)
    status, body = call(event)
    assert status == 405 and "method GET not allowed" in body["error"]


# --- the algorithm's JSON Lines answer ------------------------------------------------------------


class JsonLinesStub(RuntimeStub):
    """Answers like the built-in algorithm with Accept application/jsonlines."""

    def answer(self, h, body, count):
        data = (json.dumps({"prediction": [0.1, 0.7, 0.2]}) + "\n").encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/jsonlines")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def test_the_json_lines_prediction_key_is_read(env):
    with JsonLinesStub(num_classes=3) as stub:
        env(stub)
        status, body = call(json_event({"images": [b64(fake_jpeg("x"))], "top_k": 1}))
    assert status == 200, body
    assert body["predictions"][0][0] == {
        "breed": BREEDS[1][1],
        "wnid": BREEDS[1][0],
        "probability": 0.7,
    }


# --- serverless semantics: throttling above max concurrency, and the 29 s limit ------------------


class ServerlessStub(RuntimeStub):
    """A serverless endpoint: at most `capacity` invocations at once, ThrottlingException above.

    `sleep=N` bodies take N seconds; others take `latency` seconds.
    """

    def __init__(self, capacity: int, latency: float, **kwargs):
        super().__init__(**kwargs)
        self.capacity, self.latency = capacity, latency
        self.admitted = self.peak = self.throttled = 0
        self.lock2 = threading.Lock()

    def answer(self, h, body, count):
        with self.lock2:
            if self.admitted >= self.capacity:
                self.throttled += 1
                h._send(400, {"message": "Rate exceeded"}, "ThrottlingException")
                return
            self.admitted += 1
            self.peak = max(self.peak, self.admitted)
        try:
            marker = body[len(fake_jpeg("")) :].decode()
            time.sleep(float(marker.split("=")[1]) if marker.startswith("sleep=") else self.latency)
            h._send(200, [0.1, 0.1, 0.8])
        finally:
            with self.lock2:
                self.admitted -= 1


def batch(n: int, marker: str = "class=2") -> dict:
    return json_event({"images": [b64(fake_jpeg(f"{marker}-{i}")) for i in range(n)]})


def test_sixteen_images_against_max_concurrency_5_lose_nothing(env):
    """The default deploy: serverless max_concurrency 5 -> Terraform sets MAX_CONCURRENCY=5."""
    with ServerlessStub(capacity=5, latency=0.05, num_classes=3) as stub:
        env(stub, MAX_CONCURRENCY="5")
        status, body = call(batch(16))
    assert status == 200, body
    assert body["unclassified"] == [] and all(isinstance(p, list) for p in body["predictions"])
    assert stub.peak <= 5 and stub.throttled == 0  # one request never throttles itself


def test_throttling_from_other_callers_is_retried_within_the_deadline(env):
    """Two requests at once share capacity 5: jittered retries still classify every image."""
    with ServerlessStub(capacity=5, latency=0.05, num_classes=3) as stub:
        env(stub, MAX_CONCURRENCY="5")
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(call, [batch(16, "a"), batch(16, "b")]))
    assert stub.throttled > 0  # the scenario did throttle
    for status, body in results:
        assert status == 200 and body["unclassified"] == [], body


class LambdaContext:
    """The Lambda runtime's context object: only what the handler reads."""

    def __init__(self, remaining_ms: int):
        self.aws_request_id = "ctx-1"
        self._end = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self._end - time.monotonic()) * 1000)


def test_a_slow_image_is_reported_unclassified_before_the_lambda_times_out(env):
    with ServerlessStub(capacity=5, latency=0.01, num_classes=3) as stub:
        env(stub, ANSWER_MARGIN_MS="1500")
        event = json_event({"images": [b64(fake_jpeg("fast")), b64(fake_jpeg("sleep=8"))]})
        started = time.monotonic()
        result = lambda_handler.handler(event, LambdaContext(remaining_ms=3000))
        took = time.monotonic() - started
    body = json.loads(result["body"])
    assert result["statusCode"] == 200, body
    # Answered at the remaining time less the margin (1.5 s), not at the Lambda's end (3 s):
    # a second of slack either side, so a handler that ignores the margin fails.
    assert 1.4 <= took < 2.5
    assert body["unclassified"] == [1] and "not classified" in body["predictions"][1]["error"]
    assert isinstance(body["predictions"][0], list)


def test_retries_stop_at_the_api_gateway_limit(env, monkeypatch):
    """A throttled image is given up (and named) when API Gateway's 29 s would pass first."""
    with ServerlessStub(capacity=0, latency=0.01, num_classes=3) as stub:
        env(
            stub,
            ANSWER_WITHIN_MS="1200",
            ANSWER_MARGIN_MS="200",
            INVOKE_RETRIES="50",
            RETRY_BASE_SECONDS="0.2",
        )
        started = time.monotonic()
        status, body = call(batch(2))
        took = time.monotonic() - started
    assert took < 1.2
    assert status == 503 and "ThrottlingException" in body["error"]


# --- event shapes no API Gateway sends: 400s, never a 500 (issue 23) ----------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"headers": [["Content-Type", "application/json"]]}, "headers must be an object"),
        ({"headers": "Content-Type: application/json"}, "headers must be an object"),
        ({"multiValueHeaders": "x"}, "multiValueHeaders must be an object"),
        ({"queryStringParameters": "top_k=1"}, "queryStringParameters must be an object"),
        (
            {"body": "ÿé" + b64(JSON_BODY.encode()), "isBase64Encoded": True},
            "not valid base64-encoded UTF-8 JSON",
        ),
    ],
    ids=["headers-list", "headers-string", "multi-value-string", "query-string", "non-ascii-b64"],
)
def test_odd_event_shapes_are_400s_naming_the_part(env, stub, change, message):
    env(stub)
    status, body = call({**json_event(json.loads(JSON_BODY)), **change})
    assert status == 400, body
    assert message in body["error"]


def test_the_answer_deadline_is_the_remaining_time_less_the_margin():
    limits = {"answer_within_ms": 29000, "answer_margin_ms": 1500}
    started = 100.0
    assert lambda_config.answer_deadline(limits, LambdaContext(4000), started) == pytest.approx(
        started + 2.5, abs=0.05
    )
    assert lambda_config.answer_deadline(limits, None, started) == started + 27.5
