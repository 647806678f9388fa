"""The state file survives what happens to it: a writer killed mid-write, a reader racing a writer,
records of the wrong type, a read-only folder, and two `serve` instances sharing one record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.errors import DogbreedError
from ops.state import get_record, load_state, state_path, update_state
from tests.fs_faults import read_only

REPO = Path(__file__).resolve().parents[1]
KEEP = {"bucket": "b", "prefix": "p"}


def _python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, **kw)


def test_a_writer_killed_in_the_middle_of_a_write_leaves_the_previous_file_whole():
    update_state("upload", KEEP)
    before = state_path().read_bytes()
    # The record's last field kills the process while json is writing: 200 kB are out already.
    child = _python(
        """
        import os, signal
        from ops.state import update_state

        class Bomb:
            def __str__(self):
                os.kill(os.getpid(), signal.SIGKILL)

        update_state("training", {"a_bulk": "x" * 200_000, "z_bomb": Bomb()})
        """
    )
    assert child.wait(timeout=60) == -9
    assert state_path().read_bytes() == before
    assert load_state() == {"upload": KEEP}


def test_a_reader_never_sees_a_half_written_file():
    update_state("upload", KEEP)
    writes = 60
    child = _python(
        f"""
        from ops.state import update_state

        for i in range({writes}):
            update_state("training", {{"n": i, "blob": "x" * 400_000}})
        """
    )
    seen, torn = set(), []
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        try:
            state = load_state()
        except DogbreedError as exc:
            torn.append(exc.message[:80])
            continue
        if (
            state.get("upload") != KEEP
            or len(state.get("training", {}).get("blob", "x" * 400_000)) != 400_000
        ):
            torn.append(f"partial: keys {sorted(state)}")
            continue
        seen.add(state.get("training", {}).get("n"))
    assert child.wait(timeout=60) == 0
    assert torn == []
    assert len(seen) > 3  # the reader really ran while the writer wrote
    assert get_record("training")["n"] == writes - 1


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"training": "x"}, "'training' is a string, not an object"),
        ({"training": {"artifact": 5}}, "training.artifact is a number (5), not a string"),
        ({"serve": {"api_url": ["http://x"]}}, "serve.api_url is a list, not a string"),
        ({"serve": {"pid": "12"}}, "serve.pid is a string, not an integer"),
        ({"training": {"metrics": []}}, "training.metrics is a list, not an object"),
        ({"deployment": {"status": True}}, "deployment.status is a boolean (True), not a string"),
    ],
)
def test_records_of_the_wrong_type_are_a_one_line_error(state, problem):
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    with pytest.raises(DogbreedError) as info:
        get_record("training")
    assert info.value.message == f"the state file {path} is corrupt: {problem}"
    result = CliRunner().invoke(cli, ["serve"])  # reads the training record first
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert f"is corrupt: {problem}" in result.stderr and "Traceback" not in result.output


def test_a_writer_moves_a_wrong_typed_file_aside_and_records_its_stage():
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"training": "x"}')
    with pytest.warns(UserWarning, match="moved it to"):
        update_state("upload", KEEP)
    assert load_state() == {"upload": KEEP}
    assert [p.read_text() for p in path.parent.glob("state.json.corrupt-*")] == [
        '{"training": "x"}'
    ]


def test_a_read_only_state_folder_is_a_one_line_error(tmp_path):
    update_state("upload", KEEP)
    with read_only(state_path().parent):
        with pytest.raises(
            DogbreedError, match="cannot write the state file .*Read-only file system"
        ):
            update_state("training", {"artifact": "x"})
        assert load_state() == {"upload": KEEP}  # reading still works


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from tests.local_artifacts import make_tiny_artifact

    return make_tiny_artifact(tmp_path_factory.mktemp("state-artifact") / "model")


@pytest.mark.slow
def test_stopping_one_of_two_servers_leaves_the_other_ones_record(artifact):
    from ops.api.client import default_api
    from ops.api.serve_process import ServeProcess
    from ops.settings import Settings

    fast = ["--set", "serve.max_batch_size=1"]
    with ServeProcess(artifact=artifact, global_args=fast, timeout_s=120) as first:
        with ServeProcess(artifact=artifact, global_args=fast, timeout_s=120) as second:
            assert get_record("serve")["pid"] == second.proc.pid
            first.stop()
            record = get_record("serve")
            assert (record["status"], record["pid"]) == ("running", second.proc.pid)
            assert default_api(Settings())[0] == second.api_url
            second_pid = second.proc.pid
        record = get_record("serve")
    assert record["status"] == "stopped" and record["api_url"] == second.api_url
    assert second_pid != first.record.pid
