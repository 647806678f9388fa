"""The container package of a local model against AWS's own inference toolkit (no Java server).

A tiny real timm model is exported (ONNX + TorchScript), packaged as `deploy` packages it, and
extracted as SageMaker extracts it. Its code/inference.py is then driven through
sagemaker-pytorch-inference's HandlerService and sagemaker-inference's Transformer with
TorchServe's own request context (tests/container_toolkit.py), and compared with `dogbreed
serve` (the local model server, both runtimes) over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ops.artifact.container_package import (
    CODE_FILES,
    MODEL_FILES,
    extract_package,
    package_sources,
    write_package,
)
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from ops.errors import DogbreedError
from tests.container_toolkit import invoke, load_service
from tests.local_artifacts import jpeg_bytes, png_bytes, shared_tiny_artifact

pytest.importorskip("sagemaker_pytorch_serving_container", reason="pip install -e '.[dev]'")
pytest.importorskip("ts.context", reason="torchserve's request context: pip install -e '.[dev]'")

TOLERANCE = 1e-4
IMAGES = {  # content type -> a body of that type
    "application/x-image": jpeg_bytes(0, seed=1),
    "image/jpeg": jpeg_bytes(2, seed=5, size=120),
    "image/png": png_bytes(1, seed=3),
}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return shared_tiny_artifact(tmp_path_factory)


@pytest.fixture(scope="module")
def package(artifact, tmp_path_factory) -> Path:
    return write_package(artifact, tmp_path_factory.mktemp("package") / "model.tar.gz")


@pytest.fixture(scope="module")
def model_dir(package, tmp_path_factory) -> Path:
    """The package extracted as SageMaker extracts it into /opt/ml/model."""
    return extract_package(package, tmp_path_factory.mktemp("opt-ml-model"))


@pytest.fixture
def service(model_dir, monkeypatch):
    return load_service(model_dir, monkeypatch)


@pytest.fixture(scope="module")
def onnx_server(artifact):
    """`dogbreed serve`'s default: the artifact's model.onnx in ONNX Runtime."""
    with ModelServer(load_runtime(artifact, threads=1), port=0, max_batch_size=4) as srv:
        yield srv


def post(server, body: bytes, content_type: str, accept: str | None = None):
    """POST /invocations (the container contract) -> (status, parsed JSON)."""
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(
        f"{server.url}/invocations", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_package_holds_torchscript_and_the_handler_copied_from_ops(artifact, package, tmp_path):
    with tarfile.open(package) as tar:
        names = sorted(tar.getnames())
    code = sorted(f"code/{name}" for name in CODE_FILES)
    assert names == sorted([*MODEL_FILES, "metadata.json", *code])
    assert "model.onnx" not in names and "model.pt" not in names  # the container needs neither
    extracted = extract_package(package, tmp_path / "x")
    for member, source in package_sources().items():  # one source of truth: byte-identical
        assert (extracted / member).read_bytes() == source.read_bytes(), member
    again = write_package(artifact, tmp_path / "again" / "model.tar.gz")
    assert again.read_bytes() == package.read_bytes()  # deterministic: same S3 key, no re-upload


def test_a_changed_package_file_is_refused(package, tmp_path):
    root = extract_package(package, tmp_path / "ok")
    (root / "code" / "inference.py").write_text("raise SystemExit")
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    with pytest.raises(DogbreedError, match=r"code/inference\.py does not match its sha256"):
        extract_package(broken, tmp_path / "bad")


def test_an_artifact_without_torchscript_explains_the_fix(artifact, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(artifact, old)
    (old / "model.ts").unlink()
    with pytest.raises(DogbreedError, match="lacks model.ts") as info:
        write_package(old, tmp_path / "p.tar.gz")
    assert "dogbreed train" in str(info.value)


@pytest.mark.parametrize("content_type", sorted(IMAGES))
def test_toolkit_answers_equal_serve_for_each_content_type(
    content_type, service, model_dir, onnx_server
):
    answer = invoke(service, model_dir, IMAGES[content_type], content_type)
    assert answer.status == 200, answer.body
    assert answer.content_type == "application/json"
    probabilities = answer.json()
    assert isinstance(probabilities, list) and all(isinstance(p, float) for p in probabilities)
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1) < 1e-5
    status, served = post(onnx_server, IMAGES[content_type], content_type)
    assert status == 200
    np.testing.assert_allclose(probabilities, served, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_output_fn_answers_json_for_json_and_any_accept(accept, service, model_dir):
    answer = invoke(service, model_dir, IMAGES["image/jpeg"], "image/jpeg", accept=accept)
    assert answer.status == 200 and answer.content_type == "application/json"
    reference = invoke(service, model_dir, IMAGES["image/jpeg"], "image/jpeg", "application/json")
    assert answer.json() == reference.json()


def test_output_fn_and_the_handler_functions_directly(model_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(model_dir / "code"))
    sys.modules.pop("inference", None)
    import inference

    model = inference.model_fn(str(model_dir))
    data = inference.input_fn(IMAGES["image/png"], "image/png")
    assert tuple(data.shape) == (1, 3, 64, 64)
    prediction = inference.predict_fn(data, model)
    for accept in ("application/json", "*/*"):
        body, content_type = inference.output_fn(prediction, accept)
        assert content_type == "application/json"
        assert json.loads(body) == prediction[0].tolist()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"not an image at all", "image/jpeg", 400, "unable to decode the image"),
        (jpeg_bytes(0)[:200], "application/x-image", 400, "unable to decode the image"),
        (b"", "image/png", 400, "empty request body"),
        (b'{"image": "x"}', "application/json", 415, "unsupported content type 'application/json'"),
        (b"1,2,3", "text/csv", 415, "unsupported content type 'text/csv'"),
        (jpeg_bytes(0), "text/plain", 415, "unsupported content type 'text/plain'"),
        (jpeg_bytes(0), "application/octet-stream", 415, "unsupported content type"),
    ],
)
def test_bad_requests_get_the_built_in_algorithms_answers(
    body, content_type, status, message, service, model_dir, onnx_server
):
    answer = invoke(service, model_dir, body, content_type)
    assert answer.status == status and message in answer.body
    served_status, served = post(onnx_server, body, content_type)
    assert served_status == status and message in served["message"]


def test_the_toolkit_answers_500_for_binary_bodies_sent_as_json_or_csv(service, model_dir):
    """The one difference from the built-in algorithm (docs/deploy-local-model.md): the toolkit
    decodes application/json and text/csv bodies as UTF-8 before input_fn runs, so image bytes
    sent with those types fail there (500), where the built-in algorithm answers 415. The
    Lambda always sends application/x-image; a change of the toolkit shows up here."""
    for content_type in ("application/json", "text/csv"):
        answer = invoke(service, model_dir, jpeg_bytes(0), content_type)
        assert answer.status == 500 and "UnicodeDecodeError" in answer.body


def test_a_non_json_accept_is_refused_like_serve(service, model_dir, onnx_server):
    answer = invoke(service, model_dir, IMAGES["image/jpeg"], "image/jpeg", accept="text/csv")
    assert answer.status == 406
    assert post(onnx_server, IMAGES["image/jpeg"], "image/jpeg", accept="text/csv")[0] == 406


def test_the_package_runs_alone_without_this_repository_or_timm(model_dir, onnx_server, tmp_path):
    """What the container has: code/ on PYTHONPATH, torch, numpy, Pillow, the toolkit; no timm,
    no onnxruntime, and `ops` is the package's own copy."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.modules["timm"] = None  # importing timm would fail
            sys.modules["onnxruntime"] = None
            sys.path.append({str(Path(__file__).parent)!r})  # tests/, after code/
            from container_toolkit import context
            from sagemaker_pytorch_serving_container.handler_service import HandlerService
            import ops.model.preprocess
            assert ops.model.preprocess.__file__.startswith({str(model_dir / "code")!r})
            service = HandlerService()
            service.initialize(context({str(model_dir)!r}))
            ctx = context({str(model_dir)!r}, {{"Content-Type": "image/jpeg"}})
            body = open(sys.argv[1], "rb").read()
            (out,) = service.handle([{{"body": body}}], ctx)
            print(json.dumps({{"status": ctx.get_response_status(0)[0], "body": out}}))
            """
        )
    )
    image = tmp_path / "dog.jpg"
    image.write_bytes(IMAGES["image/jpeg"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAGEMAKER_PROGRAM")}
    env["PYTHONPATH"] = str(model_dir / "code")  # ahead of the editable install of ops
    proc = subprocess.run(
        [sys.executable, str(script), str(image)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    _, served = post(onnx_server, IMAGES["image/jpeg"], "image/jpeg")
    np.testing.assert_allclose(json.loads(result["body"]), served, atol=TOLERANCE, rtol=0)


def test_serve_with_the_container_runtime_runs_the_package_handler(artifact, onnx_server):
    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {"serve.port": 0, "serve.runtime": "container", "serve.max_batch_size": 2}
    )
    with start_local_stack(settings, artifact) as stack:
        runtime = stack.runtime
        assert (runtime.artifact_dir / "code" / "inference.py").is_file()
        assert runtime.handler.__file__ == str(runtime.artifact_dir / "code" / "inference.py")
        assert stack.record["runtime"] == "container"
        assert stack.record["model_identity"].startswith("container:")
        for content_type, body in IMAGES.items():
            status, probabilities = post(stack.server, body, content_type)
            assert status == 200
            _, served = post(onnx_server, body, content_type)
            np.testing.assert_allclose(probabilities, served, atol=TOLERANCE, rtol=0)
        status, answer = post(stack.server, b"garbage", "image/jpeg")
        assert status == 400 and answer["message"].startswith("unable to decode the image: ")
        assert "unable to decode the image: unable" not in answer["message"]
        assert post(stack.server, b"x", "text/plain")[0] == 415
