"""exclusions.csv, the list `data audit` writes and `data prepare --exclude FILE` applies.

One line per file: file (<class folder>/<file>), action (exclude or relabel), label (the wnid or
breed to relabel to) and reason. Writing, reading and applying it live here so the two commands
cannot drift apart.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ops.data.names import check_relative, check_text
from ops.errors import DogbreedError
from ops.safe_text import csv_uncell, csv_writer

EXCLUSION_FIELDS = ("file", "action", "label", "reason")


@dataclass
class Flag:
    """One flagged image: where it is, what it says, what the audit suggests."""

    split: str
    file: str  # <class folder>/<file>, as in the source dataset and the manifests
    kind: str  # "label", "not_dog", "duplicate"
    given: str
    suggested: str | None
    score: float  # label: out-of-fold probability of the given label; not_dog: dog score
    action: str  # "exclude" or "relabel"
    label: str = ""  # relabel: the wnid to use
    detail: str = ""


def write_exclusions(out_dir: Path, flags: list[Flag]) -> dict[str, Path]:
    """exclusions.csv: one line per flagged file (relabel wins over exclude only for label
    flags alone; any not_dog/duplicate flag excludes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, list[Flag]] = {}
    for f in flags:
        by_file.setdefault(f.file, []).append(f)
    path = out_dir / "exclusions.csv"
    with open(path, "w", newline="") as fh:
        writer = csv_writer(fh)
        writer.writerow(EXCLUSION_FIELDS)
        for file in sorted(by_file):
            group = by_file[file]
            relabel = [f for f in group if f.action == "relabel"]
            if relabel and all(f.kind == "label" for f in group):
                writer.writerow([file, "relabel", relabel[0].label, relabel[0].detail])
            else:
                reason = "; ".join(sorted({f"{f.kind}: {f.detail}" for f in group}))
                writer.writerow([file, "exclude", "", reason])
    return {"exclusions": path}


def read_exclusions(path: Path) -> dict[str, str]:
    """exclusions.csv -> {file: "" (exclude) or the wnid/breed to relabel it to}."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DogbreedError(f"cannot read the exclusion list {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:  # binary junk, NUL bytes
        raise DogbreedError(
            f"cannot read the exclusion list {path}: not CSV text ({exc.__class__.__name__})",
            exit_code=2,
        ) from exc
    out: dict[str, str] = {}
    for n, row in enumerate(rows, 2):
        file, action = (row.get("file") or "").strip(), (row.get("action") or "").strip()
        file = check_relative(csv_uncell(file), f"{path}:{n}") if file else file
        if not file or action not in ("exclude", "relabel"):
            raise DogbreedError(
                f"{path}:{n}: each line needs a file and an action 'exclude' or 'relabel'",
                exit_code=2,
            )
        label = check_text(csv_uncell((row.get("label") or "").strip()), f"{path}:{n}", "label")
        if action == "relabel" and not label:
            raise DogbreedError(f"{path}:{n}: relabel needs a label (wnid or breed)", exit_code=2)
        out[file] = label if action == "relabel" else ""
    return out


def apply_exclusions(
    split: dict[str, list[str]], path: Path, classes, label_map
) -> tuple[dict[str, list[str]], dict[str, int], list[str]]:
    """(split without the excluded files, {file: new class index}, excluded files) for an
    exclusion list (ops/audit/audit.py: file, action exclude|relabel, label wnid or breed)."""
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
