"""The evaluation report: metrics.json and per_class.csv for machines, one self-contained HTML for people.

The HTML carries everything inline (plots as PNG data URIs, thumbnails as JPEG data URIs), so it
can be mailed or attached to an issue as one file. matplotlib runs on the Agg backend (no display).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.data.manifest import BreedClass
from ops.evaluate.answers import answer_counts
from ops.evaluate.metrics import compute_metrics, worst_classes

TEMPLATE = "report.html.j2"
DETAIL_CLASSES = 25  # the labelled confusion heatmap shows at most this many classes
THUMBS_PER_PAIR = 3
MISTAKEN_FOR = 3
FAILURES_SHOWN = 200


@dataclass
class ReportFiles:
    html: Path
    metrics: Path
    per_class: Path


def class_lookup(classes: list[BreedClass]) -> tuple[dict[str, int], dict[str, int]]:
    """wnid -> index and lower-case breed name -> index, to map API answers onto the manifest."""
    by_wnid = {c.wnid: c.index for c in classes}
    by_name = {c.name.lower(): c.index for c in classes}
    return by_wnid, by_name


def to_results(
    records: list[dict[str, Any]], classes: list[BreedClass]
) -> tuple[list[dict[str, Any]], list[float]]:
    """Answered records as metrics inputs (predictions matched by wnid, else by breed name; -1 =
    a class outside the evaluated ones), plus one latency per request (not per image)."""
    by_wnid, by_name = class_lookup(classes)
    results, latencies = [], {}
    for record in records:
        if not record.get("ok"):
            continue
        ranked = []
        for p in record["predictions"]:
            index = by_wnid.get(p.get("wnid") or "")
            if index is None:
                index = by_name.get(str(p.get("breed") or "").lower(), -1)
            ranked.append(index)
        confidence = record["predictions"][0]["probability"] if record["predictions"] else 0.0
        results.append(
            {
                "i": record["i"],
                "path": record["path"],
                "label": record["label"],
                "ranked": ranked,
                "confidence": float(confidence),
            }
        )
        if record.get("request"):
            latencies[record["request"]] = float(record.get("latency_ms", 0.0))
    return results, list(latencies.values())


def describe_images(prepared_dir: Path, split: str = "validation") -> str:
    """Which images the figures are on, from what `data prepare` recorded and, when it did not
    crop, from comparing image sizes with the annotation XML (a crop differs from <size>)."""
    report_path = Path(prepared_dir) / "prepare_report.json"
    info_path = Path(prepared_dir) / "info.json"
    report, crop = {}, "none"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        crop = report.get("options", {}).get("crop", crop)
    elif info_path.is_file():
        crop = json.loads(info_path.read_text()).get("crop", crop)
    already = report.get("counts", {}).get("already_cropped") or _looks_cropped(
        Path(prepared_dir) / split, report.get("source")
    )
    if already:
        return (
            "box crops: the source images are already cropped to their annotated dog boxes "
            "(as in the offline Stanford Dogs copy); crops are easier than full photos"
        )
    if crop == "boxes":
        return "box crops (made by `data prepare --crop boxes`); crops are easier than full photos"
    return "the images as prepared (full photos, not cropped to the dog boxes)"


def _looks_cropped(images_dir: Path, raw_dir: str | None, sample: int = 20) -> bool:
    """True when most sampled images differ in size from their Annotation XML <size>."""
    if not raw_dir or not images_dir.is_dir():
        return False
    from PIL import Image

    from ops.data.layout import Layout, annotation_path, read_annotation

    layout = Layout(Path(raw_dir), [])
    checked = differ = 0
    files = sorted(images_dir.glob("*/*"))
    for path in files[:: max(1, len(files) // sample)]:
        annotation = read_annotation(annotation_path(layout, f"{path.parent.name}/{path.name}"))
        if annotation is None:
            continue
        expected = (annotation.width, annotation.height)
        try:
            with Image.open(path) as img:
                actual = img.size
        except OSError:
            continue
        checked += 1
        differ += actual != expected and actual != expected[::-1]
        if checked >= sample:
            break
    return checked > 0 and differ / checked >= 0.8


def _png(fig, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(path: Path, size: int = 96) -> str | None:
    """A JPEG data URI of the image, or None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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
        for idx in [row["index"]] + _mistaken_for(cm, row["index"], MISTAKEN_FOR):
            if idx not in chosen and len(chosen) < limit:
                chosen.append(idx)
    if len(chosen) < 2:
        return chosen
    order = similarity_order(cm[np.ix_(chosen, chosen)])
    return [chosen[i] for i in order]


