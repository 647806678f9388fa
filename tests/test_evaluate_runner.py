"""`dogbreed evaluate` against real HTTP servers on loopback: known answers, resume, failures."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.evaluate.evaluation import run_evaluation
from ops.evaluate.targets import url_target
from ops.settings import load_settings
from ops.state import update_state
from tests.conftest import free_port
from tests.evaluate_helpers import EXPECTED, FakeClassifyApi, scenario_answers, sha


@pytest.fixture
def api(prepared_dir):
    with FakeClassifyApi(scenario_answers(prepared_dir)) as server:
        yield server


def evaluate_cli(*args: str):
    return CliRunner().invoke(cli, ["evaluate", "--quiet", *args], catch_exceptions=False)


def test_evaluate_reports_the_hand_computed_figures(api, prepared_dir, tmp_path):
    out = tmp_path / "report"
    result = evaluate_cli("--url", api.url, "--data", str(prepared_dir), "--out", str(out))

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    payload = json.loads((out / "metrics.json").read_text())
    m = payload["metrics"]
    assert payload["counts"] == {
        "images": 9,
        "answered": 9,
        "failed": 0,
        "failures_by_kind": {},
        "complete": True,
    }
    assert m["top1"] == pytest.approx(EXPECTED["top1"])
    assert m["top5"] == pytest.approx(EXPECTED["top5"])
    assert m["confusion_matrix"] == EXPECTED["confusion"]
    assert [r["recall"] for r in m["per_class"]] == pytest.approx(EXPECTED["recall"])
    assert [r["precision"] for r in m["per_class"]] == pytest.approx(EXPECTED["precision"])
    assert m["calibration"]["ece"] == pytest.approx(EXPECTED["ece"])
    assert m["latency"]["requests"] == 2  # 9 images in batches of 8
    assert m["predicted_outside_classes"] == 0  # the outside breed was ranked 2nd, not 1st
    assert payload["worst_classes"][0] == "Maltese_dog"
    with open(out / "per_class.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["Chihuahua", "Japanese_spaniel", "Maltese_dog"]
    assert float(rows[2]["recall"]) == pytest.approx(1 / 3)
    html = (out / "report.html").read_text()
    assert "55.56 %" in html and "88.89 %" in html  # top-1 and top-5 as in metrics.json
    assert "full photos" in html  # generated data: not box crops
    assert sum(api.received.values()) == 9


def test_an_interrupted_run_continues_without_sending_any_image_twice(api, prepared_dir, tmp_path):
    settings = load_settings(environ={}).with_overrides(
        {"evaluate.batch_size": 2, "evaluate.concurrency": 2}
    )
    target = url_target(api.url, None, settings)
    out = tmp_path / "report"

    def stop_after_four(done: int) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    first = run_evaluation(
        settings, target, prepared_dir, out_dir=out, progress=False, on_batch=stop_after_four
    )
    assert first.outcome.interrupted and not first.complete
    answered_first = sum(api.received.values())
    assert 4 <= answered_first < 9
    assert first.metrics["counts"]["failures_by_kind"] == {"not_sent": 9 - answered_first}

    second = run_evaluation(settings, target, prepared_dir, out_dir=out, progress=False)

    assert second.complete
    assert second.outcome.reused == answered_first
    assert second.outcome.sent_now == 9 - answered_first
    assert set(api.received.values()) == {1}  # every image answered exactly once
    assert len(api.received) == 9
    m = second.metrics["metrics"]
    assert m["top1"] == pytest.approx(EXPECTED["top1"])
    assert m["confusion_matrix"] == EXPECTED["confusion"]
    # one results file, header + one line per image
    files = list(out.glob("results-*.jsonl"))
    assert len(files) == 1
    assert len(files[0].read_text().splitlines()) == 1 + 9


def test_a_different_model_gets_its_own_results_file(api, prepared_dir, tmp_path):
    settings = load_settings(environ={})
    out = tmp_path / "report"
    run_evaluation(
        settings,
        url_target(api.url, None, settings, model="A"),
        prepared_dir,
        out_dir=out,
        progress=False,
    )
    run_evaluation(
        settings,
        url_target(api.url, None, settings, model="B"),
        prepared_dir,
        out_dir=out,
        progress=False,
    )
    assert len(list(out.glob("results-*.jsonl"))) == 2
    assert set(api.received.values()) == {2}  # model B's answers were not taken from model A's


def test_500s_and_missing_images_are_counted_listed_and_retried(api, prepared_dir, tmp_path):
    val = sorted((prepared_dir / "validation").rglob("*.jpg"))
    broken = val[1]  # the API fails every request holding this image
    api.fail_whole_batch.add(sha(broken.read_bytes()))
    rejected = val[4]
    api.reject.add(sha(rejected.read_bytes()))
    missing = val[7]
    missing_bytes = missing.read_bytes()
    missing.unlink()
    out = tmp_path / "report"

    result = CliRunner().invoke(
        cli,
        ["--set", "evaluate.retries=0", "evaluate", "--quiet", "--url", api.url]
        + ["--data", str(prepared_dir), "--out", str(out)],
    )

    assert result.exit_code == 1
    error_line = result.output.strip().splitlines()[-1]
    assert error_line.startswith("Error: incomplete: 3 image(s) without an answer")
    assert (
        "http_5xx: 1" in error_line and "missing: 1" in error_line and "rejected: 1" in error_line
    )
    assert str(out / "report.html") in error_line
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["counts"]["answered"] == 6
    failed = {f["path"]: f for f in payload["failures"]}
    rel = lambda p: str(p.relative_to(prepared_dir / "validation"))  # noqa: E731
    assert failed[rel(broken)]["kind"] == "http_5xx" and failed[rel(broken)]["status"] == 500
    assert failed[rel(missing)]["kind"] == "missing"
    assert failed[rel(rejected)]["kind"] == "rejected"
    html = (out / "report.html").read_text()
    for path in failed:
        assert path in html
    # the batch that 500ed was split: its other images were still answered
    assert len(api.received) == 6

    # fix the problems and re-run: only the 3 failed images are sent
    api.fail_whole_batch.clear()
    api.reject.clear()
    missing.write_bytes(missing_bytes)
    again = evaluate_cli("--url", api.url, "--data", str(prepared_dir), "--out", str(out))
    assert again.exit_code == 0, again.output
    assert set(api.received.values()) == {1} and len(api.received) == 9
    assert json.loads((out / "metrics.json").read_text())["metrics"]["top1"] == pytest.approx(
        EXPECTED["top1"]
    )


def test_an_unreachable_api_is_reported_quickly_not_hung(prepared_dir, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "report"
    start = time.monotonic()
    result = CliRunner().invoke(
        cli,
        [
            "--set",
            "evaluate.retries=0",
            "evaluate",
            "--quiet",
            "--url",
            url,
            "--data",
            str(prepared_dir),
            "--out",
            str(out),
            "--batch-size",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert "unreachable: 9" in result.output
    assert time.monotonic() - start < 20
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["counts"]["failed"] == 9 and payload["metrics"]["top1"] is None
    assert (out / "report.html").is_file()


def test_url_comes_from_the_serve_state_when_not_given(api, prepared_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    update_state(
        "serve",
        {"status": "running", "api_url": api.url, "artifact": "/models/run-7", "pid": 1},
    )
    result = evaluate_cli("--data", str(prepared_dir), "--limit", "4")
    assert result.exit_code == 0, result.output
    report = result.output.strip().splitlines()[-1].removeprefix("report: ")
    payload = json.loads((Path(report).parent / "metrics.json").read_text())
    assert payload["run"]["model"] == "/models/run-7"
    assert payload["counts"]["images"] == 4
    # --limit spreads over classes: every class is represented
    assert sorted({r["index"] for r in payload["metrics"]["per_class"] if r["support"]}) == [
        0,
        1,
        2,
    ]


def test_bad_usage_is_a_one_line_error(prepared_dir):
    result = CliRunner().invoke(cli, ["evaluate", "--url", "http://x", "--local"])
    assert result.exit_code == 2
    assert "choose one of --url, --endpoint, --local and --batch-transform" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--url", "http://x", "--data", "/nonexistent"])
    assert result.exit_code == 1 and "prepared data folder" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(prepared_dir)])  # no API known
    assert result.exit_code == 1
    assert "no classify API URL known" in result.output and "evaluate --local" in result.output


def test_the_report_says_box_crops_when_images_differ_from_their_annotation(prepared_dir, tmp_path):
    from ops.evaluate.report.write import describe_images
    from tests.factories import voc_xml

    raw = tmp_path / "raw"
    (prepared_dir / "prepare_report.json").write_text(
        json.dumps({"source": str(raw), "options": {"crop": "none"}, "counts": {}})
    )
    images = sorted((prepared_dir / "validation").glob("*/*.jpg"))

    def annotate(width: int, height: int) -> None:
        for path in images:
            folder = raw / "Annotation" / path.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / path.stem).write_text(voc_xml(path.parent.name, path.stem, width, height))

    annotate(64, 64)  # the generated images are 64x64: full photos
    assert describe_images(prepared_dir).startswith("the images as prepared (full photos")
    annotate(500, 375)  # the XML describes a bigger photo: these are crops of it
    assert describe_images(prepared_dir).startswith("box crops")


def test_a_re_exported_identical_model_resumes_a_different_one_does_not(tmp_path):
    # the local side digests its artifact layout; evaluate keys on what the serve record says
    from ops.artifact.export import artifact_digest
    from ops.evaluate.targets import Target, url_target
    from ops.settings import Settings
    from ops.state import update_state

    for name, weights in (("run-1", b"onnx-A"), ("run-2", b"onnx-A"), ("run-3", b"onnx-B")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").write_bytes(weights)
    assert artifact_digest(tmp_path / "run-1") == artifact_digest(str(tmp_path / "run-2"))
    assert artifact_digest(tmp_path / "run-1") != artifact_digest(tmp_path / "run-3")
    assert artifact_digest("https://api.example.com/prod") is None
    keys = []
    for name in ("run-1", "run-2", "run-3"):
        update_state(
            "serve",
            {
                "api_url": "http://127.0.0.1:9/",
                "artifact": str(tmp_path / name),
                "model_identity": artifact_digest(tmp_path / name),
            },
        )
        keys.append(url_target("http://127.0.0.1:9/classify", None, Settings()).key)
    assert keys[0] == keys[1] != keys[2]
    url = "https://api.example.com/prod"
    assert Target(url=url, model=url, factory=None).key == url


def test_many_classes_get_a_labelled_detail_heatmap_and_an_overview(tmp_path):
    """More classes than fit one readable heatmap (30 here, 120 for real): the report shows the
    worst classes labelled, plus the all-class overview; thumbnails of vanished files are skipped."""
    from ops.data.manifest import BreedClass
    from ops.evaluate.report.write import write_report

    n = 30
    classes = [BreedClass(i, f"n{i:08d}", f"Breed_{i}") for i in range(n)]
    records = []
    for c in range(n):
        for j in range(4):
            top = c if j < 3 - (c % 3) else (c + 1) % n  # 1, 2 or 3 misses of 4
            records.append(
                {
                    "i": len(records),
                    "path": f"c{c}/{j}.jpg",
                    "label": c,
                    "ok": True,
                    "predictions": [
                        {"wnid": classes[top].wnid, "breed": classes[top].name, "probability": 0.7}
                    ],
                    "request": f"r{len(records) // 8}",
                    "latency_ms": 10.0,
                }
            )
    run = {"model": "m", "url": "u", "split": "validation", "batch_size": 8, "concurrency": 4}
    files = write_report(records, classes, run, tmp_path / "out", tmp_path / "no-images")

    html = files.html.read_text()
    assert 'id="confusion-detail"' in html and 'id="confusion-overview"' in html
    payload = json.loads(files.metrics.read_text())
    assert payload["metrics"]["top1"] == pytest.approx(1 - (10 * 1 + 10 * 2 + 10 * 3) / 120)
    worst = {int(name.split("_")[1]) for name in payload["worst_classes"]}
    assert len(worst) == 10 and all(c % 3 == 2 for c in worst)  # the 3-misses classes
    assert 'class="thumb"' not in html  # the image files do not exist: no broken thumbnails


def test_the_model_behind_a_deployed_api_comes_from_the_deployment_record():
    from ops.evaluate.targets import model_for_url

    api = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    update_state(
        "deployment",
        {"api_url": api, "model_data_url": "s3://bucket/job-7/output/model.tar.gz"},
    )
    assert model_for_url(api + "/classify") == "s3://bucket/job-7/output/model.tar.gz"
    assert model_for_url(api + "/") == "s3://bucket/job-7/output/model.tar.gz"
    assert model_for_url("http://elsewhere:9/classify") == "http://elsewhere:9/classify"


def test_access_refused_stops_after_three_requests_and_says_so(api, prepared_dir, tmp_path):
    api.forbidden = True
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--quiet", "--url", api.url, "--data", str(prepared_dir)]
        + ["--out", str(out), "--batch-size", "2", "--concurrency", "1"],
    )
    assert result.exit_code == 1
    assert "http_4xx: 9" in result.output
    assert api.requests == 3  # then the rest were not sent
    failures = json.loads((out / "metrics.json").read_text())["failures"]
    assert {f["status"] for f in failures} == {403}
    assert sum("not sent: access refused" in f["error"] for f in failures) == 9 - 3 * 2
