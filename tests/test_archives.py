"""The one archive extraction (ops/archives.py): generated hostile tarballs are refused before a byte
is written outside, bombs stop at the caps, and nothing is left behind, Ctrl-C and SIGTERM included;
end to end through `dogbreed predict --artifact X.tar.gz` and `dogbreed data fetch --source X.tar`."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.archives import MB, ArchiveLimits, UnsafeArchive, extract_archive, temporary_folder
from ops.artifact.reader import resolve_artifact_dir
from ops.cli import cli
from ops.errors import DogbreedError
from tests.hostile_archives import HOSTILE, hostile_tarball, zeros_tarball
from tests.local_artifacts import jpeg_bytes, shared_tiny_artifact

REPO = Path(__file__).resolve().parents[1]
WHY = {
    "symlink-chain": "is a symbolic link",
    "symlink": "is a symbolic link",
    "hardlink": "is a hard link",
    "absolute": "is an absolute path or leaves the folder",
    "dotdot": "is an absolute path or leaves the folder",
    "device": "is a device or FIFO",
    "fifo": "is a device or FIFO",
}


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside every extraction folder, that a hostile tarball tries to overwrite."""
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_text("good\n")
    return path


@pytest.fixture
def tmpdir_here(tmp_path, monkeypatch) -> Path:
    """TMPDIR for this test only, to see what extraction leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def untouched(victim: Path) -> bool:
    return victim.read_text() == "good\n" and sorted(victim.parent.iterdir()) == [victim]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_member_is_refused_with_its_reason_and_nothing_is_written(kind, victim, tmp_path):
    tar = hostile_tarball(tmp_path / "x.tar.gz", kind, victim, prefix=[("model.onnx", b"ok")])
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive) as err:
        extract_archive(tar, dest, "model artifact")
    message = str(err.value)
    assert message.startswith(f"refused model artifact {tar}: member ")
    assert WHY[kind] in message and "damaged" not in message and "\n" not in message
    assert untouched(victim)
    assert list(dest.iterdir()) == []  # not even the first, harmless member: no staging left


def test_the_symlink_chain_really_escapes_the_interpreters_own_filter(victim, tmp_path):
    """Why the own checks exist: on this interpreter (3.11.7) filter="data" lets CVE-2025-4517
    through. Where the interpreter is fixed, its filter refuses it too; ours refuses it always."""
    tar = hostile_tarball(tmp_path / "x.tar", "symlink-chain", victim)
    try:
        with tarfile.open(tar) as t:
            t.extractall(tmp_path / "stdlib", filter="data")
    except tarfile.TarError:
        pass
    fixed = sys.version_info >= (3, 11, 13)
    assert untouched(victim) == fixed


@pytest.mark.parametrize(
    ("sizes", "why", "setting"),
    [
        ([10] * 5, "more than 3 members", "t.max_members"),
        ([2 * MB], "is 2,097,152 bytes, over 1,048,576", "t.max_file_mb"),
        ([MB, MB, MB], "add up to more than 2,097,152 bytes", "t.max_total_mb"),
    ],
)
def test_a_bomb_stops_at_the_cap_and_the_error_names_the_setting(sizes, why, setting, tmp_path):
    tar = zeros_tarball(tmp_path / "bomb.tar.gz", sizes)
    assert tar.stat().st_size < 20_000  # megabytes inside, kilobytes on disk
    limits = ArchiveLimits(3, MB, 2 * MB, ("t.max_members", "t.max_file_mb", "t.max_total_mb"))
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=why) as err:
        extract_archive(tar, dest, "dataset tarball", limits)
    assert err.value.hint == f"raise {setting} if the archive is trusted"
    assert list(dest.iterdir()) == []


def test_a_truncated_tarball_is_damaged_not_unsafe(tmp_path):
    tar = zeros_tarball(tmp_path / "ok.tar.gz", [300_000, 300_000])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    with pytest.raises(DogbreedError, match="cannot extract archive") as err:
        extract_archive(cut, tmp_path / "dest")
    assert not isinstance(err.value, UnsafeArchive)
    assert "damaged or truncated" in err.value.hint
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_good_tarball_lands_in_place_and_replaces_same_named_entries(tmp_path):
    tar = zeros_tarball(tmp_path / "ok.tar.gz", [5, 7])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "zeros-0.bin").write_text("old")
    (dest / "keep.txt").write_text("mine")
    extract_archive(tar, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt", "zeros-0.bin", "zeros-1.bin"]
    assert (dest / "zeros-0.bin").read_bytes() == bytes(5)


INTERRUPTED = """
import os, signal, sys
from pathlib import Path
from ops import archives

def stop(member):
    if member.name == "zeros-3.bin":
        os.kill(os.getpid(), getattr(signal, sys.argv[3]))

