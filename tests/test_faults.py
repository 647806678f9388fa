"""Faults under load: the model server killed and restarted, and a graceful drain on shutdown.

The kill test runs `dogbreed serve` as a real process behind the real local gateway and counts
every request: each must get an HTTP answer (200 before and after, 503 while the server is
down), none may be left without one.
"""

from __future__ import annotations

import base64
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from ops.api.gateway import start_gateway
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from tests.bad_inputs import good_image
from tests.conftest import free_port
from tests.fault_load import kill_and_restart_under_load, load, start_model_server, stop
from tests.local_artifacts import shared_tiny_artifact

ENDPOINT = "dogbreed-faults"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return shared_tiny_artifact(tmp_path_factory)


@pytest.mark.slow
def test_killing_the_model_server_under_load_leaves_no_request_unanswered(artifact, tmp_path):
    port = free_port()
    gw = start_gateway(
        "127.0.0.1", 0, f"http://127.0.0.1:{port}", ENDPOINT, artifact / "classes.json"
    )
    proc = None
    try:
        counts, proc = kill_and_restart_under_load(
            lambda: start_model_server(artifact, port, ENDPOINT, tmp_path / "state.json"),
            gw.classify_url,
            good_image(),
            connections=16,
            seconds=10,
        )
        summary = counts.summary()
        assert summary["unanswered"] == 0, counts.unanswered[:5]
        assert summary["sent"] == summary["answered"] > 0
        assert summary["2xx"] > 0 and summary["4xx"] == 0
        assert set(counts.by_status) <= {200, 503}, summary  # down: a JSON 503, never a 502/500
        # after the restart the API answers again
        payload = {"images": [base64.b64encode(good_image()).decode()]}
        assert requests.post(gw.classify_url, json=payload, timeout=30).status_code == 200
    finally:
        gw.shutdown()
        if proc is not None:
            stop(proc)


@pytest.mark.slow
def test_sigterm_under_load_answers_every_request_and_exits_cleanly(artifact, tmp_path):
    """SIGTERM to `dogbreed serve` under load: it drains and exits 0; the gateway answers 503
    for what comes after, so no request is left without an answer."""
    port = free_port()
    gw = start_gateway(
        "127.0.0.1", 0, f"http://127.0.0.1:{port}", ENDPOINT, artifact / "classes.json"
    )
    proc = start_model_server(artifact, port, ENDPOINT, tmp_path / "state.json")
    try:
        counts_box: dict = {}
        loader = threading.Thread(
            target=lambda: counts_box.update(c=load(gw.classify_url, good_image(), 8, 5))
        )
        loader.start()
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        loader.join(120)
        summary = counts_box["c"].summary()
        assert summary["unanswered"] == 0, counts_box["c"].unanswered[:5]
        assert summary["2xx"] > 0 and set(counts_box["c"].by_status) <= {200, 503}, summary
    finally:
        gw.shutdown()
        stop(proc)


class SlowRuntime:
    """The real runtime with its forward slowed, so that requests are surely in flight."""

    def __init__(self, inner, delay_s: float):
        self.inner, self.delay_s = inner, delay_s

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_rows(self, batch):  # what the server's batcher calls
        time.sleep(self.delay_s)
        return self.inner.predict_rows(batch)


def _post(url: str, results: list, data: bytes) -> None:
    resp = requests.post(url, data=data, headers={"Content-Type": "image/jpeg"}, timeout=60)
    results.append((resp.status_code, resp.json()))


def test_shutdown_drains_requests_in_flight_and_answers_new_ones_503(artifact):
    runtime = SlowRuntime(load_runtime(artifact, threads=1), delay_s=0.6)
    server = ModelServer(runtime, port=0, endpoint_name=ENDPOINT, max_batch_size=1).start()
    url = f"{server.url}/invocations"
    results: list = []
    clients = [threading.Thread(target=_post, args=(url, results, good_image())) for _ in range(3)]
    for t in clients:
        t.start()
    deadline = time.monotonic() + 20
    while server.httpd.in_flight < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.httpd.in_flight == 3
    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    while not server.httpd.draining:
        time.sleep(0.01)
    late = requests.post(url, data=good_image(), headers={"Content-Type": "image/jpeg"}, timeout=10)
    assert late.status_code == 503
    assert late.headers["Content-Type"] == "application/json"
    assert "shutting down" in late.json()["message"]
    for t in clients:
        t.join(30)
    stopper.join(30)
    assert [status for status, _ in results] == [200, 200, 200]
    assert all(len(probs) == runtime.num_classes for _, probs in results)


def test_gateway_shutdown_drains_too(artifact):
    runtime = SlowRuntime(load_runtime(artifact, threads=1), delay_s=0.6)
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT, max_batch_size=1) as server:
        gw = start_gateway("127.0.0.1", 0, server.url, ENDPOINT, artifact / "classes.json")
        payload = {"images": [base64.b64encode(good_image()).decode()]}
        results: list = []

        def call() -> None:
            resp = requests.post(gw.classify_url, json=payload, timeout=60)
            results.append(resp.status_code)

        clients = [threading.Thread(target=call) for _ in range(2)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 20
        while gw._server.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        stopper = threading.Thread(target=gw.shutdown)
        stopper.start()
        while not gw._server.draining:
            time.sleep(0.01)
        late = requests.post(gw.classify_url, json=payload, timeout=10)
        assert late.status_code == 503 and "shutting down" in late.json()["message"]
        for t in clients:
            t.join(30)
        stopper.join(30)
        assert results == [200, 200]
