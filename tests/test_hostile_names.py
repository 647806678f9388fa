"""List files, manifests, exclusion lists and label maps written by an attacker or a careless hand:
a path leading out of its root, or a name with a TAB, newline or escape, is a one-line error
naming the file and line, and `data prepare` writes nothing (not outside, not a broken `.lst`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.data.exclusions import read_exclusions
from ops.data.manifest import read_lst
from ops.data.split import read_label_map
from ops.errors import DogbreedError
from tests.factories import class_image, make_stanford_layout

CHIHUAHUA = "n02085620-Chihuahua"


@pytest.fixture
def dataset(tmp_path):
    return make_stanford_layout(tmp_path / "src", n_classes=2, per_class=4, test_per_class=1)


def prepare(raw: Path, out: Path, *extra: str):
    args = ["data", "prepare", "--raw", str(raw), "--out", str(out), "--workers", "1", "--quiet"]
    return CliRunner().invoke(cli, [*args, *extra])


def append_line(dataset, line: str, name: str = "train_list") -> int:
    """Add `line` to lists/<name>.txt; its line number."""
    path = dataset.root / "lists" / f"{name}.txt"
    lines = path.read_text().splitlines() + [line]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize(
    "line",
    [
        f"{CHIHUAHUA}/../../../outside/stolen.jpg",
        "{outside}/stolen.jpg",
        f"{CHIHUAHUA}/link.jpg",  # a link in Images/ leading out
    ],
)
def test_a_list_line_leading_out_of_images_is_an_error_naming_the_line(dataset, tmp_path, line):
    outside = tmp_path / "outside"
    outside.mkdir()
    class_image(0, 99).save(outside / "stolen.jpg")
    (dataset.root / "Images" / CHIHUAHUA / "link.jpg").symlink_to(outside / "stolen.jpg")
    number = append_line(dataset, line.format(outside=outside))
    out = tmp_path / "out"
    result = prepare(dataset.root, out)
    assert result.exit_code == 2, result.output
    assert f"train_list.txt:{number}: " in result.output
    assert "is not a relative path inside" in result.output and "Traceback" not in result.output
    assert not out.exists() and tree(outside) == ["stolen.jpg"]
    assert not list(tmp_path.glob("**/train/outside*"))


@pytest.mark.parametrize("bad", ["a\tb.jpg", "a\x1b]0;owned\x07b.jpg", "a\rb.jpg"])
def test_a_list_line_with_a_control_character_is_refused_not_written_to_the_lst(
    dataset, tmp_path, bad
):
    (dataset.root / "Images" / CHIHUAHUA / bad).write_bytes(
        (dataset.root / "Images" / dataset.train[0]).read_bytes()
    )
    number = append_line(dataset, f"{CHIHUAHUA}/{bad}")
    out = tmp_path / "out"
    result = prepare(dataset.root, out)
    assert result.exit_code == 2, result.output
    assert f"train_list.txt:{number}: the name " in result.output
    assert "contains a control character" in result.output and "\x1b" not in result.output
    assert not out.exists()


def test_an_image_file_with_a_tab_is_refused_by_fetch_naming_the_file(dataset, tmp_path):
    source = dataset.root / "Images" / dataset.train[0]
    shutil.copy(source, dataset.root / "Images" / CHIHUAHUA / "x\ty.jpg")
    args = ["data", "fetch", "--source", str(dataset.root), "--raw", str(tmp_path / "raw")]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 2, result.output
    assert "x\ufffdy.jpg: the file name" in result.output and "(TAB)" in result.output


def test_a_good_dataset_still_prepares(dataset, tmp_path):
    result = prepare(dataset.root, tmp_path / "out")
    assert result.exit_code == 0, result.output


def test_a_manifest_path_leading_out_or_with_a_control_character_names_the_line(tmp_path):
    lst = tmp_path / "train.lst"
    for bad, why in (("../../etc/passwd", "is not a relative path"), ("a\x1bb.jpg", r"U\+001B")):
        lst.write_text(f"0\t0\t{CHIHUAHUA}/a.jpg\n1\t0\t{bad}\n")
        with pytest.raises(DogbreedError, match=f"train.lst:2: .*{why}"):
            read_lst(lst)


def test_an_exclusion_list_leading_out_or_with_escapes_names_the_line(tmp_path):
    path = tmp_path / "exclusions.csv"
    path.write_text("file,action,label,reason\nn0-A/a.jpg,exclude,,x\n/etc/passwd,exclude,,x\n")
    with pytest.raises(DogbreedError, match="exclusions.csv:3: '/etc/passwd' is not a relative"):
        read_exclusions(path)
    path.write_text("file,action,label,reason\nn0-A/a.jpg,relabel,\x1b[2JPug,x\n")
    with pytest.raises(DogbreedError, match="exclusions.csv:2: the label .*U\\+001B"):
        read_exclusions(path)


def test_a_label_map_with_an_escape_in_a_class_names_the_line(tmp_path):
    path = tmp_path / "merge.txt"
    path.write_text("# poodles\nn02113624,Poodle\nn02113712,\x1b]0;owned\x07Poodle\n")
    with pytest.raises(DogbreedError, match="merge.txt:3: the class"):
        read_label_map(path)
    path = tmp_path / "merge.json"
    path.write_text(json.dumps({"n02113624": "Poo\ndle"}))
    with pytest.raises(DogbreedError, match="the merged class 'Poo\ufffddle' contains"):
        read_label_map(path)


def test_a_class_folder_with_an_escape_is_refused(dataset, tmp_path):
    (dataset.root / "Images" / "n09999999-Evil\x1b[2J").mkdir()
    result = prepare(dataset.root, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "the folder name 'n09999999-Evil' contains a control character" in result.output


def test_a_manifest_entry_that_is_a_link_leading_out_of_its_channel_names_the_line(tmp_path):
    from ops.data.manifest import PreparedData

    (tmp_path / "secret.jpg").write_bytes(b"secret")
    folder = tmp_path / "prepared" / "train" / CHIHUAHUA
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"jpeg")
    (folder / "b.jpg").symlink_to(tmp_path / "secret.jpg")
    lst = tmp_path / "prepared" / "train_lst" / "train.lst"
    lst.parent.mkdir()
    lst.write_text(f"0\t0\t{CHIHUAHUA}/a.jpg\n1\t0\t{CHIHUAHUA}/b.jpg\n")
    with pytest.raises(DogbreedError, match="train.lst:2: .*is not a relative path inside"):
        PreparedData(tmp_path / "prepared").entries("train")
    assert [e.path for e in read_lst(lst)] == [f"{CHIHUAHUA}/a.jpg", f"{CHIHUAHUA}/b.jpg"]
