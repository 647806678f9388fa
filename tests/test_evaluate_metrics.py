"""The evaluation's figures against values computed by hand on a 9-image, 3-class case."""

from __future__ import annotations

import pytest

from ops.evaluate.metrics import compute_metrics, latency_summary, worst_classes
from ops.metrics import calibration
from tests.evaluate_helpers import EXPECTED, LABELS, SCENARIO

NAMES = ["Chihuahua", "Japanese_spaniel", "Maltese_dog"]


def scenario_results():
    return [
        {"label": label, "ranked": ranked, "confidence": p}
        for label, (ranked, p) in zip(LABELS, SCENARIO, strict=True)
    ]


def test_accuracy_confusion_and_per_class_scores_match_hand_computed_values():
    m = compute_metrics(scenario_results(), NAMES)

    assert m["answered"] == 9
    assert m["top1"] == pytest.approx(5 / 9)  # right: 2 + 2 + 1
    assert m["top5"] == pytest.approx(8 / 9)  # the last image's class is not in its answer
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 1, 1]]
    rows = m["per_class"]
    # precision = diagonal / column sum: 2/3, 2/4, 1/2; recall = diagonal / support: 2/3, 2/3, 1/3
    assert [r["precision"] for r in rows] == pytest.approx([2 / 3, 1 / 2, 1 / 2])
    assert [r["recall"] for r in rows] == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    # F1 = 2PR / (P + R): 2/3, 2*(1/2*2/3)/(7/6) = 4/7, 2*(1/2*1/3)/(5/6) = 2/5
    assert [r["f1"] for r in rows] == pytest.approx([2 / 3, 4 / 7, 2 / 5])
    assert [r["support"] for r in rows] == [3, 3, 3]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 7 + 2 / 5) / 3)
    assert [r["f1"] for r in rows] == pytest.approx(EXPECTED["f1"])


def test_most_confused_pairs_and_worst_classes():
    m = compute_metrics(scenario_results(), NAMES)

    pairs = {(p["true"], p["predicted"]): p["count"] for p in m["confused_pairs"]}
    assert pairs == {
        ("Chihuahua", "Japanese_spaniel"): 1,
        ("Japanese_spaniel", "Maltese_dog"): 1,
        ("Maltese_dog", "Chihuahua"): 1,
        ("Maltese_dog", "Japanese_spaniel"): 1,
    }
    assert all(p["share_of_true"] == pytest.approx(1 / 3) for p in m["confused_pairs"])
    # lowest recall first; the 2/3 tie goes to the lower F1 (Japanese spaniel, 4/7 < 2/3)
    assert [r["name"] for r in worst_classes(m["per_class"], 3)] == [
        "Maltese_dog",
        "Japanese_spaniel",
        "Chihuahua",
    ]


def test_expected_calibration_error_by_hand():
    m = compute_metrics(scenario_results(), NAMES)

    # 15 bins of width 1/15; only the bin (0.867, 0.933] holds two images (0.90 and 0.90, both
    # right: gap 0.1 each); every other image is alone in its bin, so
    # ECE = (0.2 + |1-.62| + |0-.70| + |1-.82| + |0-.50| + |1-.95| + |0-.42| + |0-.55|) / 9
    assert m["calibration"]["ece"] == pytest.approx(2.98 / 9)
    bins = m["calibration"]["bins"]
    assert len(bins) == 15
    assert sum(b["count"] for b in bins) == 9
    full = [b for b in bins if b["count"] == 2]
    assert len(full) == 1 and full[0]["accuracy"] == 1.0
    assert full[0]["confidence"] == pytest.approx(0.9)


def test_calibration_edges_and_perfect_calibration():
    import numpy as np

    # confidence 1.0 goes to the last bin, 0.0 to the first; a perfectly calibrated set has ECE 0
    c = calibration(np.array([1.0, 1.0, 0.0]), np.array([True, True, False]), bins=10)
    assert c["bins"][-1]["count"] == 2 and c["bins"][0]["count"] == 1
    assert c["ece"] == pytest.approx(0.0)


def test_latency_percentiles_and_empty_inputs():
    lat = latency_summary([float(v) for v in range(1, 101)])
    assert lat["requests"] == 100
    assert lat["p50_ms"] == pytest.approx(50.5)
    assert lat["p99_ms"] == pytest.approx(99.01)
    assert lat["max_ms"] == 100.0
    assert latency_summary([])["p95_ms"] is None

    empty = compute_metrics([], NAMES)
    assert empty["top1"] is None and empty["calibration"]["ece"] is None


def test_predictions_outside_the_evaluated_classes_count_as_misses():
    results = [
        {"label": 0, "ranked": [-1, 0], "confidence": 0.8},
        {"label": 0, "ranked": [0, -1], "confidence": 0.8},
    ]
    m = compute_metrics(results, NAMES)
    assert m["top1"] == pytest.approx(0.5)
    assert m["top5"] == pytest.approx(1.0)
    assert m["per_class"][0]["recall"] == pytest.approx(0.5)
    assert m["per_class"][0]["predicted_outside"] == 1
    assert m["per_class"][0]["precision"] == pytest.approx(1.0)
    assert m["confusion_matrix"][0] == [1, 0, 0]
