"""`data prepare`: raw Stanford Dogs folder -> prepared folder (the ops.data.manifest contract).

Steps: pick classes (subset, label map), split (official lists or seeded stratified), decode and
repair every image in worker processes, exclude what cannot be decoded, find train/validation
duplicates (exact + perceptual), optionally drop them from validation, then write the manifests,
classes.json, info.json and prepare_report.json. The output is built in `<out>.partial` and
swapped in at the end, so an interrupted run never leaves a half-written prepared folder, and the
same input always gives byte-identical files (no timestamps, sorted everything).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ops.data.dedup import HashedImage, find_duplicates
from ops.data.layout import (
    Layout,
    annotation_path,
    check_list_files,
    read_annotation,
    read_layout,
)
from ops.data.manifest import BreedClass, LstEntry, PreparedData, write_classes, write_lst
from ops.data.split import (
    OutputClass,
    official_split,
    output_classes,
    read_label_map,
    select_classes,
    stratified_split,
)
from ops.data.validate import ImageResult, ImageTask, process_image
from ops.errors import DogbreedError
from ops.settings import Settings

SPLITS = ("train", "validation")
REPORT_FILE = "prepare_report.json"
MIN_PARALLEL = 64  # fewer images than this are decoded in-process (starting workers costs ~1 s)


@dataclass
class PrepareOptions:
    split: str = "official"
    val_fraction: float = 0.2
    seed: int = 42
    crop: str = "none"
    merge: str = ""
    exclude: str = ""
    drop_near_duplicates: bool = False
    phash_max_distance: int = 6
    classes: list[str] = field(default_factory=list)
    num_classes: int = 0
    workers: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> PrepareOptions:
        d = settings.data
        return cls(
            split=d.split,
            val_fraction=d.val_fraction,
            seed=d.seed,
            crop=d.crop,
            merge=str(settings.resolve(d.merge)) if d.merge else "",
            exclude=str(settings.resolve(d.exclude)) if d.exclude else "",
            drop_near_duplicates=d.drop_near_duplicates,
            phash_max_distance=d.phash_max_distance,
            classes=list(d.classes),
            num_classes=d.num_classes,
            workers=d.workers,
        )


@dataclass
class PrepareResult:
    out_dir: Path
    info: dict
    report: dict
    warnings: list[str]


def prepare(
    raw_dir: Path, out_dir: Path, options: PrepareOptions, progress: bool = True
) -> PrepareResult:
    """Build the prepared folder `out_dir` from the raw dataset folder `raw_dir`."""
    raw_dir, out_dir = Path(raw_dir).absolute(), Path(out_dir).absolute()
    layout = read_layout(raw_dir)
    _check_output(raw_dir, out_dir)
    warnings: list[str] = []

    chosen = select_classes(layout.classes, options.classes, options.num_classes)
    label_map = read_label_map(Path(options.merge)) if options.merge else {}
    classes = output_classes(chosen, label_map)
    label_of = {folder: c.index for c in classes for folder in c.folders}
    folders = set(label_of)
    split = _split(layout, options, folders)
    relabelled: dict[str, int] = {}
    excluded_by_list: list[str] = []
    if options.exclude:
        split, relabelled, excluded_by_list = apply_exclusions(
            split, Path(options.exclude), classes, label_map
        )
        label_of.update(relabelled)
    for name in SPLITS:
        if not split[name]:
            raise DogbreedError(f"the {name} split is empty for the chosen classes")

    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tasks, missing_xml = _image_tasks(layout, split, partial, options)
    if missing_xml:
        warnings.append(f"{missing_xml} image(s) have no usable Annotation XML: left uncropped")

    flat = [t for name in SPLITS for t in tasks[name]]
    results = _run(flat, options.workers, progress)
    by_split: dict[str, list[tuple[str, ImageResult]]] = {}
    i = 0
    for name in SPLITS:
        by_split[name] = list(zip(split[name], results[i : i + len(split[name])], strict=True))
        i += len(split[name])

    excluded = [
        {"split": name, "file": rel, "reason": r.error}
        for name in SPLITS
        for rel, r in by_split[name]
        if not r.ok
    ]
    repairs = [
        {"split": name, "file": rel, "repairs": r.repairs}
        for name in SPLITS
        for rel, r in by_split[name]
        if r.ok and r.repairs
    ]
    good = {name: [(rel, r) for rel, r in by_split[name] if r.ok] for name in SPLITS}
    cropped = sum(r.cropped for name in SPLITS for _, r in good[name])
    already = sum(r.already_cropped for name in SPLITS for _, r in good[name])
    if already:
        warnings.append(
            f"{already} image(s) differ in size from their XML <size>: already cropped, left as they are"
        )
    if excluded:
        warnings.append(f"{len(excluded)} image(s) could not be decoded and were excluded")

    hashed = {
        name: [HashedImage(rel, _label(label_of, rel), r.sha256, r.phash) for rel, r in good[name]]
        for name in SPLITS
    }
    pairs = find_duplicates(hashed["train"], hashed["validation"], options.phash_max_distance)
    dropped: list[str] = []
    if options.drop_near_duplicates and pairs:
        dropped = sorted({p.validation for p in pairs})
        drop = set(dropped)
        for rel in dropped:
            (partial / "validation" / rel).unlink()
        good["validation"] = [(rel, r) for rel, r in good["validation"] if rel not in drop]
    elif pairs:
        warnings.append(
            f"{len(pairs)} train/validation duplicate pair(s) (leakage); "
            "--drop-near-duplicates removes them from validation"
        )

    for name in SPLITS:
        entries = [LstEntry(i, _label(label_of, rel), rel) for i, (rel, _) in enumerate(good[name])]
        write_lst(partial / f"{name}_lst" / f"{name}.lst", entries)
    write_classes(partial / "classes.json", [BreedClass(c.index, c.wnid, c.name) for c in classes])
    info = _info(classes, good, label_of, options, len(excluded), pairs, dropped)
    _write_json(partial / "info.json", info)
    crops = {"cropped": cropped, "already_cropped": already}
    report = _report(raw_dir, options, chosen, flat, good, excluded, repairs, crops, pairs, dropped)
    report["counts"]["excluded_by_list"] = len(excluded_by_list)  # --exclude FILE
    report["counts"]["relabelled_by_list"] = len(relabelled)
    report["excluded_by_list"] = excluded_by_list
    report["relabelled_by_list"] = {rel: classes[i].name for rel, i in sorted(relabelled.items())}
    report["warnings"] = warnings
    _write_json(partial / REPORT_FILE, report)
    _swap_in(partial, out_dir)
    return PrepareResult(out_dir, info, report, warnings)


def _image_tasks(layout, split, partial: Path, options: PrepareOptions):
    """The decode/crop/write task of every chosen image, and how many lack usable box XML."""
    tasks: dict[str, list[ImageTask]] = {}
    missing_xml = 0
    for name in SPLITS:
        for folder in sorted({rel.split("/", 1)[0] for rel in split[name]}):
            (partial / name / folder).mkdir(parents=True, exist_ok=True)
        tasks[name] = []
        for rel in split[name]:
            boxes, size = (), None
            if options.crop == "boxes":
                ann = read_annotation(annotation_path(layout, rel))
                if ann is None or not ann.boxes:
                    missing_xml += 1
                else:
                    boxes, size = ann.boxes, (ann.width, ann.height)
            tasks[name].append(
                ImageTask(str(layout.images_dir / rel), str(partial / name / rel), boxes, size)
            )
    return tasks, missing_xml


def _report(raw_dir, options, chosen, flat, good, excluded, repairs, crops, pairs, dropped) -> dict:
    """prepare_report.json (its "warnings" added by prepare): the options, the counts and every
    excluded, repaired or duplicate file."""
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
            "listed": len(flat),
            "written": sum(len(good[n]) for n in SPLITS),
            "excluded": len(excluded),
            "repaired": len(repairs),
            **crops,
            "exact_duplicates": sum(p.kind == "exact" for p in pairs),
            "near_duplicates": sum(p.kind == "near" for p in pairs),
            "dropped_from_validation": len(dropped),
        },
        "excluded": excluded,
        "repairs": repairs,
        "duplicates": [p.as_dict() for p in pairs],
        "dropped_from_validation": dropped,
    }


def _label(label_of: dict[str, int], rel: str) -> int:
    """An image's class: its own entry (relabelled by --exclude), else its folder's."""
    return label_of[rel] if rel in label_of else label_of[rel.split("/", 1)[0]]


def apply_exclusions(
    split: dict[str, list[str]], path: Path, classes, label_map
) -> tuple[dict[str, list[str]], dict[str, int], list[str]]:
    """(split without the excluded files, {file: new class index}, excluded files) for an
    exclusion list (ops/data/audit.py: file, action exclude|relabel, label wnid or breed)."""
    from ops.data.audit import read_exclusions

    wanted = read_exclusions(path)
    index = {}
    for c in classes:
        index[c.name] = index[c.name.lower()] = c.index
        for folder in c.folders:
            index[folder] = index[folder.split("-", 1)[0]] = c.index
    for source, target in label_map.items():
        if target in index:
            index.setdefault(source, index[target])
    relabelled: dict[str, int] = {}
    for file, label in wanted.items():
        if label:
            if label not in index and label.lower() not in index:
                raise DogbreedError(
                    f"{path}: relabel of {file} to {label!r}, which is not a chosen class",
                    exit_code=2,
                )
            relabelled[file] = index.get(label, index.get(label.lower()))
    dropped = {f for f, label in wanted.items() if not label}
    new_split = {name: [rel for rel in rels if rel not in dropped] for name, rels in split.items()}
    excluded = sorted(dropped & {rel for rels in split.values() for rel in rels})
    return new_split, relabelled, excluded


def prepare_from_settings(
    settings: Settings,
    raw_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> PrepareResult:
    raw = Path(raw_dir) if raw_dir else settings.resolve(settings.data.raw_dir)
    out = Path(out_dir) if out_dir else settings.resolve(settings.data.prepared_dir)
    return prepare(raw, out, PrepareOptions.from_settings(settings), progress)


def _check_output(raw_dir: Path, out_dir: Path) -> None:
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


def _split(layout: Layout, options: PrepareOptions, folders: set[str]) -> dict[str, list[str]]:
    train = layout.read_list("train_list")
    test = layout.read_list("test_list")
    if options.split == "official":
        split = official_split(train, test, folders)
    elif options.split == "stratified":
        pool = layout.read_list("file_list") if layout.list_file("file_list") else train + test
        split = stratified_split(pool, folders, options.val_fraction, options.seed)
    else:
        raise DogbreedError(
            f"unknown split {options.split!r} (official or stratified)", exit_code=2
        )
    if options.split == "official":
        check_list_files(layout, "train_list", split["train"])
        check_list_files(layout, "test_list", split["validation"])
    else:
        name = "file_list" if layout.list_file("file_list") else "train_list"
        check_list_files(layout, name, split["train"] + split["validation"])
    return split


def _run(tasks: list[ImageTask], workers: int, progress: bool) -> list[ImageResult]:
    """process_image over all tasks, in order; `workers` processes (1 = in this process)."""
    from tqdm import tqdm

    bar = dict(total=len(tasks), desc="decode", unit="img", disable=not progress, mininterval=0.5)
    if workers <= 1 or len(tasks) < MIN_PARALLEL:
        return [process_image(t) for t in tqdm(tasks, **bar)]
    import multiprocessing

    chunksize = max(1, min(64, len(tasks) // (workers * 8) or 1))
    ctx = multiprocessing.get_context("spawn")  # no fork: callers may run threads (servers, tests)
    with ctx.Pool(workers) as pool:
        return list(tqdm(pool.imap(process_image, tasks, chunksize=chunksize), **bar))


def _stats(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "max": 0, "mean": 0.0, "median": 0.0}
    return {
        "min": min(values),
        "max": max(values),
        "mean": round(statistics.fmean(values), 2),
        "median": float(statistics.median(values)),
    }


def _info(
    classes: list[OutputClass],
    good: dict[str, list[tuple[str, ImageResult]]],
    label_of: dict[str, int],
    options: PrepareOptions,
    excluded: int,
    pairs: list,
    dropped: list[str],
) -> dict:
    """info.json: what training needs (num_classes, num_training_samples) and the data summary."""
    counts = {c.index: {"train": 0, "validation": 0} for c in classes}
    for name in SPLITS:
        for rel, _ in good[name]:
            counts[_label(label_of, rel)][name] += 1
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


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _swap_in(partial: Path, out_dir: Path) -> None:
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
