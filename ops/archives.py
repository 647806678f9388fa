"""The one way this tool opens an archive (model artifacts, model.tar.gz, dataset tarballs).

Nothing an archive holds may escape or destroy: only regular files and folders are written, by
this module's own code (tarfile never writes a byte), so the interpreter's extraction filter and
its bugs (CVE-2025-4517, the symlink-chain bypass of filter="data" in Python < 3.11.13 / 3.12.11 /
3.13.4) do not matter here. Symlinks, hardlinks, devices, FIFOs, absolute names and `..` are
refused before anything is written; every target is checked to resolve inside the staging
folder; member count, file size and total size are capped. Members go into a fresh staging
folder inside the destination, which is removed on any failure, Ctrl-C and SIGTERM included.
A leaf: stdlib and ops.errors only.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import signal
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ops.errors import DogbreedError

MB = 1024 * 1024
STAGING_PREFIX = ".extract-"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on one archive; `names` are the settings that set them (quoted in the errors)."""

    max_members: int = 100_000
    max_file_bytes: int = 2048 * MB
    max_total_bytes: int = 8192 * MB
    names: tuple[str, str, str] = ("max_members", "max_file_mb", "max_total_mb")

    @classmethod
    def from_settings(cls, section: object, prefix: str, where: str) -> ArchiveLimits:
        """From <prefix>_max_members / _max_file_mb / _max_total_mb of a settings section."""
        keys = (f"{prefix}_max_members", f"{prefix}_max_file_mb", f"{prefix}_max_total_mb")
        members, file_mb, total_mb = (getattr(section, key) for key in keys)
        return cls(members, file_mb * MB, total_mb * MB, tuple(f"{where}.{k}" for k in keys))


class UnsafeArchive(DogbreedError):
    """An archive refused for what it holds (not because it is damaged)."""


def _refuse(archive: Path, what: str, why: str, setting: str | None = None) -> UnsafeArchive:
    hint = f"raise {setting} if the archive is trusted" if setting else None
    return UnsafeArchive(
        f"refused {what} {archive}: {why}",
        hint=hint or "nothing was extracted: the archive is unsafe, get it from a trusted source",
    )


def _shown(name: str) -> str:
    """A member name for a one-line error: quoted, escaped, at most about 100 characters."""
    return repr(name if len(name) <= 100 else name[:100] + "...")


def member_path(name: str) -> PurePosixPath | None:
    """A member name as a plain relative path, or None when absolute, with `..` or empty."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts or any(p == ".." for p in parts) or ":" in parts[0]:
        return None
    return PurePosixPath(*parts)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why this member may not be extracted (its type or name), else None."""
    if member.issym():
        kind = "a symbolic link"
    elif member.islnk():
        kind = "a hard link"
    elif member.isdev():
        kind = "a device or FIFO"
    elif not (member.isreg() or member.isdir()):
        kind = "not a regular file or folder"
    else:
        kind = None
    if kind:
        return f"member {_shown(member.name)} is {kind} (only files and folders are extracted)"
    if member_path(member.name) is None:
        return f"member {_shown(member.name)} is an absolute path or leaves the folder (..)"
    return None


def _check_caps(
    archive: Path, what: str, member: tarfile.TarInfo, count: int, total: int, limits: ArchiveLimits
) -> None:
    members_name, file_name, total_name = limits.names
    if count > limits.max_members:
        why = f"more than {limits.max_members:,} members"
        raise _refuse(archive, what, why, members_name)
    if member.size > limits.max_file_bytes:
        why = (
            f"member {_shown(member.name)} is {member.size:,} bytes, over {limits.max_file_bytes:,}"
        )
        raise _refuse(archive, what, why, file_name)
    if total > limits.max_total_bytes:
        why = f"its files add up to more than {limits.max_total_bytes:,} bytes"
        raise _refuse(archive, what, why, total_name)


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """One checked member written by our own code: a folder, or a new file (never followed)."""
    if member.isdir():
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        left = member.size
        while left > 0:
            chunk = source.read(min(_CHUNK, left)) if source else b""
            if not chunk:
                raise EOFError(f"member {_shown(member.name)} is cut short")
            out.write(chunk)
            left -= len(chunk)


