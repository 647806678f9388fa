"""The typed state-file records: what the writers write, the one reader reads; a wrong type is a
one-line error naming the record, not a traceback in the stage that reads it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.deploy.serving_stack import _deploy_records
from ops.errors import DogbreedError
from ops.records import read_deployment, read_infrastructure, read_serve
from ops.state import state_path, update_state


def test_the_deploy_records_read_back_typed():
    outputs = {
        "api_url": "https://x.execute-api/v1",
        "classify_url": "https://x.execute-api/v1/classify",
        "api_key": "k",
        "endpoint_name": "e",
        "lambda_name": "l",
        "model_name": "m",
        "alarm_names": {"api_5xx": "a"},
        "bucket_name": "b",
        "sagemaker_role_arn": "arn:aws:iam::1:role/r",
    }
    infrastructure, deployment = _deploy_records(outputs, "/tf", None, {"project": "p"})
    update_state("infrastructure", infrastructure)
    update_state("deployment", deployment)
    got = read_deployment()
    assert got.deployed and got.classify_url == outputs["classify_url"] and got.api_key == "k"
    assert got.variables == {"project": "p"} and got.alarm_names == {"api_5xx": "a"}
    assert read_infrastructure().sagemaker_role_arn == "arn:aws:iam::1:role/r"


def test_no_record_reads_as_none():
    assert read_serve() is None and read_deployment() is None and read_infrastructure() is None


@pytest.mark.parametrize(
    ("key", "record", "message"),
    [
        ("serve", {"status": "running", "pid": "12"}, "pid"),
        ("serve", {"api_url": ["http://x"]}, "api_url"),
        ("deployment", {"variables": "x"}, "variables"),
        ("deployment", {"alarm_names": ["a"]}, "alarm_names"),
        ("infrastructure", {"sagemaker_role_arn": 5}, "sagemaker_role_arn"),
    ],
)
def test_a_field_of_the_wrong_type_is_one_line_naming_the_record(key, record, message):
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: record}))  # as a hand edit would leave it
    reader = {"serve": read_serve, "deployment": read_deployment}.get(key, read_infrastructure)
    with pytest.raises(DogbreedError) as caught:
        reader()
    assert key in caught.value.message and message in caught.value.message
    assert "\n" not in str(caught.value)


def test_classify_with_a_damaged_serve_record_prints_one_line(tmp_path):
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"serve": {"status": "running", "api_url": 8081}}))
    img = tmp_path / "dog.jpg"
    img.write_bytes(b"\xff\xd8\xff")
    result = CliRunner().invoke(cli, ["classify", str(img)])
    assert result.exit_code == 1
    assert "serve" in result.output and "api_url" in result.output
    assert "Traceback" not in result.output
