"""Environment failures are one line too: a full disk during `data prepare` and `evaluate`, a
read-only output folder for `data prepare` and `train`. Real mounts (tests/fs_faults.py): a tiny
tmpfs fills up with ENOSPC, a read-only bind mount answers EROFS."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from ops.cli import cli
from ops.cli_errors import BACKSTOP
from tests.factories import make_stanford_layout
from tests.fs_faults import read_only, tiny_disk


def _one_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and BACKSTOP not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def _prepare(raw: Path, out: Path):
    args = ["--set", "data.workers=1", "data", "prepare", "--quiet", "--raw", str(raw)]
    return CliRunner().invoke(cli, [*args, "--out", str(out)])


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_full_disk_during_prepare_keeps_the_previous_output(tmp_path):
    small = make_stanford_layout(tmp_path / "small", per_class=3, test_per_class=1).root
    big = make_stanford_layout(tmp_path / "big", per_class=40, test_per_class=10, size=160).root
    with tiny_disk(tmp_path / "disk", "400k") as disk:
        out = disk / "prepared"
        assert _prepare(small, out).exit_code == 0
        before = _tree(out)
        line = _one_line(_prepare(big, out))
        assert line.startswith(f"Error: cannot write the prepared data to {out}: ")
        assert "No space left on device; the previous prepared folder is kept" in line
        assert _tree(out) == before
        assert sorted(p.name for p in disk.iterdir()) == ["prepared"]  # no partial left behind


def test_a_read_only_output_folder_is_one_line_for_prepare_and_train(tmp_path, prepared_dir):
    raw = make_stanford_layout(tmp_path / "raw").root
    (tmp_path / "ro").mkdir()
    with read_only(tmp_path / "ro") as ro:
        line = _one_line(_prepare(raw, ro / "prepared"))
        assert (
            line
            == f"Error: cannot write the prepared data to {ro / 'prepared'}: Read-only file system"
        )
        train = CliRunner().invoke(
            cli,
            [
                "--set",
                f"local.artifacts_dir={ro / 'artifacts'}",
                "train",
                "--data",
                str(prepared_dir),
            ],
        )
        line = _one_line(train)
        assert line.startswith(f"Error: cannot lock {ro}/.artifacts.lock: ")


def test_a_full_disk_during_evaluate_is_one_line(tmp_path, gateway, prepared_dir):
    with tiny_disk(tmp_path / "disk", "12k") as disk:
        result = CliRunner().invoke(
            cli,
            ["evaluate", "--quiet", "--url", gateway.url, "--data", str(prepared_dir)]
            + ["--out", str(disk / "report")],
        )
        line = _one_line(result)
    assert line.startswith(f"Error: cannot write the report to {disk / 'report'}: No space left")
