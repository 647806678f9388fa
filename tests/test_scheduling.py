"""tests/scheduling.py under a real pytest-xdist run: each file stays on one worker, and the
files SAME_WORKER joins share one (xdist's own loadgroup would split them under pytest 9)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT
from tests.scheduling import SAME_WORKER, expected_seconds, unit_of

TEST_FILE = textwrap.dedent(
    """
    import json, os, pathlib, pytest

    @pytest.mark.parametrize("n", range(6))
    def test_records_its_worker(n):
        out = pathlib.Path(os.environ["WORKERS_LOG"])
        with out.open("a") as f:
            f.write(json.dumps([__name__, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
    """
)


def test_joined_files_share_a_worker_and_files_stay_whole(tmp_path):
    names = [f"test_{c}" for c in "abcdefgh"]
    for name in names:
        (tmp_path / f"{name}.py").write_text(TEST_FILE)
    # the real scheduler, with four pairs joined as the suite's files are: by chance, all four
    # would share a worker about once in 81 runs
    joined = {f"{names[i + 1]}.py": f"{names[i]}.py" for i in range(0, 8, 2)}
    (tmp_path / "conftest.py").write_text(
        "import tests.scheduling as s\n"
        f"s.SAME_WORKER.update({joined!r})\n"
        "pytest_plugins = ['tests.scheduling']\n"
    )
    log = tmp_path / "workers.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3"]
        + ["--dist", "loadfile", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "WORKERS_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers: dict[str, set[str]] = {}
    for module, worker in map(json.loads, log.read_text().splitlines()):
        workers.setdefault(module, set()).add(worker)
    assert sorted(workers) == names
    assert all(len(w) == 1 for w in workers.values()), workers
    for i in range(0, 8, 2):
        assert workers[names[i + 1]] == workers[names[i]], workers


def test_the_suites_joined_files_exist_and_map_to_a_file():
    for path, unit in SAME_WORKER.items():
        assert (REPO_ROOT / path).is_file() and (REPO_ROOT / unit).is_file()
        assert unit_of(f"{path}::test_x") == unit


class _Item:
    def __init__(self, nodeid: str):
        self.nodeid = nodeid


def test_units_are_queued_longest_first_and_unknown_files_count_their_tests():
    items = [
        _Item(f"tests/test_{f}.py::t{i}")
        for f, n in (("a", 2), ("b", 1), ("new", 3))
        for i in range(n)
    ]
    durations = {"tests/test_a.py": 10.0, "tests/test_b.py": 30.0}
    seconds = expected_seconds(items, durations)
    # per test: a 5 s, b 30 s; median 17.5 s, so the new file's three tests count 52.5 s
    assert seconds == {"tests/test_a.py": 10.0, "tests/test_b.py": 30.0, "tests/test_new.py": 52.5}
    joined = expected_seconds(
        [_Item("tests/test_terraform_cors.py::t"), _Item("tests/test_aws_rules.py::t")],
        {"tests/test_terraform_cors.py": 20.0, "tests/test_aws_rules.py": 100.0},
    )
    assert joined == {"tests/test_aws_rules.py": 120.0}
