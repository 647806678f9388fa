"""deploy.endpoint_mode = "lambda": the classify Lambda runs the model itself (lambda_src/model.py).

The built function zip and layer (this machine's Python; the deploy builds them for the Lambda's)
are extracted into an empty folder and run alone in a clean interpreter (standard library +
boto3 + the layer): POST /classify with real JPEG/PNG images answers what `dogbreed serve` (the
model server behind the same handler) answers, to 1e-5. The bad-input corpus runs against this
mode in-process and through the local gateway (`dogbreed serve --api --runtime lambda`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zipfile

import pytest
import requests

from lambda_src import handler as lambda_handler
from ops.api.gateway import handler_environment, proxy_event, start_gateway
from ops.api.lambda_layer import (
    build_layer,
    check_unzipped_limit,
    extract_for_lambda,
    function_extra,
)
from ops.api.lambda_package import build_lambda_zip
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from tests.bad_inputs import http_request_cases, json_body_cases, raw_image_cases, send_raw
from tests.conftest import REPO_ROOT
from tests.dog_artifacts import make_dog_artifact
from tests.local_artifacts import jpeg_bytes, png_bytes
from tests.test_bad_inputs import _handler_call, check_answer

PHOTO = (REPO_ROOT / "tests" / "fixtures" / "golden_retriever_n02099601_1442.jpg").read_bytes()
IMAGES = {
    "jpeg": jpeg_bytes(0, seed=1, size=96),
    "png": png_bytes(1, seed=2, size=70),
    "photo": PHOTO,
}
NUM_CLASSES = 3


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def classify_events() -> list[dict]:
    """A JSON batch of every image (all classes ranked), and each image alone as a raw body."""
    batch = json.dumps({"images": [b64(d) for d in IMAGES.values()], "top_k": NUM_CLASSES})
    events = [
        proxy_event("POST", "/classify", {"Content-Type": "application/json"}, batch.encode())
    ]
    for name, data in IMAGES.items():
        kind = "image/png" if name == "png" else "image/jpeg"
        path = f"/classify?top_k={NUM_CLASSES}"
        events.append(proxy_event("POST", path, {"Content-Type": kind}, data))
    return events


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A tiny model with the dog head (probabilities + dog_score), threshold in the middle."""
    return make_dog_artifact(tmp_path_factory.mktemp("lambda-mode") / "model", NUM_CLASSES, 0.5)


@pytest.fixture(scope="module")
def packages(artifact, tmp_path_factory):
    """(function zip, layer zip) as `deploy` builds them, the layer for this machine's Python."""
    out = tmp_path_factory.mktemp("lambda-packages")
    layer = build_layer(out / "layer.zip", python_version=None)
    extra = function_extra(artifact)
    function = build_lambda_zip(out / "function.zip", artifact / "classes.json", extra=extra)
    return function, layer


@pytest.fixture
def model_env(artifact, monkeypatch):
    """The handler's environment in lambda mode, in this process (the gateway sets the same)."""
    monkeypatch.setenv("CLASSIFY_BACKEND", "model")
    monkeypatch.setenv("MODEL_DIR", str(artifact))
    monkeypatch.setenv("MODEL_THREADS", "1")
    monkeypatch.setenv("CLASSES_PATH", str(artifact / "classes.json"))
    monkeypatch.delenv("ENDPOINT_NAME", raising=False)


