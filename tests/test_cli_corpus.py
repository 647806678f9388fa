"""A corpus of bad invocations (tests/cli_corpus.py) never shows a user a Python traceback.

Each case is refused with its exit code (2 usage, 1 failure), one `Error:` line holding the
expected words, and no sign of the last-resort handler (ops/cli_errors.py's "internal error",
which would mean an exception nobody turned into a message). All run in process; a sample also
runs as a real `python -m ops` subprocess, as a user's shell runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.cli_errors import BACKSTOP
from tests.cli_corpus import CORPUS, SUBPROCESS, Case
from tests.factories import make_prepared, make_stanford_layout
from tests.local_artifacts import jpeg_bytes, shared_tiny_artifact

REPO = Path(__file__).resolve().parents[1]
BY_NAME = {c.name: c for c in CORPUS}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, str]:
    """The files the corpus names: {prepared}, {raw}, {artifact}, {img}, {text}, ..."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "img.jpg").write_bytes(jpeg_bytes(0, seed=3))
    (root / "notes.txt").write_text("not an image, not a tarball, not a model\n")
    (root / "junk.bin").write_bytes(bytes(range(256)) * 4)
    (root / "empty").mkdir()
    return {
        "prepared": str(make_prepared(root / "prepared")),
        "raw": str(make_stanford_layout(root / "raw").root),
        "artifact": str(shared_tiny_artifact(tmp_path_factory)),
        "img": str(root / "img.jpg"),
        "text": str(root / "notes.txt"),
        "bin": str(root / "junk.bin"),
        "empty": str(root / "empty"),
        "missing": str(root / "no-such-thing"),
        "tmp": str(root),
    }


def _args(case: Case, workspace: dict[str, str]) -> list[str]:
    out = []
    for arg in case.args:
        for key, value in workspace.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def _arrange(case: Case, workspace: dict[str, str], here: Path) -> Path:
    """Write the case's files and state; returns the state file it uses."""
    for name, text in case.files.items():
        Path(workspace["tmp"], name).write_text(text)
    state = here / "state" / "state.json"
    if case.state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_bytes(case.state.encode("utf-8", "surrogateescape"))
    return state


def _check(case: Case, code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert BACKSTOP not in stderr, stderr
    assert code == case.exit, stderr
    errors = [line for line in stderr.splitlines() if line.startswith(("Error:", "Aborted!"))]
    assert len(errors) == 1, stderr
    assert case.expect in errors[0] or case.expect in stderr, stderr


def test_the_corpus_is_large_and_its_names_unique():
    assert len(CORPUS) >= 100
    assert len(BY_NAME) == len(CORPUS)
    assert set(SUBPROCESS) <= set(BY_NAME)
    assert all(c.exit in (1, 2) for c in CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_a_bad_invocation_is_one_line_and_a_nonzero_exit(case, workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no dogbreed.toml above: only the case's own settings count
    monkeypatch.setenv("DOGBREED_STATE_FILE", str(_arrange(case, workspace, tmp_path)))
    result = CliRunner().invoke(cli, _args(case, workspace), env=case.env, input="")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    _check(case, result.exit_code, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS)
def test_a_bad_invocation_in_a_real_process(name, workspace, tmp_path):
    case = BY_NAME[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOGBREED_")}
    env.update(case.env, PYTHONPATH=str(REPO))
    env["DOGBREED_STATE_FILE"] = str(_arrange(case, workspace, tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "ops", *_args(case, workspace)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    _check(case, done.returncode, done.stderr)