def _mistaken_for(cm, index: int, k: int) -> list[int]:
    import numpy as np

    row = np.asarray(cm)[index].copy()
    row[index] = 0
    return [int(j) for j in np.argsort(row, kind="stable")[::-1][:k] if row[j] > 0]


def worst_class_details(
    cm,
    worst: list[dict[str, Any]],
    results: list[dict[str, Any]],
    names: list[str],
    images_dir: Path,
) -> list[dict[str, Any]]:
    """For each worst class: the classes it is mistaken for, with example thumbnails."""
    details = []
    for row in worst:
        mistaken = []
        for j in _mistaken_for(cm, row["index"], MISTAKEN_FOR):
            examples = [r for r in results if r["label"] == row["index"] and r["ranked"][:1] == [j]]
            thumbs = []
            for r in examples[:THUMBS_PER_PAIR]:
                uri = thumbnail(images_dir / r["path"])
                if uri:
                    thumbs.append({"uri": uri, "path": r["path"], "confidence": r["confidence"]})
            reference = next(
                (r for r in results if r["label"] == j and r["ranked"][:1] == [j]), None
            )
            mistaken.append(
                {
                    "reference": thumbnail(images_dir / reference["path"]) if reference else None,
                    "name": names[j],
                    "count": int(cm[row["index"]][j]),
                    "share": int(cm[row["index"]][j]) / row["support"] if row["support"] else 0,
                    "thumbs": thumbs,
                }
            )
        details.append({**row, "mistaken_for": mistaken})
    return details


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
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in sorted(classes, key=lambda c: c.index)]
    wnids = [c.wnid for c in sorted(classes, key=lambda c: c.index)]
    results, latencies = to_results(records, classes)
    metrics = compute_metrics(results, names, latencies)
    failures = [r for r in records if not r.get("ok")]
    failure_counts: dict[str, int] = {}
    for r in failures:
        failure_counts[r["kind"]] = failure_counts.get(r["kind"], 0) + 1
    counts = {
        "images": len(records),
        "answered": metrics["answered"],
        "failed": len(failures),
        "failures_by_kind": failure_counts,
        "complete": not failures,
        "answers": answer_counts(records, {w: i for i, w in enumerate(wnids)}),
    }
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
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["pct"] = fmt_pct
    env.filters["ms"] = lambda v: "-" if v is None else f"{v:,.1f} ms"
    html = env.get_template(TEMPLATE).render(
        run=run,
        counts=counts,
        metrics=metrics,
        per_class=sorted(
            metrics["per_class"],
            key=lambda r: (r["support"] == 0, r["recall"], r["f1"], r["name"]),
        ),
        worst=worst_class_details(cm, worst, results, names, images_dir),
        pairs=metrics["confused_pairs"],
        plots=plots,
        failures=failures[:FAILURES_SHOWN],
        failures_total=len(failures),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    html_path = out_dir / "report.html"
    html_path.write_text(html)
    return ReportFiles(html_path, metrics_path, per_class_path)


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """The one percentage format of the report (the HTML shows metrics.json's values with it)."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _write_per_class(path: Path, per_class: list[dict], cm, names: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
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
            top = _mistaken_for(cm, row["index"], 1)
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
