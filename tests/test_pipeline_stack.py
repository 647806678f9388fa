"""Evaluation through the real local stack (model server + gateway + Lambda handler), through
`--local` (a `dogbreed serve --api` child process), and straight to an endpoint (`--endpoint`)."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from ops.api.serve_process import ServeProcess
from ops.cli import cli
from ops.data.manifest import PreparedData
from ops.evaluate.evaluation import run_evaluation
from ops.evaluate.targets import url_target
from ops.settings import load_settings
from ops.state import get_record
from tests.local_artifacts import make_tiny_artifact
from tests.runtime_stub import RuntimeStub, fake_jpeg

ENDPOINT = "dogbreed-eval"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_tiny_artifact(tmp_path_factory.mktemp("eval-artifact") / "model")


@pytest.mark.slow
def test_evaluate_through_the_real_local_stack_matches_in_process_predictions(
    artifact, prepared_dir, tmp_path
):
    from ops.api.gateway import start_gateway
    from ops.endpoint.commands import predict_files
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer

    runtime = load_runtime(artifact, threads=1)
    settings = load_settings(environ={})
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT) as server:
        gateway = start_gateway(
            "127.0.0.1", 0, server.url, ENDPOINT, runtime.artifact_dir / "classes.json"
        )
        try:
            result = run_evaluation(
                settings,
                url_target(gateway.url, None, settings, model=str(artifact)),
                prepared_dir,
                out_dir=tmp_path / "report",
                progress=False,
            )
        finally:
            gateway.shutdown()

    assert result.complete, result.summary()
    paths = PreparedData(prepared_dir).image_paths("validation")
    local = predict_files(runtime, [p for p, _ in paths], top_k=5)
    expected_top1 = sum(
        r["predictions"][0]["wnid"] == BREED_WNIDS[label]
        for r, (_, label) in zip(local, paths, strict=True)
    ) / len(paths)
    assert result.metrics["metrics"]["top1"] == pytest.approx(expected_top1)
    assert result.metrics["metrics"]["top5"] == pytest.approx(1.0)  # 3 classes, top-5 answers
    assert result.metrics["counts"]["answered"] == 9
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000


BREED_WNIDS = ["n02085620", "n02085782", "n02085936"]


@pytest.mark.slow
def test_evaluate_local_starts_and_stops_its_own_server(artifact, prepared_dir, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--quiet", "--local", "--artifact", str(artifact)]
        + ["--data", str(prepared_dir), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"report: {out / 'report.html'}")
    serve = get_record("serve")
    assert serve["status"] == "stopped"  # the child server was stopped cleanly
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["counts"]["answered"] == 9
    assert payload["run"]["model"] == serve["artifact"]


def test_evaluate_endpoint_calls_invoke_endpoint_and_names_classes(
    prepared_dir, tmp_path, monkeypatch
):
    # Validation images become the stub's fake JPEGs: "class=N" answers N with probability 0.9.
    paths = PreparedData(prepared_dir).image_paths("validation")
    answers = [0, 1, 0, 1, 1, 2, 2, 2, None]  # None: the model fails on that image
    for (path, _), k in zip(paths, answers, strict=True):
        path.write_bytes(fake_jpeg("model-error" if k is None else f"class={k}"))
    out = tmp_path / "report"
    with RuntimeStub(num_classes=3, endpoint_name=ENDPOINT) as stub:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stub.url)
        result = CliRunner().invoke(
            cli,
            ["evaluate", "--quiet", "--endpoint", ENDPOINT]
            + ["--data", str(prepared_dir), "--out", str(out)],
        )
        assert sum(stub.calls.values()) == 9
    assert result.exit_code == 1  # one image was rejected by the model
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["counts"]["answered"] == 8
    assert payload["counts"]["failures_by_kind"] == {"rejected": 1}
    # labels are 0,0,0,1,1,1,2,2,(2): right are #0, #2, #3, #4, #6, #7 -> 6 of 8 answered
    labels = [label for _, label in paths]
    right = sum(k == label for k, label in zip(answers, labels, strict=True) if k is not None)
    assert right == 6
    assert payload["metrics"]["top1"] == pytest.approx(6 / 8)
    assert payload["metrics"]["mean_confidence"] == pytest.approx(0.9)
    assert payload["run"]["model"] == f"endpoint:{ENDPOINT}"


@pytest.mark.slow
def test_local_stack_is_stopped_on_ctrl_c(artifact):
    stack = ServeProcess(artifact=artifact)
    with pytest.raises(KeyboardInterrupt), stack:
        url = stack.api_url
        assert stack.record.status == "running"
        raise KeyboardInterrupt
    assert stack.proc is None
    assert get_record("serve")["status"] == "stopped"
    assert _gone(url)


def _gone(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return True
    return False
