"""`dogbreed data audit` on a generated dataset with a planted label error, its HTML page in a
real headless Chromium, and `data prepare --exclude` applying the list it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.data.manifest import read_lst, write_lst
from ops.data.prepare import PrepareOptions, prepare
from tests.factories import make_prepared
from tests.test_evaluate_report_browser import CHROMIUM, PROBE, DomScan, chromium

pytest.importorskip("cleanlab", reason="cleanlab is in the [audit] extra (make setup installs it)")


def _settings_args(tmp_path: Path) -> list[str]:
    sets = {
        "local.backbone": "tf_efficientnet_lite0",
        "local.weights": "none",
        "local.cache_dir": str(tmp_path / "cache"),
        "local.engine": "torch",
        "local.learning_rate": 0.01,
        "hyperparameters.image_shape": "3,64,64",
        "hyperparameters.epochs": 3,
        "hyperparameters.mini_batch_size": 8,
    }
    return [arg for k, v in sets.items() for arg in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A 3-class prepared folder whose train manifest calls one class-0 image class 2."""
    tmp = tmp_path_factory.mktemp("audit")
    root = make_prepared(tmp / "prepared", train_per_class=12, val_per_class=4)
    lst = root / "train_lst" / "train.lst"
    entries = read_lst(lst)
    planted = entries[0]
    assert planted.label == 0
    entries[0] = type(planted)(planted.index, 2, planted.path)
    write_lst(lst, entries)
    result = CliRunner().invoke(
        cli, [*_settings_args(tmp), "data", "audit", "--data", str(root), "--folds", "3"]
    )
    assert result.exit_code == 0, result.output
    return root, planted, result.output


def test_audit_flags_the_planted_label_error_and_writes_its_files(audited):
    root, planted, output = audited
    out = root / "audit"
    data = json.loads((out / "audit.json").read_text())
    assert data["counts"]["images"] == {"train": 36, "validation": 12}
    label_flags = {f["file"]: f for f in data["flags"] if f["kind"] == "label"}
    assert planted.path in label_flags, (output, sorted(label_flags))
    flag = label_flags[planted.path]
    assert flag["given"] != flag["suggested"] and flag["score"] < 0.5
    with open(out / "exclusions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"] for r in rows} == {f["file"] for f in data["flags"]}
    assert all(r["action"] in ("exclude", "relabel") for r in rows)
    assert "flagged" in output and str(out / "audit.html") in output


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_audit_page_renders_in_headless_chromium(audited, tmp_path):
    root, planted, _ = audited
    page = root / "audit" / "audit.html"
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium(
        "--virtual-time-budget=5000", "--dump-dom", probed.as_uri(), user_data=tmp_path / "ud"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    scan = DomScan()
    scan.feed(dom.stdout)
    assert {"label", "not_dog", "duplicate"} <= scan.sections
    assert scan.images and all(i.get("data-decoded") == "yes" for i in scan.images)
    assert planted.path in dom.stdout


def test_prepare_exclude_leaves_out_and_relabels(stanford_dir, tmp_path):
    raw = stanford_dir.root
    base = prepare(raw, tmp_path / "base", PrepareOptions(workers=1), progress=False)
    train = read_lst(base.out_dir / "train_lst" / "train.lst")
    gone, moved = train[0], train[-1]
    classes = json.loads((base.out_dir / "classes.json").read_text())
    target = next(c for c in classes if c["index"] != moved.label)
    exclusions = tmp_path / "exclusions.csv"
    exclusions.write_text(
        "file,action,label,reason\n"
        f"{gone.path},exclude,,not a dog\n"
        f"{moved.path},relabel,{target['wnid']},label error\n"
    )
    result = CliRunner().invoke(
        cli,
        ["data", "prepare", "--quiet", "--raw", str(raw), "--out", str(tmp_path / "clean")]
        + ["--exclude", str(exclusions), "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "1 image(s) left out, 1 relabelled" in result.output
    clean = {e.path: e.label for e in read_lst(tmp_path / "clean" / "train_lst" / "train.lst")}
    assert gone.path not in clean and len(clean) == len(train) - 1
    assert clean[moved.path] == target["index"]
    report = json.loads((tmp_path / "clean" / "prepare_report.json").read_text())
    assert report["excluded_by_list"] == [gone.path]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"file,action,label\n{moved.path},relabel,no-such-breed\n")
    result = CliRunner().invoke(
        cli,
        ["data", "prepare", "--quiet", "--raw", str(raw), "--out", str(tmp_path / "bad")]
        + ["--exclude", str(bad)],
    )
    assert result.exit_code == 2 and "not a chosen class" in result.output
