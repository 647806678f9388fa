"""The `dogbreed data ...` commands as users run them: CliRunner, and once a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
from click.testing import CliRunner

from ops.cli import cli
from tests.conftest import REPO_ROOT


def invoke(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "dogbreed.toml"
    path.write_text(
        f'[data]\nraw_dir = "{tmp_path / "raw"}"\nprepared_dir = "{tmp_path / "prepared"}"\n'
        f"workers = 1\n{extra}"
    )
    return str(path)


def test_fetch_prepare_info_upload(stanford_dir, tmp_path, moto_url):
    cfg = config(tmp_path, f'\n[aws]\nendpoint_url = "{moto_url}"\nbucket = "cli-bucket"\n')
    res = invoke(["--config", cfg, "data", "fetch", "--source", str(stanford_dir.root), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "3 classes, 18 images" in res.output
    assert "expected 120 / 20,580" in res.output  # the warning (stderr is mixed in by CliRunner)

    res = invoke(["--config", cfg, "data", "prepare", "--quiet", "--num-classes", "2"])
    assert res.exit_code == 0, res.output
    assert "2 classes, 8 train / 4 validation images" in res.output

    res = invoke(["--config", cfg, "data", "info", "--json"])
    summary = json.loads(res.output)
    assert summary["hyperparameters"] == {"num_classes": 2, "num_training_samples": 8}
    assert summary["train_per_class"]["min"] == summary["train_per_class"]["max"] == 4

    res = invoke(["--config", cfg, "data", "info"])
    assert "num_training_samples" in res.output and "Japanese_spaniel" in res.output

    res = invoke(["--config", cfg, "data", "upload"])
    assert res.exit_code == 1 and "bucket cli-bucket does not exist" in res.output
    res = invoke(["--config", cfg, "data", "upload", "--create-bucket", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "uploaded 14 file(s)" in res.output  # 12 images + 2 manifests
    objects = boto3.client("s3", endpoint_url=moto_url).list_objects_v2(Bucket="cli-bucket")
    assert objects["KeyCount"] == 14
    state = json.loads(Path(os.environ["DOGBREED_STATE_FILE"]).read_text())
    assert state["upload"]["channels"]["train_lst"] == "s3://cli-bucket/stanford-dogs/train_lst/"


def test_prepare_options_flow_into_settings(stanford_dir, tmp_path):
    cfg = config(tmp_path)
    res = invoke(
        [
            "--config",
            cfg,
            "data",
            "prepare",
            "--quiet",
            "--raw",
            str(stanford_dir.root),
            "--split",
            "stratified",
            "--val-fraction",
            "0.5",
            "--seed",
            "7",
            "--classes",
            "Chihuahua",
        ]
    )
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "prepared" / "info.json").read_text())
    assert info["per_class"] == {"Chihuahua": {"train": 3, "validation": 3}}
    assert info["split"] == "stratified"


def test_bad_input_gives_one_line_errors(tmp_path, stanford_dir):
    cfg = config(tmp_path)
    res = CliRunner().invoke(cli, ["--config", cfg, "data", "prepare", "--quiet"])
    assert res.exit_code == 1
    assert res.output.strip().startswith("Error: dataset folder") and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(cli, ["--config", cfg, "data", "fetch", "--source", str(tmp_path)])
    assert res.exit_code == 1 and "neither a Stanford Dogs folder" in res.output
    res = CliRunner().invoke(cli, ["--config", cfg, "data", "info"])
    assert res.exit_code == 1 and "not a prepared data folder" in res.output
    res = CliRunner().invoke(
        cli,
        [
            "--config",
            cfg,
            "data",
            "prepare",
            "--raw",
            str(stanford_dir.root),
            "--val-fraction",
            "2",
        ],
    )
    assert res.exit_code == 2 and "val_fraction" in res.output


def test_real_subprocess_reports_missing_folder_without_traceback(tmp_path):
    exe = REPO_ROOT / ".venv" / "bin" / "dogbreed"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ops"]
    env = {**os.environ, "DOGBREED_CONFIG": config(tmp_path)}
    proc = subprocess.run(
        [*cmd, "data", "fetch", "--source", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: data source {tmp_path / 'nowhere'} does not exist"
    assert "Traceback" not in proc.stderr + proc.stdout


def test_prepare_crop_merge_and_duplicate_flags_reach_the_output(tmp_path):
    """--crop boxes, --merge and --drop-near-duplicates through the CLI, each with a visible effect."""
    from PIL import Image

    from ops.data.manifest import PreparedData, read_lst
    from tests.factories import add_problem_images, make_stanford_layout, voc_xml

    ds = make_stanford_layout(tmp_path / "src", n_classes=4, per_class=6, test_per_class=2)
    roles = add_problem_images(ds)
    first = ds.train[0]
    folder, stem = first.split("/")[0], first.split("/")[1][:-4]
    (ds.root / "Annotation" / folder / stem).write_text(
        voc_xml(folder, stem, 64, 64, boxes=[(10, 20, 30, 40)])
    )
    label_map = tmp_path / "merge.json"
    label_map.write_text(json.dumps({"Pekinese": "small-dogs", "Maltese_dog": "small-dogs"}))
    cfg = config(tmp_path)
    base = ["--config", cfg, "data", "prepare", "--quiet", "--raw", str(ds.root)]
    res = invoke([*base, "--crop", "boxes", "--merge", str(label_map)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "prepared"
    with Image.open(out / "train" / first) as img:
        assert img.size == (20, 20)  # --crop boxes: the annotated box, not the 64x64 photo
    names = [c.name for c in PreparedData(out).classes()]
    assert names == ["Chihuahua", "Japanese_spaniel", "small-dogs"]  # --merge
    val = {e.path for e in read_lst(out / "validation_lst" / "validation.lst")}
    assert roles["exact_duplicate"] in val  # kept without --drop-near-duplicates

    # (a separate run: cropping the training originals would make them differ from their copies)
    res = invoke([*base, "--drop-near-duplicates", "--out", str(tmp_path / "dedup")])
    assert res.exit_code == 0, res.output
    val = {e.path for e in read_lst(tmp_path / "dedup" / "validation_lst" / "validation.lst")}
    assert roles["exact_duplicate"] not in val and roles["near_duplicate"] not in val
    report = json.loads((tmp_path / "dedup" / "prepare_report.json").read_text())
    assert report["dropped_from_validation"] == sorted(
        [roles["exact_duplicate"], roles["near_duplicate"]]
    )
