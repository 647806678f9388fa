"""The shape of ops/: layering rules between areas, the command registry, the training record."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import click
import pytest

from tools import layers

REPO = Path(__file__).resolve().parents[1]


def test_the_stages_import_only_earlier_stages_without_cycles_or_hidden_imports():
    tree = layers.read_tree()
    assert layers.report(tree) | {"modules": 0, "imports between ops modules": 0} == {
        "modules": 0,
        "imports between ops modules": 0,
        "folder cycles": 0,
        "file cycles": 0,
        "imports against the layer order": 0,
        "hidden imports of light modules": 0,
        "command modules outside their stage": 0,
    }, "python -m tools.layers -v lists each violation"
    folders = {layers.folder_of(name) for name in tree.modules}
    assert all(layers.rank(f) >= 0 for f in folders), "a new folder joins layers.STAGES first"


def _planted(tmp_path: Path, files: dict[str, str]) -> layers.Tree:
    """A copy of ops/ with some files added or replaced."""
    root = tmp_path / "ops"
    shutil.copytree(REPO / "ops", root, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return layers.read_tree(root)


def test_a_planted_back_import_is_found(tmp_path):
    tree = _planted(
        tmp_path, {"data/leak.py": "from ops.evaluate.metrics import compute_metrics\n"}
    )
    assert [(i.source, i.target) for i in layers.back_imports(tree)] == [
        ("ops.data.leak", "ops.evaluate.metrics")
    ]


def test_a_planted_cycle_is_found(tmp_path):
    tree = _planted(
        tmp_path,
        {
            "model/ping.py": "from ops.model import pong\n",
            "model/pong.py": "from ops.model import ping\n",
        },
    )
    assert layers.file_cycles(tree) == [["ops.model.ping", "ops.model.pong"]]
    assert layers.back_imports(tree) == []


def test_a_planted_hidden_import_needs_heavy_or_a_reason(tmp_path):
    tree = _planted(
        tmp_path,
        {
            "model/lazy.py": """\
                def f():
                    import json
                    import torch
                    from ops.errors import DogbreedError
                    from ops.state import load_state  # lazy: planted reason
            """
        },
    )
    hidden = [(i.source, i.target) for i in layers.hidden_imports(tree)]
    assert hidden == [("ops.model.lazy", "json"), ("ops.model.lazy", "ops.errors")]


def test_a_planted_string_registered_or_stray_command_is_found(tmp_path):
    registry = (REPO / "ops" / "commands.py").read_text(encoding="utf-8")
    registry = registry.replace(
        "COMMAND_MODULES: tuple[ModuleType, ...] = (",
        'EXTRA = ("ops.stray_commands",)\nCOMMAND_MODULES: tuple[ModuleType, ...] = (',
    )
    stray = "import click\n\n@click.command()\ndef stray():\n    pass\n\nCOMMANDS = [stray]\n"
    tree = _planted(tmp_path, {"commands.py": registry, "stray_commands.py": stray})
    assert sorted(layers.misplaced_commands(tree)) == [
        "ops.stray_commands",
        "string-registered: ops.stray_commands",
    ]


def test_importing_an_area_first_keeps_every_command_group():
    # the old import loop: importing an area's commands before ops.cli dropped its group
    code = "import ops.data.commands\nfrom ops.cli import cli\nprint(sorted(cli.commands))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("data", "train", "serve", "evaluate", "demo", "deploy", "tune", "predict"):
        assert f"'{name}'" in out.stdout
    code = "from ops.cli import cli\nprint(sorted(cli.commands['data'].commands))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert "'audit'" in out.stdout and "'prepare'" in out.stdout, out.stderr


def test_a_command_module_without_commands_is_an_error():
    from ops import commands

    empty = types.ModuleType("ops.empty_commands")
    with pytest.raises(RuntimeError, match="ops.empty_commands has no COMMANDS"):
        commands.register_all(click.Group(), (empty,))
    joiner = types.ModuleType("ops.joiner")
    joiner.GROUP_COMMANDS = {"nowhere": [click.Command("x")]}
    with pytest.raises(RuntimeError, match="joins a group 'nowhere'"):
        commands.register_all(click.Group(), (joiner,))


def test_both_backends_write_one_training_record_shape(tmp_path):
    from ops.settings import Settings
    from ops.state import update_state
    from ops.train.record import last_local_artifact, read_training
    from ops.train.sagemaker.job_record import record_of_job

    settings = Settings().with_overrides({"data.prepared_dir": str(tmp_path / "prepared")})
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "classes.json").write_text('[{"index": 0, "name": "a"}]')
    description = {
        "TrainingJobName": "job-1",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/job-1/output/model.tar.gz"},
        "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr/ic:1"},
        "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.8}],
    }
    update_state("training", record_of_job(description, settings))
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
