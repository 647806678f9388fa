"""One golden check: the same generated images give the same answer object, to 1e-5, through
in-process `predict`, `dogbreed serve` (the CLI, as a process) and the serving image's entrypoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from lambda_src.answer import verdict
from ops.deploy.container_image import REPO_ROOT
from ops.endpoint.commands import predict_files
from ops.endpoint.onnx_runtime import load_runtime
from tests.container_helpers import (
    ANSWER_OBJECT,
    opt_ml_layout,
    post,
    staged_context,
    start_entrypoint,
    wait_healthy,
)
from tests.dog_artifacts import make_dog_artifact
from tests.local_artifacts import jpeg_bytes, png_bytes

TOP_K = 3


def _images(folder) -> list:
    folder.mkdir()
    data = {
        "a.jpg": jpeg_bytes(0, seed=1),
        "b.jpg": jpeg_bytes(1, seed=2, size=300),
        "c.png": png_bytes(2, seed=3),
        "d.jpg": jpeg_bytes(2, seed=5, size=120),
    }
    for name, body in data.items():
        (folder / name).write_bytes(body)
    return sorted(folder.iterdir())


def _served_answers(url: str, paths, runtime) -> list[dict]:
    """Each image POSTed for the answer object; the verdict built as the Lambda builds it."""
    answers = []
    for path in paths:
        status, _, body = post(url, path.read_bytes(), "application/x-image", ANSWER_OBJECT)
        assert status == 200, body
        ranked = [p.as_dict() for p in runtime.top_k(np.asarray(body["probabilities"]), TOP_K)]
        answers.append({"predictions": ranked, "answer": verdict(ranked, body)})
    return answers


def _start_dogbreed_serve(artifact, cwd):
    """`dogbreed serve --artifact ... --port 0` as a user runs it; returns (process, runtime URL)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "ops", "--set", "serve.max_batch_size=4", "serve"]
    proc = subprocess.Popen(
        [*cmd, "--artifact", str(artifact), "--port", "0", "--threads", "1"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline, seen = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"model server \(SageMaker runtime API\): (http://\S+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise AssertionError("dogbreed serve did not start: " + "".join(seen))


def _assert_same(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert [p["breed"] for p in g["predictions"]] == [p["breed"] for p in w["predictions"]]
        np.testing.assert_allclose(
            [p["probability"] for p in g["predictions"]],
            [p["probability"] for p in w["predictions"]],
            atol=1e-5,
        )
        numeric = ("dog_score", "dog_threshold")
        assert {k: v for k, v in g["answer"].items() if k not in numeric} == {
            k: v for k, v in w["answer"].items() if k not in numeric
        }
        for key in numeric:
            assert g["answer"][key] == pytest.approx(w["answer"][key], abs=1e-5)


def test_predict_serve_and_the_container_give_the_same_answers(tmp_path):
    artifact = make_dog_artifact(tmp_path / "model")
    paths = _images(tmp_path / "images")
    runtime = load_runtime(artifact, threads=1)
    expected = [
        {"predictions": r["predictions"], "answer": r["answer"]}
        for r in predict_files(runtime, paths, top_k=TOP_K)
    ]
    assert expected[0]["answer"]["dog_signal"] == "imagenet"

    proc, url = _start_dogbreed_serve(artifact, tmp_path)
    try:
        served = _served_answers(f"{url}/endpoints/dogbreed-local/invocations", paths, runtime)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    _assert_same(served, expected)

    context = staged_context(tmp_path / "context")
    ep = start_entrypoint(context, opt_ml_layout(tmp_path, artifact), tmp_path / "serve.log")
    try:
        wait_healthy(ep)
        contained = _served_answers(ep.url + "/invocations", paths, runtime)
    finally:
        assert ep.stop() == 0
    _assert_same(contained, expected)
