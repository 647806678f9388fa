"""Names from data, models and servers reach terminals without their escape sequences, and CSV files
without formulas (OWASP CSV injection): `predict` on a model whose class names are hostile, the
one error printer, per_class.csv and exclusions.csv."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.data.exclusions import read_exclusions, write_exclusions
from ops.evaluate.report.write import _write_per_class
from ops.safe_text import csv_cell, for_terminal
from tests.local_artifacts import jpeg_bytes, shared_tiny_artifact

HOSTILE_NAMES = [
    "\x1b]0;owned\x07Chihuahua\x1b[2J",  # retitles the terminal, clears the screen
    '=HYPERLINK("http://evil","Japanese_spaniel")',
    "\x9b31mMaltese\x1bc",  # an 8-bit CSI, a full terminal reset
]


def test_for_terminal_drops_whole_escape_sequences_and_marks_other_controls():
    assert for_terminal("a\x1b[31mred\x1b[0m b") == "ared b"
    assert for_terminal("\x1b]0;title\x07name\x1b]8;;http://x\x1b\\link") == "namelink"
    assert for_terminal("tab\there\nnl\u202ertl") == "tab\ufffdhere\ufffdnl\ufffdrtl"
    assert for_terminal("Chihuahua é 柴犬") == "Chihuahua é 柴犬"


@pytest.mark.parametrize("cell", ["=1+2", "+1", "-1+cmd", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_would_start_a_formula_is_escaped(cell):
    assert csv_cell(cell) == "'" + cell
    assert csv_cell("Chihuahua") == "Chihuahua" and csv_cell(-3) == -3


@pytest.fixture
def hostile_artifact(tmp_path_factory) -> Path:
    source = shared_tiny_artifact(tmp_path_factory)
    artifact = tmp_path_factory.mktemp("hostile") / "model"
    shutil.copytree(source, artifact)
    classes = json.loads((artifact / "classes.json").read_text())
    for c, name in zip(classes, HOSTILE_NAMES, strict=False):
        c["name"], c["wnid"] = name, "\x1b[8m" + c["wnid"]
    (artifact / "classes.json").write_text(json.dumps(classes))
    meta = json.loads((artifact / "metadata.json").read_text())
    digest = hashlib.sha256((artifact / "classes.json").read_bytes()).hexdigest()
    meta["sha256"]["classes.json"] = digest
    (artifact / "metadata.json").write_text(json.dumps(meta))
    return artifact


def test_predict_prints_hostile_class_and_file_names_without_escapes(hostile_artifact, tmp_path):
    image = tmp_path / "dog\x1b[2J.jpg"
    image.write_bytes(jpeg_bytes())
    missing = tmp_path / "gone\x1b]0;x\x07.jpg"
    result = CliRunner().invoke(
        cli, ["predict", str(image), str(missing), "--artifact", str(hostile_artifact)]
    )
    assert result.exit_code == 1, result.output  # the missing image
    shown = result.output
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "dog.jpg" in shown and "gone.jpg: cannot read" in shown
    assert any(name in shown for name in ("Chihuahua", "HYPERLINK", "Maltese"))


def test_predict_json_keeps_the_names_as_escaped_json(hostile_artifact, tmp_path):
    image = tmp_path / "dog.jpg"
    image.write_bytes(jpeg_bytes())
    args = ["predict", str(image), "--artifact", str(hostile_artifact), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "\x1b" not in result.output
    names = {p["breed"] for p in json.loads(result.output)[0]["predictions"]}
    assert names == set(HOSTILE_NAMES)  # the data itself is not changed, only its display


def test_an_error_line_never_carries_an_escape(tmp_path):
    result = CliRunner().invoke(
        cli, ["predict", "x.jpg", "--artifact", str(tmp_path / "a\x1b[2Jb")]
    )
    assert result.exit_code == 1
    assert "Error: model artifact" in result.output and "\x1b" not in result.output


def test_per_class_csv_cells_never_start_a_formula(tmp_path):
    names = ["=cmd|' /C calc'!A0", "+Poodle", "-Pug", "@Corgi", "Beagle"]
    per_class = [
        {
            "index": i, "wnid": f"n{i:08d}", "name": name, "support": 2, "correct": 1,
            "precision": 0.5, "recall": 0.5, "f1": 0.5, "predicted_outside": 0,
        }
        for i, name in enumerate(names)
    ]  # fmt: skip
    cm = np.eye(len(names), dtype=int) + np.roll(np.eye(len(names), dtype=int), 1, axis=1)
    path = tmp_path / "per_class.csv"
    _write_per_class(path, per_class, cm, names)
    rows = list(csv.DictReader(path.open(newline="")))
    assert [r["name"] for r in rows] == [
        "'=cmd|' /C calc'!A0",
        "'+Poodle",
        "'-Pug",
        "'@Corgi",
        "Beagle",
    ]
    assert {r["most_mistaken_for"][0] for r in rows[:4]} <= {"'", "B"}
    cells = [cell for r in rows for cell in r.values()]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_exclusions_csv_is_escaped_on_write_and_read_back_as_written(tmp_path):
    from ops.audit.audit import Flag

    flags = [Flag("train", "n0-A/a.jpg", "label", "A", "-Pug", 0.1, "relabel", "-Pug", "=pug-like")]
    path = write_exclusions(tmp_path, flags)["exclusions"]
    row = list(csv.reader(path.open(newline="")))[1]
    assert row == ["n0-A/a.jpg", "relabel", "'-Pug", "'=pug-like"]
    assert read_exclusions(path) == {"n0-A/a.jpg": "-Pug"}