archives.extract_to_staging(Path(sys.argv[1]), Path(sys.argv[2]), on_member=stop)
print("not interrupted")
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_during_extraction_leaves_no_staging_folder(sig, tmp_path):
    tar = zeros_tarball(tmp_path / "ok.tar.gz", [1000] * 8)
    dest = tmp_path / "dest"
    cmd = [sys.executable, "-c", INTERRUPTED, str(tar), str(dest), sig]

    # a terminal's SIGINT handling, even when the test run itself was started in the background
    def restore():
        signal.signal(signal.SIGINT, signal.default_int_handler)

    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, preexec_fn=restore)
    assert "not interrupted" not in out.stdout
    assert out.returncode == -getattr(signal, sig), out.stderr  # died of it, after cleaning up
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_temporary_folders_of_killed_runs_are_removed_by_the_next_one(tmpdir_here):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    stale = tmpdir_here / f"dogbreed-artifact-{int(dead.stdout)}-abc"
    (stale / "model").mkdir(parents=True)
    other = tmpdir_here / "someone-else-123-x"
    other.mkdir()
    fresh = temporary_folder("dogbreed-artifact-")
    assert fresh.is_dir() and not stale.exists() and other.exists()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return shared_tiny_artifact(tmp_path_factory)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("kind", ["symlink-chain", "dotdot", "hardlink"])
def test_predict_refuses_a_hostile_artifact_tarball(kind, victim, tmp_path, tmpdir_here, artifact):
    files = [(p.name, p.read_bytes()) for p in sorted(artifact.iterdir()) if p.suffix != ".gz"]
    tar = hostile_tarball(tmp_path / "model.tar.gz", kind, victim, prefix=files)
    image = tmp_path / "dog.jpg"
    image.write_bytes(jpeg_bytes())
    result = run("predict", str(image), "--artifact", str(tar))
    assert result.exit_code == 1, result.output
    assert f"refused model artifact {tar}" in result.output and WHY[kind] in result.output
    assert "Traceback" not in result.output and "damaged" not in result.output
    assert untouched(victim)
    assert list(tmpdir_here.iterdir()) == []


def test_predict_refuses_an_artifact_bomb_over_the_setting(tmp_path, tmpdir_here):
    tar = zeros_tarball(tmp_path / "model.tar.gz", [2 * MB])
    image = tmp_path / "dog.jpg"
    image.write_bytes(jpeg_bytes())
    result = run(
        "--set", "local.artifact_max_total_mb=1", "predict", str(image), "--artifact", str(tar)
    )
    assert result.exit_code == 1
    assert "add up to more than 1,048,576 bytes" in result.output
    assert "raise local.artifact_max_total_mb" in result.output
    assert list(tmpdir_here.iterdir()) == []


def test_a_good_artifact_tarball_still_predicts(artifact, tmp_path, tmpdir_here):
    image = tmp_path / "dog.jpg"
    image.write_bytes(jpeg_bytes())
    result = run("predict", str(image), "--artifact", str(artifact / "model.tar.gz"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["predictions"]


@pytest.mark.parametrize("kind", ["symlink-chain", "dotdot", "absolute", "fifo"])
def test_data_fetch_refuses_a_hostile_tarball_before_writing(kind, victim, tmp_path):
    tar = hostile_tarball(tmp_path / "images.tar", kind, victim, prefix=[("Images/a.jpg", b"x")])
    raw = tmp_path / "raw"
    result = run("data", "fetch", "--source", str(tar), "--raw", str(raw), "--quiet")
    assert result.exit_code == 1, result.output
    assert f"refused dataset tarball {tar}" in result.output and WHY[kind] in result.output
    assert untouched(victim)
    assert not (raw / "Images").exists() and not list(raw.glob(".extract-*"))


def test_data_fetch_refuses_a_bomb_over_the_setting(tmp_path):
    tar = zeros_tarball(tmp_path / "images.tar", [MB, MB])
    raw = tmp_path / "raw"
    result = run(
        "--set", "data.archive_max_total_mb=1", "data", "fetch", "--source", str(tar),
        "--raw", str(raw), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "raise data.archive_max_total_mb" in result.output
    assert sorted(p.name for p in raw.iterdir()) == []


def test_an_archive_cap_below_one_is_a_settings_error(tmp_path):
    result = run("--set", "local.artifact_max_members=0", "predict", str(tmp_path / "x.jpg"))
    assert result.exit_code == 2
    assert "local.artifact_max_members must be in [1, 1000000], not 0" in result.output


def _artifact_copy(artifact: Path, tmp_path: Path, names: list[str]) -> Path:
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"].update({name: "0" * 64 for name in names})
    (copy / "metadata.json").write_text(json.dumps(meta))
    return copy


@pytest.mark.parametrize(
    "name", ["../outside/secret.txt", "{abs}", "model/../../outside/x", "link"]
)
def test_the_sha256_map_names_only_files_inside_and_reveals_nothing(name, artifact, tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    name = name.format(abs=secret)
    copy = _artifact_copy(artifact, tmp_path, [name])
    if name == "link":
        (copy / "link").symlink_to(secret)
    errors = []
    for exists in (False, True):
        if exists:
            secret.parent.mkdir(exist_ok=True)
            secret.write_text("secret")
        with pytest.raises(DogbreedError) as err:
            resolve_artifact_dir(copy)
        errors.append(str(err.value))
    assert errors[0] == errors[1]  # the same answer whether or not the outside file exists
    assert "which is not a file inside the artifact" in errors[0]


def test_a_staging_folder_of_a_killed_extraction_is_removed_by_the_next(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dest = tmp_path / "dest"
    stale = dest / f".extract-{int(dead.stdout)}-abc"
    (stale / "Images").mkdir(parents=True)
    extract_archive(zeros_tarball(tmp_path / "ok.tar.gz", [3]), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["zeros-0.bin"]
