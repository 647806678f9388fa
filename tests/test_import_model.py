"""`dogbreed import-model`: a model in the built-in algorithm's format, built with real MXNet in its
isolated venv, imported, then run by predict, the model server and the Lambda handler."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.errors import DogbreedError
from ops.train.sagemaker.import_model import MXNET_SETUP, TOLERANCE, check_equivalence, mxnet_python

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "tests" / "mxnet_builtin_model.py"
EPOCH, SIZE, CLASSES = 3, 64, 3


@pytest.fixture(scope="module")
def mxnet():
    """The isolated MXNet interpreter; its tests skip, saying how to create it, when absent."""
    python = mxnet_python()
    if not python.is_file():
        pytest.skip(f"the MXNet venv is missing ({python}): create it with `{MXNET_SETUP}`")
    return python


@pytest.fixture(scope="module")
def builtin(mxnet, tmp_path_factory) -> Path:
    """A ResNet-18 in the algorithm's format (3 classes, 64 px, epoch 3); its folder."""
    out = tmp_path_factory.mktemp("builtin")
    args = ["build", str(out), "--classes", str(CLASSES), "--size", str(SIZE)]
    subprocess.run([str(mxnet), str(BUILDER), *args, "--epoch", str(EPOCH)], check=True)
    return out


@pytest.fixture(scope="module")
def imported(builtin, prepared_dir_session, tmp_path_factory) -> Path:
    """The fixture model imported (library call: the state file is the command test's)."""
    from ops.data.manifest import PreparedData
    from ops.settings import Settings
    from ops.train.sagemaker.import_artifact import import_builtin

    out = tmp_path_factory.mktemp("imported") / "artifact"
    source = {"tar": builtin / "model.tar.gz", "model": str(builtin / "model.tar.gz")}
    classes = prepared_dir_session / "classes.json"
    import_builtin(Settings(), source, out, classes, PreparedData(prepared_dir_session))
    return out


def mxnet_forward(mxnet, builtin: Path, batch: np.ndarray, tmp: Path) -> np.ndarray:
    """MXNet's own forward pass (Module.load on the raw pixels, as users of the algorithm run it)."""
    np.save(tmp / "in.npy", batch)
    args = ["forward", str(builtin), "--epoch", str(EPOCH), str(tmp / "in.npy"), str(tmp / "o.npy")]
    subprocess.run([str(mxnet), str(BUILDER), *args], check=True)
    return np.load(tmp / "o.npy")


def test_the_fixture_is_laid_out_as_the_algorithm_writes_it(builtin):
    with tarfile.open(builtin / "model.tar.gz") as tar:
        names = sorted(tar.getnames())
    assert names == sorted(
        [
            "image-classification-symbol.json",
            "image-classification-0003.params",
            "model-shapes.json",
        ]
    )
    shapes = json.loads((builtin / "model-shapes.json").read_text())
    assert shapes == [{"shape": [32, 3, SIZE, SIZE], "name": "data"}]
    nodes = json.loads((builtin / "image-classification-symbol.json").read_text())["nodes"]
    ops = [(n["op"], n["name"]) for n in nodes if n["op"] != "null"]
    assert nodes[0]["name"] == "data" and ops[:3] == [
        ("_copy", "id"),
        ("BatchNorm", "bn_data"),
        ("Convolution", "conv0"),
    ]
    assert ops[-3:] == [
        ("Flatten", "flatten0"),
        ("FullyConnected", "fc"),
        ("SoftmaxOutput", "softmax"),
    ]
    assert {"stage4_unit2_conv2", "stage1_unit1_sc", "pooling0", "pool1"} <= {n for _, n in ops}


def test_import_then_predict_gives_mxnets_answers(
    imported, builtin, mxnet, prepared_dir_session, tmp_path
):
    from ops.endpoint.commands import predict_files
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.train.sagemaker.import_artifact import generated_jpegs

    paths = sorted(prepared_dir_session.glob("validation/*/*.jpg"))
    for i, blob in enumerate(generated_jpegs(4, seed=7)):
        paths.append(tmp_path / f"generated-{i}.jpg")
        paths[-1].write_bytes(blob)
    runtime = load_runtime(imported, threads=1)
    batch = np.stack([runtime.preprocess(p.read_bytes()) for p in paths])
    assert batch.min() >= 0 and batch.max() > 200  # raw 0-255 pixels, as the algorithm takes them
    expected = mxnet_forward(mxnet, builtin, batch, tmp_path)
    results = predict_files(runtime, paths, top_k=CLASSES)
    names = [c["name"] for c in runtime.classes]
    for result, probs in zip(results, expected, strict=True):
        top = result["predictions"]
        assert top[0]["breed"] == names[int(np.argmax(probs))]
        got = {p["index"]: p["probability"] for p in top}
        assert max(abs(got[i] - float(probs[i])) for i in range(CLASSES)) <= TOLERANCE
    meta = json.loads((imported / "metadata.json").read_text())
    assert meta["onnx_max_abs_diff"] <= TOLERANCE and meta["source"]["epoch"] == EPOCH


