"""Small generated datasets for tests: the Stanford Dogs layout and an already-prepared folder.

Images are drawn so that a model can tell classes apart (each class has its own colour and
stripe direction, plus per-image noise), so training tests can check that learning happened.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from ops.data.manifest import BreedClass, LstEntry, write_classes, write_lst

# Real Stanford Dogs WordNet ids and names, so code that maps to ImageNet sees real ids.
BREEDS = [
    ("n02085620", "Chihuahua"),
    ("n02085782", "Japanese_spaniel"),
    ("n02085936", "Maltese_dog"),
    ("n02086079", "Pekinese"),
    ("n02086240", "Shih-Tzu"),
    ("n02086646", "Blenheim_spaniel"),
    ("n02086910", "papillon"),
    ("n02087046", "toy_terrier"),
]

PALETTE = [
    (200, 40, 40),
    (40, 160, 40),
    (40, 60, 200),
    (220, 200, 40),
    (160, 40, 180),
    (40, 190, 190),
    (240, 130, 20),
    (120, 120, 120),
]


def class_image(class_index: int, seed: int, size: int = 64) -> Image.Image:
    """A deterministic RGB image whose look depends on the class (colour + stripes) and seed (noise)."""
    rng = random.Random(hash((class_index, seed)) & 0xFFFFFFFF)
    base = PALETTE[class_index % len(PALETTE)]
    img = Image.new(
        "RGB", (size, size), tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in base)
    )
    draw = ImageDraw.Draw(img)
    step = 6 + class_index % 4 * 3
    for i in range(-size, size * 2, step):
        offset = rng.randint(-2, 2)
        if class_index % 2:
            draw.line([(i + offset, 0), (i + offset, size)], fill=(255, 255, 255), width=2)
        else:
            draw.line([(0, i + offset), (size, i + offset)], fill=(0, 0, 0), width=2)
    for _ in range(5):
        x, y = rng.randint(0, size - 8), rng.randint(0, size - 8)
        draw.ellipse([x, y, x + 7, y + 7], fill=(rng.randint(0, 255),) * 3)
    return img


@dataclass
class GeneratedDataset:
    root: Path
    classes: list[tuple[str, str]]
    train: list[str]  # paths relative to Images/
    test: list[str]


def make_stanford_layout(
    root: Path, n_classes: int = 3, per_class: int = 6, test_per_class: int = 2, size: int = 64
) -> GeneratedDataset:
    """Images/<wnid>-<Breed>/<wnid>_<n>.jpg, Annotation/ XML boxes, lists/{train,test,file}_list.txt."""
    classes = BREEDS[:n_classes]
    train, test = [], []
    for ci, (wnid, breed) in enumerate(classes):
        folder = f"{wnid}-{breed}"
        (root / "Images" / folder).mkdir(parents=True, exist_ok=True)
        (root / "Annotation" / folder).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            stem = f"{wnid}_{1000 + n}"
            rel = f"{folder}/{stem}.jpg"
            class_image(ci, n, size).save(root / "Images" / rel, quality=90)
            (root / "Annotation" / folder / stem).write_text(voc_xml(folder, stem, size, size))
            (test if n >= per_class - test_per_class else train).append(rel)
    lists = root / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "train_list.txt").write_text("".join(p + "\n" for p in train))
    (lists / "test_list.txt").write_text("".join(p + "\n" for p in test))
    (lists / "file_list.txt").write_text("".join(p + "\n" for p in sorted(train + test)))
    return GeneratedDataset(root, classes, train, test)


def voc_xml(
    folder: str,
    stem: str,
    width: int,
    height: int,
    boxes: list[tuple[int, int, int, int]] | None = None,
) -> str:
    """A PASCAL-VOC annotation like the official ones (one <object> per dog box)."""
    boxes = boxes or [(width // 8, height // 8, width * 7 // 8, height * 7 // 8)]
    objects = "".join(
        f"<object><name>{folder.split('-', 1)[1]}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>{folder.split('-')[0]}</folder><filename>{stem}</filename>"
        f"<source><database>ImageNet database</database></source><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size><segment>0</segment>{objects}</annotation>"
    )


def make_prepared(
    root: Path, n_classes: int = 3, train_per_class: int = 8, val_per_class: int = 3, size: int = 64
) -> Path:
    """A prepared folder (the ops.data.manifest contract) written directly, for stages after prepare."""
    classes = [BreedClass(i, wnid, name) for i, (wnid, name) in enumerate(BREEDS[:n_classes])]
    per_class: dict[str, dict[str, int]] = {}
    for split, count, seed0 in (("train", train_per_class, 0), ("validation", val_per_class, 500)):
        entries = []
        for c in classes:
            folder = f"{c.wnid}-{c.name}"
            (root / split / folder).mkdir(parents=True, exist_ok=True)
            for n in range(count):
                rel = f"{folder}/{c.wnid}_{seed0 + n}.jpg"
                class_image(c.index, seed0 + n, size).save(root / split / rel, quality=90)
                entries.append(LstEntry(len(entries), c.index, rel))
            per_class.setdefault(c.name, {})[split] = count
        write_lst(root / f"{split}_lst" / f"{split}.lst", entries)
    write_classes(root / "classes.json", classes)
    import json

    (root / "info.json").write_text(
        json.dumps(
            {
                "num_classes": n_classes,
                "num_training_samples": n_classes * train_per_class,
                "num_validation_samples": n_classes * val_per_class,
                "per_class": per_class,
            },
            indent=2,
        )
    )
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- Problem files, .mat lists and tarballs for the data-pipeline tests -------------------------


def _relist(ds: GeneratedDataset) -> None:
    lists = ds.root / "lists"
    (lists / "train_list.txt").write_text("".join(p + "\n" for p in ds.train))
    (lists / "test_list.txt").write_text("".join(p + "\n" for p in ds.test))
    (lists / "file_list.txt").write_text("".join(p + "\n" for p in sorted(ds.train + ds.test)))


def add_problem_images(ds: GeneratedDataset, size: int = 64) -> dict[str, str]:
    """Add what real downloads contain: corrupt, truncated, CMYK, grayscale, PNG named .jpg,
    EXIF-rotated, an exact and a near duplicate of a training image in the test list.
    Returns role -> path relative to Images/ (lists are rewritten)."""
    import io

    wnid0, breed0 = ds.classes[0]
    wnid1, breed1 = ds.classes[1 % len(ds.classes)]
    f0, f1 = f"{wnid0}-{breed0}", f"{wnid1}-{breed1}"
    images = ds.root / "Images"
    roles = {
        "corrupt": f"{f0}/{wnid0}_9001.jpg",
        "truncated": f"{f0}/{wnid0}_9002.jpg",
        "cmyk": f"{f0}/{wnid0}_9003.jpg",
        "grayscale": f"{f1}/{wnid1}_9004.jpg",
        "png": f"{f1}/{wnid1}_9005.jpg",
        "exif_rotated": f"{f1}/{wnid1}_9006.jpg",
        "exact_duplicate": f"{f0}/{wnid0}_9007.jpg",
        "near_duplicate": f"{f0}/{wnid0}_9008.jpg",
    }
    (images / roles["corrupt"]).write_bytes(b"this is not a JPEG at all" * 20)
    buf = io.BytesIO()
    class_image(0, 91, size).save(buf, format="JPEG", quality=90)
    (images / roles["truncated"]).write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    class_image(0, 92, size).convert("CMYK").save(images / roles["cmyk"], format="JPEG")
    class_image(1, 93, size).convert("L").save(images / roles["grayscale"], format="JPEG")
    class_image(1, 94, size).save(images / roles["png"], format="PNG")
    rotated = class_image(1, 95, size).resize((size, size // 2))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": displayed size is (size // 2, size)
    rotated.save(images / roles["exif_rotated"], format="JPEG", quality=90, exif=exif)
    original = ds.train[0]  # a training image of class 0
    (images / roles["exact_duplicate"]).write_bytes((images / original).read_bytes())
    src = Image.open(images / original).convert("RGB")
    w, h = src.size
    src.crop((1, 1, w - 1, h - 1)).resize((w, h)).save(images / roles["near_duplicate"], quality=80)
    for role, rel in roles.items():
        stem = rel.split("/")[1][:-4]
        folder = rel.split("/")[0]
        w, h = (size, size // 2) if role == "exif_rotated" else (size, size)  # stored pixels
        (ds.root / "Annotation" / folder / stem).write_text(voc_xml(folder, stem, w, h))
        (ds.test if role in ("png", "exact_duplicate", "near_duplicate") else ds.train).append(rel)
    ds.train.sort()
    ds.test.sort()
    _relist(ds)
    roles["duplicated_train_image"] = original
    return roles


def write_mat_lists(root: Path, train: list[str], test: list[str], remove_txt: bool = True) -> None:
    """lists/{train,test,file}_list.mat as the official release has them (file_list, annotation_list,
    labels as MATLAB cell arrays / column vectors), written with scipy."""
    import numpy as np
    import scipy.io

    lists = Path(root) / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    folders = sorted({rel.split("/")[0] for rel in train + test})

    def cells(items):
        arr = np.empty((len(items), 1), dtype=object)
        for i, item in enumerate(items):
            arr[i, 0] = np.array([item])
        return arr

    for name, rels in (
        ("train_list", train),
        ("test_list", test),
        ("file_list", sorted(train + test)),
    ):
        scipy.io.savemat(
            str(lists / f"{name}.mat"),
            {
                "file_list": cells(rels),
                "annotation_list": cells([r[:-4] for r in rels]),
                "labels": np.array(
                    [[folders.index(r.split("/")[0]) + 1] for r in rels], dtype=np.uint8
                ),
            },
        )
        if remove_txt:
            (lists / f"{name}.txt").unlink(missing_ok=True)


def make_tarballs(root: Path, out_dir: Path) -> list[Path]:
    """images.tar (Images/...), annotation.tar (Annotation/...), lists.tar (loose list files),
    shaped like the three official tarballs."""
    import tarfile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for tar_name, folder in (("images.tar", "Images"), ("annotation.tar", "Annotation")):
        with tarfile.open(out_dir / tar_name, "w") as tar:
            tar.add(Path(root) / folder, arcname=folder)
        made.append(out_dir / tar_name)
    with tarfile.open(out_dir / "lists.tar", "w") as tar:
        for path in sorted((Path(root) / "lists").iterdir()):
            tar.add(path, arcname=path.name)
    made.append(out_dir / "lists.tar")
    return made
