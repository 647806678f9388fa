"""The shape of ops/: layering rules between areas, the command registry, the training record."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

from tests.import_graph import import_edges

REPO = Path(__file__).resolve().parents[1]


def test_no_area_imports_the_cli_and_the_layers_hold():
    edges = import_edges()
    assert not [e for e in edges if e[1] == "cli"], "areas import ops.context, never ops.cli"
    assert not [e for e in edges if e[0] == "local" and e[1] in ("evaluate", "serving")]
    assert not [e for e in edges if e[0] == "evaluate" and e[1] == "local"]


def test_importing_an_area_first_keeps_every_command_group():
    # the old import loop: importing an area's commands before ops.cli dropped its group
    code = "import ops.data.commands\nfrom ops.cli import cli\nprint(sorted(cli.commands))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("data", "train", "serve", "evaluate", "demo", "deploy", "tune"):
        assert f"'{name}'" in out.stdout


def test_a_command_module_without_commands_is_an_error(monkeypatch):
    from ops import commands

    monkeypatch.setitem(sys.modules, "ops.empty_commands", types.ModuleType("ops.empty_commands"))
    monkeypatch.setattr(commands, "COMMAND_MODULES", ("ops.empty_commands",))
    with pytest.raises(RuntimeError, match="ops.empty_commands has no COMMANDS"):
        commands.register_all(click.Group())


def test_both_backends_write_one_training_record_shape(tmp_path):
    from ops.aws.job_record import training_record
    from ops.settings import Settings
    from ops.state import update_state
    from ops.training_record import last_local_artifact, read_training

    settings = Settings().with_overrides({"data.prepared_dir": str(tmp_path / "prepared")})
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "classes.json").write_text('[{"index": 0, "name": "a"}]')
    description = {
        "TrainingJobName": "job-1",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/job-1/output/model.tar.gz"},
        "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr/ic:1"},
        "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.8}],
    }
    update_state("training", training_record(description, settings))
    record = read_training()
    assert (record.backend, record.artifact, record.image) == (
        "sagemaker",
        "s3://b/job-1/output/model.tar.gz",
        "123.dkr.ecr/ic:1",
    )
    # a copy of the classes trained on, so a later `data prepare` cannot change what deploy ships
    assert Path(record.classes).read_text() != "" and "prepared" not in record.classes
    assert json.loads(Path(record.classes).read_text()) == [{"index": 0, "name": "a"}]
    assert record.metrics == {"validation:accuracy": 0.8}
    with pytest.raises(Exception, match="no local model artifact recorded"):
        last_local_artifact()
    # a local record written before the common fields existed reads the same way
    (tmp_path / "run").mkdir()
    update_state("training", {"backend": "local", "artifact_dir": str(tmp_path / "run")})
    record = read_training()
    assert (record.backend, record.artifact, record.image) == ("local", str(tmp_path / "run"), None)
    assert last_local_artifact() == tmp_path / "run"
