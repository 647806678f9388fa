"""The serving image's contract, tested by running the Dockerfile's exact ENTRYPOINT + `serve` as a
process: GET /ping, POST /invocations with each content type, the answer object, errors, SIGTERM,
a missing or damaged model folder. Where a Docker daemon runs, the same checks run against the
built image; here none does, so that variant skips and says why."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from ops.deploy.container_image import (
    context_digest,
    context_files,
    image_tag,
    serving_members,
    write_model_data,
)
from ops.endpoint.onnx_runtime import load_runtime
from tests.container_helpers import (
    ANSWER_OBJECT,
    Entrypoint,
    entrypoint_command,
    opt_ml_layout,
    post,
    staged_context,
    start_entrypoint,
    wait_healthy,
)
from tests.dog_artifacts import make_dog_artifact
from tests.local_artifacts import jpeg_bytes, png_bytes


def _docker_unavailable() -> str | None:
    """Why the Docker variant cannot run here, or None when a daemon answers."""
    if shutil.which("docker") is None:
        return "no docker client on PATH (no Docker daemon on this machine)"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no Docker daemon reachable ({last})"
    return None


@pytest.fixture(scope="module")
def dog_artifact(tmp_path_factory):
    return make_dog_artifact(tmp_path_factory.mktemp("dog-artifact") / "model")


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return staged_context(tmp_path_factory.mktemp("context") / "image")


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory, dog_artifact):
    return opt_ml_layout(tmp_path_factory.mktemp("sagemaker"), dog_artifact)


def _docker_entrypoint(tmp_path_factory, context, opt_ml) -> Entrypoint:
    """The built image run as SageMaker runs it (model mounted read-only at /opt/ml/model)."""
    from tests.conftest import free_port

    tag = f"dogbreed-serve:{image_tag()}"
    subprocess.run(["docker", "build", "-t", tag, str(context)], check=True)
    port = free_port()
    log = tmp_path_factory.mktemp("docker") / "container.log"
    cmd = ["docker", "run", "--rm", "-p", f"127.0.0.1:{port}:8080"]
    cmd += ["-e", "DOGBREED_SERVE__MAX_BATCH_SIZE=4", "-v", f"{opt_ml}/model:/opt/ml/model:ro"]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cmd, tag, "serve"], stdout=out, stderr=subprocess.STDOUT)
    return Entrypoint(proc, port, log)


@pytest.fixture(scope="module", params=["process", "docker"])
def server(request, tmp_path_factory, context, opt_ml):
    """The entrypoint serving the dog artifact: as a process, and in the image where Docker runs."""
    if request.param == "docker":
        reason = _docker_unavailable()
        if reason:
            pytest.skip(f"image build and run skipped: {reason}")
        ep = _docker_entrypoint(tmp_path_factory, context, opt_ml)
    else:
        log = tmp_path_factory.mktemp("entrypoint") / "serve.log"
        ep = start_entrypoint(context, opt_ml, log)
    try:
        wait_healthy(ep, timeout=300 if request.param == "docker" else 60)
        yield ep
    finally:
        ep.stop()


def test_the_dockerfile_entrypoint_is_the_container_module():
    assert entrypoint_command() == ["python", "-m", "ops.endpoint.container_entrypoint"]


def test_ping_answers_healthy_json(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/ping")
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read()) == {"status": "healthy"}


@pytest.mark.parametrize("content_type", ["application/x-image", "image/jpeg", "image/png"])
def test_invocations_answer_probabilities_for_each_content_type(server, dog_artifact, content_type):
    body = png_bytes() if content_type == "image/png" else jpeg_bytes(1)
    status, _, answer = post(server.url + "/invocations", body, content_type)
    assert status == 200
    expected = load_runtime(dog_artifact, threads=1).classify_bytes(body).probabilities
    np.testing.assert_allclose(answer, expected, atol=1e-5)


def test_invocations_answer_the_object_with_the_dog_score(server, dog_artifact):
    body = jpeg_bytes(2, seed=4)
    status, headers, answer = post(server.url + "/invocations", body, "image/jpeg", ANSWER_OBJECT)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    required = {"probabilities", "dog_score", "dog_signal", "dog_threshold"}
    # the open-set score and activation map ride along when the graph answers them (issue 27)
    assert required <= set(answer) <= required | {"known_score", "known_threshold", "cam"}
    expected = load_runtime(dog_artifact, threads=1).classify_bytes(body)
    assert answer["dog_signal"] == "imagenet"
    assert answer["dog_score"] == pytest.approx(expected.dog_score, abs=1e-5)
    np.testing.assert_allclose(answer["probabilities"], expected.probabilities, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "words"),
    [
        (b"%PDF-1.4", "application/pdf", {}, 415, "unsupported content type"),
        (b"not an image", "image/jpeg", {}, 400, "unable to decode the image"),
        (b"", "image/jpeg", {}, 400, "empty request body"),
        (b"\xff" * (4 * 1024 * 1024 + 1), "image/jpeg", {}, 413, "exceeds the limit"),
        (b"x", "image/jpeg", {"Accept": "text/csv"}, 406, "cannot answer Accept"),
    ],
    ids=["content-type", "bad-image", "empty", "too-large", "accept"],
)
def test_invocation_errors_are_json_messages_sagemaker_relays(
    server, body, content_type, headers, status, words
):
    """SageMaker relays a container's non-200 answer as a ModelError carrying its status and
    message (OriginalStatusCode / OriginalMessage): a JSON {"message"} with the right status."""
    code, got_headers, answer = post(server.url + "/invocations", body, content_type, headers)
    assert code == status
    assert got_headers["Content-Type"].startswith("application/json")
    assert words in answer["message"] and "Traceback" not in answer["message"]


def test_unknown_route_is_a_json_404(server):
    code, _, answer = post(server.url + "/predict", b"x", "image/jpeg")
    assert code == 404 and "no route" in answer["message"]


def test_sigterm_finishes_the_request_in_flight_then_exits(tmp_path, context, opt_ml):
    ep = start_entrypoint(context, opt_ml, tmp_path / "serve.log")
    try:
        wait_healthy(ep)
        body = jpeg_bytes(0)
        slow = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=30)
        slow.putrequest("POST", "/invocations")
        slow.putheader("Content-Type", "image/jpeg")
        slow.putheader("Content-Length", str(len(body)))
        slow.endheaders(body[:100])  # the request is in flight: headers and part of the body
        time.sleep(0.5)
        ep.proc.terminate()  # SIGTERM, as SageMaker stops a container
        time.sleep(0.5)
        code, _, answer = post(ep.url + "/invocations", jpeg_bytes(1), "image/jpeg")
        assert code == 503 and "shutting down" in answer["message"].lower()
        slow.send(body[100:])
        resp = slow.getresponse()
        assert resp.status == 200 and len(json.loads(resp.read())) == 3
        assert ep.proc.wait(timeout=20) == 0
    finally:
        ep.stop()
    assert "draining" in ep.output()


def _exit_of(tmp_path, context, opt_ml, **kwargs) -> tuple[int, str]:
    ep = start_entrypoint(context, opt_ml, tmp_path / "serve.log", **kwargs)
    try:
        return ep.proc.wait(timeout=60), ep.output()
    finally:
        ep.stop()


def test_a_missing_model_folder_ends_the_start_with_one_line(tmp_path, context):
    code, output = _exit_of(tmp_path, context, tmp_path / "empty-opt-ml")
    assert code == 1
    assert output.strip().count("\n") == 0 and "Traceback" not in output
    assert f"model folder {tmp_path / 'empty-opt-ml' / 'model'} not found" in output


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("model.onnx", "does not match its sha256"),
        ("classes.json", "does not match its sha256"),
        ("everything", "is not a model artifact (no model.onnx)"),
    ],
)
def test_a_damaged_model_folder_ends_the_start_with_one_line(
    tmp_path, context, opt_ml, damage, words
):
    broken = tmp_path / "opt-ml"
    shutil.copytree(opt_ml, broken)
    if damage == "everything":
        for path in (broken / "model").iterdir():
            path.unlink()
    else:
        target = broken / "model" / damage
        target.write_bytes(target.read_bytes()[:-7])
    code, output = _exit_of(tmp_path, context, broken)
    assert code == 1
    assert output.strip().count("\n") == 0 and "Traceback" not in output
    assert words in output


@pytest.mark.parametrize(
    ("env", "args", "code", "words"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "eighty"}, ("serve",), 1, "SAGEMAKER_BIND_TO_PORT='eighty'"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}, ("serve",), 1, "runs one process"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, ("serve",), 1, "application/json"),
        ({}, (), 2, "usage: dogbreed-container serve"),
        ({}, ("train",), 2, "usage: dogbreed-container serve"),
    ],
    ids=["port", "workers", "accept", "no-argument", "train"],
)
def test_bad_contract_inputs_are_refused_in_one_line(
    tmp_path, context, opt_ml, env, args, code, words
):
    got, output = _exit_of(tmp_path, context, opt_ml, env=env, args=args)
    assert got == code
    assert words in output and "Traceback" not in output


def test_an_uncompressed_model_tarball_in_the_model_folder_is_served(
    tmp_path, context, dog_artifact
):
    opt_ml = tmp_path / "opt-ml"
    write_model_data(dog_artifact, opt_ml / "model" / "model.tar.gz")
    ep = start_entrypoint(context, opt_ml, tmp_path / "serve.log")
    try:
        wait_healthy(ep)
        code, _, answer = post(ep.url + "/invocations", jpeg_bytes(0), "image/jpeg")
        assert code == 200 and len(answer) == 3
    finally:
        assert ep.stop() == 0


# -- the build context and the model data: deterministic, complete, minimal -----------------------


def test_the_context_holds_every_module_a_served_request_imports(tmp_path, context, dog_artifact):
    """Import and answer a request from the staged context alone: every project module comes from
    it, and every third-party module is one docker/requirements-serve.txt installs."""
    script = (
        "import sys, json\n"
        "from ops.endpoint.onnx_runtime import load_runtime\n"
        "import ops.endpoint.container_entrypoint, ops.endpoint.server\n"
        f"rt = load_runtime({str(dog_artifact)!r}, threads=1)\n"
        "from PIL import Image; import io; b = io.BytesIO()\n"
        "Image.new('RGB', (90, 70), (9, 99, 9)).save(b, 'JPEG')\n"
        "rt.classify_bytes(b.getvalue())\n"
        "mods = {m: getattr(sys.modules[m], '__file__', '') or '' for m in list(sys.modules)}\n"
        "print(json.dumps(mods))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=context,
        env={"PYTHONPATH": str(context), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(out.stdout)
    ours = {m: f for m, f in modules.items() if m.split(".")[0] in ("ops", "lambda_src")}
    assert ours and all(f.startswith(str(context)) for f in ours.values())
    third_party = {m.split(".")[0] for m in modules if not m.startswith("_")}
    third_party -= set(sys.stdlib_module_names) | {"ops", "lambda_src"}
    requirements = (context / "docker" / "requirements-serve.txt").read_text()
    installed = {"numpy": "numpy", "onnxruntime": "onnxruntime", "PIL": "pillow"}
    assert {installed.get(m, m) for m in third_party} <= {
        line.split("==")[0] for line in requirements.splitlines() if "==" in line
    }


def test_the_same_code_gives_the_same_context_digest(tmp_path, context):
    assert context_digest(context) == context_digest() == context_digest(staged_context(tmp_path))
    assert "ops/endpoint/server.py" in context_files() and "ops/cli.py" not in context_files()
    server = tmp_path / "ops" / "endpoint" / "server.py"
    server.write_bytes(server.read_bytes() + b"\n")
    assert context_digest(tmp_path) != context_digest()


def test_the_same_artifact_gives_the_same_model_data(tmp_path, dog_artifact):
    first = write_model_data(dog_artifact, tmp_path / "a" / "model.tar.gz").read_bytes()
    second = write_model_data(dog_artifact / "model.tar.gz", tmp_path / "b" / "model.tar.gz")
    assert first == second.read_bytes()
    members = serving_members(dog_artifact)
    assert sorted(members) == ["classes.json", "metadata.json", "model.onnx", "preprocessing.json"]
    assert set(json.loads(members["metadata.json"])["sha256"]) <= set(members)


def test_the_server_keeps_no_cpu_arena_between_batches():
    """ONNX Runtime's CPU arena would keep the batch-size timing's largest buffers for the life of
    the process (Lite2: 1094 MB at rest instead of 174 MB; docs/local-serving.md)."""
    from ops.endpoint.onnx_runtime import session_options

    assert session_options(threads=1, spin=False).enable_cpu_mem_arena is False
