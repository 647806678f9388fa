"""`dogbreed evaluate --batch-transform`: the CreateTransformJob request moto receives, how the job's
outputs are read back (a loopback fake runs a real tiny model and places them in moto S3), and a
report whose figures equal the API route's on the same images."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from ops.cli import cli
from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.evaluate.batch_transform import match_outputs, parse_probabilities, run_batch_transform
from ops.evaluate.evaluation import run_evaluation
from ops.evaluate.targets import url_target
from ops.settings import load_settings
from ops.state import update_state
from tests.aws_helpers import BUCKET, client, sagemaker_settings, settings_toml, upload_channels
from tests.fake_transform import FakeTransform
from tests.local_artifacts import make_tiny_artifact

MODEL_NAME = "dogbreed-classifier-0123abcd"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"


def validation_paths(prepared) -> list[str]:
    """The manifest's image paths, relative to the channel, in manifest order."""
    return [entry.path for entry in PreparedData(prepared).entries("validation")]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    """A real tiny model behind the SageMaker runtime API (and the container's POST /invocations)."""
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer

    artifact = make_tiny_artifact(tmp_path_factory.mktemp("bt-artifact") / "model")
    runtime = load_runtime(artifact, threads=1)
    with ModelServer(runtime, port=0, endpoint_name="dogbreed-classifier") as server:
        yield server, runtime


def container(server, builtin: bool):
    """What the job's container answers for one image: the local model's JSON list, or the
    built-in algorithm's {"prediction": [...]} around it."""

    def invoke(image: bytes) -> bytes:
        r = requests.post(
            f"{server.url}/invocations",
            data=image,
            headers={"Content-Type": "application/x-image"},
            timeout=30,
        )
        r.raise_for_status()
        return json.dumps({"prediction": r.json()}).encode() if builtin else r.content

    return invoke


@pytest.fixture
def sagemaker_model(moto_url, role_arn):
    """The deployed model's SageMaker model in moto, as `dogbreed deploy` records it."""
    client(moto_url, "sagemaker").create_model(
        ModelName=MODEL_NAME,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m/model.tar.gz"},
    )
    update_state("deployment", {"status": "deployed", "model_name": MODEL_NAME})
    return MODEL_NAME


