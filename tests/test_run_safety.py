"""Mistakes and collisions never destroy a result: `data prepare` keeps a good output when its new
one would be empty or short of classes, and runs that write one place take turns (ops/run_lock.py).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from tests.factories import make_stanford_layout

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under folder: to prove it did not change."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _prepare(raw: Path, out: Path, *extra: str):
    args = ["--set", "data.workers=1", "data", "prepare", "--quiet", "--raw", str(raw)]
    return CliRunner().invoke(cli, [*args, "--out", str(out), *extra])


@pytest.fixture
def good_output(tmp_path):
    """A prepared folder made by `data prepare` from a fine dataset, and its raw folder."""
    raw = make_stanford_layout(tmp_path / "raw").root
    out = tmp_path / "prepared"
    result = _prepare(raw, out)
    assert result.exit_code == 0, result.output
    return raw, out


def _break_images(raw: Path, folders: list[str] | None = None) -> None:
    for image in (raw / "Images").rglob("*.jpg"):
        if folders is None or image.parent.name in folders:
            image.write_bytes(b"this is not an image\n")


def test_a_folder_of_non_images_keeps_the_previous_output(good_output, tmp_path):
    raw, out = good_output
    before = _tree(out)
    _break_images(raw)
    result = _prepare(raw, out)
    assert result.exit_code == 1
    assert "no usable train images (18 excluded as undecodable)" in result.stderr
    assert "the previous prepared folder is kept" in result.stderr
    assert _tree(out) == before
    assert not out.with_name("prepared.partial").exists()


def test_a_class_without_usable_images_keeps_the_previous_output(good_output):
    raw, out = good_output
    before = _tree(out)
    folder = sorted(p.name for p in (raw / "Images").iterdir())[1]
    _break_images(raw, [folder])
    result = _prepare(raw, out)
    assert result.exit_code == 1
    assert "1 of 3 classes have no usable training image (" in result.stderr
    assert _tree(out) == before


def test_more_classes_than_there_are_is_refused_and_keeps_the_output(good_output):
    raw, out = good_output
    before = _tree(out)
    result = _prepare(raw, out, "--num-classes", "5")
    assert result.exit_code == 2
    assert "--num-classes 5 asks for more classes than the 3 there are" in result.stderr
    assert _tree(out) == before


def _hold_lock(place: Path, command: str) -> subprocess.Popen:
    """A child process holding `place`'s run lock as `dogbreed <command>` (until killed)."""
    code = f"""
        import sys, time
        from pathlib import Path
        from ops.run_lock import exclusive_run
        with exclusive_run(Path({str(place)!r}), {command!r}):
            print("held", flush=True)
            time.sleep(120)
    """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def _release(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)  # the kernel drops the lock even so
    child.wait(timeout=30)


def _run_while_held(place: Path, command: str, args: list[str]):
    """`dogbreed ARGS` while another process holds `place` as `dogbreed <command>`; the result
    and the holder's pid, after checking the refusal names both."""
    holder = _hold_lock(place, command)
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        _release(holder)
    assert result.exit_code == 1
    refusal = f"Error: another `dogbreed {command}` (pid {holder.pid}) is running on {place}"
    assert result.stderr.startswith(refusal), result.stderr
    return result


def test_a_second_prepare_into_the_same_output_is_refused_until_the_first_ends(good_output):
    raw, out = good_output
    before = _tree(out)
    args = ["--set", "data.workers=1", "data", "prepare", "--quiet", "--raw", str(raw)]
    _run_while_held(out, "data prepare", [*args, "--out", str(out)])
    assert _tree(out) == before
    assert _prepare(raw, out).exit_code == 0  # released by the kernel when the holder died


def test_a_second_train_into_the_same_artifacts_folder_is_refused(prepared_dir, tmp_path):
    artifacts = tmp_path / "artifacts"
    args = ["--set", f"local.artifacts_dir={artifacts}", "train", "--data", str(prepared_dir)]
    _run_while_held(artifacts, "train", args)


def test_a_second_evaluate_into_the_same_report_folder_is_refused(prepared_dir, tmp_path):
    report = tmp_path / "report"
    args = ["evaluate", "--quiet", "--url", "http://127.0.0.1:9/classify"]
    _run_while_held(report, "evaluate", [*args, "--data", str(prepared_dir), "--out", str(report)])
    assert not (report / "results.jsonl").exists()


def test_runs_writing_different_places_run_together(tmp_path):
    from ops.run_lock import exclusive_run

    with exclusive_run(tmp_path / "a", "evaluate"), exclusive_run(tmp_path / "b", "evaluate"):
        assert (tmp_path / ".a.lock").read_text().startswith(f"{os.getpid()} evaluate")
    assert not (tmp_path / ".a.lock").exists()
