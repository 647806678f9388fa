"""The report's summary cards, read element by element from the HTML file (no browser needed),
against metrics.json: each card shows its own figure."""

from __future__ import annotations

import json

from ops.evaluate.report.write import fmt_pct
from tests.evaluate_helpers import DomScan, write_scenario_report


def test_summary_cards_show_the_figures_of_metrics_json(prepared_dir, tmp_path):
    report = write_scenario_report(prepared_dir, tmp_path / "report")
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    scan = DomScan()
    scan.feed((report / "report.html").read_text())
    cards = {key: scan.text[key].strip() for key in ("top1", "top5", "macro-f1", "ece")}
    expected = {
        "top1": fmt_pct(metrics["top1"]),
        "top5": fmt_pct(metrics["top5"]),
        "macro-f1": fmt_pct(metrics["macro_f1"]),
        "ece": fmt_pct(metrics["calibration"]["ece"]),
    }
    assert len(set(expected.values())) == 4  # distinct figures: a swapped card cannot pass
    assert cards == expected
    assert scan.text["answered"].strip() == "8 / 9"
    assert "http_5xx: 1" in scan.text["incomplete"]
