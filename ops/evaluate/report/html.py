"""The self-contained report.html: thumbnails as JPEG data URIs, the Jinja template in templates/.

The HTML carries everything inline, so it can be mailed or attached to an issue as one file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.data.thumbnails import jpeg_data_uri, thumbnail
from ops.evaluate.report.plots import MISTAKEN_FOR
from ops.evaluate.report.results import mistaken_for

TEMPLATE = "report.html.j2"
THUMBS_PER_PAIR = 3
FAILURES_SHOWN = 200


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """The one percentage format of the report (the HTML shows metrics.json's values with it)."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def map_thumbnail(path: Path, cam, size: int = 96) -> str | None:
    """A JPEG data URI of the centre square the model saw with its activation map over it
    (ops/model/heatmap.py), or None without a map or a readable image."""
    from PIL import Image

    from ops.model.heatmap import blend, centre_square

    if not cam:
        return None
    try:
        with Image.open(path) as img:
            drawn = blend(centre_square(img, size), cam)
    except (OSError, ValueError):
        return None
    return jpeg_data_uri(drawn)


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
        for j in mistaken_for(cm, row["index"], MISTAKEN_FOR):
            examples = [r for r in results if r["label"] == row["index"] and r["ranked"][:1] == [j]]
            thumbs = []
            for r in examples[:THUMBS_PER_PAIR]:
                uri = thumbnail(images_dir / r["path"])
                if uri:
                    looked = map_thumbnail(images_dir / r["path"], r.get("cam"))
                    thumbs.append(
                        {
                            "uri": uri,
                            "map": looked,
                            "path": r["path"],
                            "confidence": r["confidence"],
                        }
                    )
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


def render_html(run, counts, metrics, worst_details, plots, failures) -> str:
    """report.html from the same numbers as metrics.json (fmt_pct is its one percentage format)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["pct"] = fmt_pct
    env.filters["ms"] = lambda v: "-" if v is None else f"{v:,.1f} ms"
    return env.get_template(TEMPLATE).render(
        run=run,
        counts=counts,
        metrics=metrics,
        per_class=sorted(
            metrics["per_class"],
            key=lambda r: (r["support"] == 0, r["recall"], r["f1"], r["name"]),
        ),
        worst=worst_details,
        pairs=metrics["confused_pairs"],
        plots=plots,
        failures=failures[:FAILURES_SHOWN],
        failures_total=len(failures),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
