"""The evaluation's figures against values computed by hand on a 9-image, 3-class case."""

from __future__ import annotations

import pytest

from ops.evaluate.metrics import compute_metrics, latency_summary, worst_classes
from ops.model.ranking import calibration
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


def test_top5_counts_the_fifth_place_and_not_the_sixth():
    """Rankings over 8 classes: a label at rank 5 is a top-5 hit, at rank 6 it is not."""
    import numpy as np

    from ops.model.ranking import hits_at_k, rank, top_k_accuracy

    names = [f"breed{i}" for i in range(8)]
    ranked = [list(range(8)), [7, 6, 5, 4, 3, 2, 1, 0], [1, 2, 3, 4, 5, 6, 7, 0]]
    labels = [4, 2, 6]  # ranks 5, 6 and 6
    results = [
        {"label": y, "ranked": r, "confidence": 0.5} for y, r in zip(labels, ranked, strict=True)
    ]
    m = compute_metrics(results, names)
    assert m["top5"] == pytest.approx(1 / 3)
    assert hits_at_k(ranked, labels, 5).tolist() == [True, False, False]
    scores = np.zeros((3, 8))
    for row, order in enumerate(ranked):
        scores[row, order] = np.linspace(1.0, 0.1, 8)  # descending scores in ranking order
    assert rank(scores).tolist() == ranked
    assert top_k_accuracy(scores, labels, 5) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 6) == pytest.approx(1.0)
    assert top_k_accuracy(scores, labels, 4) == 0.0
