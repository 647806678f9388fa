"""The decode step of `data prepare`: one task per chosen image, run in worker processes.

Builds each image's decode/crop/write task (with its Annotation boxes under --crop boxes), runs
ops.data.validate.process_image over all of them in order, and sorts the results per split into
the images kept, the ones excluded (cannot be decoded) and the ones repaired.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from pathlib import Path

from ops.data.layout import Layout, annotation_path, read_annotation
from ops.data.validate import ImageResult, ImageTask, process_image
from ops.progress import progress_bar

SPLITS = ("train", "validation")
MIN_PARALLEL = 64  # fewer images than this are decoded in-process (starting workers costs ~1 s)


@dataclass
class Decoded:
    """Every listed image decoded: the good ones per split, and what was excluded or repaired."""

    listed: int
    good: dict[str, list[tuple[str, ImageResult]]]  # split -> (file, result), in split order
    excluded: list[dict]  # {"split", "file", "reason"}
    repairs: list[dict]  # {"split", "file", "repairs"}
    crops: dict[str, int]  # {"cropped": n, "already_cropped": n}


def decode_split(
    layout: Layout,
    split: dict[str, list[str]],
    partial: Path,
    crop: str,
    workers: int,
    progress: bool,
    warnings: list[str],
) -> Decoded:
    """Decode, repair and write every file of `split` under `partial`; warnings are appended."""
    tasks, missing_xml = image_tasks(layout, split, partial, crop)
    if missing_xml:
        warnings.append(f"{missing_xml} image(s) have no usable Annotation XML: left uncropped")
    flat = [t for name in SPLITS for t in tasks[name]]
    results = process_images(flat, workers, progress)
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
    return Decoded(
        len(flat), good, excluded, repairs, {"cropped": cropped, "already_cropped": already}
    )


def image_tasks(layout: Layout, split: dict[str, list[str]], partial: Path, crop: str):
    """The decode/crop/write task of every chosen image, and how many lack usable box XML."""
    tasks: dict[str, list[ImageTask]] = {}
    missing_xml = 0
    for name in SPLITS:
        for folder in sorted({rel.split("/", 1)[0] for rel in split[name]}):
            (partial / name / folder).mkdir(parents=True, exist_ok=True)
        tasks[name] = []
        for rel in split[name]:
            boxes, size = (), None
            if crop == "boxes":
                ann = read_annotation(annotation_path(layout, rel))
                if ann is None or not ann.boxes:
                    missing_xml += 1
                else:
                    boxes, size = ann.boxes, (ann.width, ann.height)
            tasks[name].append(
                ImageTask(str(layout.images_dir / rel), str(partial / name / rel), boxes, size)
            )
    return tasks, missing_xml


def process_images(tasks: list[ImageTask], workers: int, progress: bool) -> list[ImageResult]:
    """process_image over all tasks, in order; `workers` processes (1 = in this process)."""

    bar = dict(total=len(tasks), desc="decode", unit="img", disable=not progress, mininterval=0.5)
    if workers <= 1 or len(tasks) < MIN_PARALLEL:
        return [process_image(t) for t in progress_bar(tasks, **bar)]

    chunksize = max(1, min(64, len(tasks) // (workers * 8) or 1))
    ctx = multiprocessing.get_context("spawn")  # no fork: callers may run threads (servers, tests)
    with ctx.Pool(workers) as pool:
        return list(progress_bar(pool.imap(process_image, tasks, chunksize=chunksize), **bar))
