"""What `data prepare` writes into the output folder, and how it publishes it.

The manifests and classes.json (the ops.data.manifest contract), info.json (what training
needs and the data summary), prepare_report.json (options, counts, every excluded, repaired or
duplicate file), the checks on the output folder before anything is written, and the swap of the
finished `<out>.partial` into place. No timestamps and a fixed order: the same input gives
byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from pathlib import Path

from ops.data.decode import SPLITS, Decoded
from ops.data.manifest import BreedClass, LstEntry, PreparedData, write_classes, write_lst
from ops.data.split import OutputClass
from ops.data.validate import ImageResult
from ops.errors import DogbreedError

REPORT_FILE = "prepare_report.json"


def label_for(label_of: dict[str, int], rel: str) -> int:
    """An image's class: its own entry (relabelled by --exclude), else its folder's."""
    return label_of[rel] if rel in label_of else label_of[rel.split("/", 1)[0]]


def write_manifests(
    partial: Path,
    classes: list[OutputClass],
    good: dict[str, list[tuple[str, ImageResult]]],
    label_of: dict[str, int],
) -> None:
    """<split>_lst/<split>.lst for each split and classes.json."""
    for name in SPLITS:
        entries = [
            LstEntry(i, label_for(label_of, rel), rel) for i, (rel, _) in enumerate(good[name])
        ]
        write_lst(partial / f"{name}_lst" / f"{name}.lst", entries)
    write_classes(partial / "classes.json", [BreedClass(c.index, c.wnid, c.name) for c in classes])


def report_json(raw_dir, options, selection, decoded: Decoded, pairs, dropped, warnings) -> dict:
    """prepare_report.json: the options, the counts and every excluded, repaired, duplicate or
    --exclude-listed file (`selection`: prepare.Selection), then the warnings."""
    chosen, classes = selection.source_classes, selection.classes
    return {
        "source": str(raw_dir),
        "options": {
            "split": options.split,
            "val_fraction": options.val_fraction if options.split == "stratified" else None,
            "seed": options.seed if options.split == "stratified" else None,
            "crop": options.crop,
            "merge": options.merge or None,
            "exclude": options.exclude or None,
            "classes": [c.folder for c in chosen],
            "drop_near_duplicates": options.drop_near_duplicates,
            "phash_max_distance": options.phash_max_distance,
        },
        "counts": {
            "listed": decoded.listed,
            "written": sum(len(decoded.good[n]) for n in SPLITS),
            "excluded": len(decoded.excluded),
            "repaired": len(decoded.repairs),
            **decoded.crops,
            "exact_duplicates": sum(p.kind == "exact" for p in pairs),
            "near_duplicates": sum(p.kind == "near" for p in pairs),
            "dropped_from_validation": len(dropped),
            "excluded_by_list": len(selection.excluded_by_list),
            "relabelled_by_list": len(selection.relabelled),
        },
        "excluded": decoded.excluded,
        "repairs": decoded.repairs,
        "duplicates": [p.as_dict() for p in pairs],
        "dropped_from_validation": dropped,
        "excluded_by_list": selection.excluded_by_list,
        "relabelled_by_list": {
            rel: classes[i].name for rel, i in sorted(selection.relabelled.items())
        },
        "warnings": warnings,
    }


def _stats(values: list[int]) -> dict:
    """min, max, mean and median of a count list (zeros when empty)."""
    if not values:
        return {"min": 0, "max": 0, "mean": 0.0, "median": 0.0}
    return {
        "min": min(values),
        "max": max(values),
        "mean": round(statistics.fmean(values), 2),
        "median": float(statistics.median(values)),
    }


def info_json(
    classes: list[OutputClass],
    good: dict[str, list[tuple[str, ImageResult]]],
    label_of: dict[str, int],
    options,
    excluded: int,
    pairs: list,
    dropped: list[str],
) -> dict:
    """info.json: what training needs (num_classes, num_training_samples) and the data summary."""
    counts = {c.index: {"train": 0, "validation": 0} for c in classes}
    for name in SPLITS:
        for rel, _ in good[name]:
            counts[label_for(label_of, rel)][name] += 1
    train_counts = [counts[c.index]["train"] for c in classes]
    results = [r for name in SPLITS for _, r in good[name]]
    return {
        "num_classes": len(classes),
        "num_training_samples": len(good["train"]),
        "num_validation_samples": len(good["validation"]),
        "per_class": {c.name: counts[c.index] for c in classes},
        "train_per_class": _stats(train_counts),
        "image_size": {
            "width": _stats([r.width for r in results]),
            "height": _stats([r.height for r in results]),
        },
        "split": options.split,
        "crop": options.crop,
        "excluded": excluded,
        "exact_duplicates": sum(p.kind == "exact" for p in pairs),
        "near_duplicates": sum(p.kind == "near" for p in pairs),
        "dropped_from_validation": len(dropped),
    }


def write_json(path: Path, data) -> None:
    """Indented JSON in the given key order with a final newline: byte-stable for one input."""
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def check_output(raw_dir: Path, out_dir: Path) -> None:
    """The output must be writable and must not be (inside) the source folder."""
    raw_real, out_real = raw_dir.resolve(), out_dir.resolve()
    images_real = (raw_dir / "Images").resolve()
    for src in {raw_real, images_real}:
        if out_real == src or src in out_real.parents:
            raise DogbreedError(
                f"output folder {out_dir} is inside the source {raw_dir}",
                exit_code=2,
                hint="prepare never writes into the source; choose another data.prepared_dir",
            )
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        probe = out_dir.parent / f".{out_dir.name}.write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DogbreedError(
            f"cannot write the prepared data to {out_dir}: {exc.strerror or exc}"
        ) from exc


def swap_in(partial: Path, out_dir: Path) -> None:
    """Replace out_dir by the finished partial folder (old one removed only after the rename)."""
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.is_symlink() or out_dir.is_file():
        raise DogbreedError(f"{out_dir} exists and is not a folder", exit_code=2)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(partial, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    PreparedData(out_dir).check()
