"""`data prepare`: manifests line by line, repairs, exclusions, duplicates, crops, merges, splits,
determinism, and that the source folder is never touched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from ops.data.manifest import PreparedData, read_lst
from ops.data.prepare import PrepareOptions, prepare
from ops.errors import DogbreedError
from tests.factories import add_problem_images, make_stanford_layout, voc_xml, write_mat_lists


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def problem_ds(tmp_path):
    ds = make_stanford_layout(tmp_path / "src", n_classes=3, per_class=6, test_per_class=2)
    roles = add_problem_images(ds)
    return ds, roles


def run(raw, out, **kw):
    kw.setdefault("workers", 1)
    return prepare(raw, out, PrepareOptions(**kw), progress=False)


def test_official_split_manifests_line_by_line(stanford_dir, tmp_path):
    result = run(stanford_dir.root, tmp_path / "out")
    data = PreparedData(tmp_path / "out").check()
    lines = (tmp_path / "out" / "train_lst" / "train.lst").read_text().splitlines()
    expected = [
        f"{i}\t{['n02085620-Chihuahua', 'n02085782-Japanese_spaniel', 'n02085936-Maltese_dog'].index(rel.split('/')[0])}\t{rel}"
        for i, rel in enumerate(sorted(stanford_dir.train))
    ]
    assert lines == expected
    val = data.entries("validation")
    assert [e.path for e in val] == sorted(stanford_dir.test)
    assert [e.index for e in val] == list(range(len(val)))
    assert [(c.index, c.wnid, c.name) for c in data.classes()] == [
        (0, "n02085620", "Chihuahua"),
        (1, "n02085782", "Japanese_spaniel"),
        (2, "n02085936", "Maltese_dog"),
    ]
    info = json.loads((tmp_path / "out" / "info.json").read_text())
    assert info["num_classes"] == 3
    assert info["num_training_samples"] == 12
    assert info["num_validation_samples"] == 6
    assert info["per_class"]["Chihuahua"] == {"train": 4, "validation": 2}
    assert info["image_size"]["width"]["max"] == 64
    # good JPEGs are copied byte for byte
    for path, _ in data.image_paths("train"):
        rel = path.relative_to(tmp_path / "out" / "train").as_posix()
        assert path.read_bytes() == (stanford_dir.root / "Images" / rel).read_bytes()
    assert result.report["counts"]["excluded"] == 0


def test_problem_files_are_excluded_or_repaired_and_reported(problem_ds, tmp_path):
    ds, roles = problem_ds
    before = tree_digest(ds.root)
    result = run(ds.root, tmp_path / "out")
    out = tmp_path / "out"
    report = json.loads((out / "prepare_report.json").read_text())
    excluded = {e["file"]: e["reason"] for e in report["excluded"]}
    assert set(excluded) == {roles["corrupt"], roles["truncated"]}
    assert "truncated" in excluded[roles["truncated"]]
    train_paths = {e.path for e in read_lst(out / "train_lst" / "train.lst")}
    assert roles["corrupt"] not in train_paths and roles["truncated"] not in train_paths
    assert not (out / "train" / roles["corrupt"]).exists()
    repairs = {r["file"]: r["repairs"] for r in report["repairs"]}
    assert repairs[roles["cmyk"]] == ["CMYK -> RGB"]
    assert repairs[roles["grayscale"]] == ["L -> RGB"]
    assert repairs[roles["png"]] == ["PNG content -> JPEG"]
    assert repairs[roles["exif_rotated"]] == ["EXIF orientation 6 applied"]
    for role, split in (("cmyk", "train"), ("grayscale", "train"), ("png", "validation")):
        with Image.open(out / split / roles[role]) as img:
            assert (img.format, img.mode) == ("JPEG", "RGB"), role
    with Image.open(out / "train" / roles["exif_rotated"]) as img:
        assert img.size == (32, 64)  # stored 64x32, displayed rotated
        assert img.getexif().get(0x0112) is None
    # the leakage pairs: one exact copy, one re-encoded crop of the same training image
    pairs = {(p["validation"], p["kind"]) for p in report["duplicates"]}
    assert (roles["exact_duplicate"], "exact") in pairs
    assert (roles["near_duplicate"], "near") in pairs
    assert all(p["train"] == roles["duplicated_train_image"] for p in report["duplicates"])
    assert result.info["near_duplicates"] == 1 and result.info["exact_duplicates"] == 1
    assert any("duplicate" in w for w in result.warnings)
    # the source is never changed
    assert tree_digest(ds.root) == before


def test_drop_near_duplicates_removes_them_from_validation(problem_ds, tmp_path):
    ds, roles = problem_ds
    result = run(ds.root, tmp_path / "out", drop_near_duplicates=True)
    val = {e.path for e in read_lst(tmp_path / "out" / "validation_lst" / "validation.lst")}
    assert roles["exact_duplicate"] not in val and roles["near_duplicate"] not in val
    assert not (tmp_path / "out" / "validation" / roles["near_duplicate"]).exists()
    assert result.report["dropped_from_validation"] == sorted(
        [roles["exact_duplicate"], roles["near_duplicate"]]
    )
    assert result.info["num_validation_samples"] == len(ds.test) - 2


def test_same_input_gives_byte_identical_output_in_and_across_processes(tmp_path):
    # 3 classes x 24 images: enough to go through the 2-process pool
    ds = make_stanford_layout(tmp_path / "src", n_classes=3, per_class=24, test_per_class=6)
    add_problem_images(ds)
    run(ds.root, tmp_path / "a", workers=1, crop="boxes")
    run(ds.root, tmp_path / "b", workers=2, crop="boxes")
    run(ds.root, tmp_path / "a", workers=1, crop="boxes")  # re-run over an existing output
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a == b
    assert len(a) > 80
    assert not (tmp_path / "a.partial").exists() and not (tmp_path / "a.old").exists()


def test_mat_lists_are_read_like_txt_lists(stanford_dir, tmp_path):
    run(stanford_dir.root, tmp_path / "txt")
    write_mat_lists(stanford_dir.root, stanford_dir.train, stanford_dir.test)
    assert not (stanford_dir.root / "lists" / "train_list.txt").exists()
    run(stanford_dir.root, tmp_path / "mat")
    for split in ("train", "validation"):
        assert (tmp_path / "txt" / f"{split}_lst" / f"{split}.lst").read_text() == (
            tmp_path / "mat" / f"{split}_lst" / f"{split}.lst"
        ).read_text()


def test_crop_boxes_crops_full_photos_and_leaves_precropped_ones(stanford_dir, tmp_path):
    root = stanford_dir.root
    first, second = stanford_dir.train[0], stanford_dir.train[1]
    folder, stem = first.split("/")[0], first.split("/")[1][:-4]
    (root / "Annotation" / folder / stem).write_text(
        voc_xml(folder, stem, 64, 64, boxes=[(10, 20, 30, 40), (20, 10, 50, 30)])
    )
    folder2, stem2 = second.split("/")[0], second.split("/")[1][:-4]
    (root / "Annotation" / folder2 / stem2).write_text(voc_xml(folder2, stem2, 500, 375))
    result = run(root, tmp_path / "out", crop="boxes")
    with Image.open(tmp_path / "out" / "train" / first) as img:
        assert img.size == (40, 30)  # union of the two boxes
    assert (tmp_path / "out" / "train" / second).read_bytes() == (
        root / "Images" / second
    ).read_bytes()
    assert result.report["counts"]["already_cropped"] == 1
    assert sum("already cropped" in w for w in result.warnings) == 1


def test_merge_label_map_joins_classes(tmp_path):
    ds = make_stanford_layout(tmp_path / "src", n_classes=4, per_class=4, test_per_class=1)
    label_map = tmp_path / "merge.json"
    label_map.write_text(json.dumps({"n02085782": "spaniel-ish", "Maltese_dog": "spaniel-ish"}))
    result = run(ds.root, tmp_path / "out", merge=str(label_map))
    classes = PreparedData(tmp_path / "out").classes()
    assert [(c.index, c.wnid, c.name) for c in classes] == [
        (0, "n02085620", "Chihuahua"),
        (1, "n02085782", "spaniel-ish"),
        (2, "n02086079", "Pekinese"),
    ]
    labels = {
        e.path.split("/")[0]: e.label
        for e in read_lst(tmp_path / "out" / "train_lst" / "train.lst")
    }
    assert labels["n02085936-Maltese_dog"] == labels["n02085782-Japanese_spaniel"] == 1
    assert result.info["per_class"]["spaniel-ish"] == {"train": 6, "validation": 2}


def test_merge_map_naming_unknown_class_is_an_error(stanford_dir, tmp_path):
    label_map = tmp_path / "merge.txt"
    label_map.write_text("toy_poodle,poodle\n")
    with pytest.raises(DogbreedError, match="toy_poodle"):
        run(stanford_dir.root, tmp_path / "out", merge=str(label_map))


def test_class_subset_by_name_and_first_n(tmp_path):
    ds = make_stanford_layout(tmp_path / "src", n_classes=5, per_class=3, test_per_class=1)
    run(ds.root, tmp_path / "named", classes=["Pekinese", "n02085620"])
    assert [c.wnid for c in PreparedData(tmp_path / "named").classes()] == [
        "n02085620",
        "n02086079",
    ]
    run(ds.root, tmp_path / "first", num_classes=2)
    data = PreparedData(tmp_path / "first")
    assert [c.wnid for c in data.classes()] == ["n02085620", "n02085782"]
    assert {e.label for e in data.entries("train")} == {0, 1}
    with pytest.raises(DogbreedError, match="unknown class"):
        run(ds.root, tmp_path / "bad", classes=["Poodle"])


def test_stratified_split_is_seeded_and_per_class(tmp_path):
    ds = make_stanford_layout(tmp_path / "src", n_classes=3, per_class=10, test_per_class=2)
    run(ds.root, tmp_path / "s1", split="stratified", val_fraction=0.3, seed=1)
    run(ds.root, tmp_path / "s1b", split="stratified", val_fraction=0.3, seed=1)
    run(ds.root, tmp_path / "s2", split="stratified", val_fraction=0.3, seed=2)
    lst = lambda d: (tmp_path / d / "validation_lst" / "validation.lst").read_text()  # noqa: E731
    assert lst("s1") == lst("s1b")
    assert lst("s1") != lst("s2")
    info = json.loads((tmp_path / "s1" / "info.json").read_text())
    assert all(c == {"train": 7, "validation": 3} for c in info["per_class"].values())


def test_list_naming_absent_files_is_a_clear_error(stanford_dir, tmp_path):
    (stanford_dir.root / "Images" / stanford_dir.train[0]).unlink()
    with pytest.raises(DogbreedError, match=r"names 1 file\(s\) absent"):
        run(stanford_dir.root, tmp_path / "out")


def test_missing_folder_and_wrong_layout(tmp_path):
    with pytest.raises(DogbreedError, match="does not exist"):
        run(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DogbreedError, match="no Images/"):
        run(tmp_path / "flat", tmp_path / "out")


def test_output_inside_source_is_refused(stanford_dir):
    with pytest.raises(DogbreedError, match="inside the source"):
        run(stanford_dir.root, stanford_dir.root / "Images" / "prepared")


def test_unwritable_output_is_a_clear_error(stanford_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DogbreedError, match="cannot write the prepared data"):
        run(stanford_dir.root, blocker / "prepared")


def test_stratified_split_gives_every_class_a_validation_image():
    """A fraction that rounds to zero images still leaves one per class (and one for training)."""
    from ops.data.split import stratified_split

    files = [f"c{c}/img{i}.jpg" for c in range(4) for i in range(3 + c)]
    split = stratified_split(files, {f"c{c}" for c in range(4)}, val_fraction=0.05, seed=1)
    per_class = {c: sum(p.startswith(f"c{c}/") for p in split["validation"]) for c in range(4)}
    assert per_class == {0: 1, 1: 1, 2: 1, 3: 1}  # round(n * 0.05) would be 0 for each
    assert len(split["train"]) == len(files) - 4
    alone = stratified_split(["c0/a.jpg", "c1/a.jpg", "c1/b.jpg"], {"c0", "c1"}, 0.99, 1)
    assert "c0/a.jpg" in alone["train"]  # a class of one image keeps it for training
    assert [p[:2] for p in alone["validation"]] == ["c1"] and len(alone["train"]) == 2