def _extract_members(
    archive: Path, staging: Path, what: str, limits: ArchiveLimits, on_member: Callable | None
) -> None:
    """Every member checked, then written under `staging`; raises on the first problem."""
    root = staging.resolve()
    count = total = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            count += 1
            total += member.size if member.isreg() else 0
            _check_caps(archive, what, member, count, total, limits)
            problem = _member_problem(member)
            if problem:
                raise _refuse(archive, what, problem)
            target = staging.joinpath(*member_path(member.name).parts)
            if not target.resolve().is_relative_to(root):
                raise _refuse(
                    archive, what, f"member {_shown(member.name)} resolves outside the folder"
                )
            if target.exists() and not (member.isdir() and target.is_dir()):
                raise _refuse(archive, what, f"member {_shown(member.name)} appears twice")
            _write_member(tar, member, target)
            if on_member:
                on_member(member)


class _Terminated(BaseException):
    """SIGTERM during an extraction: unwinds like Ctrl-C so the staging folder is removed."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises _Terminated (main thread only, and only where SIGTERM is not
    ignored); once the body has cleaned up, the signal is sent again to the previous handler."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN,
        None,
    ):
        yield
        return

    def _raise(*_):
        raise _Terminated()

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)  # terminate as the sender asked, after cleaning up
        raise KeyboardInterrupt from None  # only reached when the previous handler returns
    finally:
        signal.signal(signal.SIGTERM, previous)


_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _damaged(archive: Path, what: str, exc: BaseException) -> DogbreedError:
    return DogbreedError(
        f"cannot extract {what} {archive}: {exc or type(exc).__name__}",
        hint="the file is damaged or truncated: copy or download it again",
    )


def extract_to_staging(
    archive: Path,
    dest: Path,
    what: str = "archive",
    limits: ArchiveLimits | None = None,
    on_member: Callable[[tarfile.TarInfo], None] | None = None,
) -> Path:
    """A fresh folder dest/.extract-<pid>-XXXX holding the archive's checked members
    (`on_member` is told of each, for progress); the caller moves them into place. On any
    failure (a DogbreedError saying why) nothing is left behind; folders of killed runs are
    removed first."""
    limits = limits or ArchiveLimits()
    with _sigterm_unwinds():
        try:
            dest.mkdir(parents=True, exist_ok=True)
            remove_stale(dest, STAGING_PREFIX)
            staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=dest))
        except OSError as exc:
            raise DogbreedError(
                f"cannot extract {what} into {dest}: {exc.strerror or exc}"
            ) from exc
        try:
            _extract_members(Path(archive), staging, what, limits, on_member)
        except DogbreedError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno not in _WRITE_ERRORS:
                raise _damaged(archive, what, exc) from exc
            raise DogbreedError(
                f"cannot extract {what} {archive} into {dest}: {exc.strerror}",
                hint="free some space or choose a writable folder",
            ) from exc
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise _damaged(archive, what, exc) from exc
        except BaseException:  # Ctrl-C, SIGTERM (_Terminated): leave nothing behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return staging


def extract_archive(
    archive: Path, dest: Path, what: str = "archive", limits: ArchiveLimits | None = None
) -> Path:
    """The archive's members moved into `dest` (entries of the same name replaced) once all of
    them were extracted and checked; returns `dest`."""
    staging = extract_to_staging(archive, dest, what, limits)
    try:
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale(base: Path, prefix: str) -> None:
    """Remove base/<prefix><pid>-* folders whose process no longer runs (killed with SIGKILL)."""
    for old in base.glob(f"{prefix}*-*"):
        pid = old.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and old.is_dir() and not old.is_symlink() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def temporary_folder(prefix: str) -> Path:
    """A fresh TMPDIR/<prefix><pid>-XXXX removed at exit; folders of the same prefix left by a
    process that no longer runs are removed first, so none pile up."""
    base = Path(tempfile.gettempdir())
    remove_stale(base, prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base))
    atexit.register(shutil.rmtree, folder, True)
    return folder
