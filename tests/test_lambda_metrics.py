"""The classify Lambda's answer metrics: one CloudWatch embedded-metric-format line per request,
checked against the answer it gave, with a real tiny model served on loopback and generated JPEGs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import lambda_src.handler as lambda_handler
from lambda_src.metrics import DEFAULT_NAMESPACE, answer_figures
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from tests.dog_artifacts import make_dog_artifact
from tests.local_artifacts import jpeg_bytes

ENDPOINT = "metrics-endpoint"
CORRUPT_JPEG = b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 4


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("metrics")
    return {
        "accepting": make_dog_artifact(root / "accepting", threshold=0.0),
        "refusing": make_dog_artifact(root / "refusing", threshold=1.5),
    }


@pytest.fixture
def serve(artifacts, monkeypatch):
    """serve(which): the handler's environment pointed at that artifact's model server, as in
    Lambda (AWS_LAMBDA_FUNCTION_NAME set by the runtime)."""
    servers = []

    def _serve(which: str) -> None:
        artifact = artifacts[which]
        server = ModelServer(load_runtime(artifact, threads=1), port=0, endpoint_name=ENDPOINT)
        servers.append(server.__enter__())
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
        monkeypatch.setenv("CLASSES_PATH", str(artifact / "classes.json"))
        monkeypatch.setenv("RETRY_BASE_SECONDS", "0.01")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "dogbreed-classify")
        monkeypatch.setenv("MODEL_VERSION", "7")

    yield _serve
    for server in servers:
        server.__exit__(None, None, None)


def post(images: list[bytes], top_k: int = 2) -> dict:
    event = {
        "httpMethod": "POST",
        "resource": "/classify",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(
            {"images": [base64.b64encode(i).decode() for i in images], "top_k": top_k}
        ),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "req-emf"},
    }
    result = lambda_handler.handler(event, None)
    assert result["statusCode"] == 200, result
    return json.loads(result["body"])


def emf_lines(out: str) -> list[dict]:
    """The stdout lines CloudWatch Logs reads as EMF: JSON objects with an _aws member."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_each_request_publishes_its_answers_as_emf(serve, capsys):
    serve("accepting")
    body = post([jpeg_bytes(0), jpeg_bytes(2, seed=3), CORRUPT_JPEG])

    (line,) = emf_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == DEFAULT_NAMESPACE
    assert directive["Dimensions"] == [["FunctionName"]]
    assert line["FunctionName"] == "dogbreed-classify"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "Images": "Count",
        "Failed": "Count",
        "Dog": "Count",
        "NoDog": "Count",
        "Uncertain": "Count",
        "BreedNotRecognised": "Count",  # the model answers the open-set score (breed_known)
        "Top1Probability": "None",
        "EndpointLatency": "Milliseconds",
        "HandlerLatency": "Milliseconds",
    }
    assert isinstance(line["_aws"]["Timestamp"], int)

    # The values are the answer's own: two dogs, the corrupt image failed in place.
    answers = [a for a in body["answers"] if "error" not in a]
    assert line["BreedNotRecognised"] == sum(a.get("breed_known") is False for a in answers)
    assert (line["Images"], line["Failed"], line["Dog"], line["NoDog"]) == (3, 1, 2, 0)
    assert line["Uncertain"] == sum(a["uncertain"] for a in answers)
    top1 = [p[0]["probability"] for p in body["predictions"] if isinstance(p, list)]
    assert line["Top1Probability"] == pytest.approx(top1)
    assert len(line["EndpointLatency"]) == 3 and all(ms > 0 for ms in line["EndpointLatency"])
    (handler_ms,) = line["HandlerLatency"]
    assert handler_ms >= max(line["EndpointLatency"])
    assert line["request_id"] == "req-emf" and line["endpoint"] == ENDPOINT
    assert line["model_version"] == "7"
    assert line["breeds"] == sorted({a["breed"] for a in answers})


def test_refused_photos_count_as_no_dog_and_leave_top1_out(serve, capsys):
    serve("refusing")
    body = post([jpeg_bytes(1), jpeg_bytes(2, seed=5)])
    assert all(a["dog"] is False for a in body["answers"])

    (line,) = emf_lines(capsys.readouterr().out)
    assert (line["Images"], line["Dog"], line["NoDog"], line["Uncertain"]) == (2, 0, 2, 0)
    assert "Top1Probability" not in line and line["breeds"] == []
    names = {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "Top1Probability" not in names and "NoDog" in names


def test_no_metric_lines_outside_lambda_or_when_turned_off(serve, capsys, monkeypatch):
    serve("accepting")
    monkeypatch.setenv("ANSWER_METRICS", "off")
    post([jpeg_bytes(0)])
    monkeypatch.delenv("ANSWER_METRICS")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")  # the local gateway runs the same handler
    post([jpeg_bytes(0)])
    assert emf_lines(capsys.readouterr().out) == []
    monkeypatch.setenv("ANSWER_METRICS", "emf")
    post([jpeg_bytes(0)])
    (line,) = emf_lines(capsys.readouterr().out)
    assert line["FunctionName"] == "local" and line["Images"] == 1


def test_a_new_verdict_field_becomes_a_count_without_code_changes():
    """Issue 27's "breed not recognised" answers carry breed_known: false."""
    known = {"dog": True, "uncertain": False, "breed_known": True, "top_probability": 0.8}
    unknown = {"dog": True, "uncertain": False, "breed_known": False, "top_probability": 0.3}
    figures = answer_figures([known, unknown, None])
    assert figures["BreedNotRecognised"] == 1 and figures["Dog"] == 2
    assert figures["Failed"] == 1 and figures["Top1Probability"] == [0.8, 0.3]
