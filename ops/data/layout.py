"""Reading a dataset folder in the official Stanford Dogs layout: classes, split lists, XML boxes.

    <root>/Images/<wnid>-<Breed>/<wnid>_<n>.jpg
    <root>/Annotation/<wnid>-<Breed>/<wnid>_<n>        PASCAL-VOC XML (optional unless cropping)
    <root>/lists/{train,test,file}_list.{mat,txt}      (the .mat files may also sit in <root>)

The official release ships the lists as MATLAB files; the offline copy as text files, one path
relative to Images/ per line. Both are read here, so every later step sees plain lists.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ops.data.names import check_relatives, check_text
from ops.errors import DogbreedError

EXPECTED_CLASSES = 120
EXPECTED_IMAGES = 20580
EXPECTED_TRAIN = 12000
EXPECTED_TEST = 8580
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_FOLDER_RE = re.compile(r"^(n\d{8})-(.+)$")


@dataclass(frozen=True)
class ClassFolder:
    """One class folder of Images/: `n02085620-Chihuahua` -> wnid, readable name."""

    folder: str
    wnid: str
    name: str


@dataclass
class Layout:
    """A dataset folder that looks like Stanford Dogs (checked by `read_layout`)."""

    root: Path
    classes: list[ClassFolder]

    @property
    def images_dir(self) -> Path:
        return self.root / "Images"

    @property
    def annotation_dir(self) -> Path:
        return self.root / "Annotation"

    def list_file(self, name: str) -> Path | None:
        """lists/<name>.mat or .txt (or the same at the root, as lists.tar extracts), else None."""
        for folder in (self.root / "lists", self.root):
            for suffix in (".mat", ".txt"):
                path = folder / f"{name}{suffix}"
                if path.is_file():
                    return path
        return None

    def read_list(self, name: str) -> list[str]:
        path = self.list_file(name)
        if path is None:
            raise DogbreedError(
                f"{self.root}: no lists/{name}.mat or lists/{name}.txt",
                hint="the official lists.tar holds them; `dogbreed data fetch` extracts it",
            )
        return read_list_file(path, self.images_dir)

    def image_files(self) -> list[str]:
        """Every image under Images/, as `<folder>/<file>` sorted."""
        out = []
        for cls in self.classes:
            for path in (self.images_dir / cls.folder).iterdir():
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    out.append(check_text(f"{cls.folder}/{path.name}", str(path), "file name"))
        return sorted(out)


def parse_class_folder(folder: str) -> ClassFolder | None:
    match = _FOLDER_RE.match(folder)
    if not match:
        return None
    return ClassFolder(folder, match.group(1), match.group(2))


def read_layout(root: Path | str) -> Layout:
    """Check `root` has the official layout; raise a one-line DogbreedError when it does not."""
    root = Path(root)
    if not root.exists():
        raise DogbreedError(
            f"dataset folder {root} does not exist", hint="run `dogbreed data fetch`"
        )
    if not root.is_dir():
        raise DogbreedError(f"{root} is not a folder")
    images = root / "Images"
    if not images.is_dir():
        raise DogbreedError(
            f"{root} does not look like Stanford Dogs: no Images/ folder",
            hint="expected Images/<wnid>-<Breed>/*.jpg, Annotation/ and lists/",
        )
    classes, odd = [], []
    for entry in sorted(images.iterdir()):
        if not entry.is_dir():
            continue
        cls = parse_class_folder(check_text(entry.name, str(entry), "folder name"))
        (classes.append(cls) if cls else odd.append(entry.name))
    if not classes:
        extra = f" (found {', '.join(odd[:3])})" if odd else ""
        raise DogbreedError(
            f"{images} holds no class folders named <wnid>-<Breed>{extra}",
            hint="expected e.g. Images/n02085620-Chihuahua/n02085620_10074.jpg",
        )
    return Layout(root, classes)


def read_list_file(path: Path, root: Path | None = None) -> list[str]:
    """Paths relative to Images/ from a .mat (scipy) or .txt list, each checked to be a plain
    name inside `root` (ops/data/names.py): a bad one is an error naming the file and line."""
    if path.suffix == ".mat":
        import scipy.io

        try:
            mat = scipy.io.loadmat(str(path))
        except Exception as exc:  # scipy raises several types for a bad file
            raise DogbreedError(f"{path}: not a readable MATLAB list ({exc})") from exc
        if "file_list" not in mat:
            raise DogbreedError(f"{path}: no 'file_list' variable (found {sorted(mat)})")
        rels = [_mat_string(item) for item in mat["file_list"].ravel()]
        return check_relatives(rels, f"{path} entry", root)
    try:
        with open(path, newline="") as fh:  # a lone CR inside a name is not a line break
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DogbreedError(f"cannot read the list {path}: {exc}") from exc
    numbered = [(n, line.strip().replace("\\", "/")) for n, line in enumerate(text.split("\n"), 1)]
    numbered = [(n, rel) for n, rel in numbered if rel]
    rels = [rel for _, rel in numbered]
    return check_relatives(rels, str(path), root, [n for n, _ in numbered])


def _mat_string(item) -> str:
    """A MATLAB cell element (a 1-element array of str) to str."""
    while (
        hasattr(item, "ravel") and getattr(item, "dtype", None) is not None and item.dtype == object
    ):
        item = item.ravel()[0]
    if hasattr(item, "ravel"):
        item = item.ravel()
        item = item[0] if len(item) else ""
    return str(item).strip()


def check_list_files(layout: Layout, name: str, rels: list[str]) -> None:
    """A list that names files missing from Images/ is an error (the download is incomplete)."""
    missing = [rel for rel in rels if not (layout.images_dir / rel).is_file()]
    if missing:
        raise DogbreedError(
            f"{layout.list_file(name)} names {len(missing)} file(s) absent from "
            f"{layout.images_dir} (first: {missing[0]})",
            hint="re-run `dogbreed data fetch`, or fix the list",
        )


@dataclass(frozen=True)
class Annotation:
    """The XML of one image: the full photo's size and its dog boxes (x0, y0, x1, y1)."""

    width: int
    height: int
    boxes: tuple[tuple[int, int, int, int], ...]


def annotation_path(layout: Layout, rel: str) -> Path:
    """Annotation/<folder>/<stem> (the official files have no extension)."""
    folder, _, name = rel.partition("/")
    stem = name.rsplit(".", 1)[0]
    base = layout.annotation_dir / folder / stem
    return base if base.is_file() else base.with_name(stem + ".xml")


def read_annotation(path: Path) -> Annotation | None:
    """The size and boxes of one PASCAL-VOC file, or None when it is missing or unreadable."""
    try:
        root = ET.fromstring(Path(path).read_bytes())
    except (OSError, ET.ParseError):
        return None
    try:
        width = int(root.findtext("size/width"))
        height = int(root.findtext("size/height"))
        boxes = tuple(
            tuple(int(float(obj.findtext(f"bndbox/{k}"))) for k in ("xmin", "ymin", "xmax", "ymax"))
            for obj in root.iter("object")
        )
    except (TypeError, ValueError):
        return None
    return Annotation(width, height, boxes)