def test_imported_model_served_to_the_lambda_handler_answers_the_dog_verdict(imported, monkeypatch):
    import lambda_src.handler as lambda_handler
    from ops.api.gateway import handler_environment
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer
    from tests.local_artifacts import jpeg_bytes

    threshold = json.loads((imported / "metadata.json").read_text())["dog"]["threshold"]
    assert 0 < threshold < 1  # chosen on the 24 training images
    runtime = load_runtime(imported, threads=1)
    with ModelServer(runtime, port=0, endpoint_name="imported") as server:
        for key, value in handler_environment(
            server.url, "imported", imported / "classes.json"
        ).items():
            monkeypatch.setenv(key, value)
        images = [jpeg_bytes(0), jpeg_bytes(2, seed=3)]
        event = {
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"images": [base64.b64encode(i).decode() for i in images]}),
            "isBase64Encoded": False,
        }
        result = lambda_handler.handler(event, None)
    assert result["statusCode"] == 200, result
    answers = json.loads(result["body"])["answers"]
    assert len(answers) == 2
    for answer in answers:
        assert answer["dog_signal"] == "top_probability"
        assert answer["dog_threshold"] == pytest.approx(threshold)
        assert answer["dog"] is (answer["dog_score"] >= threshold)


def test_the_evaluation_report_of_an_imported_model_matches_its_metrics(
    imported, prepared_dir_session, tmp_path
):
    """evaluate through the real local stack (model server, gateway, Lambda handler)."""
    from ops.api.gateway import start_gateway
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer
    from ops.evaluate.evaluation import run_evaluation
    from ops.evaluate.targets import url_target
    from ops.settings import load_settings

    settings = load_settings(environ={})
    with ModelServer(load_runtime(imported, threads=1), port=0, endpoint_name="imported") as srv:
        gw = start_gateway("127.0.0.1", 0, srv.url, "imported", imported / "classes.json")
        try:
            target = url_target(gw.url, None, settings, model=str(imported))
            result = run_evaluation(
                settings, target, prepared_dir_session, out_dir=tmp_path / "r", progress=False
            )
        finally:
            gw.shutdown()
    meta = json.loads((imported / "metadata.json").read_text())
    assert result.metrics["counts"]["answers"]["dog_signal"] == "top_probability"
    assert result.metrics["metrics"]["top1"] == pytest.approx(meta["metrics"]["validation_top1"])
    assert (tmp_path / "r" / "report.html").is_file()


def test_deploy_ships_the_imported_onnx_graph_for_the_serving_image_with_its_threshold(
    imported, tmp_path, monkeypatch
):
    """What `deploy` ships for a local artifact: the same model.onnx as model data for the
    serving image (the `dogbreed serve` model server), and the Lambda's top-probability cut."""
    import tarfile

    from ops.deploy.local_model import local_model
    from ops.hashing import sha256_file
    from ops.settings import Settings

    monkeypatch.chdir(tmp_path)  # build/ goes here
    threshold = json.loads((imported / "metadata.json").read_text())["dog"]["threshold"]
    model = local_model(Settings(), imported, "bucket")
    assert model.package.is_file() and model.dog_min_top_probability == pytest.approx(threshold)
    with tarfile.open(model.package) as tar:
        shipped = tar.extractfile("model.onnx").read()
    assert hashlib.sha256(shipped).hexdigest() == sha256_file(imported / "model.onnx")