def serve_answers(artifact, events: list[dict]) -> list[dict]:
    """What `dogbreed serve --api` answers: the handler calling the model server (endpoint mode)."""
    with ModelServer(load_runtime(artifact, threads=1), port=0, endpoint_name="lm") as server:
        env = handler_environment(server.url, "lm", artifact / "classes.json")
        env["CLASSIFY_BACKEND"] = "endpoint"
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            return [lambda_handler.handler(event, None) for event in events]
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def run_packaged(task, layer_python, python, events: list[dict]) -> tuple[list[dict], dict]:
    """The extracted function in a clean interpreter (-I: no site, no PYTHONPATH, no cwd) with
    the task folder and the layer on sys.path, as Lambda lays them out; (answers, module files)."""
    script = (
        "import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import handler; "
        "answers = [handler.handler(e, None) for e in json.load(sys.stdin)]; "
        "files = {m: sys.modules[m].__file__ for m in ('numpy', 'onnxruntime', 'ops.endpoint.onnx_runtime')}; "
        "print(json.dumps([answers, files]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env = {**env, "CLASSIFY_BACKEND": "model", "MODEL_THREADS": "1"}
    for key in ("MODEL_DIR", "CLASSES_PATH", "ENDPOINT_NAME"):
        env.pop(key, None)  # the function finds its model and classes in its own zip
    proc = subprocess.run(
        [str(python), "-I", "-c", script, str(task), str(layer_python)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=task.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers, files = json.loads(proc.stdout.strip().splitlines()[-1])
    return answers, files


def assert_same_answers(got: dict, want: dict) -> None:
    """Same status, breeds in the same order, probabilities and dog scores within 1e-5."""
    assert got["statusCode"] == want["statusCode"] == 200, (got, want)
    g, w = json.loads(got["body"]), json.loads(want["body"])
    assert len(g["predictions"]) == len(w["predictions"])
    for got_ranked, want_ranked in zip(g["predictions"], w["predictions"], strict=True):
        assert [p["breed"] for p in got_ranked] == [p["breed"] for p in want_ranked]
        for a, b in zip(got_ranked, want_ranked, strict=True):
            assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)
    for a, b in zip(g["answers"], w["answers"], strict=True):
        assert (a["label"], a["dog"], a["dog_signal"]) == (b["label"], b["dog"], b["dog_signal"])
        assert a["dog_score"] == pytest.approx(b["dog_score"], abs=1e-5)
        assert a["dog_threshold"] == pytest.approx(b["dog_threshold"], abs=1e-6)


def test_packaged_function_and_layer_alone_answer_as_dogbreed_serve(
    artifact, packages, boto3_only_python, tmp_path
):
    function, layer = packages
    probe = subprocess.run(
        [str(boto3_only_python), "-I", "-c", "import numpy"], capture_output=True
    )
    assert probe.returncode != 0, "the clean interpreter must not see the project's packages"
    task, layer_python = extract_for_lambda(function, layer, tmp_path / "lambda")
    assert sorted(p.name for p in (task / "model").iterdir()) == [
        "classes.json",
        "metadata.json",
        "model.onnx",
        "preprocessing.json",
    ]
    events = classify_events()
    answers, files = run_packaged(task, layer_python, boto3_only_python, events)
    assert files["numpy"].startswith(str(layer_python)), files
    assert files["onnxruntime"].startswith(str(layer_python)), files
    assert files["ops.endpoint.onnx_runtime"].startswith(str(task)), (
        files
    )  # serve's code, from the zip
    for got, want in zip(answers, serve_answers(artifact, events), strict=True):
        assert_same_answers(got, want)
    labels = {a["label"] for a in json.loads(answers[0]["body"])["answers"]}
    assert labels, "every image has a verdict"


def test_packages_are_deterministic_and_within_lambdas_size_limit(artifact, packages, tmp_path):
    function, layer = packages
    again = build_lambda_zip(
        tmp_path / "again.zip", artifact / "classes.json", extra=function_extra(artifact)
    )
    assert again.read_bytes() == function.read_bytes()
    rebuilt = build_layer(tmp_path / "layer-again.zip", python_version=None)
    assert rebuilt.read_bytes() == layer.read_bytes()
    total = check_unzipped_limit(function, layer)
    assert 0 < total <= 250 * 1024 * 1024
    names = zipfile.ZipFile(layer).namelist()
    assert all(n.startswith("python/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.startswith("python/bin/")]


def test_a_model_that_does_not_load_is_a_503_naming_it(model_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "no-model"))
    result = lambda_handler.handler(classify_events()[1], None)
    body = json.loads(result["body"])
    assert result["statusCode"] == 503 and "cannot load the model" in body["error"], body


def test_an_unknown_backend_is_a_503(model_env, monkeypatch):
    monkeypatch.setenv("CLASSIFY_BACKEND", "sagemaker")
    result = lambda_handler.handler(classify_events()[1], None)
    assert result["statusCode"] == 503
    assert "CLASSIFY_BACKEND" in json.loads(result["body"])["error"]


def test_images_left_at_the_deadline_are_not_classified(model_env, monkeypatch):
    monkeypatch.setenv("ANSWER_WITHIN_MS", "0")
    result = lambda_handler.handler(classify_events()[0], None)
    assert result["statusCode"] == 504, result


# --- the bad-input corpus (tests/bad_inputs.py) against this mode ----------------------------

BODIES = json_body_cases()
RAW_IMAGES = raw_image_cases()
HTTP_CASES = http_request_cases("/classify")


@pytest.mark.parametrize("case", BODIES, ids=lambda c: c.name)
def test_model_mode_answers_every_bad_json_body_with_a_4xx(model_env, case):
    headers = {"Content-Type": case.content_type}
    event = proxy_event("POST", "/classify", headers, case.text.encode())
    check_answer(*_handler_call(event), case.per_image_error)


@pytest.mark.parametrize(
    ("name", "data", "content_type"), RAW_IMAGES, ids=[c[0] for c in RAW_IMAGES]
)
def test_model_mode_answers_every_hostile_raw_image_with_a_4xx(model_env, name, data, content_type):
    event = proxy_event("POST", "/classify", {"Content-Type": content_type}, data)
    check_answer(*_handler_call(event))


@pytest.fixture(scope="module")
def lambda_gateway(artifact):
    """`dogbreed serve --api --runtime lambda`'s gateway: no model server behind it."""
    gw = start_gateway(
        "127.0.0.1",
        0,
        "http://127.0.0.1:9",  # nothing listens there: this mode never calls it
        "unused",
        artifact / "classes.json",
        classify_backend="model",
        model_dir=str(artifact),
        model_threads="1",
    )
    yield gw
    gw.shutdown()


def test_gateway_in_lambda_mode_classifies_without_a_model_server(lambda_gateway):
    resp = requests.post(
        lambda_gateway.classify_url,
        json={"images": [b64(IMAGES["photo"]), b64(IMAGES["png"])], "top_k": 2},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [len(p) for p in body["predictions"]] == [2, 2]
    assert all(a["label"] for a in body["answers"])


@pytest.mark.parametrize(
    ("name", "data", "content_type"), RAW_IMAGES, ids=[c[0] for c in RAW_IMAGES]
)
def test_gateway_in_lambda_mode_answers_hostile_images_with_a_4xx(
    lambda_gateway, name, data, content_type
):
    resp = requests.post(
        lambda_gateway.classify_url, data=data, headers={"Content-Type": content_type}, timeout=30
    )
    check_answer(resp.status_code, resp.json())


@pytest.mark.parametrize(("name", "raw"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
def test_gateway_in_lambda_mode_answers_broken_http_with_json(lambda_gateway, name, raw):
    status, headers, body = send_raw(lambda_gateway.port, raw)
    assert status is not None, f"no answer to {name}"
    assert 400 <= status < 500, (status, body[:200])
    assert headers["content-type"] == "application/json"


def test_serve_api_runtime_lambda_answers_through_the_model_inside_the_handler(artifact):
    """`dogbreed serve --api --runtime lambda`: the stack's gateway gives the handler the model
    (CLASSIFY_BACKEND=model on this artifact), so its answers need no model server call."""
    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {
            "serve.runtime": "lambda",
            "serve.port": 0,
            "serve.api_port": 0,
            "serve.api_key": "",
            "serve.max_batch_size": 2,
            "local.threads": 1,
        }
    )
    backend_before = os.environ.get("CLASSIFY_BACKEND")
    with start_local_stack(settings, artifact, api=True) as stack:
        assert os.environ["CLASSIFY_BACKEND"] == "model"
        assert os.environ["MODEL_DIR"] == str(stack.runtime.artifact_dir)
        before = requests.get(f"{stack.runtime_url}/stats", timeout=10).json()
        resp = requests.post(
            f"{stack.api_url}/classify",
            json={"images": [b64(IMAGES["jpeg"])], "top_k": 2},
            timeout=60,
        )
        after = requests.get(f"{stack.runtime_url}/stats", timeout=10).json()
        assert stack.record["runtime"] == "lambda"
    assert resp.status_code == 200, resp.text
    assert resp.json()["answers"][0]["label"]
    assert before == after, "the model server was not called"
    # the gateway restored the environment (a module's gateway fixture may hold its own value)
    assert os.environ.get("CLASSIFY_BACKEND") == backend_before
