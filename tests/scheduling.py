"""How `make test` spreads the test files over pytest-xdist's workers (docs/testing.md).

`--dist loadfile` makes each file one work unit, so module- and session-scoped fixtures are
built once per file. Files that share a costly session result must also share a worker:
SAME_WORKER joins them into one unit, through xdist's scheduler hook. (xdist's own
`--dist loadgroup` cannot do it under pytest 9: it renames `item._nodeid`, which pytest 9's
`nodeid` no longer reads, so every test becomes a unit of its own.)
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

# Files whose tests must share a worker: the second reuses a session fixture's costly result.
# test_terraform_cors.py plans the root configuration's default variables through root_plan
# (tests/terraform_plans.py), as test_aws_rules.py does: on one worker it reuses the init and that
# plan (25 s for the file, against 83 s on a worker of its own).
SAME_WORKER = {"tests/test_terraform_cors.py": "tests/test_aws_rules.py"}


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file, or the file it must share a worker with."""
    path = nodeid.split("::", 1)[0]
    return SAME_WORKER.get(path, path)


class FileUnits(LoadFileScheduling):
    """`--dist loadfile`, with the SAME_WORKER files in one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist picks; absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadFileScheduling | None:
    return FileUnits(config, log) if config.getvalue("dist") == "loadfile" else None
