"""The evaluation report: metrics.json and per_class.csv for machines, one self-contained HTML for people.

results.py maps answers to classes, plots.py draws, html.py renders; write_report writes all
three files from the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.data.manifest import BreedClass
from ops.evaluate.answers import answer_counts
from ops.evaluate.metrics import compute_metrics, worst_classes
from ops.evaluate.report.html import fmt_pct, render_html, worst_class_details
from ops.evaluate.report.plots import report_plots
from ops.evaluate.report.results import describe_images, failure_counts, mistaken_for, to_results
from ops.safe_text import csv_writer

__all__ = ["ReportFiles", "describe_images", "fmt_pct", "write_report"]


@dataclass
class ReportFiles:
    html: Path
    metrics: Path
    per_class: Path


def write_report(
    records: list[dict[str, Any]],
    classes: list[BreedClass],
    run: dict[str, Any],
    out_dir: Path,
    images_dir: Path,
    worst_k: int = 10,
) -> ReportFiles:
    """metrics.json, per_class.csv and report.html in out_dir, all from the same numbers."""
    import numpy as np

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in sorted(classes, key=lambda c: c.index)]
    wnids = [c.wnid for c in sorted(classes, key=lambda c: c.index)]
    results, latencies = to_results(records, classes)
    metrics = compute_metrics(results, names, latencies)
    failures = [r for r in records if not r.get("ok")]
    counts = {**failure_counts(records), "answered": metrics["answered"]}
    answers = answer_counts(records, {w: i for i, w in enumerate(wnids)})
    if answers:  # the API sent verdicts (dog / uncertain): count them
        counts["answers"] = answers
    for row in metrics["per_class"]:
        row["wnid"] = wnids[row["index"]]
    # Classes with misses only: a perfect class has nothing to show.
    worst = [r for r in worst_classes(metrics["per_class"], worst_k) if r["recall"] < 1.0]
    cm = np.asarray(metrics["confusion_matrix"])
    payload = {
        "run": run,
        "counts": counts,
        "metrics": metrics,
        "worst_classes": [r["name"] for r in worst],
        "failures": [
            {k: r.get(k) for k in ("i", "path", "label", "kind", "status", "error")}
            for r in failures
        ],
    }
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(payload, indent=2) + "\n")
    per_class_path = out_dir / "per_class.csv"
    _write_per_class(per_class_path, metrics["per_class"], cm, names)
    plots = report_plots(cm, names, metrics, worst, latencies)
    details = worst_class_details(cm, worst, results, names, images_dir)
    html = render_html(run, counts, metrics, details, plots, failures)
    html_path = out_dir / "report.html"
    html_path.write_text(html)
    return ReportFiles(html_path, metrics_path, per_class_path)


def _write_per_class(path: Path, per_class: list[dict], cm, names: list[str]) -> None:
    """per_class.csv: one row per class with its most frequent confusion."""
    with open(path, "w", newline="") as fh:
        writer = csv_writer(fh)
        writer.writerow(
            [
                "index",
                "wnid",
                "name",
                "support",
                "correct",
                "precision",
                "recall",
                "f1",
                "predicted_outside",
                "most_mistaken_for",
                "most_mistaken_count",
            ]
        )
        for row in per_class:
            top = mistaken_for(cm, row["index"], 1)
            writer.writerow(
                [
                    row["index"],
                    row["wnid"],
                    row["name"],
                    row["support"],
                    row["correct"],
                    f"{row['precision']:.6f}",
                    f"{row['recall']:.6f}",
                    f"{row['f1']:.6f}",
                    row["predicted_outside"],
                    names[top[0]] if top else "",
                    int(cm[row["index"]][top[0]]) if top else 0,
                ]
            )
