"""The local model server: an unchanged boto3 sagemaker-runtime client against a real HTTP server.

A tiny random-init timm model is exported to a real artifact (ONNX), served on a free loopback
port, and called with `invoke_endpoint` exactly as production code calls SageMaker.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from ops.cli import cli
from ops.endpoint.server import ModelServer
from tests.local_artifacts import jpeg_bytes, png_bytes

ENDPOINT = "dogbreed-test"
MAX_BYTES = 100_000
# `artifact` (the shared tiny artifact) and `runtime` come from tests/serving_fixtures.py


@pytest.fixture(scope="module")
def server(runtime):
    with ModelServer(
        runtime, port=0, endpoint_name=ENDPOINT, max_batch_size=16, max_image_bytes=MAX_BYTES
    ) as srv:
        yield srv


@pytest.fixture
def smr(server, monkeypatch):
    """boto3's sagemaker-runtime client, pointed at the server only through the standard variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    return boto3.client("sagemaker-runtime", region_name="us-east-1")


def invoke(client, body: bytes, content_type="application/x-image", endpoint=ENDPOINT):
    response = client.invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Body=body)
    return response, json.loads(response["Body"].read())


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None):
    """(status, parsed JSON body) for a plain HTTP call (the container contract)."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_invoke_endpoint_answers_like_the_builtin_algorithm(smr, runtime):
    image = jpeg_bytes(0, seed=1)
    response, probs = invoke(smr, image)
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert isinstance(probs, list) and len(probs) == runtime.num_classes == 3
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(probs, runtime.predict_images([image])[0], atol=1e-5)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png"])
def test_jpeg_and_png_content_types(smr, runtime, content_type):
    image = png_bytes() if content_type == "image/png" else jpeg_bytes(2, seed=4)
    _, probs = invoke(smr, image, content_type=content_type)
    np.testing.assert_allclose(probs, runtime.predict_images([image])[0], atol=1e-5)


def test_container_contract_ping_and_invocations(server, runtime):
    assert http("GET", f"{server.url}/ping")[0] == 200
    image = jpeg_bytes(1, seed=2)
    status, probs = http("POST", f"{server.url}/invocations", image, "application/x-image")
    assert status == 200
    np.testing.assert_allclose(probs, runtime.predict_images([image])[0], atol=1e-5)


def test_bad_image_is_a_readable_client_error_and_the_server_keeps_serving(smr, server):
    with pytest.raises(ClientError) as info:
        invoke(smr, b"\xff\xd8\xff\xe0 this is not really a jpeg")
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400
    assert "decode" in err["Error"]["Message"]
    status, body = http("POST", f"{server.url}/invocations", b"garbage", "image/jpeg")
    assert status == 400 and "decode" in body["message"]
    _, probs = invoke(smr, jpeg_bytes())  # still alive
    assert len(probs) == 3


def test_unsupported_content_type_is_415(smr, server):
    with pytest.raises(ClientError) as info:
        invoke(smr, b'{"x": 1}', content_type="application/json")
    assert info.value.response["OriginalStatusCode"] == 415
    assert "application/x-image" in info.value.response["Error"]["Message"]
    status, body = http("POST", f"{server.url}/invocations", jpeg_bytes(), "text/plain")
    assert status == 415 and "unsupported content type" in body["message"]


def test_unknown_endpoint_is_a_validation_error(smr):
    with pytest.raises(ClientError) as info:
        invoke(smr, jpeg_bytes(), endpoint="no-such-endpoint")
    assert info.value.response["Error"]["Code"] == "ValidationError"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "no-such-endpoint" in str(info.value) and "not found" in str(info.value)


def test_body_over_the_limit_is_413(smr, server):
    big = b"\xff\xd8\xff" + os.urandom(MAX_BYTES + 10)
    with pytest.raises(ClientError) as info:
        invoke(smr, big)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "serve.max_image_bytes" in info.value.response["Error"]["Message"]
    assert http("POST", f"{server.url}/invocations", big, "image/jpeg")[0] == 413
    assert len(invoke(smr, jpeg_bytes())[1]) == 3  # keep-alive connection still in sync


def test_local_stack_in_process_returns_its_serve_record(artifact, runtime):
    """What `dogbreed serve` runs (and demo, through it): start_local_stack serves in this process
    and returns the "serve" record (the command writes it to the state file; the library does
    not: test_local_stack_is_stopped_on_ctrl_c checks the command's records)."""
    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings
    from ops.state import get_record

    settings = Settings().with_overrides({"serve.port": 0, "serve.endpoint_name": "in-proc"})
    with start_local_stack(settings, artifact) as stack:
        record = stack.record
        assert record["status"] == "running" and record["runtime_url"] == stack.runtime_url
        assert get_record("serve") is None  # library code writes no state
        # serve.max_batch_size = 0 (auto): timed at start, the fastest batch size chosen
        assert set(stack.server.batch_timing) == {1, 2, 4, 8, 16, 32}
        assert record["max_batch_size"] == stack.server.batcher.max_batch_size
        assert record["max_batch_size"] in stack.server.batch_timing
        client = boto3.client(
            "sagemaker-runtime", region_name="us-east-1", endpoint_url=stack.runtime_url
        )
        image = jpeg_bytes(1, seed=21)
        _, probs = invoke(client, image, endpoint="in-proc")
        np.testing.assert_allclose(probs, runtime.predict_images([image])[0], atol=1e-5)
    assert stack.record["status"] == "stopped" and stack.record["pid"] is None
    assert get_record("serve") is None
    with pytest.raises(urllib.error.URLError):
        http("GET", f"{stack.runtime_url}/ping")


def test_port_in_use_is_a_one_line_error(artifact, server):
    from ops.api.local_stack import start_local_stack
    from ops.errors import DogbreedError
    from ops.settings import Settings

    settings = Settings().with_overrides({"serve.port": server.port, "serve.max_batch_size": 1})
    with pytest.raises(DogbreedError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        start_local_stack(settings, artifact)


def test_non_json_accept_is_406(smr):
    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(
            EndpointName=ENDPOINT, ContentType="image/jpeg", Accept="text/csv", Body=jpeg_bytes()
        )
    assert info.value.response["OriginalStatusCode"] == 406


def test_auto_batch_size_prefers_the_smallest_within_5_percent_of_the_fastest():
    from ops.endpoint.batching import pick_batch_size

    assert pick_batch_size({1: 70.0, 4: 160.0, 8: 168.0, 32: 60.0}) == 4
    assert pick_batch_size({1: 70.0, 4: 100.0, 8: 168.0, 32: 200.0}) == 32


def test_batcher_waits_only_for_requests_on_their_way():
    """A lone request skips the batching delay; one still being read joins the batch."""
    from ops.endpoint.batching import Batcher

    seen: list[int] = []

    def model(batch):
        seen.append(len(batch))
        return np.ones((len(batch), 2), dtype=np.float32)

    batcher = Batcher(model, max_batch_size=8, max_batch_delay_ms=2000)
    try:
        t0 = time.perf_counter()
        batcher.arriving()
        assert batcher.submit(np.zeros(3), arrived=True).result(timeout=5).shape == (2,)
        assert time.perf_counter() - t0 < 1.0  # did not sit out the 2 s delay
        batcher.arriving()
        batcher.arriving()  # two requests being read
        first = batcher.submit(np.zeros(3), arrived=True)
        time.sleep(0.2)  # the worker holds `first`: another request is on its way
        second = batcher.submit(np.zeros(3), arrived=True)
        first.result(timeout=5), second.result(timeout=5)
    finally:
        batcher.close()
    assert seen == [1, 2]


class SlowRuntime:
    """The real runtime, 50 ms slower per model call: like a big model, so requests pile up."""

    def __init__(self, runtime):
        self.runtime = runtime

    def __getattr__(self, name):  # preprocess_views, combine, ...: the real runtime's
        return getattr(self.runtime, name)

    def predict_rows(self, batch):
        time.sleep(0.05)
        return self.runtime.predict_rows(batch)


def test_a_model_failure_costs_one_request_not_the_server(runtime, monkeypatch):
    class FailsOnce(SlowRuntime):
        failed = False

        def predict_rows(self, batch):
            if not self.failed:
                self.failed = True
                raise RuntimeError("boom")
            return self.runtime.predict_rows(batch)

    with ModelServer(FailsOnce(runtime), port=0, endpoint_name=ENDPOINT, max_batch_size=1) as srv:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", srv.url)
        client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        with pytest.raises(ClientError) as info:
            invoke(client, jpeg_bytes())
        assert info.value.response["OriginalStatusCode"] == 500
        assert "boom" in info.value.response["Error"]["Message"]
        assert len(invoke(client, jpeg_bytes())[1]) == 3


def test_concurrent_requests_are_batched_and_answered_in_order(runtime, monkeypatch):
    """16 simultaneous invocations share model calls, and each gets its own image's answer."""
    images = [jpeg_bytes(i % 3, seed=i) for i in range(16)]
    expected = runtime.predict_images(images)
    slow = SlowRuntime(runtime)
    with ModelServer(slow, port=0, endpoint_name=ENDPOINT, max_batch_size=8) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        client = boto3.client(
            "sagemaker-runtime", region_name="us-east-1", config=Config(max_pool_connections=16)
        )
        results: list = [None] * 16
        barrier = threading.Barrier(16)

        def call(i: int) -> None:
            barrier.wait()
            results[i] = invoke(client, images[i])[1]

        threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        stats = http("GET", f"{server.url}/stats")[1]
    np.testing.assert_allclose(np.array(results), expected, atol=1e-5)
    assert stats["images"] == 16
    assert sum(int(k) * v for k, v in stats["batch_sizes"].items()) == 16
    assert stats["max_batch_size_seen"] > 1, stats
    assert stats["max_batch_size_seen"] <= 8, stats  # serve.max_batch_size is respected
    assert stats["batches"] < 16, stats


@pytest.mark.slow
def test_dogbreed_serve_subprocess_with_boto3(artifact, runtime, tmp_path):
    """The real command: start, wait for /ping, invoke with boto3, SIGTERM, state says stopped."""
    state_file = tmp_path / "state.json"
    env = {**os.environ, "DOGBREED_STATE_FILE": str(state_file)}
    dogbreed = Path(sys.executable).parent / "dogbreed"
    proc = subprocess.Popen(
        [str(dogbreed), "serve", "--artifact", str(artifact / "model.tar.gz"), "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = _wait_until_serving(proc, state_file)
        record = json.loads(state_file.read_text())["serve"]
        assert record["status"] == "running" and record["pid"] == proc.pid
        assert record["endpoint_name"] == "dogbreed-local" and record["api_url"] is None
        assert record["artifact"] == str(artifact / "model.tar.gz")
        client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=url)
        image = jpeg_bytes(2, seed=9)
        _, probs = invoke(client, image, endpoint="dogbreed-local")
        np.testing.assert_allclose(probs, runtime.predict_images([image])[0], atol=1e-5)
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={url}" in out
    assert "Traceback" not in out
    record = json.loads(state_file.read_text())["serve"]
    assert record["status"] == "stopped" and record["pid"] is None


@pytest.mark.slow
def test_dogbreed_serve_with_the_local_api(artifact, runtime, tmp_path):
    """`serve --api`: POST /classify goes through the Lambda handler to this model server."""
    state_file = tmp_path / "state.json"
    env = {**os.environ, "DOGBREED_STATE_FILE": str(state_file)}
    cmd = [str(Path(sys.executable).parent / "dogbreed"), "serve", "--artifact", str(artifact)]
    cmd += ["--port", "0", "--api", "--api-port", "0", "--endpoint-name", "dogs"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_until_serving(proc, state_file)
        api_url = json.loads(state_file.read_text())["serve"]["api_url"]
        assert api_url
        images = [jpeg_bytes(0, seed=11), png_bytes()]
        body = json.dumps(
            {"images": [base64.b64encode(i).decode() for i in images], "top_k": 2}
        ).encode()
        status, answer = http("POST", f"{api_url.rstrip('/')}/classify", body, "application/json")
    finally:
        out = _stop(proc)
    assert status == 200, answer
    expected = runtime.predict_images(images)
    for preds, probs in zip(answer["predictions"], expected, strict=True):
        assert len(preds) == 2
        best = runtime.classes[int(np.argmax(probs))]
        assert preds[0]["wnid"] == best["wnid"]
        assert preds[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert proc.returncode == 0, out
    assert "/classify" in out


def _stop(proc: subprocess.Popen) -> str:
    """SIGTERM (what `serve` must handle cleanly); kill only if it does not stop in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _wait_until_serving(proc: subprocess.Popen, state_file: Path, timeout: float = 90) -> str:
    """Poll the state file for the URL, then GET /ping until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dogbreed serve exited early:\n{proc.stdout.read()}")
        if state_file.exists():
            url = json.loads(state_file.read_text()).get("serve", {}).get("runtime_url")
            if url:
                try:
                    if http("GET", f"{url}/ping")[0] == 200:
                        return url
                except (urllib.error.URLError, ConnectionError):
                    pass
        time.sleep(0.2)
    raise AssertionError("dogbreed serve did not answer /ping in time")


def test_serve_without_artifact_is_a_one_line_error():
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert "no local model artifact recorded" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
