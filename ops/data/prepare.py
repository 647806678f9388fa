"""`data prepare`: raw Stanford Dogs folder -> prepared folder (the ops.data.manifest contract).

Steps: pick classes (subset, label map), split (official lists or seeded stratified), decode and
repair every image in worker processes, exclude what cannot be decoded, find train/validation
duplicates (exact + perceptual), optionally drop them from validation, then write the manifests,
classes.json, info.json and prepare_report.json. The output is built in `<out>.partial` and
swapped in at the end, so an interrupted run never leaves a half-written prepared folder, and the
same input always gives byte-identical files (no timestamps, sorted everything).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ops.data.decode import SPLITS, decode_split
from ops.data.dedup import HashedImage, find_duplicates
from ops.data.exclusions import apply_exclusions
from ops.data.layout import Layout, check_list_files, read_layout
from ops.data.prepare_checks import check_complete
from ops.data.prepare_files import (
    REPORT_FILE,
    check_output,
    info_json,
    label_for,
    report_json,
    swap_in,
    write_json,
    write_manifests,
)
from ops.data.split import (
    OutputClass,
    official_split,
    output_classes,
    read_label_map,
    select_classes,
    stratified_split,
)
from ops.data.validate import ImageResult
from ops.errors import DogbreedError
from ops.run_lock import WRITE_ERRORS, exclusive_run
from ops.settings import Settings


@dataclass
class PrepareOptions:
    """How to prepare: the data.* settings (split, crop, merge, exclude, duplicates, classes)."""

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
    """The prepared folder, its info.json and prepare_report.json, and the warnings raised."""

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
    check_output(raw_dir, out_dir)
    warnings: list[str] = []
    chosen = select(layout, options)

    partial = out_dir.with_name(out_dir.name + ".partial")
    with exclusive_run(out_dir, "data prepare"):  # ops/run_lock.py: one run per output
        shutil.rmtree(partial, ignore_errors=True)
        try:
            return _build(raw_dir, out_dir, partial, layout, chosen, options, progress, warnings)
        except BaseException as exc:  # any failure, Ctrl-C included: the previous output stays
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:  # full disk, read-only
                raise DogbreedError(
                    f"cannot write the prepared data to {out_dir}: {exc.strerror}; "
                    "the previous prepared folder is kept"
                ) from exc
            raise


def _build(raw_dir, out_dir, partial, layout, chosen, options, progress, warnings):
    """Decode into `partial`, write its files, check it is complete, then swap it in."""
    decoded = decode_split(
        layout, chosen.split, partial, options.crop, options.workers, progress, warnings
    )
    good, label_of, classes = decoded.good, chosen.label_of, chosen.classes
    pairs, dropped = deduplicate(good, label_of, options, partial, warnings)
    check_complete(classes, good, label_of, len(decoded.excluded))

    write_manifests(partial, classes, good, label_of)
    info = info_json(classes, good, label_of, options, len(decoded.excluded), pairs, dropped)
    write_json(partial / "info.json", info)
    report = report_json(raw_dir, options, chosen, decoded, pairs, dropped, warnings)
    write_json(partial / REPORT_FILE, report)
    swap_in(partial, out_dir)
    return PrepareResult(out_dir, info, report, warnings)


@dataclass
class Selection:
    """The chosen classes and each split's files, after --merge and --exclude."""

    source_classes: list  # the dataset's classes picked by --classes/--num-classes
    classes: list[OutputClass]  # the output classes (after --merge)
    label_of: dict[str, int]  # class folder, or file relabelled by --exclude -> output index
    split: dict[str, list[str]]  # split -> files (<class folder>/<file>)
    relabelled: dict[str, int]  # file -> output index, from --exclude
    excluded_by_list: list[str]  # files left out by --exclude


def select(layout: Layout, options: PrepareOptions) -> Selection:
    """Pick the classes, merge them, split the files and apply the exclusion list."""
    chosen = select_classes(layout.classes, options.classes, options.num_classes)
    label_map = read_label_map(Path(options.merge)) if options.merge else {}
    classes = output_classes(chosen, label_map)
    label_of = {folder: c.index for c in classes for folder in c.folders}
    split = _split(layout, options, set(label_of))
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
    return Selection(chosen, classes, label_of, split, relabelled, excluded_by_list)


def deduplicate(
    good: dict[str, list[tuple[str, ImageResult]]],
    label_of: dict[str, int],
    options: PrepareOptions,
    partial: Path,
    warnings: list[str],
) -> tuple[list, list[str]]:
    """Train/validation duplicate pairs, and the validation files dropped for them: with
    --drop-near-duplicates those are deleted from `partial` and from good["validation"]."""
    hashed = {
        name: [
            HashedImage(rel, label_for(label_of, rel), r.sha256, r.phash) for rel, r in good[name]
        ]
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
    return pairs, dropped


def prepare_from_settings(
    settings: Settings,
    raw_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> PrepareResult:
    """prepare() with the options, source and output of the settings (the last two overridable)."""
    raw = Path(raw_dir) if raw_dir else settings.resolve(settings.data.raw_dir)
    out = Path(out_dir) if out_dir else settings.resolve(settings.data.prepared_dir)
    return prepare(raw, out, PrepareOptions.from_settings(settings), progress)


def _split(layout: Layout, options: PrepareOptions, folders: set[str]) -> dict[str, list[str]]:
    """{"train": files, "validation": files} of the chosen class folders, as options.split says."""
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