def test_import_command_records_where_the_model_came_from(builtin, prepared_dir, tmp_path):
    from ops.train.record import last_local_artifact, read_training

    out = tmp_path / "artifact"
    args = [
        "import-model",
        str(builtin / "model.tar.gz"),
        "--data",
        str(prepared_dir),
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "ONNX vs MXNet: max |diff|" in res.output and "No-dog threshold" in res.output
    record = read_training()
    assert record.backend == "local" and last_local_artifact() == out
    assert record.extra["imported_from"]["algorithm"] == "sagemaker-image-classification"
    assert record.extra["imported_from"]["epoch"] == EPOCH
    assert {"validation_top1", "validation_top5"} <= set(record.metrics)
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["mean"] == [0, 0, 0] and prep["std"] == [pytest.approx(1 / 255)] * 3
    assert prep["input_size"] == SIZE and len(prep["extra"]["bn_data_mean"]) == 3
    assert (out / "model.tar.gz").is_file() and not (out / "model.ts").exists()


def test_without_a_model_the_last_sagemaker_training_is_imported_from_s3(
    builtin, prepared_dir, moto_url, monkeypatch, tmp_path
):
    import boto3

    from ops.state import update_state
    from ops.train.record import common_fields, read_training

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(builtin / "model.tar.gz"), "models", "job-7/output/model.tar.gz")
    url = "s3://models/job-7/output/model.tar.gz"
    classes = str(prepared_dir / "classes.json")
    update_state(
        "training", {**common_fields("sagemaker", url, "ic:1", classes, {}), "job_name": "job-7"}
    )
    monkeypatch.setenv("DOGBREED_AWS__ENDPOINT_URL", moto_url)
    out = tmp_path / "artifact"
    res = CliRunner().invoke(cli, ["import-model", "--data", str(prepared_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    source = read_training().extra["imported_from"]
    assert source["model"] == url and source["job_name"] == "job-7" and source["epoch"] == EPOCH
    assert json.loads((out / "metadata.json").read_text())["source"]["job_name"] == "job-7"


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _members(builtin: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in builtin.iterdir() if p.name != "model.tar.gz"}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("foreign", "unexpected entry 'weights.h5'"),
        ("artifact", "already a dogbreed artifact"),
        ("no params", "no image-classification-NNNN.params"),
        ("other graph", "should start at `data` and end in SoftmaxOutput"),
        ("not json", "image-classification-symbol.json is not valid JSON"),
        ("classes", "the model has 3 classes but"),
        ("truncated params", "MXNet cannot convert image-classification-0003.params"),
        ("truncated tar", "cannot extract"),
    ],
)
def test_damaged_or_foreign_models_get_one_line_errors(
    case, expected, builtin, prepared_dir, tmp_path
):
    members = _members(builtin)
    params = "image-classification-0003.params"
    classes = prepared_dir / "classes.json"
    if case == "foreign":
        members["weights.h5"] = b"keras"
    elif case == "artifact":
        members = {"model.onnx": b"onnx", "classes.json": b"[]"}
    elif case == "no params":
        del members[params]
    elif case == "other graph":
        nodes = json.loads(members["image-classification-symbol.json"])["nodes"][:-2]
        members["image-classification-symbol.json"] = json.dumps({"nodes": nodes}).encode()
    elif case == "not json":
        members["image-classification-symbol.json"] = b"\x89PNG not a graph"
    elif case == "classes":
        classes = tmp_path / "two.json"
        classes.write_text(json.dumps(json.loads((prepared_dir / "classes.json").read_text())[:2]))
    elif case == "truncated params":
        members[params] = members[params][: len(members[params]) // 2]
    tar = _tar(tmp_path / "model.tar.gz", members)
    if case == "truncated tar":
        tar.write_bytes(gzip.compress(b"x" * 100_000)[:5000])
    args = ["import-model", str(tar), "--classes", str(classes), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("Error: ") and expected in res.output
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_conversion_that_differs_from_mxnet_is_refused_with_the_largest_difference(imported):
    from ops.artifact.reader import load_preprocessing_file
    from ops.train.sagemaker.import_artifact import equivalence_images
    from ops.train.sagemaker.import_model import onnx_outputs

    images = equivalence_images(load_preprocessing_file(imported / "preprocessing.json"), None)
    reference = onnx_outputs(imported / "model.onnx", images)
    reference[1, 0] += 0.02
    with pytest.raises(DogbreedError, match=r"differs from MXNet's forward pass by 0\.02"):
        check_equivalence(imported / "model.onnx", images, reference)


def test_without_the_mxnet_venv_the_command_says_how_to_create_it(
    tmp_path, monkeypatch, prepared_dir
):
    monkeypatch.setenv("DOGBREED_MXNET_PYTHON", str(tmp_path / "no-such-python"))
    members = {
        "image-classification-symbol.json": json.dumps(
            {"nodes": [{"op": "null", "name": "data"}, {"op": "FullyConnected", "name": "fc",
             "attrs": {"num_hidden": "3"}}, {"op": "SoftmaxOutput", "name": "softmax"}]}
        ).encode(),
        "image-classification-0001.params": b"\0" * 64,
        "model-shapes.json": b'[{"shape": [1, 3, 64, 64], "name": "data"}]',
    }  # fmt: skip
    tar = _tar(tmp_path / "model.tar.gz", members)
    args = [
        "import-model",
        str(tar),
        "--classes",
        str(prepared_dir / "classes.json"),
        "--out",
        str(tmp_path / "o"),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "the MXNet environment is missing" in res.output and MXNET_SETUP in res.output
