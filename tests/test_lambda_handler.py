"""lambda_src.handler on real API Gateway proxy events, against a real HTTP runtime endpoint on loopback."""

from __future__ import annotations

import base64
import json
import os

import pytest

from lambda_src import handler as lambda_handler
from tests.factories import BREEDS
from tests.runtime_stub import RuntimeStub, fake_jpeg

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8 + b"class=2"


@pytest.fixture
def stub():
    with RuntimeStub(num_classes=3) as server:
        yield server


@pytest.fixture
def lambda_env(stub, tmp_path, monkeypatch):
    """The environment Terraform gives the function, pointed at the stub endpoint."""
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    path = tmp_path / "classes.json"
    path.write_text(json.dumps(classes))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stub.url)
    monkeypatch.setenv("ENDPOINT_NAME", stub.endpoint_name)
    monkeypatch.setenv("CLASSES_PATH", str(path))
    monkeypatch.setenv("RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("MAX_IMAGES", "8")
    monkeypatch.setenv("MAX_IMAGE_BYTES", "1000")
    monkeypatch.setenv("MAX_CONCURRENCY", "3")
    return stub


def json_event(payload, content_type="application/json", raw: str | None = None, **extra) -> dict:
    body = raw if raw is not None else json.dumps(payload)
    return {
        "resource": "/classify",
        "path": "/classify",
        "httpMethod": "POST",
        "headers": {
            "Content-Type": content_type,
            "Host": "abc.execute-api.us-east-1.amazonaws.com",
        },
        "queryStringParameters": None,
        "requestContext": {"requestId": "req-123", "stage": "prod", "resourcePath": "/classify"},
        "body": body,
        "isBase64Encoded": False,
        **extra,
    }


def image_event(data: bytes, content_type="image/jpeg", query=None) -> dict:
    event = json_event(None, content_type=content_type, raw=base64.b64encode(data).decode())
    event["isBase64Encoded"] = True
    event["queryStringParameters"] = query
    return event


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def call(event) -> tuple[int, dict]:
    result = lambda_handler.handler(event, None)
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["isBase64Encoded"] is False
    return result["statusCode"], json.loads(result["body"])


def test_batch_answers_in_input_order_with_breed_names(lambda_env):
    markers = ["class=2", "class=0", "slow-class=1", "class=1", "class=2"]
    status, body = call(json_event({"images": [b64(fake_jpeg(m)) for m in markers], "top_k": 2}))
    assert status == 200, body
    top = [p[0] for p in body["predictions"]]
    assert [p["wnid"] for p in top] == [BREEDS[i][0] for i in (2, 0, 1, 1, 2)]
    assert top[0]["breed"] == BREEDS[2][1] and top[0]["probability"] == pytest.approx(0.9)
    assert all(len(p) == 2 for p in body["predictions"])
    assert body["request_id"] == "req-123"


def test_thread_pool_is_bounded_by_max_concurrency(lambda_env):
    images = [b64(fake_jpeg(f"slow-class={i % 3}")) for i in range(8)]
    status, body = call(json_event({"images": images}))
    assert status == 200
    assert 1 < lambda_env.max_in_flight <= 3
    assert len(body["predictions"]) == 8 and all(
        len(p) == 3 for p in body["predictions"]
    )  # top_k=min(5, 3)


def test_one_failing_image_is_reported_in_place(lambda_env):
    images = [b64(fake_jpeg("class=0")), b64(fake_jpeg("model-error")), b64(fake_jpeg("class=2"))]
    status, body = call(json_event({"images": images, "top_k": 1}))
    assert status == 200
    first, failed, last = body["predictions"]
    assert first[0]["wnid"] == BREEDS[0][0] and last[0]["wnid"] == BREEDS[2][0]
    assert "ModelError" in failed["error"] and "unable to decode" in failed["error"]


def test_throttling_is_retried_with_backoff(lambda_env):
    image = fake_jpeg("throttle=2")
    status, body = call(json_event({"images": [b64(image)], "top_k": 1}))
    assert status == 200, body
    assert body["predictions"][0][0]["wnid"] == BREEDS[1][0]
    assert lambda_env.calls[image] == 3


def test_persistent_throttling_is_503(lambda_env, monkeypatch):
    monkeypatch.setenv("INVOKE_RETRIES", "1")
    status, body = call(image_event(fake_jpeg("throttle=99")))
    assert status == 503 and "ThrottlingException" in body["error"]


def test_endpoint_failures_map_to_502_and_503_with_the_endpoint_message(lambda_env, monkeypatch):
    status, body = call(image_event(fake_jpeg("model-error")))
    assert status == 502 and "unable to decode" in body["error"]
    monkeypatch.setenv("INVOKE_RETRIES", "0")
    status, body = call(image_event(fake_jpeg("unavailable")))
    assert status == 503 and "overloaded" in body["error"]
    monkeypatch.setenv("ENDPOINT_NAME", "missing-endpoint")
    status, body = call(image_event(fake_jpeg("class=0")))
    assert status == 502 and "Endpoint missing-endpoint not found" in body["error"]


def test_unreachable_endpoint_is_503(lambda_env, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("INVOKE_RETRIES", "1")
    status, body = call(image_event(fake_jpeg("class=0")))
    assert status == 503 and "unreachable" in body["error"]


def test_raw_single_image_jpeg_and_png_with_top_k_query(lambda_env):
    status, body = call(image_event(fake_jpeg("class=1"), query={"top_k": "1"}))
    assert status == 200 and body["predictions"][0][0]["wnid"] == BREEDS[1][0]
    assert len(body["predictions"][0]) == 1
    status, body = call(image_event(fake_jpeg("class=1"), query={"top_k": "7"}))
    assert status == 200 and len(body["predictions"][0]) == 3  # every class, no more
    status, body = call(image_event(PNG, content_type="image/png"))
    assert status == 200 and len(body["predictions"]) == 1


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (json_event(None, raw="{not json"), 400, "malformed JSON"),
        (json_event(None, raw=""), 400, "empty request body"),
        (json_event([1, 2]), 400, "must be an object"),
        (json_event({"top_k": 3}), 400, 'missing "images"'),
        (json_event({"images": []}), 400, '"images" is empty'),
        (json_event({"images": "abc"}), 400, "must be a list"),
        (json_event({"images": [123]}), 400, "images[0] must be a base64 string"),
        (json_event({"images": ["%%%not-base64"]}), 400, "images[0] is not valid base64"),
        (json_event({"images": [b64(b"GIF89a hello")]}), 400, "images[0] is not a JPEG or PNG"),
        (json_event({"images": [b64(fake_jpeg("x" * 2000))]}), 413, "over the limit of 1000"),
        (
            json_event({"images": [b64(fake_jpeg("class=0"))] * 9}),
            413,
            "9 images, over the limit of 8",
        ),
        (json_event({"images": [b64(fake_jpeg("class=0"))], "top_k": 0}), 400, "between 1 and 20"),
        (json_event({"images": [b64(fake_jpeg("class=0"))], "top_k": 21}), 400, "between 1 and 20"),
        (
            json_event({"images": [b64(fake_jpeg("class=0"))], "top_k": "two"}),
            400,
            "must be an integer",
        ),
        (
            json_event({"images": [b64(fake_jpeg("class=0"))], "top_k": True}),
            400,
            "must be an integer",
        ),
        (json_event({"images": ["x"]}, content_type="text/plain"), 415, "unsupported Content-Type"),
        (image_event(b"plain text, no image"), 400, "not a JPEG or PNG"),
        (json_event(None, content_type="image/jpeg", raw="not-encoded"), 400, "base64-encoded"),
        (json_event({"images": []}, httpMethod="GET"), 405, "use POST"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_requests_are_clear_4xx_json_errors(lambda_env, event, status, message):
    got, body = call(event)
    assert got == status, body
    assert message in body["error"]
    assert lambda_env.calls.total() == 0  # rejected before any endpoint call


def test_top_k_accepts_its_documented_maximum(lambda_env, monkeypatch):
    """TOP_K_MAX (20 by default) itself is allowed: the answer is every class, capped at 3 here."""
    status, body = call(json_event({"images": [b64(fake_jpeg("class=0"))], "top_k": 20}))
    assert status == 200, body
    assert len(body["predictions"][0]) == 3
    monkeypatch.setenv("TOP_K_MAX", "2")
    status, body = call(image_event(fake_jpeg("class=1"), query={"top_k": "2"}))
    assert status == 200 and len(body["predictions"][0]) == 2


def test_total_payload_over_6mb_is_413(lambda_env, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_BYTES", str(5 * 1024 * 1024))
    monkeypatch.setenv("MAX_IMAGES", "16")
    big = b64(fake_jpeg("x" * 1_500_000))
    status, body = call(json_event({"images": [big] * 4}))
    assert status == 413 and "over the limit of 6000000" in body["error"]


def test_classes_from_s3_object(lambda_env, moto_url, monkeypatch):
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="c.json", Body=json.dumps(["alpha", "beta", "gamma"]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    monkeypatch.setenv("CLASSES_S3_URI", "s3://models/c.json")
    status, body = call(json_event({"images": [b64(fake_jpeg("class=2"))], "top_k": 1}))
    assert status == 200 and body["predictions"][0][0]["breed"] == "gamma"


def test_missing_configuration_is_503_not_500(lambda_env, monkeypatch):
    monkeypatch.delenv("ENDPOINT_NAME")
    status, body = call(image_event(fake_jpeg("class=0")))
    assert status == 503 and "ENDPOINT_NAME" in body["error"]


def test_logs_are_json_with_the_request_id(lambda_env, caplog):
    caplog.set_level("INFO", logger="dogbreed.classify")
    call(json_event({"images": [b64(fake_jpeg("class=0"))]}))
    call(json_event(None, raw="{"))
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "dogbreed.classify"]
    assert [r["status"] for r in records] == [200, 400]
    assert all(r["request_id"] == "req-123" for r in records)
    assert records[0]["images"] == 1 and "duration_ms" in records[0]


def test_the_deployment_zip_runs_alone_with_its_shipped_classes(
    lambda_env, tmp_path, monkeypatch, boto3_only_python
):
    """The zip's handler in a clean virtualenv (only boto3 + stdlib), classes.json from the zip."""
    import subprocess
    import zipfile

    from ops.api.lambda_package import build_lambda_zip

    monkeypatch.delenv("CLASSES_PATH")  # the handler must find the zip's own classes.json
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    probe = subprocess.run(
        [str(boto3_only_python), "-I", "-c", "import numpy"], capture_output=True, env=clean_env
    )
    assert probe.returncode != 0, "the clean venv must not see the project's packages"
    classes = tmp_path / "zip-classes.json"
    classes.write_text(
        json.dumps([{"index": i, "wnid": f"n{i}", "name": f"breed{i}"} for i in range(3)])
    )
    task = tmp_path / "var-task"
    zipfile.ZipFile(build_lambda_zip(tmp_path / "lambda.zip", classes)).extractall(task)
    event = json_event({"images": [b64(fake_jpeg("class=2"))], "top_k": 1})
    script = (
        "import json, sys; sys.path.insert(0, '.'); import handler; "
        "print(json.dumps(handler.handler(json.load(sys.stdin), None)))"
    )
    proc = subprocess.run(
        [str(boto3_only_python), "-I", "-c", script],
        cwd=task,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["predictions"][0][0]["breed"] == "breed2"
