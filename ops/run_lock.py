"""One run at a time per output: `train`, `data prepare` and `evaluate` lock the place they write.

Two runs writing one folder corrupt each other (two `evaluate` into one --out sent most images
twice; two `train` in one second shared a folder and one died on the other's half-written file).
The lock is fcntl's, on `.<name>.lock` beside the output (the output folder itself may be swapped
out from under it), so it is released by the kernel when the holder dies, even by SIGKILL; the
file names the holder (pid and command) for the refusal. Runs that write different places run
together.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ops.errors import DogbreedError

# errnos that mean "this place cannot be written": a full disk or quota, read-only, not allowed
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def lock_path(place: Path) -> Path:
    """The lock file of an output folder: `.<name>.lock` in its parent."""
    place = Path(place).absolute()
    return place.parent / f".{place.name}.lock"


def _holder(path: Path) -> tuple[str, str]:
    """(pid, command) written by the run that holds the lock, "?" where unreadable."""
    try:
        pid, _, command = path.read_text().strip().partition(" ")
    except OSError:
        return "?", "?"
    return (pid or "?"), (command or "?")


def _acquire(path: Path, command: str) -> int:
    """An open descriptor holding the lock on `path`; DogbreedError if another run holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid, other = _holder(path)
            raise DogbreedError(
                f"another `dogbreed {other}` (pid {pid}) is running on {path.parent / path.name[1:-5]}",
                hint="wait for it to finish, or write somewhere else (--out)",
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not unlinked by a finishing holder
                return fd
        os.close(fd)


@contextlib.contextmanager
def exclusive_run(place: Path, command: str) -> Iterator[None]:
    """Hold the lock of `place` (an output folder) while `dogbreed <command>` writes it."""
    path = lock_path(place)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, command)
    except OSError as exc:
        raise DogbreedError(f"cannot lock {path}: {exc.strerror or exc}") from exc
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {command}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(
                path
            )  # still held: a run that opened it meanwhile sees a new inode and retries
        os.close(fd)
