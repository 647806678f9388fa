"""API answers -> class indices and latencies, and which images a report is on (annotation sizes).

Pure data: no plots, no HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops.data.layout import Layout, annotation_path, read_annotation
from ops.data.manifest import BreedClass
from ops.evaluate.records import failures_by_kind


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
                "cam": (record.get("answer") or {}).get("cam"),  # where it looked, if answered
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


def failure_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How many images were sent, answered and failed (by kind); complete when none failed."""
    failures = [r for r in records if not r.get("ok")]
    by_kind = failures_by_kind(records)
    return {
        "images": len(records),
        "answered": len(records) - len(failures),
        "failed": len(failures),
        "failures_by_kind": by_kind,
        "complete": not failures,
    }


def mistaken_for(cm, index: int, k: int) -> list[int]:
    """The k classes a class is most often mistaken for (largest off-diagonal cells of its row)."""
    import numpy as np

    row = np.asarray(cm)[index].copy()
    row[index] = 0
    return [int(j) for j in np.argsort(row, kind="stable")[::-1][:k] if row[j] > 0]
