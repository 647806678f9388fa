"""`dogbreed demo --quick` end to end on a tiny generated dataset with a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from ops.state import get_record
from tests.factories import make_stanford_layout

TINY_SETTINGS = """
[local]
backbone = "test_efficientnet"
weights = "none"
extract_batch_size = 8
[hyperparameters]
image_shape = "3,64,64"
"""


def _gone(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return True
    return False


@pytest.mark.slow
def test_demo_quick_runs_every_stage_and_stops_its_servers(tmp_path):
    source = make_stanford_layout(tmp_path / "stanford-dogs", n_classes=3).root
    work = tmp_path / "clone"
    work.mkdir()
    (work / "dogbreed.toml").write_text(TINY_SETTINGS)

    run = subprocess.run(
        [sys.executable, "-m", "ops", "demo", "--quick", "--source", str(source)],
        cwd=work,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for stage in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "Stage timings"):
        assert stage in run.stdout
    report = work / "reports" / "demo-quick" / "report.html"
    assert run.stdout.strip().endswith(f"Report: {report}")
    metrics = json.loads((report.parent / "metrics.json").read_text())
    assert metrics["counts"]["complete"] and metrics["counts"]["images"] == 6
    assert metrics["run"]["data"] == str(work / "data" / "prepared-quick")
    serve = get_record("serve")
    assert serve["status"] == "stopped"
    assert _gone(serve["api_url"]) and _gone(serve["runtime_url"])
