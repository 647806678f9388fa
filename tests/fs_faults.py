"""Real file-system faults for tests: a read-only folder and a tiny (soon full) disk.

Both are real mounts (a read-only bind mount, a 1 MiB tmpfs), so the code under test meets the
kernel's own EROFS and ENOSPC. Mounting needs root with CAP_SYS_ADMIN; elsewhere the test that
asks is skipped and says so (chmod cannot stand in: root ignores permissions).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command here: a real read-only or full file system needs one")
    if done.returncode != 0:
        pytest.skip(f"cannot mount ({done.stderr.strip() or done.returncode}): needs root")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` (which must exist) made read-only in place by a bind mount, while inside."""
    _mount("--bind", str(folder), str(folder))
    try:
        done = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, timeout=30
        )
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr!r}")
        yield folder
    finally:
        _umount(folder)


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str = "1m") -> Iterator[Path]:
    """A `size` tmpfs mounted on `folder` (created), so writes past it fail with ENOSPC."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _umount(folder)
