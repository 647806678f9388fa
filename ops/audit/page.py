"""The audit's HTML page: one self-contained file, a section per kind of flag, a thumbnail per image.

Thumbnails are data URIs (ops/evaluate/report.thumbnail), so the page opens anywhere, offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ops.data.manifest import PreparedData
from ops.data.thumbnails import thumbnail

KIND_TITLES = {
    "label": "Likely mislabelled (cleanlab, out-of-fold probabilities)",
    "not_dog": "Probably not a dog (ImageNet dog score)",
    "duplicate": "Train/validation duplicates (prepare_report.json)",
}
SCORE_NAMES = {
    "label": "p(given label)",
    "not_dog": "dog score",
    "duplicate": "hash distance",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { display: block; max-height: 96px; }
.exclude { color: #a00; } .relabel { color: #06c; }
.summary td { border: none; padding: 2px 12px 2px 0; }
"""


def _image_cell(path: Path) -> str:

    uri = thumbnail(path)
    if uri is None:
        return "<td>(unreadable)</td>"
    return f'<td><img src="{uri}" alt="{html.escape(path.name)}" loading="lazy"></td>'


def write_page(path: Path, flags: list, prepared: PreparedData, counts: dict[str, Any]) -> Path:
    """Write audit.html for the flags (ops.audit.audit.Flag) and return its path."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Dog Breed ID: data audit</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Data audit</h1>",
        f"<p>{html.escape(str(prepared.root))}: {counts['images']['train']:,} train / "
        f"{counts['images']['validation']:,} validation images; out-of-fold top-1 "
        f"{counts['oof_top1']:.2%} ({counts['folds']} folds). Flagged images: "
        f"{counts['flagged_images']['train']:,} train, "
        f"{counts['flagged_images']['validation']:,} validation. The suggested actions are in "
        "exclusions.csv (<code>dogbreed data prepare --exclude exclusions.csv</code>).</p>",
        "<table class='summary' id='counts'>",
    ]
    for key, value in counts["flags"].items():
        parts.append(f"<tr><td>{html.escape(key)}</td><td class='num'>{value:,}</td></tr>")
    parts.append("</table>")
    for kind, title in KIND_TITLES.items():
        group = [f for f in flags if f.kind == kind]
        parts.append(f"<section id='{kind}'><h2>{html.escape(title)}: {len(group):,}</h2>")
        if not group:
            parts.append("<p>None.</p></section>")
            continue
        parts.append(
            "<table><tr><th>image</th><th>split</th><th>file</th><th>given</th>"
            f"<th>suggested</th><th>{SCORE_NAMES[kind]}</th><th>action</th><th>why</th></tr>"
        )
        for f in group:
            parts.append(
                "<tr class='flag'>"
                + _image_cell(prepared.images_dir(f.split) / f.file)
                + f"<td>{f.split}</td><td>{html.escape(f.file)}</td>"
                f"<td>{html.escape(f.given)}</td><td>{html.escape(f.suggested or '-')}</td>"
                f"<td class='num'>{f.score:.3f}</td>"
                f"<td class='{f.action}'>{f.action}</td><td>{html.escape(f.detail)}</td></tr>"
            )
        parts.append("</table></section>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path
