"""The report's plots, each its own function returning a PNG data URI (matplotlib, Agg backend)."""

from __future__ import annotations

import base64
import io
from typing import Any

from ops.evaluate.report.results import mistaken_for

DETAIL_CLASSES = 25  # the labelled confusion heatmap shows at most this many classes
MISTAKEN_FOR = 3


def _png(fig, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _row_normalised(cm):
    import numpy as np

    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def similarity_order(cm) -> list[int]:
    """Classes ordered so that classes confused with each other sit together (average-linkage
    clustering of the symmetrised, row-normalised confusion)."""
    import numpy as np

    n = len(cm)
    if n < 3:
        return list(range(n))
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    norm = _row_normalised(cm)
    sim = (norm + norm.T) / 2
    np.fill_diagonal(sim, 0)
    dist = 1.0 - sim / (sim.max() or 1.0)
    np.fill_diagonal(dist, 0)
    return [int(i) for i in leaves_list(linkage(squareform(dist, checks=False), "average"))]


def plot_confusion(cm, names: list[str], order: list[int], title: str, labelled: bool) -> str:
    """Row-normalised heatmap of `order` x `order`. labelled: names and counts in the cells
    (up to ~30 classes); otherwise the many-class overview, which shows mistakes only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(cm)
    sub = _row_normalised(cm)[np.ix_(order, order)]
    n = len(order)
    labels = [names[i].replace("_", " ") for i in order]
    if not labelled:
        return _plot_overview(sub, labels, title)
    side = min(12.0, max(4.5, 0.32 * n + 2))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(sub, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    counts = cm[np.ix_(order, order)]
    if n <= 30:
        for r in range(n):
            for c in range(n):
                if counts[r, c]:
                    colour = "black" if sub[r, c] > 0.5 else "white"
                    ax.text(
                        c, r, str(counts[r, c]), ha="center", va="center", fontsize=6, color=colour
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _png(fig)


def _plot_overview(sub, labels: list[str], title: str) -> str:
    """Many classes: the diagonal would drown everything else, so only the mistakes are shown,
    coloured up to the largest one; small labels, rendered at 150 dpi to be read zoomed in."""
    import matplotlib.pyplot as plt
    import numpy as np

    n = len(labels)
    off = sub.copy()
    np.fill_diagonal(off, np.nan)
    top = float(np.nanmax(off)) if n > 1 and np.nanmax(off) > 0 else 1.0
    fig, ax = plt.subplots(figsize=(13.2, 12))
    cmap = plt.get_cmap("magma_r").with_extremes(bad="#d0d4dc")
    im = ax.imshow(off, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class (mistakes)")
    font = 4.5 if n > 80 else 6
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _png(fig, dpi=150)


def plot_reliability(calibration: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = calibration["bins"]
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(5.5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    width = bins[0]["upper"] - bins[0]["lower"] if bins else 0.1
    centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
    accs = [b["accuracy"] if b["accuracy"] is not None else 0 for b in bins]
    ax.bar(centers, accs, width=width * 0.95, color="#4c72b0", edgecolor="white", label="accuracy")
    gaps = [
        (c, b["confidence"] - b["accuracy"])
        for c, b in zip(centers, bins, strict=True)
        if b["count"]
    ]
    if gaps:
        ax.bar(
            [c for c, _ in gaps],
            [g for _, g in gaps],
            bottom=[a for a, b in zip(accs, bins, strict=True) if b["count"]],
            width=width * 0.95,
            color="#dd8452",
            alpha=0.55,
            label="gap to confidence",
        )
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ece = calibration.get("ece")
    ax.set_title(f"Reliability diagram (ECE {ece:.2%})" if ece is not None else "Reliability")
    ax.legend(loc="upper left", fontsize=8)
    ax2.bar(centers, [b["count"] for b in bins], width=width * 0.95, color="#8c8c8c")
    ax2.set_xlabel("top-1 confidence")
    ax2.set_ylabel("images")
    ax2.set_xlim(0, 1)
    return _png(fig)


def plot_latency(latencies_ms: list[float]) -> str | None:
    if not latencies_ms:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.hist(latencies_ms, bins=40, color="#55a868")
    ax.set_xlabel("request latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title("Latency of POST /classify")
    return _png(fig)


def detail_classes(cm, worst: list[dict[str, Any]], limit: int = DETAIL_CLASSES) -> list[int]:
    """The worst classes plus the classes they are mistaken for, at most `limit`, similarity-ordered."""
    import numpy as np

    cm = np.asarray(cm)
    chosen: list[int] = []
    for row in worst:
        for idx in [row["index"]] + mistaken_for(cm, row["index"], MISTAKEN_FOR):
            if idx not in chosen and len(chosen) < limit:
                chosen.append(idx)
    if len(chosen) < 2:
        return chosen
    order = similarity_order(cm[np.ix_(chosen, chosen)])
    return [chosen[i] for i in order]


def report_plots(cm, names: list[str], metrics: dict, worst: list[dict], latencies) -> dict:
    """Every plot of the report by name (None where there is nothing to draw)."""
    plots: dict[str, str | None] = {"overview": None, "detail": None, "reliability": None}
    if metrics["answered"]:
        order = similarity_order(cm)
        plots["overview"] = plot_confusion(
            cm,
            names,
            order,
            f"All {len(names)} classes, ordered by confusion similarity"
            + ("" if len(names) <= DETAIL_CLASSES else " (diagonal in grey)"),
            labelled=len(names) <= DETAIL_CLASSES,
        )
        detail = detail_classes(cm, worst)
        if len(names) > DETAIL_CLASSES and len(detail) >= 2:
            plots["detail"] = plot_confusion(
                cm, names, detail, "Worst classes and what they are mistaken for", labelled=True
            )
        plots["reliability"] = plot_reliability(metrics["calibration"])
    plots["latency"] = plot_latency(latencies)
    return plots
