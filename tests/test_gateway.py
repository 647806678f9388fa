"""End to end on loopback: real model server (tiny ONNX artifact) + local gateway + the classify client/CLI."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from ops.api.client import ApiError, ClassifyClient
from ops.api.gateway import start_gateway
from ops.cli import cli
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from ops.state import update_state
from tests.conftest import free_port
from tests.factories import BREEDS
from tests.local_artifacts import jpeg_bytes, make_tiny_artifact, png_bytes

ENDPOINT = "dogbreed-e2e"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "model")


@pytest.fixture(scope="module")
def runtime(artifact):
    return load_runtime(artifact, threads=1)


@pytest.fixture(scope="module")
def model_server(runtime):
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT) as srv:
        yield srv


@pytest.fixture
def gateway(model_server, runtime):
    gw = start_gateway(
        "127.0.0.1", 0, model_server.url, ENDPOINT, runtime.artifact_dir / "classes.json"
    )
    yield gw
    gw.shutdown()


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"dog{i}.jpg"
        path.write_bytes(jpeg_bytes(i, seed=10 + i, size=96))
        paths.append(path)
    png = tmp_path / "dog3.png"
    png.write_bytes(png_bytes(1, seed=4))
    return [*paths, png]


def test_dogbreed_classify_prints_top_k_tables_from_the_running_local_api(gateway, image_files):
    update_state("serve", {"status": "running", "api_url": gateway.url})
    result = CliRunner().invoke(cli, ["classify", *map(str, image_files), "--top-k", "3"])
    assert result.exit_code == 0, result.output
    for path in image_files:
        assert path.name in result.output
    assert any(name in result.output for _, name in BREEDS[:3])
    assert "%" in result.output


def test_predictions_match_the_model_in_input_order(gateway, runtime, image_files):
    images = [p.read_bytes() for p in image_files]
    with ClassifyClient(gateway.url) as client:
        answers = client.classify(images, top_k=3)
    wnids = [w for w, _ in BREEDS[:3]]
    for image, answer in zip(images, answers, strict=True):
        expected = runtime.predict_arrays(runtime.preprocess(image)[None])[0]
        assert answer[0]["wnid"] == wnids[int(np.argmax(expected))]
        assert answer[0]["probability"] == pytest.approx(float(expected.max()), abs=1e-4)
        assert sum(p["probability"] for p in answer) == pytest.approx(1.0, abs=1e-3)


def test_raw_image_post_goes_through_as_binary(gateway):
    resp = requests.post(
        f"{gateway.url}/classify?top_k=2",
        data=jpeg_bytes(2, seed=1),
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    (prediction,) = resp.json()["predictions"]
    assert len(prediction) == 2 and resp.headers["X-Request-Id"]


def test_cli_json_and_a_bad_file_is_one_line_error(gateway, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image at all")
    result = CliRunner().invoke(cli, ["classify", str(bad), "--url", gateway.url])
    assert result.exit_code == 1
    assert "HTTP 400" in result.output and "not a JPEG or PNG" in result.output
    assert "Traceback" not in result.output
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(0))
    result = CliRunner().invoke(
        cli, ["classify", str(good), "--url", f"{gateway.url}/classify", "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["image"] == str(good) and len(row["predictions"]) == 3  # 3 classes


def test_gateway_api_key_is_enforced(model_server, runtime):
    with start_gateway(
        "127.0.0.1",
        0,
        model_server.url,
        ENDPOINT,
        runtime.artifact_dir / "classes.json",
        api_key="s3cret",
    ) as gw:
        with pytest.raises(ApiError) as err:
            ClassifyClient(gw.url, retries=0).classify([jpeg_bytes(0)])
        assert err.value.status == 403
        assert len(ClassifyClient(gw.url, api_key="s3cret").classify([jpeg_bytes(0)])) == 1


def test_stopped_model_server_is_a_503(runtime, tmp_path):
    srv = ModelServer(runtime, port=0, endpoint_name=ENDPOINT).start()
    url = srv.url
    srv.shutdown()
    with (
        start_gateway(
            "127.0.0.1", 0, url, ENDPOINT, runtime.artifact_dir / "classes.json", invoke_retries=0
        ) as gw,
        pytest.raises(ApiError) as err,
    ):
        ClassifyClient(gw.url, retries=0).classify([jpeg_bytes(0)])
    assert err.value.status == 503 and "unreachable" in str(err.value)


def test_client_unreachable_url_is_a_clear_error():
    client = ClassifyClient(f"http://127.0.0.1:{free_port()}", retries=1)
    client.backoff_s = 0.01
    with pytest.raises(ApiError) as err:
        client.classify([jpeg_bytes(0)])
    assert err.value.status is None and "cannot reach" in str(err.value)


def test_client_retries_503_then_succeeds():
    calls = []

    class Flaky(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(self.path)
            status, body = (
                (503, {"error": "busy"}) if len(calls) < 3 else (200, {"predictions": [[]]})
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ClassifyClient(f"http://127.0.0.1:{server.server_address[1]}/prod", retries=3)
        client.backoff_s = 0.01
        assert client.classify([b"x"]) == [[]]
        assert calls == ["/prod/classify"] * 3
        calls.clear()
        client.retries = 1
        with pytest.raises(ApiError) as err:
            client.classify([b"x"])
        assert err.value.status == 503 and "busy" in str(err.value)
    finally:
        server.shutdown()


def test_classify_without_any_api_is_a_hint():
    result = CliRunner().invoke(cli, ["classify", __file__])
    assert result.exit_code == 1 and "no classify API URL known" in result.output


def test_a_body_over_the_read_limit_is_413_before_it_is_read(gateway):
    """Content-Length over MAX_READ_BYTES: 413 JSON at once, without waiting for the body."""
    import socket
    from urllib.parse import urlsplit

    from ops.api.gateway import MAX_READ_BYTES

    url = urlsplit(gateway.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_READ_BYTES + 1}\r\n\r\n".encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)  # times out (fails) if the gateway waits for the body
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split()[1] == b"413", head
    assert json.loads(body) == {"message": "Request Too Long"}


def test_dogbreed_api_command_serves_a_runtime_url_until_interrupted(
    model_server, runtime, image_files, tmp_path
):
    """`dogbreed api --runtime-url` as users run it: a real process, POST /classify, then Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "dogbreed.toml").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops", "api", "--runtime-url", model_server.url]
        + ["--endpoint-name", ENDPOINT, "--classes", str(runtime.artifact_dir / "classes.json")]
        + ["--port", "0"],
        cwd=tmp_path,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # "Local API: POST http://127.0.0.1:PORT/classify -> ..."
        assert first.startswith("Local API: POST "), first + proc.stderr.read()
        classify_url = first.split()[3]
        assert first.split()[5] == model_server.url
        image = image_files[0].read_bytes()
        (answer,) = ClassifyClient(classify_url).classify([image], top_k=2)
        expected = runtime.predict_arrays(runtime.preprocess(image)[None])[0]
        assert len(answer) == 2
        assert answer[0]["wnid"] == BREEDS[int(np.argmax(expected))][0]
    finally:
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert proc.returncode == 0, proc.stderr.read()
    with pytest.raises(requests.RequestException):
        requests.post(classify_url, data=b"x", timeout=2)
