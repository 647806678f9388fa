"""Which classes, which labels, which split: class subsets, label maps that merge classes, and the
official or a seeded stratified train/validation split. Pure functions over file lists."""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ops.data.layout import ClassFolder
from ops.data.names import check_text
from ops.errors import DogbreedError


@dataclass(frozen=True)
class OutputClass:
    """A class of the prepared data: its index, the wnid and name written to classes.json, and
    the source folders it gathers (several when a label map merges classes)."""

    index: int
    wnid: str
    name: str
    folders: tuple[str, ...]


def _keys(cls: ClassFolder) -> set[str]:
    name = cls.name.lower()
    return {
        cls.wnid.lower(),
        cls.folder.lower(),
        name,
        name.replace("_", " "),
        name.replace(" ", "_"),
    }


def select_classes(
    classes: list[ClassFolder], wanted: list[str] | None = None, first_n: int = 0
) -> list[ClassFolder]:
    """The classes named in `wanted` (wnids, folder or breed names), then the first `first_n`."""
    chosen = sorted(classes, key=lambda c: c.wnid)
    if wanted:
        want = [w.strip() for w in wanted if w.strip()]
        picked, unknown = [], []
        for w in want:
            match = [c for c in chosen if w.lower() in _keys(c)]
            (picked.extend(match) if match else unknown.append(w))
        if unknown:
            raise DogbreedError(
                f"unknown class(es): {', '.join(unknown)}",
                exit_code=2,
                hint="use WordNet ids (n02085620) or breed names (Chihuahua); see Images/",
            )
        chosen = sorted(set(picked), key=lambda c: c.wnid)
    if first_n:
        if first_n < 0:
            raise DogbreedError("--num-classes must be positive", exit_code=2)
        if first_n > len(chosen):
            raise DogbreedError(
                f"--num-classes {first_n} asks for more classes than the {len(chosen)} there are",
                exit_code=2,
            )
        chosen = chosen[:first_n]
    return chosen


def read_label_map(path: Path) -> dict[str, str]:
    """A label map: JSON {"source": "target"}, TOML `source = "target"`, or lines `source,target`.

    Sources are wnids or breed names; targets are the merged class names.
    """
    path = Path(path)
    if not path.is_file():
        raise DogbreedError(f"label map {path} not found", exit_code=2)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise DogbreedError(f"{path}: cannot read label map: not UTF-8 text", exit_code=2) from exc
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = {}
            for number, line in enumerate(text.splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                for sep in ("\t", ",", "=", ":"):
                    if sep in line:
                        src, _, dst = (part.strip() for part in line.partition(sep))
                        where = f"{path}:{number}"
                        data[check_text(src, where, "class")] = check_text(dst, where, "class")
                        break
                else:
                    raise DogbreedError(f"{path}:{number}: expected `source,target`", exit_code=2)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DogbreedError(f"{path}: cannot read label map: {exc}", exit_code=2) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()
    ):
        raise DogbreedError(f"{path}: a label map maps class names to merged names", exit_code=2)
    for key, value in data.items():
        check_text(key, str(path), "class")
        check_text(value, f"{path}: {key!r} ->", "merged class")
    return data


def output_classes(
    classes: list[ClassFolder], label_map: dict[str, str] | None = None
) -> list[OutputClass]:
    """Indices 0..N-1 in wnid order; a merged class takes its first member's wnid and the map's name."""
    label_map = {k.strip().lower(): v.strip() for k, v in (label_map or {}).items()}
    used: set[str] = set()
    groups: dict[str, list[ClassFolder]] = {}
    order: list[str] = []
    for cls in sorted(classes, key=lambda c: c.wnid):
        target = next((label_map[k] for k in sorted(_keys(cls)) if k in label_map), None)
        if target is not None:
            used.update(k for k in _keys(cls) if k in label_map)
        key = target if target is not None else f"\0{cls.folder}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(cls)
    unknown = sorted(set(label_map) - used)
    if unknown and classes:
        raise DogbreedError(
            f"label map names classes that are not in the data: {', '.join(unknown)}", exit_code=2
        )
    out = []
    for i, key in enumerate(order):
        members = groups[key]
        name = members[0].name if key.startswith("\0") else key
        out.append(OutputClass(i, members[0].wnid, name, tuple(m.folder for m in members)))
    return out


def official_split(train: list[str], test: list[str], folders: set[str]) -> dict[str, list[str]]:
    """The dataset's own lists (test -> validation), restricted to the selected class folders."""
    keep = lambda rels: sorted(r for r in dict.fromkeys(rels) if r.split("/", 1)[0] in folders)  # noqa: E731
    return {"train": keep(train), "validation": keep(test)}


def stratified_split(
    files: list[str], folders: set[str], val_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Per class: shuffle with a seed derived from (seed, folder), send round(n*fraction) to validation."""
    by_folder: dict[str, list[str]] = {}
    for rel in sorted(set(files)):
        folder = rel.split("/", 1)[0]
        if folder in folders:
            by_folder.setdefault(folder, []).append(rel)
    split: dict[str, list[str]] = {"train": [], "validation": []}
    for folder in sorted(by_folder):
        rels = by_folder[folder]
        random.Random(f"{seed}:{folder}").shuffle(rels)
        n_val = round(len(rels) * val_fraction) if len(rels) > 1 else 0
        n_val = min(max(n_val, 1 if len(rels) > 1 else 0), len(rels) - 1) if rels else 0
        split["validation"].extend(rels[:n_val])
        split["train"].extend(rels[n_val:])
    return {k: sorted(v) for k, v in split.items()}
