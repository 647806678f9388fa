"""The shape of ops/: layering rules between areas, the command registry, the training record."""

from __future__ import annotations

import ast
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
    from ops.aws.training import training_record
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


def _long_functions(path: Path) -> list[str]:
    """Functions over 60 lines whose docstring does not say why ("Long because ...")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and "Long because" not in (ast.get_docstring(node) or "")
    ]


MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_no_module_of_ops_outgrows_one_concern():
    sources = sorted((REPO / "ops").rglob("*.py"))
    too_long = [
        f"{p.relative_to(REPO)} ({n})"
        for p in sources
        if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_FILE_LINES
    ]
    assert not too_long, f"split these by concern (over {MAX_FILE_LINES} lines): {too_long}"
    long_functions = [f for p in sources for f in _long_functions(p)]
    assert not long_functions, (
        f"split these, or say in the docstring 'Long because ...': {long_functions}"
    )