@pytest.mark.slow
@pytest.mark.parametrize(
    "builtin,flat",
    [(True, False), (False, True)],
    ids=["built-in-algorithm-output", "local-model-output-flat-names"],
)
def test_batch_transform_report_equals_the_api_route(
    model_server, prepared_dir, moto_url, role_arn, sagemaker_model, tmp_path, builtin, flat
):
    from ops.api.gateway import start_gateway

    server, runtime = model_server
    settings = load_settings(environ={})
    gateway = start_gateway(
        "127.0.0.1", 0, server.url, "dogbreed-classifier", runtime.artifact_dir / "classes.json"
    )
    try:
        api = run_evaluation(
            settings,
            url_target(gateway.url, None, settings, model="tiny"),
            prepared_dir,
            out_dir=tmp_path / "api",
            progress=False,
        )
    finally:
        gateway.shutdown()
    assert api.complete, api.summary()

    upload_channels(moto_url, prepared_dir)
    with FakeTransform(moto_url, container(server, builtin), flat=flat) as fake:
        bt_settings = sagemaker_settings(
            fake.url, prepared_dir, role_arn, **{"aws.poll_seconds": 0.05}
        )
        lines: list[str] = []
        batch = run_batch_transform(
            bt_settings, prepared_dir, out_dir=tmp_path / "bt", progress=False, echo=lines.append
        )
        # The request moto received: the deployed model over the manifest's images, one
        # application/x-image record per request, JSON back.
        (request,) = fake.bodies("CreateTransformJob")
        assert request["ModelName"] == MODEL_NAME
        assert request["BatchStrategy"] == "SingleRecord"
        assert request["TransformInput"]["ContentType"] == "application/x-image"
        assert request["TransformInput"]["SplitType"] == "None"
        assert request["TransformOutput"]["Accept"] == "application/json"
        assert request["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        bucket, key = source["S3Uri"][5:].split("/", 1)
        manifest = json.loads(
            client(moto_url, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        assert manifest[0] == {"prefix": f"s3://{BUCKET}/stanford-dogs/validation/"}
        validation = validation_paths(prepared_dir)
        assert manifest[1:] == validation and sorted(fake.sent) == sorted(validation)
        job = client(moto_url, "sagemaker").describe_transform_job(
            TransformJobName=request["TransformJobName"]
        )
        assert job["ModelName"] == MODEL_NAME  # moto kept the job the command created
        assert fake.actions().count("DescribeTransformJob") >= 2  # it waited while InProgress
        assert lines[0].startswith(f"started transform job {request['TransformJobName']}: 9 images")

    assert batch.complete, batch.summary()
    a, b = api.metrics, batch.metrics
    assert b["counts"] == a["counts"]
    for figure in ("top1", "top5", "answered", "confusion_matrix", "confused_pairs"):
        assert b["metrics"][figure] == a["metrics"][figure], figure
    for ours, theirs in zip(b["metrics"]["per_class"], a["metrics"]["per_class"], strict=True):
        assert {k: ours[k] for k in ("support", "correct", "precision", "recall", "f1")} == {
            k: theirs[k] for k in ("support", "correct", "precision", "recall", "f1")
        }
    # The Lambda rounds probabilities to 6 decimals; the job's outputs are not rounded.
    assert b["metrics"]["calibration"]["ece"] == pytest.approx(
        a["metrics"]["calibration"]["ece"], abs=1e-5
    )
    assert (b["run"]["route"], a["run"]["route"]) == ("batch-transform", "api")
    assert 'id="route">SageMaker batch transform<' in batch.files.html.read_text()
    assert 'id="route">POST /classify<' in api.files.html.read_text()


@pytest.mark.slow
def test_a_failed_job_is_reported_image_by_image_and_a_re_run_starts_a_new_one(
    model_server, uploaded, moto_url, role_arn, sagemaker_model, tmp_path, write_settings
):
    server, _ = model_server
    validation = validation_paths(uploaded)
    skipped = validation[4]
    with FakeTransform(moto_url, container(server, builtin=True), skip=(skipped,)) as fake:
        config = write_settings(settings_toml(fake.url, uploaded, role_arn))
        command = ["--config", str(config), "evaluate", "--batch-transform", "--quiet"]

        def evaluate():
            return CliRunner().invoke(cli, [*command, "--out", str(tmp_path / "r")])

        result = evaluate()
        assert result.exit_code == 1, result.output
        assert "1 image(s) without an answer (no_output: 1)" in result.output
        metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
        assert metrics["counts"]["answered"] == 8
        (failure,) = metrics["failures"]
        assert failure["path"] == skipped and failure["kind"] == "no_output"
        assert "job Failed: ClientError: See job logs" in failure["error"]

        # A failed job is not reused: the re-run pays for a new one, which now succeeds.
        fake.skip.clear()
        result = evaluate()
        assert result.exit_code == 0, result.output
        assert len(fake.bodies("CreateTransformJob")) == 2

        # A finished job is reused: no third job, the same outputs read again.
        result = evaluate()
        assert result.exit_code == 0, result.output
        assert "reusing transform job" in result.output and "(Completed)" in result.output
        assert len(fake.bodies("CreateTransformJob")) == 2


def test_images_missing_from_the_channel_stop_it_before_a_job_is_paid_for(
    prepared_dir, moto_url, role_arn, sagemaker_model
):
    upload_channels(moto_url, prepared_dir)
    s3 = client(moto_url, "s3")
    validation = validation_paths(prepared_dir)
    s3.delete_object(Bucket=BUCKET, Key=f"stanford-dogs/validation/{validation[0]}")
    settings = sagemaker_settings(moto_url, prepared_dir, role_arn)
    with pytest.raises(DogbreedError) as err:
        run_batch_transform(settings, prepared_dir, progress=False, echo=lambda _: None)
    assert "1 of 9 validation images are not in" in str(err.value)
    assert "dogbreed data upload" in err.value.hint
    assert client(moto_url, "sagemaker").list_transform_jobs()["TransformJobSummaries"] == []


def test_without_a_deployed_model_it_says_what_to_do(prepared_dir, moto_url, role_arn):
    settings = sagemaker_settings(moto_url, prepared_dir, role_arn)
    with pytest.raises(DogbreedError) as err:
        run_batch_transform(settings, prepared_dir, progress=False)
    assert "no SageMaker model" in str(err.value) and "--model NAME" in err.value.hint


def test_model_goes_with_batch_transform_and_routes_are_exclusive():
    result = CliRunner().invoke(cli, ["evaluate", "--model", "m"])
    assert result.exit_code == 2 and "--model goes with --batch-transform" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--batch-transform", "--url", "http://x"])
    assert result.exit_code == 2 and "choose one of" in result.output


def test_outputs_are_read_in_both_documented_layouts_and_both_answer_shapes():
    rels = ["n1-a/n1_1.jpg", "n2-b/n2_7.jpg", "n2-b/n2_8.jpg"]
    outputs = {
        "n1-a/n1_1.jpg.out": "p/n1-a/n1_1.jpg.out",  # the input's relative path kept
        "validation/n2-b/n2_7.jpg.out": "p/validation/n2-b/n2_7.jpg.out",  # under the input prefix
        "n2_8.jpg.out": "p/n2_8.jpg.out",  # file name only
    }
    assert match_outputs(rels, outputs) == {
        rel: outputs[o] for rel, o in zip(rels, outputs, strict=True)
    }
    assert match_outputs(["x/missing.jpg"], outputs) == {}
    assert parse_probabilities(b'{"prediction": [0.25, 0.75]}', 2) == [0.25, 0.75]
    assert parse_probabilities(b"[0.5, 0.5]", 2) == [0.5, 0.5]
    for bad, why in [
        (b"[0.5]", "1 probabilities, the data has 2"),
        (b"<html>", "not JSON"),
        (b'{"x": 1}', "not a list"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_probabilities(bad, 2)


@pytest.mark.slow
def test_ctrl_c_leaves_the_job_running_and_a_re_run_waits_for_it(
    model_server, uploaded, moto_url, role_arn, sagemaker_model, tmp_path
):
    import threading
    import time

    server, _ = model_server
    release = threading.Event()
    invoke = container(server, builtin=True)

    def slow_container(image: bytes) -> bytes:
        release.wait(30)
        return invoke(image)

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    with FakeTransform(moto_url, slow_container) as fake:
        settings = sagemaker_settings(fake.url, uploaded, role_arn, **{"aws.poll_seconds": 0.05})
        with pytest.raises(DogbreedError) as err:
            run_batch_transform(settings, uploaded, progress=False, echo=print, sleep=ctrl_c)
        (request,) = fake.bodies("CreateTransformJob")
        name = request["TransformJobName"]
        assert f"transform job {name} keeps running" in str(err.value)
        assert f"stop-transform-job --transform-job-name {name}" in err.value.hint

        # The job goes on without us; the same command picks it up again and waits for it (the
        # job is held until that command first sleeps, so it is surely still running when found).
        def release_then_sleep(seconds: float) -> None:
            release.set()
            time.sleep(seconds)

        lines: list[str] = []
        result = run_batch_transform(
            settings,
            uploaded,
            out_dir=tmp_path / "r",
            progress=False,
            echo=lines.append,
            sleep=release_then_sleep,
        )
        assert lines == [f"reusing transform job {name} (InProgress)"]
        assert len(fake.bodies("CreateTransformJob")) == 1
        assert result.complete and result.metrics["counts"]["answered"] == 9
