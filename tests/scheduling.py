"""How `make test` spreads the test files over pytest-xdist's workers (docs/testing.md).

`--dist loadfile` makes each file one work unit, so module- and session-scoped fixtures are
built once per file. Two changes to it:

* Files that share a costly session result form one unit (SAME_WORKER), through xdist's
  scheduler hook. (xdist's own `loadgroup` cannot do it under pytest 9: it renames
  `item._nodeid`, which pytest 9's `nodeid` no longer reads, so every test runs alone.)
* The units are queued longest first (the longest-processing-time rule), from
  tests/durations.json: the seconds each file held a worker in a whole-suite run (refresh it
  with `python -m tools.test_durations build/junit.xml --write tests/durations.json`). xdist's
  own order, the most tests first, left the single-test Terraform files for last, and one
  worker ran alone for the last two minutes. `make test` passes `--no-loadscope-reorder` so
  xdist keeps this order. A stale or missing figure changes only the order, never what runs.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from xdist.scheduler import LoadFileScheduling

DURATIONS = Path(__file__).with_name("durations.json")

# Files whose tests must share a worker: the second reuses a session fixture's costly result.
# test_terraform_cors.py plans the root configuration's default variables through root_plan
# (tests/terraform_plans.py), as test_aws_rules.py does: on one worker it reuses the init and that
# plan (23-25 s for the file, against 82-83 s on a worker of its own).
SAME_WORKER = {"tests/test_terraform_cors.py": "tests/test_aws_rules.py"}


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file, or the file it must share a worker with."""
    path = file_of(nodeid)
    return SAME_WORKER.get(path, path)


class FileUnits(LoadFileScheduling):
    """`--dist loadfile`, with the SAME_WORKER files in one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist picks; absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadFileScheduling | None:
    return FileUnits(config, log) if config.getvalue("dist") == "loadfile" else None


def expected_seconds(items: list[pytest.Item], durations: dict[str, float]) -> dict[str, float]:
    """{unit: seconds}: the recorded seconds of its files; a file without a figure counts its
    tests at the median seconds per test of the recorded files."""
    tests: dict[str, int] = {}
    for item in items:
        path = file_of(item.nodeid)
        tests[path] = tests.get(path, 0) + 1
    known = [durations[p] / n for p, n in tests.items() if p in durations]
    per_test = statistics.median(known) if known else 1.0
    seconds: dict[str, float] = {}
    for path, n in tests.items():
        unit = unit_of(path)
        seconds[unit] = seconds.get(unit, 0.0) + durations.get(path, n * per_test)
    return seconds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist's workers (whose collection order is the queue's order): longest unit first."""
    if not hasattr(config, "workerinput"):
        return
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    seconds = expected_seconds(items, durations)

    def queue_key(item: pytest.Item) -> tuple[float, str]:
        unit = unit_of(item.nodeid)
        return -seconds[unit], unit

    items.sort(key=queue_key)  # stable: each unit's tests keep their file order
