"""tools/test_durations.py reads the JUnit XML a real pytest run writes, file by file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tools.test_durations import main, per_file


def test_per_file_sums_a_real_pytest_report(tmp_path, capsys):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "test_slow.py").write_text(
        textwrap.dedent(
            """
            import time

            def test_a():
                time.sleep(0.3)

            class TestGroup:
                def test_b(self):
                    time.sleep(0.2)
            """
        )
    )
    (tmp_path / "pkg" / "test_fast.py").write_text("def test_c():\n    pass\n")
    report = tmp_path / "junit.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml",
            str(report),
            "pkg",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    files = per_file(report)
    assert set(files) == {"pkg/test_slow.py", "pkg/test_fast.py"}
    assert files["pkg/test_slow.py"][0] == 2 and files["pkg/test_slow.py"][1] >= 0.5
    assert files["pkg/test_fast.py"][0] == 1 and files["pkg/test_fast.py"][1] < 0.5

    assert main([str(report), str(report), "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| pkg/test_slow.py | 2 | ")  # slowest first
    assert lines[3].startswith("| (the other files) | 1 | ")
    assert lines[4].startswith("| **total** | 3 | ")

    written = tmp_path / "durations.json"
    assert main([str(report), "--write", str(written)]) == 0
    seconds = json.loads(written.read_text())  # what tests/scheduling.py queues by
    assert seconds["pkg/test_slow.py"] == round(files["pkg/test_slow.py"][1], 1)
    assert set(seconds) == set(files)
