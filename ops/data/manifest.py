"""The prepared-data contract every later stage reads: channels, `.lst` manifests, classes, info.

Layout of a prepared folder (what `dogbreed data prepare` writes, `data upload` sends to the
four SageMaker channels, and the local trainer / evaluation read):

    <prepared>/train/<class-folder>/<file>.jpg         channel "train"
    <prepared>/validation/<class-folder>/<file>.jpg    channel "validation"
    <prepared>/train_lst/train.lst                     channel "train_lst"
    <prepared>/validation_lst/validation.lst           channel "validation_lst"
    <prepared>/classes.json    [{"index": 0, "wnid": "n02085620", "name": "Chihuahua"}, ...]
    <prepared>/info.json       {"num_classes", "num_training_samples", "num_validation_samples",
                                "per_class": {...}, ...}

An `.lst` line is `index<TAB>label<TAB>path` with the path relative to its image channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ops.data.names import InsideRoot, check_relative
from ops.errors import DogbreedError

CHANNELS = ("train", "validation", "train_lst", "validation_lst")


@dataclass(frozen=True)
class LstEntry:
    index: int
    label: int
    path: str  # relative to the channel root


@dataclass(frozen=True)
class BreedClass:
    index: int
    wnid: str
    name: str


@dataclass(frozen=True)
class PreparedData:
    """Paths of one prepared folder."""

    root: Path

    def images_dir(self, split: str) -> Path:
        return self.root / split

    def lst_path(self, split: str) -> Path:
        return self.root / f"{split}_lst" / f"{split}.lst"

    @property
    def classes_path(self) -> Path:
        return self.root / "classes.json"

    @property
    def info_path(self) -> Path:
        return self.root / "info.json"

    def entries(self, split: str) -> list[LstEntry]:
        return read_lst(self.lst_path(split), self.images_dir(split))

    def image_paths(self, split: str) -> list[tuple[Path, int]]:
        """(absolute image path, label) for each line of the split's manifest."""
        base = self.images_dir(split)
        return [(base / e.path, e.label) for e in self.entries(split)]

    def classes(self) -> list[BreedClass]:
        return load_classes(self.classes_path)

    def info(self) -> dict:
        if not self.info_path.is_file():
            raise DogbreedError(
                f"{self.info_path} not found", hint="run `dogbreed data prepare` first"
            )
        return json.loads(self.info_path.read_text())

    def check(self) -> PreparedData:
        """Raise a clear error unless this looks like a prepared folder."""
        missing = [
            str(p)
            for p in (
                self.lst_path("train"),
                self.lst_path("validation"),
                self.classes_path,
                self.info_path,
            )
            if not p.is_file()
        ]
        if missing:
            raise DogbreedError(
                f"{self.root} is not a prepared data folder (missing {', '.join(missing)})",
                hint="run `dogbreed data prepare` first",
            )
        return self


def format_lst_line(entry: LstEntry) -> str:
    return f"{entry.index}\t{entry.label}\t{entry.path}\n"


def write_lst(path: Path, entries: list[LstEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="\n") as fh:
        for entry in entries:
            fh.write(format_lst_line(entry))


def read_lst(path: Path, root: Path | None = None) -> list[LstEntry]:
    """The entries of an .lst manifest; each path must be a plain relative name (resolving
    inside `root`, the channel's image folder, when given), else an error naming the line."""
    inside = InsideRoot(root) if root is not None else None
    if not path.is_file():
        raise DogbreedError(f"manifest {path} not found", hint="run `dogbreed data prepare` first")
    entries = []
    with open(path, newline="") as fh:  # a lone CR inside a name is not a line break
        text = fh.read()
    for number, line in enumerate(text.rstrip("\n").split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DogbreedError(f"{path}:{number}: expected index<TAB>label<TAB>path")
        check_relative(parts[2], f"{path}:{number}", root, inside)
        try:
            entries.append(LstEntry(int(parts[0]), int(float(parts[1])), parts[2]))
        except ValueError as exc:
            raise DogbreedError(f"{path}:{number}: index and label must be numbers") from exc
    return entries


def write_classes(path: Path, classes: list[BreedClass]) -> None:
    payload = [{"index": c.index, "wnid": c.wnid, "name": c.name} for c in classes]
    path.write_text(json.dumps(payload, indent=2) + "\n")


def load_classes(path: Path) -> list[BreedClass]:
    if not Path(path).is_file():
        raise DogbreedError(f"{path} not found", hint="run `dogbreed data prepare` first")
    data = json.loads(Path(path).read_text())
    return [BreedClass(int(c["index"]), c["wnid"], c["name"]) for c in data]
